//! Local servers over real sockets: scripted upstreams that answer in llama-cpp-python's,
//! llama.cpp's (`llama-server`), Ollama's and LM Studio's own shapes (usage, `timings`,
//! error bodies), a refused connection, and a one-slot server that cuts its running answer
//! when another request arrives (llama-cpp-python's default), to measure what Claude Code's
//! background requests do to the main turn.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::harness::{Ev, TestProxy, names, parse_sse, read_rest, read_until, test_timeouts};
use crate::scripted::{Reply, Upstream};

fn bash_tool() -> Value {
    json!([{"name": "Bash", "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}])
}

/// A main turn (it offers Claude Code's tools).
fn main_turn(model: &str, messages: Value) -> Value {
    json!({"model": model, "max_tokens": 1000, "stream": true, "tools": bash_tool(), "messages": messages})
}

/// A background request (a session title: no tools).
fn background(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": true,
           "system": [{"type": "text", "text": "Generate a concise title for this conversation."}],
           "messages": [{"role": "user", "content": "tell me a story"}]})
}

fn llamacpp_env(base: &str) -> Vec<(&'static str, String)> {
    vec![("LLAMACPP_BASE_URL", format!("{base}/v1"))]
}

/// A chunk as llama-cpp-python's server streams it (`\r\n` framing, `logprobs: null`).
fn llama_cpp_python_chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({"id": "chatcmpl-9f1c2a7e", "object": "chat.completion.chunk", "created": 1764530000,
        "model": "/models/SmolLM2-135M-Instruct-Q8_0.gguf",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    format!("data: {body}\r\n\r\n")
}

fn last_error(events: &[Ev]) -> Option<&Value> {
    events
        .last()
        .filter(|e| e.name == "error")
        .map(|e| &e.data["error"])
}

/// Nothing listens on a local preset's port: a clear error naming the command that starts
/// the server, with `x-should-retry: false` so Claude Code shows it at once instead of
/// retrying for minutes. A hosted provider that cannot be reached stays retryable.
#[tokio::test]
async fn a_local_server_that_is_not_running_is_not_retried() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let base = format!("http://{closed}");
    let env = vec![
        ("LLAMACPP_BASE_URL", format!("{base}/v1")),
        ("OPENAI_BASE_URL", format!("{base}/v1")),
        ("OPENAI_API_KEY", "sk-test".into()),
    ];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;
    let started = Instant::now();
    let resp = proxy
        .messages(&main_turn(
            "llamacpp/smol",
            json!([{"role": "user", "content": "hi"}]),
        ))
        .await;
    assert_eq!(resp.status(), 529);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`llama-server -m <model>`") && message.contains("LLAMACPP_BASE_URL"),
        "{message}"
    );
    eprintln!(
        "refused local server answered in {:?}: {message}",
        started.elapsed()
    );
    let resp = proxy
        .messages(&main_turn(
            "openai/gpt-test",
            json!([{"role": "user", "content": "hi"}]),
        ))
        .await;
    assert_eq!(resp.status(), 529);
    assert!(!resp.headers().contains_key("x-should-retry"));
    proxy.stop().await;
}

/// The second request of a tool round trip: the assistant turn that only called a tool
/// goes to a local server with `"content": ""` (llama-cpp-python's server rejects `null`
/// with a 500 validation error). A 500 that is such a validation error reaches Claude Code
/// as a short, non-retried 400, never the raw dump.
#[tokio::test]
async fn tool_round_trip_to_a_local_server() {
    let dump = "2 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'messages', 1, 'typed-dict', 'content'), 'msg': 'Input should be a valid string', 'input': None}\n  {'type': 'missing', 'loc': ('body', 'messages', 1, 'typed-dict', 'name'), 'msg': 'Field required', 'input': {'role': 'assistant', 'content': None}}\n";
    let upstream = Upstream::start(vec![
        // llama-cpp-python wraps any exception in a 500 `internal_server_error`.
        Reply::error(
            500,
            json!({"error": {"message": dump, "type": "internal_server_error", "param": null, "code": null}}),
        ),
        Reply::sse([
            llama_cpp_python_chunk(json!({"role": "assistant"}), None),
            llama_cpp_python_chunk(json!({"content": "Two files."}), None),
            llama_cpp_python_chunk(json!({}), Some("stop")),
            "data: [DONE]\r\n\r\n".to_owned(),
        ]),
    ])
    .await;
    let proxy = TestProxy::start(&llamacpp_env(&upstream.url()), None, test_timeouts()).await;
    let turn = main_turn(
        "llamacpp/smol",
        json!([
            {"role": "user", "content": "list the files"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt\nb.txt"}]}
        ]),
    );
    let resp = proxy.messages(&turn).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("messages.1.typed-dict.content: Input should be a valid string")
            && !message.contains("{'type'")
            && message.len() < 400,
        "{message}"
    );
    let resp = proxy.messages(&turn).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(names(&events).last(), Some(&"message_stop"));
    for sent in upstream.received() {
        let assistant = &sent.json()["messages"][1];
        assert_eq!(assistant["role"], "assistant");
        assert_eq!(assistant["content"], "", "{assistant}");
        assert_eq!(assistant["tool_calls"][0]["function"]["name"], "Bash");
    }
    proxy.stop().await;
}

/// llama-cpp-python cuts a running answer with a bare `[DONE]` when another request
/// arrives: Claude Code gets the text so far and then an error, never `end_turn`.
#[tokio::test]
async fn an_interrupted_answer_ends_in_an_error() {
    let upstream = Upstream::start(vec![Reply::sse([
        llama_cpp_python_chunk(json!({"role": "assistant"}), None),
        llama_cpp_python_chunk(json!({"content": "Once upon a"}), None),
        llama_cpp_python_chunk(json!({"content": " time"}), None),
        "data: [DONE]\r\n\r\n".to_owned(),
    ])])
    .await;
    let proxy = TestProxy::start(&llamacpp_env(&upstream.url()), None, test_timeouts()).await;
    let resp = proxy
        .messages(&main_turn(
            "llamacpp/smol",
            json!([{"role": "user", "content": "a story"}]),
        ))
        .await;
    let events = parse_sse(&resp.text().await.unwrap());
    assert!(!names(&events).contains(&"message_delta"));
    let err = last_error(&events).expect("an error event");
    assert!(
        err["message"].as_str().unwrap().contains("incomplete"),
        "{err}"
    );
    proxy.stop().await;
}

/// Each server's own counts reach Claude Code in the final `message_delta`: llama.cpp's
/// `timings` (prompt tokens evaluated, reused from its cache, generated), Ollama's and LM
/// Studio's usage chunk (asked for with `stream_options.include_usage`).
#[tokio::test]
async fn each_servers_own_token_counts_are_used() {
    let llama_server_final = json!({"choices": [{"finish_reason": "stop", "index": 0, "delta": {}}],
        "created": 1764530000, "id": "chatcmpl-Xk2P9sQm", "model": "qwen2.5-coder-7b-instruct",
        "system_fingerprint": "b6250-5e6229a8", "object": "chat.completion.chunk",
        "timings": {"cache_n": 812, "prompt_n": 45, "prompt_ms": 120.5, "prompt_per_token_ms": 2.68,
                    "prompt_per_second": 373.4, "predicted_n": 6, "predicted_ms": 98.2,
                    "predicted_per_token_ms": 16.4, "predicted_per_second": 61.1}});
    let chunk = |model: &str, delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764530000, "model": model,
                   "system_fingerprint": "fp_ollama", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let usage = |model: &str, prompt: u64, completion: u64| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764530000, "model": model,
                   "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
        )
    };
    // (preset, its base URL variable, its stream, (input, cache read, output) expected)
    type Case = (&'static str, &'static str, Vec<String>, (u64, u64, u64));
    let cases: Vec<Case> = vec![
        (
            "llamacpp",
            "LLAMACPP_BASE_URL",
            vec![
                chunk(
                    "qwen2.5-coder-7b-instruct",
                    json!({"content": "The file is empty."}),
                    Value::Null,
                ),
                format!("data: {llama_server_final}\n\n"),
                "data: [DONE]\n\n".into(),
            ],
            (45, 812, 6),
        ),
        (
            "ollama",
            "OLLAMA_BASE_URL",
            vec![
                chunk(
                    "qwen3:8b",
                    json!({"role": "assistant", "content": "Hi"}),
                    Value::Null,
                ),
                chunk(
                    "qwen3:8b",
                    json!({"role": "assistant", "content": ""}),
                    json!("stop"),
                ),
                usage("qwen3:8b", 26, 2),
                "data: [DONE]\n\n".into(),
            ],
            (26, 0, 2),
        ),
        (
            "lmstudio",
            "LMSTUDIO_BASE_URL",
            vec![
                chunk(
                    "qwen2.5-7b-instruct",
                    json!({"role": "assistant", "content": "Hi"}),
                    Value::Null,
                ),
                chunk("qwen2.5-7b-instruct", json!({}), json!("stop")),
                usage("qwen2.5-7b-instruct", 31, 3),
                "data: [DONE]\n\n".into(),
            ],
            (31, 0, 3),
        ),
    ];
    for (preset, var, stream, (input, cached, output)) in cases {
        let upstream = Upstream::start(vec![Reply::sse(stream)]).await;
        let env = vec![(var, format!("{}/v1", upstream.url()))];
        let proxy = TestProxy::start(&env, None, test_timeouts()).await;
        let resp = proxy
            .messages(&main_turn(
                &format!("{preset}/m"),
                json!([{"role": "user", "content": "hi"}]),
            ))
            .await;
        let events = parse_sse(&resp.text().await.unwrap());
        let delta = events
            .iter()
            .find(|e| e.name == "message_delta")
            .unwrap_or_else(|| panic!("{preset}: no message_delta"));
        let u = &delta.data["usage"];
        assert_eq!(
            (
                u["input_tokens"].as_u64(),
                u["cache_read_input_tokens"].as_u64(),
                u["output_tokens"].as_u64()
            ),
            (Some(input), Some(cached), Some(output)),
            "{preset}: {u}"
        );
        let sent = upstream.received()[0].json();
        assert_eq!(sent["stream_options"]["include_usage"], true, "{preset}");
        proxy.stop().await;
    }
}

/// Error bodies in each server's own shape become Anthropic errors with the right kind:
/// Ollama's model not found (a 404 `not_found_error`), llama.cpp's context overflow (with
/// its numbers), LM Studio's plain-string error.
#[tokio::test]
async fn each_servers_own_error_bodies() {
    let cases = [
        (
            "ollama",
            "OLLAMA_BASE_URL",
            Reply::error(
                404,
                json!({"error": {"message": "model \"qwen3:8b\" not found, try pulling it first", "type": "not_found_error", "param": null, "code": null}}),
            ),
            404,
            "try pulling it first",
        ),
        (
            "llamacpp",
            "LLAMACPP_BASE_URL",
            Reply::error(
                400,
                json!({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 9000, "n_ctx": 8192}}),
            ),
            400,
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        (
            "lmstudio",
            "LMSTUDIO_BASE_URL",
            Reply::error(
                400,
                json!({"error": "Model \"qwen2.5-7b-instruct\" is not loaded"}),
            ),
            400,
            "is not loaded",
        ),
    ];
    for (preset, var, reply, status, needle) in cases {
        let upstream = Upstream::start(vec![reply]).await;
        let env = vec![(var, format!("{}/v1", upstream.url()))];
        let proxy = TestProxy::start(&env, None, test_timeouts()).await;
        let resp = proxy
            .messages(&main_turn(
                &format!("{preset}/m"),
                json!([{"role": "user", "content": "hi"}]),
            ))
            .await;
        assert_eq!(resp.status(), status, "{preset}");
        assert_eq!(resp.headers()["x-should-retry"], "false", "{preset}");
        let body: Value = resp.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{preset}: {message}");
        proxy.stop().await;
    }
}

/// How a one-slot server generates: this many tokens, this far apart.
const TOKENS: usize = 20;
const TOKEN_GAP: Duration = Duration::from_millis(25);

/// What the one-slot server did with each request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Served {
    /// Whether the request offered tools (a main turn).
    main: bool,
    /// Whether another request cut it.
    cut: bool,
}

/// A one-slot server in llama-cpp-python's manner: it generates for one request at a time,
/// and a request that arrives while another is generating cuts that one short (a bare
/// `data: [DONE]`, no finish reason) and takes the slot.
#[derive(Clone)]
struct OneSlot {
    addr: SocketAddr,
    running: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    served: Arc<Mutex<Vec<Served>>>,
}

impl OneSlot {
    async fn start() -> OneSlot {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = OneSlot {
            addr: listener.local_addr().unwrap(),
            running: Arc::default(),
            served: Arc::default(),
        };
        let accept = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = accept.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }

    async fn answer(
        &self,
        req: Request<Incoming>,
    ) -> Response<http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>> {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let request: Value = serde_json::from_slice(&body).unwrap_or_default();
        let main = request["tools"].as_array().is_some_and(|t| !t.is_empty());
        let (cut_tx, mut cut_rx) = oneshot::channel();
        if let Some(previous) = self.running.lock().unwrap().replace(cut_tx) {
            let _ = previous.send(());
        }
        let index = {
            let mut served = self.served.lock().unwrap();
            served.push(Served { main, cut: false });
            served.len() - 1
        };
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        let served = self.served.clone();
        tokio::spawn(async move {
            let send = |s: String| tx.send(Ok(Frame::data(Bytes::from(s))));
            let _ = send(llama_cpp_python_chunk(json!({"role": "assistant"}), None)).await;
            for i in 0..TOKENS {
                tokio::select! {
                    _ = &mut cut_rx => {
                        served.lock().unwrap()[index].cut = true;
                        let _ = send("data: [DONE]\r\n\r\n".into()).await;
                        return;
                    }
                    _ = tokio::time::sleep(TOKEN_GAP) => {
                        let _ = send(llama_cpp_python_chunk(json!({"content": format!("w{i} ")}), None)).await;
                    }
                }
            }
            let _ = send(llama_cpp_python_chunk(json!({}), Some("stop"))).await;
            let _ = send("data: [DONE]\r\n\r\n".into()).await;
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
            .unwrap()
    }
}

/// The main turn of one measurement: when its first text arrived, whether it finished.
struct MainRun {
    first_token: Duration,
    complete: Duration,
    finished: bool,
}

/// Sends a main turn, and once its first text has arrived, a background request beside it;
/// returns how the main turn went and the background request's last event.
async fn main_with_background(proxy: &TestProxy, preset: &str) -> (MainRun, String) {
    let model = format!("{preset}/smol");
    let started = Instant::now();
    let mut main = proxy
        .messages(&main_turn(
            &model,
            json!([{"role": "user", "content": "tell me a story"}]),
        ))
        .await;
    let seen = read_until(&mut main, "text_delta").await;
    let first_token = started.elapsed();
    let bg = {
        let client = proxy.client.clone();
        let url = proxy.url("/v1/messages?beta=true");
        let body = background(&model);
        tokio::spawn(async move {
            let resp = client.post(url).json(&body).send().await.unwrap();
            let events = parse_sse(&resp.text().await.unwrap());
            events.last().map(|e| e.name.clone()).unwrap_or_default()
        })
    };
    let text = read_rest(&mut main, seen).await;
    let events = parse_sse(&text);
    let run = MainRun {
        first_token,
        complete: started.elapsed(),
        finished: names(&events).last() == Some(&"message_stop"),
    };
    (run, bg.await.unwrap())
}

/// On a one-slot local server, a background request (a title: no tools) that arrives
/// while the main turn streams waits for it instead of cutting it. Measured against the
/// same scripted server through `llamacpp/` (one slot: background requests wait) and
/// `vllm/` (many slots: nothing waits), printed with `-- --nocapture`.
#[tokio::test]
async fn background_requests_wait_for_the_main_turn_on_a_one_slot_server() {
    let server = OneSlot::start().await;
    let env = vec![
        ("LLAMACPP_BASE_URL", format!("{}/v1", server.url())),
        ("VLLM_BASE_URL", format!("{}/v1", server.url())),
    ];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;

    // Without turn-taking: the title request cuts the main answer, which Claude Code then
    // has to ask for again (here at once, as its retry would).
    let (cut, bg_without) = main_with_background(&proxy, "vllm").await;
    assert!(!cut.finished, "the main answer was cut");
    assert_eq!(
        server.served()[0],
        Served {
            main: true,
            cut: true
        }
    );
    let retry_started = Instant::now();
    let mut retry = proxy
        .messages(&main_turn(
            "vllm/smol",
            json!([{"role": "user", "content": "tell me a story"}]),
        ))
        .await;
    let seen = read_until(&mut retry, "text_delta").await;
    let retry_first_token = retry_started.elapsed();
    let retry_text = read_rest(&mut retry, seen).await;
    assert_eq!(names(&parse_sse(&retry_text)).last(), Some(&"message_stop"));
    let without_complete = cut.complete + retry_started.elapsed();
    proxy.settled(3).await;

    // With turn-taking: the main answer runs to its end, then the title.
    let before = server.served().len();
    let (with, bg_with) = main_with_background(&proxy, "llamacpp").await;
    assert!(with.finished, "the main answer is complete");
    assert_eq!(bg_with, "message_stop", "the title is answered after it");
    let served = server.served()[before..].to_vec();
    assert_eq!(
        served,
        [
            Served {
                main: true,
                cut: false
            },
            Served {
                main: false,
                cut: false
            }
        ]
    );
    eprintln!(
        "one-slot server, {TOKENS} tokens {TOKEN_GAP:?} apart, a title request sent after the main turn's first token:\n\
         without turn-taking (vllm/): main first token {:?}, main cut at {:?} (title: {bg_without}); \
         Claude Code's retry: first token after {:?} more, complete main answer after {:?} in all\n\
         with turn-taking (llamacpp/): main first token {:?}, complete main answer after {:?}; the title waited and finished",
        cut.first_token,
        cut.complete,
        retry_first_token,
        without_complete,
        with.first_token,
        with.complete,
    );
    assert!(with.complete < without_complete);
    proxy.stop().await;
}

/// A server whose chat template shows no tools (its own prompt count is below what the
/// tools alone would take): from then on, the input estimate for that server and model
/// leaves the tools out instead of reporting several times the real prompt.
#[tokio::test]
async fn a_template_without_tools_is_learned_from_the_servers_count() {
    let answer = |usage: Option<u64>| {
        let mut chunks = vec![
            llama_cpp_python_chunk(json!({"role": "assistant"}), None),
            llama_cpp_python_chunk(json!({"content": "Hello."}), None),
            llama_cpp_python_chunk(json!({}), Some("stop")),
        ];
        if let Some(prompt) = usage {
            chunks.push(format!(
                "data: {}\r\n\r\n",
                json!({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": 2}})
            ));
        }
        chunks.push("data: [DONE]\r\n\r\n".into());
        Reply::sse(chunks)
    };
    let upstream = Upstream::start(vec![answer(Some(40)), answer(None)]).await;
    let proxy = TestProxy::start(&llamacpp_env(&upstream.url()), None, test_timeouts()).await;
    let words: Vec<String> = (0..1500).map(|i| format!("option{i}")).collect();
    let turn = json!({"model": "llamacpp/smol", "max_tokens": 100, "stream": true,
        "tools": [{"name": "Bash", "description": words.join(" "), "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "hi"}]});
    let input = |events: &[Ev]| {
        let start = &events[0];
        assert_eq!(start.name, "message_start");
        start.data["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
    };
    let first = parse_sse(&proxy.messages(&turn).await.text().await.unwrap());
    let second = parse_sse(&proxy.messages(&turn).await.text().await.unwrap());
    let (before, after) = (input(&first), input(&second));
    assert!(
        before > 1500 && after < 100,
        "estimate {before} then {after}"
    );
    let delta = second.iter().find(|e| e.name == "message_delta").unwrap();
    assert_eq!(delta.data["usage"]["input_tokens"].as_u64(), Some(after));
    proxy.stop().await;
}

/// The model spec's `tool_call_format` decides whether calls written as text are recovered:
/// `auto` (no spec) on a local preset recovers them, `native` leaves the text alone, `text`
/// recovers them on a hosted provider too.
#[tokio::test]
async fn text_tool_calls_follow_the_model_spec() {
    let written =
        "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>";
    let reply = || {
        Reply::sse([
            llama_cpp_python_chunk(json!({"role": "assistant"}), None),
            llama_cpp_python_chunk(json!({"content": &written[..15]}), None),
            llama_cpp_python_chunk(json!({"content": &written[15..]}), None),
            llama_cpp_python_chunk(json!({}), Some("stop")),
            "data: [DONE]\r\n\r\n".to_owned(),
        ])
    };
    let upstream = Upstream::start((0..4).map(|_| reply()).collect()).await;
    let base = format!("{}/v1", upstream.url());
    let config = r#"
[models."llamacpp/native-model"]
capabilities = { tool_call_format = "native" }
[models."openai/text-model"]
capabilities = { tool_call_format = "text" }
"#;
    let loaded = anyclaude::registry::file::parse("config.toml".into(), config.into()).unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("LLAMACPP_BASE_URL", base.clone()),
        ("OPENAI_BASE_URL", base),
        ("OPENAI_API_KEY", "sk-test".to_owned()),
        ("ANYCLAUDE_OPENAI_API", "chat".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let registry = anyclaude::registry::Registry::build(
        Some(&loaded),
        &env,
        &anyclaude::registry::key_command::NoKeyCommands,
    )
    .unwrap();
    let proxy = TestProxy::with_registry(registry, env, test_timeouts()).await;
    for (model, recovered) in [
        ("llamacpp/any-model", true),
        ("llamacpp/native-model", false),
        ("openai/text-model", true),
        ("openai/gpt-4o", false),
    ] {
        let resp = proxy
            .messages(&main_turn(
                model,
                json!([{"role": "user", "content": "ls"}]),
            ))
            .await;
        let events = parse_sse(&resp.text().await.unwrap());
        let tool = events.iter().find(|e| {
            e.name == "content_block_start" && e.data["content_block"]["type"] == "tool_use"
        });
        assert_eq!(tool.is_some(), recovered, "{model}");
        let stop = events.iter().find(|e| e.name == "message_delta").unwrap();
        let want = if recovered { "tool_use" } else { "end_turn" };
        assert_eq!(stop.data["delta"]["stop_reason"], want, "{model}");
    }
    proxy.stop().await;
}

/// 2.0.x's sub-agent warm-ups (one user message, `Warmup`) never reach a one-slot server:
/// the proxy answers them (an empty `end_turn` message, streamed or whole), so they cost no
/// prompt evaluation before the user's first turn. Its Bash pre-flight (no tools, a
/// `<policy_spec>` prompt) is not held back like a title: the turn waits for it, so it goes
/// at once, even while another main request runs (on this server it then takes the slot).
#[tokio::test]
async fn warm_ups_are_answered_by_the_proxy_and_the_bash_preflight_goes_at_once() {
    let server = OneSlot::start().await;
    let proxy = TestProxy::start(&llamacpp_env(&server.url()), None, test_timeouts()).await;
    let warmup = |stream: bool| {
        json!({"model": "llamacpp/smol", "max_tokens": 1000, "stream": stream, "tools": bash_tool(),
               "messages": [{"role": "user", "content": [
                   {"type": "text", "text": "Warmup", "cache_control": {"type": "ephemeral"}}]}]})
    };
    let resp = proxy
        .client
        .post(proxy.url("/v1/messages?beta=true"))
        .json(&warmup(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(
        names(&events),
        ["message_start", "message_delta", "message_stop"]
    );
    let resp = proxy
        .client
        .post(proxy.url("/v1/messages"))
        .json(&warmup(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let message: Value = resp.json().await.unwrap();
    assert_eq!(message["stop_reason"], "end_turn");
    assert!(server.served().is_empty(), "{:?}", server.served());

    // A main turn streams; the pre-flight arrives meanwhile and goes at once.
    let mut main = proxy
        .messages(&main_turn(
            "llamacpp/smol",
            json!([{"role": "user", "content": "run it"}]),
        ))
        .await;
    let seen = read_until(&mut main, "text_delta").await;
    let preflight = json!({"model": "llamacpp/smol", "max_tokens": 100, "stream": true, "tools": [],
        "messages": [{"role": "user", "content": [{"type": "text",
            "text": "<policy_spec>\n# Claude Code Code Bash command prefix detection\n\nCommand: tee out.txt\n"}]}]});
    let started = Instant::now();
    let resp = proxy
        .client
        .post(proxy.url("/v1/messages?beta=true"))
        .json(&preflight)
        .send()
        .await
        .unwrap();
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(names(&events).last(), Some(&"message_stop"));
    let _ = read_rest(&mut main, seen).await;
    let served = server.served();
    assert_eq!(served.len(), 2, "{served:?}");
    assert!(
        served[0].cut,
        "the pre-flight went while the main turn ran: {served:?}"
    );
    assert!(
        started.elapsed() < slots_grace() + TOKEN_GAP * TOKENS as u32,
        "not held back: {:?}",
        started.elapsed()
    );
    proxy.stop().await;
}

fn slots_grace() -> Duration {
    anyclaude::server::slots::BACKGROUND_GRACE
}

/// A local server reuses its cached prompt prefix from turn to turn only while the start of
/// the prompt stays the same, so the translation keeps it so: the next turn's request to a
/// local preset begins with exactly the previous one's messages (the leading system message,
/// with Claude Code's mid-conversation system turn folded in, unchanged), and offers exactly
/// the same tools in Claude Code's order (deferred tools left out until loaded). Measured on
/// the real server (`e2e_local_prompt_cache_per_turn`, `--ignored`): after the first request
/// every later one re-reads 14–129 tokens, on each pinned version.
#[tokio::test]
async fn the_next_turn_begins_with_the_previous_prompt_unchanged() {
    let upstream = Upstream::start(vec![
        Reply::sse(crate::chat_script::text(&["Hello."])),
        Reply::sse(crate::chat_script::text(&["Goodbye."])),
    ])
    .await;
    let proxy = TestProxy::start(&llamacpp_env(&upstream.url()), None, test_timeouts()).await;
    let tools = json!([
        {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
        {"name": "WebFetch", "description": "Fetch a URL", "defer_loading": true, "input_schema": {"type": "object"}},
        {"name": "ToolSearch", "description": "Load deferred tools", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}
    ]);
    let system = json!([
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Environment: a project."}
    ]);
    let first_messages = json!([
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>Today is Monday.</system-reminder>"}, {"type": "text", "text": "Say hello.", "cache_control": {"type": "ephemeral"}}]},
        {"role": "system", "content": "Attribution: none."}
    ]);
    let mut second_messages = first_messages.as_array().unwrap().clone();
    second_messages
        .push(json!({"role": "assistant", "content": [{"type": "text", "text": "Hello."}]}));
    second_messages
        .push(json!({"role": "user", "content": [{"type": "text", "text": "Say goodbye."}]}));
    for messages in [first_messages, Value::Array(second_messages)] {
        let body = json!({"model": "llamacpp/smol", "max_tokens": 64, "stream": true,
            "system": system, "tools": tools, "messages": messages});
        let text = proxy.messages(&body).await.text().await.unwrap();
        assert_eq!(names(&parse_sse(&text)).last(), Some(&"message_stop"));
    }
    let sent: Vec<Value> = upstream.received().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2);
    let (first, second) = (&sent[0], &sent[1]);
    let names_of = |req: &Value| -> Vec<String> {
        req["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names_of(first), ["Read", "Bash", "ToolSearch"]);
    assert_eq!(
        first["tools"], second["tools"],
        "the same tools, in the same order"
    );
    let before = first["messages"].as_array().unwrap();
    let after = second["messages"].as_array().unwrap();
    assert_eq!(before[0]["role"], "system");
    assert!(
        before[0]["content"]
            .as_str()
            .unwrap()
            .contains("Attribution: none."),
        "the system turn is folded into the leading system message: {}",
        before[0]
    );
    assert!(after.len() > before.len());
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the next turn begins with the previous prompt, unchanged"
    );
    proxy.stop().await;
}

//! The OpenAI Responses path over real sockets, against a scripted upstream that speaks the
//! Responses protocol: what Claude Code gets back (streamed and not, every stream checked
//! against the writer's rules), what the upstream receives (`POST /v1/responses`, the
//! conversation as items, the encrypted reasoning sent back), and every error before and
//! after the stream starts.

use anyclaude::anthropic::stream::Event;
use anyclaude::anthropic::writer::check_events;
use serde_json::{Value, json};

use crate::harness::{Ev, TestProxy, event, names, parse_sse, read_until, test_timeouts};
use crate::responses_script::{self, Stream, usage};
use crate::scripted::{Reply, Step, Upstream};

const MODEL: &str = "openai/gpt-5-codex";

fn env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-test-key".into()),
    ]
}

fn request(stream: bool) -> Value {
    json!({
        "model": MODEL, "max_tokens": 32000, "stream": stream,
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Run a command",
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
                  {"name": "Read", "description": "Read a file",
                   "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "hi"}],
    })
}

/// The events read back as the writer's own values, so its rules can be checked on them.
fn as_events(events: &[Ev]) -> Vec<Event> {
    events.iter().map(event).collect()
}

/// A streamed answer, checked against the writer's rules.
async fn stream_events(proxy: &TestProxy, body: &Value) -> Vec<Ev> {
    let resp = proxy.messages(body).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    if let Err(e) = check_events(&as_events(&events), true) {
        panic!("the stream breaks the writer's rules: {e}\n{events:#?}");
    }
    events
}

/// The content blocks rebuilt from the events (tool inputs parsed).
fn blocks(events: &[Ev]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial = String::new();
    for e in events {
        match e.name.as_str() {
            "content_block_start" => {
                blocks.push(e.data["content_block"].clone());
                partial.clear();
            }
            "content_block_delta" => {
                let b = blocks.last_mut().unwrap();
                let d = &e.data["delta"];
                let append = |b: &mut Value, key: &str, more: &Value| {
                    b[key] = json!(format!(
                        "{}{}",
                        b[key].as_str().unwrap_or(""),
                        more.as_str().unwrap()
                    ));
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => append(b, "text", &d["text"]),
                    "thinking_delta" => append(b, "thinking", &d["thinking"]),
                    "signature_delta" => b["signature"] = d["signature"].clone(),
                    "input_json_delta" => partial.push_str(d["partial_json"].as_str().unwrap()),
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let b = blocks.last_mut().unwrap();
                if b["type"] == "tool_use" {
                    b["input"] = serde_json::from_str(&partial).unwrap();
                }
            }
            _ => {}
        }
    }
    blocks
}

fn message_delta(events: &[Ev]) -> &Value {
    &events
        .iter()
        .find(|e| e.name == "message_delta")
        .unwrap()
        .data
}

#[tokio::test]
async fn text_streams_and_the_request_goes_out_in_responses_shape() {
    let upstream = Upstream::start(vec![Reply::sse(responses_script::text(&[
        "Hello", ", ", "world",
    ]))])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[0].data["message"]["model"], MODEL);
    assert_eq!(
        blocks(&events),
        [json!({"type": "text", "text": "Hello, world"})]
    );
    let delta = message_delta(&events);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 80, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20, "output_tokens": 3})
    );

    let received = upstream.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.uri, "/v1/responses");
    assert_eq!(r.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(r.header("x-anyclaude-token"), None);
    let body = r.json();
    assert_eq!(body["model"], "gpt-5-codex");
    assert_eq!(body["instructions"], "You are Claude Code.");
    assert_eq!(
        body["input"],
        json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}])
    );
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "name": "Bash", "description": "Run a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}, "strict": false})
    );
    assert_eq!(
        body["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        (&body["store"], &body["stream"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(body["max_output_tokens"], 32000);
    for absent in [
        "messages",
        "max_tokens",
        "temperature",
        "system",
        "thinking",
    ] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
    proxy.settled(1).await;
    let snap = proxy.proxy.metrics().snapshot();
    assert_eq!(snap.requests, 1);
    proxy.stop().await;
}

#[tokio::test]
async fn interleaved_parallel_tool_calls_arrive_whole() {
    let calls = [
        (
            "call_bash_1",
            "Bash",
            json!({"command": "echo one && echo two", "description": "Print two lines"}),
        ),
        ("call_read_2", "Read", json!({"file_path": "/etc/hosts"})),
    ];
    let upstream = Upstream::start(vec![Reply::sse(responses_script::tool_calls(&calls, 5))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    let got = blocks(&events);
    assert_eq!(got.len(), 2);
    for (block, (id, name, input)) in got.iter().zip(&calls) {
        assert_eq!(block["type"], "tool_use");
        assert_eq!(block["id"], *id);
        assert_eq!(block["name"], *name);
        assert_eq!(block["input"], *input);
    }
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "tool_use");
    proxy.stop().await;
}

#[tokio::test]
async fn thinking_round_trips_its_encrypted_reasoning_over_two_turns() {
    const ENCRYPTED: &str = "gAAAAABpKx1r-opaque+reasoning/state==";
    let turn1 = Stream::new()
        .reasoning(
            0,
            "rs_1",
            &["**Plan**\n\n", "List the files first."],
            ENCRYPTED,
        )
        .message(1, "msg_1", &["Listing them."])
        .calls(2, &[("call_ls", "Bash", json!({"command": "ls"}))], 4)
        .completed(usage(500, 0, 90, 64));
    let turn2 = responses_script::reasoning_then_text(&["Done."], "gAAAA-second", &["Two files."]);
    let upstream = Upstream::start(vec![Reply::sse(turn1), Reply::sse(turn2)]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;

    let events = stream_events(&proxy, &request(true)).await;
    let got = blocks(&events);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0]["type"], "thinking");
    assert_eq!(got[0]["thinking"], "**Plan**\n\nList the files first.");
    let signature = got[0]["signature"].as_str().unwrap().to_owned();
    assert!(signature.contains(ENCRYPTED), "{signature}");
    assert_eq!(got[1], json!({"type": "text", "text": "Listing them."}));
    assert_eq!(got[2]["input"], json!({"command": "ls"}));

    // Turn 2, as Claude Code sends it: the assistant turn exactly as streamed, then the
    // tool's result.
    let mut next = request(true);
    next["messages"] = json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": got},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_ls", "content": "a.txt\nb.txt"}]},
    ]);
    let events = stream_events(&proxy, &next).await;
    assert_eq!(blocks(&events)[1]["text"], "Two files.");

    let sent = upstream.received()[1].json();
    assert_eq!(
        sent["input"],
        json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "**Plan**\n\nList the files first."}],
             "encrypted_content": ENCRYPTED},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Listing them."}]},
            {"type": "function_call", "call_id": "call_ls", "name": "Bash", "arguments": "{\"command\":\"ls\"}"},
            {"type": "function_call_output", "call_id": "call_ls", "output": "a.txt\nb.txt"},
        ])
    );
    proxy.stop().await;
}

#[tokio::test]
async fn foreign_thinking_is_never_sent_to_the_responses_api() {
    let upstream = Upstream::start(vec![Reply::sse(responses_script::text(&["ok"]))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut req = request(true);
    req["messages"] = json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Anthropic's own", "signature": "EqQBCkYIBxgCKkBreal"},
            {"type": "thinking", "thinking": "Gemini's", "signature": "anyclaude-s1.gemini.c2ln"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "hello"}]},
        {"role": "user", "content": "again"},
    ]);
    stream_events(&proxy, &req).await;
    let sent = upstream.received()[0].json();
    let types: Vec<&str> = sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["message", "message", "message"], "{sent}");
    assert!(!sent.to_string().contains("Breal") && !sent.to_string().contains("c2ln"));
    proxy.stop().await;
}

#[tokio::test]
async fn images_reach_the_upstream_as_input_images() {
    let upstream = Upstream::start(vec![Reply::sse(responses_script::text(&["a cat"]))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut req = request(true);
    req["messages"] = json!([
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "text", "text": "what is this?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_shot", "name": "Read", "input": {"file_path": "/tmp/x.png"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_shot", "content": [
            {"type": "text", "text": "the screenshot"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/shot.png"}}]}]},
    ]);
    let events = stream_events(&proxy, &req).await;
    assert_eq!(blocks(&events)[0]["text"], "a cat");
    let input = upstream.received()[0].json()["input"].clone();
    assert_eq!(
        input[0]["content"],
        json!([{"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
               {"type": "input_text", "text": "what is this?"}])
    );
    assert_eq!(
        input[2],
        json!({"type": "function_call_output", "call_id": "call_shot", "output": [
            {"type": "input_text", "text": "the screenshot"},
            {"type": "input_image", "image_url": "https://example.com/shot.png", "detail": "auto"}]})
    );
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_errors_before_the_stream_become_anthropic_errors() {
    let err = |status: u16, message: &str, kind: &str, code: &str| {
        Reply::error(
            status,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
    };
    let upstream = Upstream::start(vec![
        Reply::Full {
            status: 429,
            headers: vec![("retry-after", "7".into()), ("content-type", "application/json".into())],
            body: json!({"error": {"message": "Rate limit reached for gpt-5-codex", "type": "requests", "code": "rate_limit_exceeded"}}).to_string().into(),
        },
        err(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
        err(400, "Your input exceeds the context window of this model.", "invalid_request_error", "context_length_exceeded"),
        err(400, "Unsupported parameter: 'temperature'", "invalid_request_error", "unsupported_parameter"),
        err(404, "The model `gpt-5-codex` does not exist", "invalid_request_error", "model_not_found"),
        err(500, "The server had an error", "server_error", "server_error"),
        Reply::Full { status: 503, headers: vec![("content-type", "text/html".into())], body: "<html>unavailable</html>".into() },
    ])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let expected = [
        (429, "rate_limit_error", "Rate limit reached"),
        (401, "authentication_error", "Incorrect API key"),
        (400, "invalid_request_error", "prompt is too long"),
        (400, "invalid_request_error", "temperature"),
        (404, "not_found_error", "does not exist"),
        (500, "api_error", "server had an error"),
        (529, "overloaded_error", "503"),
    ];
    for (status, kind, needle) in expected {
        let resp = proxy.messages(&request(true)).await;
        assert_eq!(resp.status(), status, "{kind}");
        if status == 429 {
            assert_eq!(resp.headers()["retry-after"], "7");
        }
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["type"], kind, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert!(
            !message.contains("<html>"),
            "no raw upstream body: {message}"
        );
    }
    assert!(upstream.received().iter().all(|r| r.uri == "/v1/responses"));
    proxy.stop().await;
}

#[tokio::test]
async fn faults_mid_stream_end_in_an_error_inside_the_open_block() {
    let started = || {
        let mut s = Stream::new();
        s.event("response.output_item.added", json!({"output_index": 0,
            "item": {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}}));
        s.event(
            "response.output_text.delta",
            json!({"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "partial"}),
        );
        s
    };
    let failed = started().failed("server_error", "The model crashed mid-answer");
    let mut error_event = started();
    error_event.event("error", json!({"code": "rate_limit_exceeded", "message": "Rate limit reached mid-stream", "param": null}));
    let mut cut = started();
    cut.event(
        "response.function_call_arguments.delta",
        json!({"item_id": "fc_9", "delta": "{\"a\""}),
    );
    let cases: Vec<(&str, Reply, &str)> =
        vec![
            ("response.failed", Reply::sse(failed), "The model crashed"),
            (
                "error event",
                Reply::sse(error_event.chunks.clone()),
                "Rate limit reached mid-stream",
            ),
            (
                "end without response.completed",
                Reply::sse(cut.chunks.clone()),
                "no response.completed",
            ),
            (
                "connection reset",
                Reply::steps(
                    started()
                        .chunks
                        .into_iter()
                        .map(|c| Step::Send(c.into()))
                        .chain([Step::Reset])
                        .collect(),
                ),
                "",
            ),
            (
                "an event that is not JSON",
                Reply::sse(started().chunks.into_iter().chain([
                    "event: response.output_text.delta\ndata: {\"delta\":\n\n".to_owned(),
                ])),
                "cannot read",
            ),
        ];
    let needles: Vec<(&str, &str)> = cases.iter().map(|(c, _, n)| (*c, *n)).collect();
    let upstream = Upstream::start(cases.into_iter().map(|(_, r, _)| r).collect()).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    for (case, needle) in needles {
        let events = stream_events(&proxy, &request(true)).await;
        let names = names(&events);
        assert_eq!(names.last(), Some(&"error"), "{case}: {names:?}");
        assert!(
            !names.contains(&"message_stop"),
            "{case}: never a silent success"
        );
        assert!(
            !names.contains(&"content_block_stop"),
            "{case}: the open block is left open for the error"
        );
        assert_eq!(blocks(&events)[0]["text"], "partial", "{case}");
        let message = events.last().unwrap().data["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(needle), "{case}: {message}");
    }
    proxy.settled(5).await;
    proxy.stop().await;
}

#[tokio::test]
async fn first_events_arrive_before_the_upstream_has_finished() {
    let chunks = responses_script::text(&["early", " late"]);
    let split = chunks.len() - 4;
    let mut steps: Vec<Step> = chunks[..split]
        .iter()
        .map(|c| Step::Send(c.clone().into()))
        .collect();
    steps.push(Step::Hold);
    steps.extend(chunks[split..].iter().map(|c| Step::Send(c.clone().into())));
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut resp = proxy.messages(&request(true)).await;
    let seen = read_until(&mut resp, "early").await;
    assert!(!seen.contains("message_stop"));
    upstream.release();
    let rest = crate::harness::read_rest(&mut resp, seen).await;
    let events = parse_sse(&rest);
    check_events(&as_events(&events), true).unwrap();
    assert_eq!(blocks(&events)[0]["text"], "early late");
    proxy.stop().await;
}

#[tokio::test]
async fn non_streaming_requests_are_translated_both_ways() {
    let whole = responses_script::whole(
        vec![
            json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think."}], "encrypted_content": "ENC"}),
            json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": "Running it.", "annotations": []}]}),
            json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Bash", "arguments": "{\"command\":\"ls\"}", "status": "completed"}),
        ],
        usage(50, 10, 5, 2),
    );
    let upstream = Upstream::start(vec![
        Reply::json(whole),
        Reply::json(
            json!({"id": "resp_2", "object": "response", "status": "failed", "output": [],
            "error": {"code": "rate_limit_exceeded", "message": "Rate limit reached"}}),
        ),
    ])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let resp = proxy.messages(&request(false)).await;
    assert_eq!(resp.status(), 200);
    let message: Value = resp.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["model"], MODEL);
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"][0]["type"], "thinking");
    assert!(
        message["content"][0]["signature"]
            .as_str()
            .unwrap()
            .contains("ENC")
    );
    assert_eq!(
        message["content"][1],
        json!({"type": "text", "text": "Running it."})
    );
    assert_eq!(message["content"][2]["input"], json!({"command": "ls"}));
    assert_eq!(
        message["usage"],
        json!({"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10, "output_tokens": 5})
    );
    assert_eq!(upstream.received()[0].json()["stream"], false);

    let resp = proxy.messages(&request(false)).await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    proxy.stop().await;
}

#[tokio::test]
async fn the_api_override_sends_a_model_to_the_other_endpoint() {
    let upstream = Upstream::start(vec![
        Reply::sse(crate::chat_script::text(&["from chat"])),
        Reply::sse(responses_script::text(&["from responses"])),
    ])
    .await;
    // gpt-5-codex on Chat Completions when the user says so.
    let mut vars = env(&upstream);
    vars.push(("ANYCLAUDE_OPENAI_API", "chat".into()));
    let proxy = TestProxy::start(&vars, None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    assert_eq!(blocks(&events)[0]["text"], "from chat");
    proxy.stop().await;
    // A Chat model on the Responses API when the user says so.
    let mut vars = env(&upstream);
    vars.push(("ANYCLAUDE_OPENAI_API", "responses".into()));
    let proxy = TestProxy::start(&vars, None, test_timeouts()).await;
    let mut req = request(true);
    req["model"] = json!("openai/gpt-4.1");
    let events = stream_events(&proxy, &req).await;
    assert_eq!(blocks(&events)[0]["text"], "from responses");
    let uris: Vec<String> = upstream.received().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/v1/chat/completions", "/v1/responses"]);
    let sent = upstream.received()[1].json();
    assert!(
        sent.get("reasoning").is_none() && sent.get("include").is_none(),
        "{sent}"
    );
    proxy.stop().await;
}

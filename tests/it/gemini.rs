//! The Gemini native path over real sockets, against a scripted upstream that speaks
//! Gemini: what Claude Code gets back (streamed and not), what the upstream receives (URL
//! with the model percent-encoded, `x-goog-api-key`, the translated body), the thinking
//! round trip over two turns, images, and errors before and in the middle of a stream.
//! Every stream read back is checked against the writer's invariants, event by event.

use serde_json::{Value, json};

use anyclaude::anthropic::stream::Event;
use anyclaude::anthropic::writer::check_events;

use crate::gemini_script::{self, chunk, usage};
use crate::harness::{Ev, TOKEN, TestProxy, event, names, parse_sse, test_timeouts};
use crate::scripted::{Reply, Step, Upstream};

const KEY: &str = "gm-test-key";

fn env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("GEMINI_BASE_URL", format!("{}/v1beta", upstream.url())),
        ("GEMINI_API_KEY", KEY.into()),
    ]
}

fn request(stream: bool) -> Value {
    json!({
        "model": "gemini/gemini-test", "max_tokens": 1000, "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Run a command",
                   "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                                    "additionalProperties": false,
                                    "properties": {"command": {"type": "string"}, "timeout": {"type": "number", "exclusiveMinimum": 0}},
                                    "required": ["command"]}},
                  {"name": "Write", "description": "Write a file",
                   "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "hi"}],
    })
}

/// Streams a request, checks the writer's invariants on every event, and returns them.
pub(crate) async fn stream_events(proxy: &TestProxy, body: &Value) -> Vec<Ev> {
    let resp = proxy.messages(body).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let typed: Vec<Event> = events.iter().map(event).collect();
    check_events(&typed, true).unwrap_or_else(|e| panic!("{e}: {events:#?}"));
    events
}

/// The content blocks rebuilt from a stream, tool inputs parsed.
pub(crate) fn blocks(events: &[Ev]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    for e in events {
        match e.name.as_str() {
            "content_block_start" => {
                let mut b = e.data["content_block"].clone();
                if b["type"] == "tool_use" {
                    b["partial"] = json!("");
                }
                blocks.push(b);
            }
            "content_block_delta" => {
                let b = blocks.last_mut().unwrap();
                let d = &e.data["delta"];
                let append = |b: &mut Value, key: &str, more: &Value| {
                    let so_far = b[key].as_str().unwrap_or("").to_owned();
                    b[key] = json!(format!("{so_far}{}", more.as_str().unwrap()));
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => append(b, "text", &d["text"]),
                    "thinking_delta" => append(b, "thinking", &d["thinking"]),
                    "signature_delta" => append(b, "signature", &d["signature"]),
                    "input_json_delta" => append(b, "partial", &d["partial_json"]),
                    other => panic!("delta {other}"),
                }
            }
            "content_block_stop" => {
                let b = blocks.last_mut().unwrap();
                if b["type"] == "tool_use" {
                    b["input"] = serde_json::from_str(b["partial"].as_str().unwrap()).unwrap();
                    b.as_object_mut().unwrap().remove("partial");
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
        .expect("a message_delta")
        .data
}

#[tokio::test]
async fn text_streams_with_usage_key_and_model_in_the_url() {
    let upstream = Upstream::start(vec![Reply::sse(gemini_script::text(&[
        "Hello", ", ", "world",
    ]))])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    assert_eq!(
        blocks(&events),
        [json!({"type": "text", "text": "Hello, world"})]
    );
    assert_eq!(events[0].data["message"]["model"], "gemini/gemini-test");
    let delta = message_delta(&events);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["input_tokens"], 80);
    assert_eq!(delta["usage"]["cache_read_input_tokens"], 20);
    assert_eq!(delta["usage"]["output_tokens"], 3);

    let sent = &upstream.received()[0];
    assert_eq!(
        sent.uri,
        "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    );
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("x-anyclaude-token"), None);
    assert!(!format!("{:?}", sent.headers).contains(TOKEN));
    let body = sent.json();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are Claude Code."}]})
    );
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "hi"}]}])
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["parameters"],
        json!({"type": "object", "properties": {"command": {"type": "string"},
               "timeout": {"type": "number", "minimum": 0}}, "required": ["command"]}),
        "the schema is sanitised"
    );
    assert!(!body.to_string().contains("cache_control"));
    proxy.stop().await;
}

#[tokio::test]
async fn parallel_calls_in_one_chunk_arrive_as_whole_tool_use_blocks() {
    let upstream = Upstream::start(vec![Reply::sse(gemini_script::calls(
        &[
            ("Bash", json!({"command": "ls -la"})),
            ("Write", json!({"file_path": "/tmp/x", "content": "a\nb"})),
        ],
        None,
    ))])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    let b = blocks(&events);
    let tools: Vec<&Value> = b.iter().filter(|b| b["type"] == "tool_use").collect();
    assert_eq!(tools.len(), 2, "{b:?}");
    assert_eq!(tools[0]["name"], "Bash");
    assert_eq!(tools[0]["input"], json!({"command": "ls -la"}));
    assert_eq!(tools[1]["name"], "Write");
    assert_eq!(tools[1]["input"]["content"], "a\nb");
    assert_ne!(tools[0]["id"], tools[1]["id"]);
    assert_eq!(message_delta(&events)["delta"]["stop_reason"], "tool_use");
    proxy.stop().await;
}

#[tokio::test]
async fn thinking_round_trip_sends_the_signature_back_on_its_call() {
    let upstream = Upstream::start(vec![
        Reply::sse(gemini_script::thinking_then_call(
            &["Let me ", "list the files."],
            "Bash",
            json!({"command": "ls"}),
            "c2lnbmF0dXJlLWZvci1jYWxs",
        )),
        Reply::sse(gemini_script::thinking_then_text(
            &["The listing shows one file."],
            &["There is ", "one file."],
            "c2lnbmF0dXJlLWZvci10ZXh0",
        )),
    ])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut first = request(true);
    first["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let events = stream_events(&proxy, &first).await;
    let turn1 = blocks(&events);
    let kinds: Vec<&str> = turn1.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["thinking", "tool_use"], "{turn1:?}");
    assert_eq!(turn1[0]["thinking"], "Let me list the files.");
    assert!(
        turn1[0]["signature"]
            .as_str()
            .unwrap()
            .contains("c2lnbmF0dXJlLWZvci1jYWxs"),
        "{turn1:?}"
    );
    assert_eq!(
        upstream.received()[0].json()["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 2048})
    );

    // Turn 2: Claude Code sends the blocks back as they came, with the tool's result.
    let call_id = turn1[1]["id"].as_str().unwrap().to_owned();
    let mut second = first.clone();
    second["messages"] = json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": turn1},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "a.txt"}]},
    ]);
    let events = stream_events(&proxy, &second).await;
    let turn2 = blocks(&events);
    assert_eq!(
        turn2
            .iter()
            .filter(|b| b["type"] == "text")
            .map(|b| b["text"].as_str().unwrap())
            .collect::<String>(),
        "There is one file."
    );
    let sent = upstream.received()[1].json();
    assert_eq!(
        sent["contents"],
        json!([
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "Bash", "args": {"command": "ls"}},
                 "thoughtSignature": "c2lnbmF0dXJlLWZvci1jYWxs"}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "Bash", "response": {"output": "a.txt"}}}]}
        ]),
        "the signature is back on the call it came with; the summary is not resent"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn images_go_up_as_inline_data() {
    let upstream = Upstream::start(vec![Reply::sse(gemini_script::text(&["A red dot."]))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut body = request(true);
    body["messages"] = json!([{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "what is this?"}
    ]}]);
    let events = stream_events(&proxy, &body).await;
    assert_eq!(blocks(&events)[0]["text"], "A red dot.");
    assert_eq!(
        upstream.received()[0].json()["contents"][0]["parts"],
        json!([{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}, {"text": "what is this?"}])
    );
    proxy.stop().await;
}

#[tokio::test]
async fn errors_before_the_stream_become_anthropic_errors() {
    let cases = [
        (
            Reply::Full {
                status: 429,
                headers: vec![("content-type", "application/json".into())],
                body: json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                    "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}})
                    .to_string()
                    .into(),
            },
            429,
            "rate_limit_error",
            Some("2"),
        ),
        (
            Reply::error(
                400,
                json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}),
            ),
            401,
            "authentication_error",
            None,
        ),
        (
            Reply::error(
                404,
                gemini_script::error(404, "NOT_FOUND", "models/gemini-test is not found"),
            ),
            404,
            "not_found_error",
            None,
        ),
        (
            Reply::error(
                503,
                gemini_script::error(503, "UNAVAILABLE", "The model is overloaded."),
            ),
            529,
            "overloaded_error",
            None,
        ),
    ];
    let n = cases.len();
    let upstream = Upstream::start(cases.iter().map(|c| c.0.clone()).collect()).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    for (_, status, kind, retry_after) in cases {
        let resp = proxy.messages(&request(true)).await;
        assert_eq!(resp.status().as_u16(), status, "{kind}");
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned())
                .as_deref(),
            retry_after,
            "{kind}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], kind);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Gemini"),
            "{body}"
        );
    }
    proxy.settled(n as u64).await;
    proxy.stop().await;
}

#[tokio::test]
async fn failures_mid_stream_end_in_an_error_inside_the_open_block() {
    let partial = chunk(json!([{"text": "partial"}]), None, usage(10, 1, 0, 0));
    let error = gemini_script::event(&gemini_script::error(
        500,
        "INTERNAL",
        "An internal error has occurred.",
    ));
    let upstream = Upstream::start(vec![
        Reply::sse([partial.clone(), error]),
        Reply::steps(vec![Step::Send(partial.clone().into()), Step::Reset]),
        Reply::sse([partial]),
    ])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    for case in ["error event", "reset", "no finishReason"] {
        let events = stream_events(&proxy, &request(true)).await;
        let names = names(&events);
        assert_eq!(names.last(), Some(&"error"), "{case}: {names:?}");
        assert!(!names.contains(&"message_stop"), "{case}");
        assert!(!names.contains(&"content_block_stop"), "{case}");
        if case == "error event" {
            let message = events.last().unwrap().data["error"]["message"]
                .as_str()
                .unwrap();
            assert!(message.contains("An internal error"), "{message}");
        }
    }
    proxy.settled(3).await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_non_streamed_request_gets_a_whole_message() {
    let answer = gemini_script::response(
        json!([{"text": "Thinking.", "thought": true},
               {"text": "Here."},
               {"functionCall": {"name": "Bash", "args": {"command": "pwd"}}, "thoughtSignature": "c2ln"}]),
        Some("STOP"),
        usage(500, 20, 100, 5),
    );
    let upstream = Upstream::start(vec![Reply::json(answer)]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let resp = proxy.messages(&request(false)).await;
    assert_eq!(resp.status(), 200);
    let message: Value = resp.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["model"], "gemini/gemini-test");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["usage"],
        json!({"input_tokens": 400, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0, "output_tokens": 25})
    );
    let content = message["content"].as_array().unwrap();
    let kinds: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["thinking", "text", "thinking", "tool_use"]);
    assert_eq!(content[3]["input"], json!({"command": "pwd"}));
    assert_eq!(
        upstream.received()[0].uri,
        "/v1beta/models/gemini-test:generateContent"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_key_falls_back_to_google_api_key_and_the_model_is_percent_encoded() {
    let upstream = Upstream::start(vec![Reply::sse(gemini_script::text(&["ok"]))]).await;
    let env = vec![
        ("GEMINI_BASE_URL", format!("{}/v1beta/", upstream.url())),
        ("GOOGLE_API_KEY", "google-key".to_owned()),
    ];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;
    let mut body = request(true);
    body["model"] = json!("gemini/tunedModels/my model");
    stream_events(&proxy, &body).await;
    let sent = &upstream.received()[0];
    assert_eq!(
        sent.uri,
        "/v1beta/models/tunedModels%2Fmy%20model:streamGenerateContent?alt=sse"
    );
    assert_eq!(sent.header("x-goog-api-key"), Some("google-key"));
    proxy.stop().await;
}

/// A session that moves between dialects: OpenAI (Chat) → Gemini → OpenAI. Each backend
/// gets the other's tool calls and results in its own shape, never the other's reasoning
/// state: Gemini gets no foreign thinking and the placeholder signature on the foreign call;
/// Chat gets no Gemini signature.
#[tokio::test]
async fn a_session_switching_between_openai_and_gemini() {
    use crate::chat_script;
    let chat = Upstream::start(vec![
        Reply::sse(
            std::iter::once(chat_script::chunk(
                json!({"reasoning_content": "OpenAI reasoning"}),
                None,
            ))
            .chain(chat_script::tool_calls(
                &[("call_1", "Bash", json!({"command": "ls"}))],
                4,
            ))
            .collect::<Vec<_>>(),
        ),
        Reply::sse(chat_script::text(&["back on OpenAI"])),
    ])
    .await;
    let gemini = Upstream::start(vec![Reply::sse(gemini_script::thinking_then_call(
        &["Gemini thinking."],
        "Bash",
        json!({"command": "pwd"}),
        "Z2VtaW5pLXN0YXRl",
    ))])
    .await;
    let mut env = env(&gemini);
    env.push(("OPENAI_BASE_URL", format!("{}/v1", chat.url())));
    env.push(("OPENAI_API_KEY", "sk-test".into()));
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;

    let mut body = request(true);
    body["model"] = json!("openai/gpt-test");
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let turn1 = blocks(&stream_events(&proxy, &body).await);
    assert_eq!(turn1.len(), 2, "{turn1:?}");

    body["model"] = json!("gemini/gemini-test");
    body["messages"] = json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": turn1},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]},
    ]);
    let turn2 = blocks(&stream_events(&proxy, &body).await);
    let sent = gemini.received()[0].json();
    assert_eq!(
        sent["contents"][1],
        json!({"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "Bash", "args": {"command": "ls"}},
                                           "thoughtSignature": "skip_thought_signature_validator"}]}),
        "no OpenAI reasoning; the placeholder on the foreign call"
    );
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"id": "call_1", "name": "Bash", "response": {"output": "a.txt"}}}]})
    );

    body["model"] = json!("openai/gpt-test");
    let call_id = turn2.last().unwrap()["id"].as_str().unwrap().to_owned();
    let mut messages = body["messages"].as_array().unwrap().clone();
    messages.push(json!({"role": "assistant", "content": turn2}));
    messages.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "/home"}]}));
    body["messages"] = json!(messages);
    let turn3 = blocks(&stream_events(&proxy, &body).await);
    assert_eq!(turn3, [json!({"type": "text", "text": "back on OpenAI"})]);
    let sent = chat.received()[1].body.clone();
    let sent = String::from_utf8_lossy(&sent);
    assert!(
        !sent.contains("Z2VtaW5pLXN0YXRl"),
        "no Gemini state to OpenAI: {sent}"
    );
    assert!(!sent.contains("anyclaude-s1"), "{sent}");
    assert!(
        sent.contains("/home"),
        "the Gemini call's result reached OpenAI"
    );
    proxy.stop().await;
}

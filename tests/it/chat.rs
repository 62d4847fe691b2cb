//! The OpenAI Chat Completions path over real sockets, against a scripted upstream: what
//! Claude Code gets back (streamed and not), what the upstream receives, and every error
//! before and after the stream starts.

use serde_json::{Value, json};

use crate::chat_script::{self, chunk, done, usage};
use crate::harness::{
    Ev, TOKEN, TestProxy, names, parse_sse, read_rest, read_until, test_timeouts,
};
use crate::scripted::{Reply, Step, Upstream};

fn env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-test-key".into()),
    ]
}

fn request(stream: bool) -> Value {
    json!({
        "model": "openai/gpt-test", "max_tokens": 1000, "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Run a command",
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
                  {"name": "Write", "description": "Write a file",
                   "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "hi"}],
    })
}

async fn stream_events(proxy: &TestProxy, body: &Value) -> Vec<Ev> {
    let resp = proxy.messages(body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    parse_sse(&resp.text().await.unwrap())
}

/// Checks the shape every Anthropic stream must have and returns the blocks rebuilt.
fn blocks(events: &[Ev]) -> Vec<Value> {
    let events: Vec<&Ev> = events.iter().filter(|e| e.name != "ping").collect();
    assert_eq!(events[0].name, "message_start");
    let mut blocks: Vec<Value> = Vec::new();
    let mut open: Option<usize> = None;
    for e in &events[1..] {
        match e.name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "blocks never interleave");
                let index = e.data["index"].as_u64().unwrap() as usize;
                assert_eq!(index, blocks.len(), "indexes are contiguous");
                blocks.push(e.data["content_block"].clone());
                open = Some(index);
            }
            "content_block_delta" => {
                let index = e.data["index"].as_u64().unwrap() as usize;
                assert_eq!(Some(index), open);
                let b = &mut blocks[index];
                let d = &e.data["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        b["text"] = json!(format!(
                            "{}{}",
                            b["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        ))
                    }
                    "thinking_delta" => {
                        b["thinking"] = json!(format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        ))
                    }
                    "signature_delta" => b["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        let so_far = b
                            .get("partial")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        b["partial"] =
                            json!(format!("{so_far}{}", d["partial_json"].as_str().unwrap()));
                    }
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let index = e.data["index"].as_u64().unwrap() as usize;
                assert_eq!(Some(index), open);
                let b = &mut blocks[index];
                if b["type"] == "tool_use" {
                    let partial = b
                        .get("partial")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    // Invalid joined arguments are allowed only when the stream then ends in an
                    // error (checked by the callers); they show up here as `null`.
                    b["input"] = serde_json::from_str(&partial).unwrap_or(Value::Null);
                    b.as_object_mut().unwrap().remove("partial");
                }
                open = None;
            }
            "message_delta" | "message_stop" => {
                assert!(open.is_none(), "blocks closed before {}", e.name)
            }
            // A failure ends inside an open block (never after closed ones): that is what
            // makes Claude Code retry instead of keeping a truncated answer.
            "error" => assert!(open.is_some(), "an error comes inside an open block"),
            other => panic!("unexpected event {other}"),
        }
    }
    blocks
}

#[tokio::test]
async fn text_streams_with_usage_and_the_clients_model_name() {
    let upstream = Upstream::start(vec![Reply::sse(chat_script::text(&[
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
    let start = &events[0].data["message"];
    assert_eq!(start["model"], "openai/gpt-test");
    assert!(
        start["usage"]["input_tokens"].as_u64().unwrap() > 0,
        "an estimate, never 0"
    );
    assert_eq!(
        blocks(&events),
        [json!({"type": "text", "text": "Hello, world"})]
    );
    let delta = &events
        .iter()
        .find(|e| e.name == "message_delta")
        .unwrap()
        .data;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["input_tokens"], 80);
    assert_eq!(delta["usage"]["cache_read_input_tokens"], 20);
    assert_eq!(delta["usage"]["output_tokens"], 3);

    let sent = &upstream.received()[0];
    assert_eq!(sent.uri, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(sent.header("x-anyclaude-token"), None);
    assert!(!format!("{:?}", sent.headers).contains(TOKEN));
    let body = sent.json();
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["tools"][0]["function"]["name"], "Bash");
    proxy.stop().await;
}

#[tokio::test]
async fn count_tokens_matches_message_start() {
    let upstream = Upstream::start(vec![Reply::sse(chat_script::text(&["x"]))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    let streamed = events[0].data["message"]["usage"]["input_tokens"]
        .as_u64()
        .unwrap();
    let mut body = request(false);
    body.as_object_mut().unwrap().remove("max_tokens");
    body.as_object_mut().unwrap().remove("stream");
    let counted: Value = proxy
        .client
        .post(proxy.url("/v1/messages/count_tokens?beta=true"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counted["input_tokens"].as_u64().unwrap(), streamed);
    assert_eq!(
        upstream.received().len(),
        1,
        "count_tokens never reaches the upstream"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn two_interleaved_parallel_tool_calls_arrive_intact() {
    let calls = [
        (
            "call_a",
            "Bash",
            json!({"command": "ls -la /tmp && echo \"done\""}),
        ),
        (
            "call_b",
            "Write",
            json!({"file_path": "/tmp/x.txt", "content": "line one\nline two ünïcödé"}),
        ),
    ];
    let upstream = Upstream::start(vec![Reply::sse(chat_script::tool_calls(&calls, 3))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    let got = blocks(&events);
    assert_eq!(got.len(), 2, "{got:?}");
    for (block, (id, name, input)) in got.iter().zip(&calls) {
        assert!(
            !block["input"].is_null(),
            "tool arguments join into valid JSON"
        );
        assert_eq!(block["type"], "tool_use");
        assert_eq!(block["id"], *id);
        assert_eq!(block["name"], *name);
        assert_eq!(block["input"], *input);
    }
    let delta = &events
        .iter()
        .find(|e| e.name == "message_delta")
        .unwrap()
        .data;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    proxy.stop().await;
}

#[tokio::test]
async fn thinking_becomes_a_signed_thinking_block_before_the_text() {
    let upstream = Upstream::start(vec![Reply::sse(chat_script::thinking_then_text(
        &["Let me ", "think."],
        &["Answer."],
    ))])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let events = stream_events(&proxy, &request(true)).await;
    let got = blocks(&events);
    assert_eq!(got[0]["type"], "thinking");
    assert_eq!(got[0]["thinking"], "Let me think.");
    assert!(!got[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(got[1], json!({"type": "text", "text": "Answer."}));
    proxy.stop().await;
}

#[tokio::test]
async fn images_reach_the_upstream_as_data_urls() {
    let upstream = Upstream::start(vec![Reply::sse(chat_script::text(&["a cat"]))]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut body = request(true);
    body["messages"] = json!([{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.jpg"}},
        {"type": "text", "text": "what is this?"}]}]);
    let events = stream_events(&proxy, &body).await;
    assert_eq!(blocks(&events), [json!({"type": "text", "text": "a cat"})]);
    let sent = upstream.received()[0].json();
    let parts = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .clone();
    let urls: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["image_url"]["url"].as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "data:image/png;base64,iVBORw0KGgo=",
            "https://example.invalid/cat.jpg"
        ]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn first_events_arrive_before_the_upstream_has_finished() {
    let mut steps: Vec<Step> = chat_script::text(&["early"])[..2]
        .iter()
        .map(|c| Step::Send(c.clone().into()))
        .collect();
    steps.push(Step::Hold);
    steps.extend(
        chat_script::text(&["early"])[2..]
            .iter()
            .map(|c| Step::Send(c.clone().into())),
    );
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut resp = proxy.messages(&request(true)).await;
    let seen = read_until(&mut resp, "\"early\"").await;
    upstream.release();
    let seen = read_rest(&mut resp, seen).await;
    assert_eq!(names(&parse_sse(&seen)).last(), Some(&"message_stop"));
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_errors_before_the_stream_become_anthropic_errors() {
    let err = |status: u16, message: &str, code: &str| {
        Reply::error(
            status,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}),
        )
    };
    let upstream = Upstream::start(vec![
        Reply::Full {
            status: 429,
            headers: vec![("retry-after", "3".into()), ("content-type", "application/json".into())],
            body: json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}).to_string().into(),
        },
        err(401, "Incorrect API key provided", "invalid_api_key"),
        err(403, "not allowed", "forbidden"),
        err(404, "The model `gpt-test` does not exist", "model_not_found"),
        err(400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9500 tokens.", "context_length_exceeded"),
        err(422, "bad field", "x"),
        // OpenAI's own 500s are typed `server_error` (a 500 typed `invalid_request_error`
        // is a request the server rejected: a 400, see tests/it/local.rs).
        Reply::error(
            500,
            json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}),
        ),
        err(503, "overloaded", "x"),
        Reply::Full { status: 502, headers: vec![("content-type", "text/html".into())], body: "<html>Bad Gateway</html>".into() },
    ])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let expected = [
        (429, "rate_limit_error", "Rate limit reached"),
        (401, "authentication_error", "Incorrect API key"),
        (403, "permission_error", "not allowed"),
        (404, "not_found_error", "does not exist"),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 9500 tokens > 8192 maximum",
        ),
        (400, "invalid_request_error", "bad field"),
        (500, "api_error", ""),
        (529, "overloaded_error", ""),
        (529, "overloaded_error", "502"),
    ];
    for (status, kind, needle) in expected {
        let resp = proxy.messages(&request(true)).await;
        assert_eq!(resp.status(), status, "{kind}");
        assert!(resp.headers().contains_key("request-id"));
        if status == 429 {
            assert_eq!(resp.headers()["retry-after"], "3");
        }
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], kind, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert!(
            !message.contains("<html>"),
            "no raw upstream body: {message}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn faults_mid_stream_end_in_an_error_inside_the_open_block() {
    let text = chat_script::text(&["partial"]);
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "error chunk",
            vec![
                text[0].clone(),
                text[1].clone(),
                "data: {\"error\":{\"message\":\"model crashed\",\"type\":\"server_error\"}}\n\n"
                    .into(),
            ],
        ),
        (
            "invalid json",
            vec![
                text[0].clone(),
                text[1].clone(),
                "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}\n\n".into(),
            ],
        ),
        ("no finish", vec![text[0].clone(), text[1].clone()]),
        (
            "broken tool arguments",
            vec![
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\": "}}]}),
                    None,
                ),
                chunk(json!({}), Some("tool_calls")),
                usage(10, 2, 0),
                done(),
            ],
        ),
    ];
    let upstream =
        Upstream::start(cases.iter().map(|(_, c)| Reply::sse(c.clone())).collect()).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    for (case, _) in &cases {
        let events = stream_events(&proxy, &request(true)).await;
        blocks(&events);
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
    }
    proxy.settled(cases.len() as u64).await;
    proxy.stop().await;
}

#[tokio::test]
async fn non_streaming_requests_are_translated_both_ways() {
    let upstream = Upstream::start(vec![Reply::json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Running it.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
    }))])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let resp = proxy.messages(&request(false)).await;
    assert_eq!(resp.status(), 200);
    let message: Value = resp.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["model"], "openai/gpt-test");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"][0],
        json!({"type": "text", "text": "Running it."})
    );
    assert_eq!(message["content"][1]["type"], "tool_use");
    assert_eq!(message["content"][1]["input"], json!({"command": "ls"}));
    assert_eq!(message["usage"]["input_tokens"], 50);
    assert_eq!(message["usage"]["output_tokens"], 5);
    assert_eq!(upstream.received()[0].json()["stream"], false);
    proxy.stop().await;
}

#[tokio::test]
async fn bare_claude_model_ids_go_to_the_default_model() {
    let upstream =
        Upstream::start(vec![Reply::sse(chat_script::text(&["from the default"]))]).await;
    let proxy =
        TestProxy::start(&env(&upstream), Some("openai/gpt-default"), test_timeouts()).await;
    let mut body = request(true);
    body["model"] = json!("claude-haiku-4-5-20251001");
    let events = stream_events(&proxy, &body).await;
    assert_eq!(
        events[0].data["message"]["model"],
        "claude-haiku-4-5-20251001"
    );
    assert_eq!(upstream.received()[0].json()["model"], "gpt-default");
    proxy.stop().await;
}

#[tokio::test]
async fn a_200_with_an_html_body_is_an_error_quoting_the_page() {
    let upstream = Upstream::start(vec![Reply::Stream {
        status: 200,
        content_type: "text/html",
        delay: std::time::Duration::ZERO,
        steps: vec![Step::Send(
            "<html><body><h1>Welcome to nginx!</h1></body></html>".into(),
        )],
    }])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    // Seen by its content type before the 200 is committed: an error status whose message
    // names the content type and quotes the start of the page.
    let resp = proxy.messages(&request(true)).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("text/html") && message.contains("Welcome to nginx!"),
        "{message}"
    );
    proxy.stop().await;
}

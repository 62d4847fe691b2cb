//! The proxy over real sockets: authentication, routes, request bodies, errors, and the
//! Anthropic pass-through provider against a scripted upstream.

use std::time::Duration;

use serde_json::json;

use crate::harness::{TOKEN, TestProxy, names, parse_sse, read_rest, read_until, test_timeouts};
use crate::scripted::{Reply, Upstream};

fn anthropic_env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_API_URL", upstream.url()),
        ("ANTHROPIC_API_KEY", "sk-ant-user-key".into()),
    ]
}

/// A recorded-style Anthropic stream: text then a tool call, as Anthropic sends it.
pub fn anthropic_stream(model: &str) -> Vec<String> {
    vec![
        format!("event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{model}\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}}}}\n\n"),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".into(),
        "event: ping\ndata: {\"type\": \"ping\"}\n\n".into(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel".into(),
        "lo\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into(),
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into(),
    ]
}

fn request(model: &str, stream: bool) -> serde_json::Value {
    json!({
        "model": model, "max_tokens": 100, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    })
}

#[tokio::test]
async fn startup_probe_is_answered_without_the_token() {
    let proxy = TestProxy::start(&[], None, test_timeouts()).await;
    let bare = reqwest::Client::builder().no_proxy().build().unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let resp = bare.request(method, proxy.url("/")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("request-id"));
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    proxy.stop().await;
}

#[tokio::test]
async fn requests_without_the_token_get_401() {
    let proxy = TestProxy::start(&[], Some("openai/gpt-5-mini"), test_timeouts()).await;
    let bare = reqwest::Client::builder().no_proxy().build().unwrap();
    for token in [None, Some("wrong"), Some(&TOKEN[..31])] {
        let mut req = bare
            .post(proxy.url("/v1/messages"))
            .json(&request("openai/x", false));
        if let Some(token) = token {
            req = req.header("x-anyclaude-token", token);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("request-id"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "authentication_error");
    }
    for path in ["/health", "/v1/models"] {
        let resp = bare.get(proxy.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn routes_health_models_and_not_found() {
    let env = crate::picker::local_env(&[]);
    let proxy = TestProxy::start(&env, Some("ollama/qwen3-coder"), test_timeouts()).await;
    let health: serde_json::Value = proxy.get_json("/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["metrics"]["requests"], 0);
    let models: serde_json::Value = proxy.get_json("/v1/models").await;
    assert_eq!(models["data"][0]["id"], "anyclaude/ollama/qwen3-coder");
    for (method, path) in [
        ("GET", "/v1/complete"),
        ("POST", "/v1/complete"),
        ("GET", "/v1/messages"),
        ("DELETE", "/"),
    ] {
        let resp = proxy
            .client
            .request(method.parse().unwrap(), proxy.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert!(resp.headers().contains_key("request-id"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["type"], "not_found_error");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_clear_400s_and_413() {
    let proxy = TestProxy::start(&[], Some("ollama/qwen3-coder"), test_timeouts()).await;
    let post = |body: Vec<u8>, ct: &'static str| {
        proxy
            .client
            .post(proxy.url("/v1/messages"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (
            b"{\"model\": \"x\",\n \"messages\": [}".to_vec(),
            "application/json",
            400,
            "line 2",
        ),
        (
            b"{\"model\": \"x\"".to_vec(),
            "application/json",
            400,
            "EOF",
        ),
        (vec![b'{', 0xff, b'}'], "application/json", 400, "UTF-8"),
        (b"{}".to_vec(), "text/plain", 400, "content-type"),
        (
            format!(
                "{{\"model\":\"x\",\"max_tokens\":1,\"messages\":[],\"metadata\":{}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            "application/json",
            400,
            "nested too deeply",
        ),
        (vec![b' '; 33 * 1024 * 1024], "application/json", 413, "MiB"),
    ];
    for (body, ct, status, needle) in cases {
        let resp = post(body, ct).await.unwrap();
        assert_eq!(resp.status(), status, "{needle}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{message:?} should contain {needle:?}"
        );
        let expected = if status == 413 {
            "request_too_large"
        } else {
            "invalid_request_error"
        };
        assert_eq!(body["error"]["type"], expected);
    }
    proxy.stop().await;
}

#[tokio::test]
async fn unroutable_models_say_what_to_do() {
    let proxy = TestProxy::start(&[], None, test_timeouts()).await;
    let resp = proxy.messages(&request("nope/model", true)).await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openai") && message.contains("ollama"),
        "{message}"
    );

    let resp = proxy.messages(&request("openai/gpt-5-mini", true)).await;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY")
    );

    let resp = proxy.messages(&request("claude-haiku-4-5", true)).await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--model")
    );
    proxy.stop().await;
}

#[tokio::test]
async fn anthropic_pass_through_streams_unchanged_but_for_the_model() {
    let upstream = Upstream::start(vec![Reply::sse(anthropic_stream("claude-sonnet-4-5"))]).await;
    let proxy = TestProxy::start(&anthropic_env(&upstream), None, test_timeouts()).await;
    let resp = proxy
        .client
        .post(proxy.url("/v1/messages?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "claude-code-20250219")
        .header("authorization", "Bearer claude-code-credential")
        .header("x-api-key", "claude-code-key")
        .json(&request("anthropic/claude-sonnet-4-5", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    let got = parse_sse(&text);
    let expected = parse_sse(&anthropic_stream("anthropic/claude-sonnet-4-5").concat());
    assert_eq!(got, expected);

    let sent = &upstream.received()[0];
    assert_eq!(sent.uri, "/v1/messages?beta=true");
    assert_eq!(sent.json()["model"], "claude-sonnet-4-5");
    assert_eq!(sent.json()["messages"], request("x", true)["messages"]);
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-user-key"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("anthropic-beta"), Some("claude-code-20250219"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("x-anyclaude-token"), None);
    assert!(!format!("{:?}", sent.headers).contains(TOKEN));
    proxy.settled(1).await;
    let snap = proxy.proxy.metrics().snapshot();
    assert_eq!(snap.recent[0].outcome, anyclaude::metrics::Outcome::Ok);
    assert_eq!(snap.recent[0].output_tokens, 7);
    proxy.stop().await;
}

#[tokio::test]
async fn anthropic_pass_through_non_streaming_and_errors() {
    let upstream = Upstream::start(vec![
        Reply::json(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 1}})),
        Reply::Full {
            status: 429,
            headers: vec![("retry-after", "7".into()), ("content-type", "application/json".into())],
            body: json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}).to_string().into(),
        },
        Reply::error(529, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    ])
    .await;
    let proxy = TestProxy::start(&anthropic_env(&upstream), None, test_timeouts()).await;
    let resp = proxy.messages(&request("anthropic/claude-x", false)).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["model"], "anthropic/claude-x");
    assert_eq!(body["content"][0]["text"], "hi");

    let resp = proxy.messages(&request("anthropic/claude-x", true)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );

    let resp = proxy.messages(&request("anthropic/claude-x", true)).await;
    assert_eq!(resp.status(), 529);
    proxy.stop().await;
}

#[tokio::test]
async fn refused_connection_to_a_local_preset_names_the_url_and_server() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = vec![("OLLAMA_BASE_URL", format!("http://127.0.0.1:{port}/v1"))];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;
    let resp = proxy.messages(&request("ollama/qwen3-coder", true)).await;
    assert_eq!(resp.status(), 529);
    let body: serde_json::Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}/v1/chat/completions")),
        "{message}"
    );
    assert!(
        message.contains("ollama serve") && message.contains("OLLAMA_BASE_URL"),
        "{message}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn shutdown_ends_in_flight_streams_with_an_error_and_closes_the_port() {
    use crate::scripted::Step;
    let mut steps: Vec<Step> = anthropic_stream("m")[..2]
        .iter()
        .map(|s| Step::Send(s.clone().into()))
        .collect();
    steps.push(Step::Hold);
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let proxy = TestProxy::start(&anthropic_env(&upstream), None, test_timeouts()).await;
    let mut resp = proxy.messages(&request("anthropic/m", true)).await;
    assert_eq!(resp.status(), 200);
    let text = read_until(&mut resp, "content_block_start").await;
    let addr = proxy.addr;
    let shutdown = proxy.shutdown.clone();
    shutdown.cancel();
    let text = read_rest(&mut resp, text).await;
    let events = parse_sse(&text);
    assert_eq!(
        names(&events),
        ["message_start", "content_block_start", "error"]
    );
    assert!(
        events.last().unwrap().data["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    tokio::time::timeout(Duration::from_secs(10), proxy.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port closed"
    );
    upstream.wait_closed(1).await;
}

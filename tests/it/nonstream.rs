//! The non-streaming Chat path (`stream: false`) over real sockets, with the same faults as
//! the streaming tests. Claude Code sends such a request when a stream fails (its fallback),
//! so this path is a recovery path: every fault must reach it as a well-formed Anthropic
//! error with the status that says what happened (retryable or not, ours or the upstream's),
//! and a good answer as a whole Anthropic message.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chat_script;
use crate::harness::{TestProxy, test_timeouts};
use crate::scripted::{Reply, Step, Upstream};

fn env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-test-key".into()),
    ]
}

fn request() -> Value {
    json!({
        "model": "openai/gpt-test", "max_tokens": 1000, "stream": false,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": "hi"}],
    })
}

/// A JSON body sent in `steps` (headers at once, 200).
fn json_steps(steps: Vec<Step>) -> Reply {
    Reply::Stream {
        status: 200,
        content_type: "application/json",
        delay: Duration::ZERO,
        steps,
    }
}

/// The first half of a good completion's JSON.
fn half_completion() -> String {
    let whole = chat_script::completion("a complete answer").to_string();
    whole[..whole.len() / 2].to_owned()
}

/// What the proxy answered: status, `retry-after`, and the body as JSON.
async fn answer(proxy: &TestProxy) -> (u16, Option<String>, Value) {
    let resp = proxy.messages(&request()).await;
    let status = resp.status().as_u16();
    assert!(resp.headers().contains_key("request-id"));
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text:?}"));
    (status, retry_after, body)
}

/// Checks a well-formed Anthropic error of `kind` with `status`, and returns its message.
fn anthropic_error(status: u16, body: &Value, want_status: u16, kind: &str) -> String {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(status, want_status, "{body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    message
}

async fn one(reply: Reply, timeouts: anyclaude::config::Timeouts) -> (u16, Option<String>, Value) {
    let upstream = Upstream::start(vec![reply]).await;
    let proxy = TestProxy::start(&env(&upstream), None, timeouts).await;
    let got = answer(&proxy).await;
    assert_eq!(upstream.received()[0].json()["stream"], false);
    proxy.settled(1).await;
    proxy.stop().await;
    got
}

#[tokio::test]
async fn nonstream_success_is_a_whole_message() {
    let (status, _, message) = one(
        Reply::json(chat_script::completion("Hello whole")),
        test_timeouts(),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["model"], "openai/gpt-test");
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "Hello whole"}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["usage"]["input_tokens"], 100);
    assert_eq!(message["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn nonstream_upstream_statuses_keep_their_meaning_and_retry_after() {
    let limited = |status: u16, retry: &str| {
        Reply::Full {
        status,
        headers: vec![
            ("retry-after", retry.into()),
            ("content-type", "application/json".into()),
        ],
        body: json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}})
            .to_string()
            .into(),
    }
    };
    let cases = [
        (limited(429, "7"), 429, "rate_limit_error", Some("7")),
        (limited(503, "4"), 529, "overloaded_error", Some("4")),
        (limited(500, "2"), 500, "api_error", None),
    ];
    for (reply, want_status, kind, retry) in cases {
        let (status, retry_after, body) = one(reply, test_timeouts()).await;
        let message = anthropic_error(status, &body, want_status, kind);
        assert!(message.contains("slow down"), "{message}");
        assert_eq!(retry_after.as_deref(), retry, "{kind}");
    }
}

#[tokio::test]
async fn nonstream_html_with_200_is_an_error_without_the_page() {
    let (status, _, body) = one(
        Reply::Full {
            status: 200,
            headers: vec![("content-type", "text/html".into())],
            body: "<html><body><h1>Welcome to nginx!</h1></body></html>".into(),
        },
        test_timeouts(),
    )
    .await;
    let message = anthropic_error(status, &body, 500, "api_error");
    assert!(
        !message.contains("<html>"),
        "no raw upstream body: {message}"
    );
}

#[tokio::test]
async fn nonstream_error_object_with_200_is_that_error() {
    let (status, _, body) = one(
        Reply::json(json!({"error": {"message": "the model is overloaded", "type": "server_error", "code": "529"}})),
        test_timeouts(),
    )
    .await;
    let message = anthropic_error(status, &body, 529, "overloaded_error");
    assert!(message.contains("the model is overloaded"), "{message}");
}

#[tokio::test]
async fn nonstream_truncated_json_is_an_error() {
    let (status, _, body) = one(
        json_steps(vec![Step::Send(half_completion().into())]),
        test_timeouts(),
    )
    .await;
    anthropic_error(status, &body, 500, "api_error");
}

#[tokio::test]
async fn nonstream_timeout_before_headers_is_our_timeout() {
    let mut timeouts = test_timeouts();
    timeouts.request = Duration::from_millis(500);
    let (status, _, body) = one(
        Reply::Stream {
            status: 200,
            content_type: "application/json",
            delay: Duration::from_secs(5),
            steps: vec![Step::Send(
                chat_script::completion("too late").to_string().into(),
            )],
        },
        timeouts,
    )
    .await;
    anthropic_error(status, &body, 504, "timeout_error");
}

#[tokio::test]
async fn nonstream_reset_mid_body_is_a_broken_connection_not_a_bad_body() {
    let (status, _, body) = one(
        json_steps(vec![Step::Send(half_completion().into()), Step::Reset]),
        test_timeouts(),
    )
    .await;
    let message = anthropic_error(status, &body, 500, "api_error");
    assert!(
        !message.contains("not a chat completion"),
        "a cut connection is not a bad body: {message}"
    );
}

#[tokio::test]
async fn nonstream_timeout_mid_body_is_our_timeout() {
    let mut timeouts = test_timeouts();
    timeouts.idle = Duration::from_millis(500);
    let (status, _, body) = one(
        json_steps(vec![
            Step::Send(half_completion().into()),
            Step::Pause(Duration::from_secs(5)),
        ]),
        timeouts,
    )
    .await;
    let message = anthropic_error(status, &body, 504, "timeout_error");
    assert!(
        !message.contains("not a chat completion"),
        "a silent upstream is not a bad body: {message}"
    );
}

#[tokio::test]
async fn nonstream_slow_but_steady_body_is_read_whole() {
    let mut timeouts = test_timeouts();
    timeouts.idle = Duration::from_millis(600);
    let whole = chat_script::completion("a slow but complete answer").to_string();
    // Eight pieces 200 ms apart: never silent for the idle timeout, longer than it in all.
    let pieces: Vec<Step> = whole
        .as_bytes()
        .chunks(whole.len().div_ceil(8))
        .flat_map(|c| {
            [
                Step::Pause(Duration::from_millis(200)),
                Step::Send(bytes::Bytes::copy_from_slice(c)),
            ]
        })
        .collect();
    let (status, _, message) = one(json_steps(pieces), timeouts).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "a slow but complete answer"}])
    );
}

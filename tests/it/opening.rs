//! The opening of a stream, over real sockets: the 200 is held until the upstream's first
//! event has been translated, so a stream refused before any output (a prompt over the
//! window, sent as the stream's first event) reaches Claude Code as the HTTP error it is,
//! which every Claude Code version shows or retries by its status; and a local server's
//! stream that ends without a word is asked again unstreamed, for its error.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use anyclaude::metrics::Outcome;

use crate::harness::{TestProxy, names, parse_sse, read_until, test_timeouts};
use crate::scripted::{Reply, Step, Upstream};

fn request(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": true,
           "messages": [{"role": "user", "content": "hi"}]})
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {body}\n\n")
}

fn hosted_env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", upstream.url()),
        ("OPENAI_API_KEY", "sk-test".into()),
    ]
}

fn outcomes(proxy: &TestProxy) -> Vec<(u16, Outcome)> {
    proxy
        .proxy
        .metrics()
        .snapshot()
        .recent
        .iter()
        .map(|r| (r.status, r.outcome))
        .collect()
}

/// Before any event, from a hosted backend: a first event that is a client error (a prompt
/// over the window) is an HTTP error with its own status and one record with that status;
/// a server-side failure (the body ends or breaks without a word) is streamed as before, a
/// 200 whose stream ends in an error, because Claude Code answers that by asking again
/// unstreamed at once, where an error status would be retried with backoff. A hosted
/// backend is never asked twice by anyclaude (the second request would be charged).
#[tokio::test]
async fn a_hosted_stream_refused_before_any_event_is_an_http_error() {
    let overflow = json!({"error": {"message": "This model's maximum context length is 4096 tokens. However, your messages resulted in 9000 tokens.",
        "type": "invalid_request_error", "code": "context_length_exceeded"}});
    let upstream = Upstream::start(vec![
        Reply::sse([format!("data: {overflow}\n\n")]),
        Reply::sse(Vec::<String>::new()),
        Reply::steps(vec![Step::Reset]),
        Reply::sse([": keep-alive\n\n".to_owned(), "data: [DONE]\n\n".to_owned()]),
        // An empty role chunk is not output Claude Code would see: still before any event.
        Reply::steps(vec![
            Step::Send(Bytes::from(chunk(
                json!({"role": "assistant", "content": ""}),
                None,
            ))),
            Step::Reset,
        ]),
    ])
    .await;
    let proxy = TestProxy::start(&hosted_env(&upstream), None, test_timeouts()).await;

    let resp = proxy.messages(&request("openai/m")).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("prompt is too long"), "{message}");

    for case in ["empty body", "reset", "[DONE] alone", "role, reset"] {
        let resp = proxy.messages(&request("openai/m")).await;
        assert_eq!(resp.status(), 200, "{case}");
        let events = parse_sse(&resp.text().await.unwrap());
        assert_eq!(names(&events).first(), Some(&"message_start"), "{case}");
        assert_eq!(names(&events).last(), Some(&"error"), "{case}: {events:?}");
    }
    proxy.settled(5).await;
    let recorded = outcomes(&proxy);
    assert_eq!(recorded.len(), 5, "{recorded:?}");
    assert_eq!(recorded[0], (400, Outcome::UpstreamError), "{recorded:?}");
    for (status, outcome) in &recorded[1..] {
        assert_eq!(
            (*status, *outcome),
            (200, Outcome::UpstreamError),
            "{recorded:?}"
        );
    }
    assert_eq!(upstream.received().len(), 5);
    proxy.stop().await;
}

/// Once there is output, the 200 goes out with it, and a failure after it ends the stream
/// with an error event as before; a silent upstream gets the 200 and `message_start` with
/// the first keepalive ping, so Claude Code's own timers never wait on our hold.
#[tokio::test]
async fn the_200_goes_out_with_the_first_output_or_the_first_keepalive() {
    let text = chunk(json!({"role": "assistant", "content": "Hel"}), None);
    let upstream = Upstream::start(vec![
        Reply::steps(vec![Step::Send(Bytes::from(text.clone())), Step::Reset]),
        Reply::steps(vec![
            Step::Hold,
            Step::Send(Bytes::from(text)),
            Step::Send(Bytes::from(chunk(json!({}), Some("stop")))),
            Step::Send(Bytes::from_static(b"data: [DONE]\n\n")),
        ]),
    ])
    .await;
    let mut timeouts = test_timeouts();
    timeouts.keepalive = Duration::from_millis(300);
    let proxy = TestProxy::start(&hosted_env(&upstream), None, timeouts).await;

    let resp = proxy.messages(&request("openai/m")).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );

    let started = Instant::now();
    let mut resp = proxy.messages(&request("openai/m")).await;
    let headers_after = started.elapsed();
    assert_eq!(resp.status(), 200);
    let seen = read_until(&mut resp, "event: ping").await;
    assert!(seen.starts_with("event: message_start"), "{seen}");
    assert!(
        headers_after >= Duration::from_millis(250),
        "held until the keepalive: {headers_after:?}"
    );
    upstream.release();
    let rest = String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap();
    let events = parse_sse(&(seen + &rest));
    assert_eq!(names(&events).last(), Some(&"message_stop"), "{events:?}");
    proxy.settled(2).await;
    proxy.stop().await;
}

/// A local server (llama-cpp-python) answers a prompt over its window with a 200 stream
/// that ends without a word; the same request unstreamed gets its 400. anyclaude asks again
/// unstreamed and answers with that 400, naming the window and the setting that raises it,
/// not retried for minutes. When the unstreamed answer is a whole message, it is written as
/// the stream Claude Code asked for.
#[tokio::test]
async fn a_local_stream_that_ends_without_a_word_is_asked_again_unstreamed() {
    let overflow = json!({"error": {"message": "This model's maximum context length is 1024 tokens. However, you requested 1464 tokens (1464 in the messages, None in the completion). Please reduce the length of the messages or completion.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
    let whole = json!({"id": "c2", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}});
    let upstream = Upstream::start(vec![
        Reply::sse(Vec::<String>::new()),
        Reply::error(400, overflow),
        Reply::sse(Vec::<String>::new()),
        Reply::json(whole),
    ])
    .await;
    let env = vec![("LLAMACPP_BASE_URL", upstream.url())];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;

    let resp = proxy.messages(&request("llamacpp/smol")).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("prompt is too long"), "{message}");
    assert!(
        message.contains("1024-token window") && message.contains("--n_ctx"),
        "{message}"
    );

    let resp = proxy.messages(&request("llamacpp/smol")).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(names(&events).first(), Some(&"message_start"));
    assert_eq!(names(&events).last(), Some(&"message_stop"));
    let text: String = events
        .iter()
        .filter_map(|e| e.data["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello there.");

    let received = upstream.received();
    assert_eq!(received.len(), 4);
    let streamed: Vec<Value> = received
        .iter()
        .map(|r| r.try_json().unwrap()["stream"].clone())
        .collect();
    assert_eq!(
        streamed,
        [json!(true), json!(false), json!(true), json!(false)]
    );
    proxy.settled(2).await;
    assert_eq!(
        outcomes(&proxy).iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [400, 200]
    );
    proxy.stop().await;
}

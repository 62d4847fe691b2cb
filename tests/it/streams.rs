//! Streams that never break a session, over real sockets: keepalive while the upstream is
//! silent, each timeout as its own well-formed error, upstream faults mid-stream, a client
//! that leaves or stops reading, and cleanup that runs exactly once whichever comes first.
//! These run through the Anthropic pass-through, whose translator is the thinnest, so what
//! they prove is the pump's; the Chat path has its own fault tests.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use anyclaude::config::Timeouts;
use anyclaude::metrics::Outcome;

use crate::harness::{TestProxy, names, parse_sse, read_until, test_timeouts};
use crate::proxy::anthropic_stream;
use crate::scripted::{Reply, Step, Upstream};

fn env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_API_URL", upstream.url()),
        ("ANTHROPIC_API_KEY", "k".into()),
    ]
}

fn request() -> serde_json::Value {
    json!({"model": "anthropic/m", "max_tokens": 10, "stream": true,
           "messages": [{"role": "user", "content": "hi"}]})
}

fn send(chunks: &[String]) -> Vec<Step> {
    chunks
        .iter()
        .map(|c| Step::Send(Bytes::from(c.clone())))
        .collect()
}

/// A `text_delta` event carrying 16 KiB of `fill`.
fn text_delta_of_16k(fill: char) -> String {
    let text = fill.to_string().repeat(16 * 1024);
    format!(
        "event: content_block_delta\ndata: {}\n\n",
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": text}})
    )
}

fn timeouts(f: impl FnOnce(&mut Timeouts)) -> Timeouts {
    let mut t = test_timeouts();
    f(&mut t);
    t
}

async fn read_all(resp: reqwest::Response) -> String {
    String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap()
}

fn last_outcome(proxy: &TestProxy) -> Outcome {
    proxy
        .proxy
        .metrics()
        .snapshot()
        .recent
        .last()
        .unwrap()
        .outcome
}

#[tokio::test]
async fn pings_flow_while_the_upstream_is_silent() {
    let stream = anthropic_stream("m");
    let mut steps = send(&stream[..2]);
    steps.push(Step::Pause(Duration::from_millis(700)));
    steps.extend(send(&stream[2..]));
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let t = timeouts(|t| t.keepalive = Duration::from_millis(100));
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    let text = read_all(proxy.messages(&request()).await).await;
    let events = parse_sse(&text);
    let pings = events.iter().filter(|e| e.name == "ping").count();
    // One ping comes from the upstream itself; ours fill the 700 ms of silence.
    assert!(pings >= 4, "only {pings} pings in {text}");
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    proxy.settled(1).await;
    assert_eq!(last_outcome(&proxy), Outcome::Ok);
    proxy.stop().await;
}

#[tokio::test]
async fn idle_upstream_ends_in_an_error_inside_the_open_block() {
    let stream = anthropic_stream("m");
    let mut steps = send(&stream[..2]);
    steps.push(Step::Hold);
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let t = timeouts(|t| {
        t.keepalive = Duration::from_millis(100);
        t.idle = Duration::from_millis(400);
    });
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    let text = read_all(proxy.messages(&request()).await).await;
    let events = parse_sse(&text);
    // The open block stays open: Claude Code then retries rather than keeping the
    // truncated answer as if it were complete.
    assert_eq!(
        names(&events),
        ["message_start", "content_block_start", "error"]
    );
    let error = &events.last().unwrap().data["error"];
    assert_eq!(error["type"], "timeout_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("--idle-timeout")
    );
    upstream.wait_closed(1).await;
    proxy.settled(1).await;
    assert_eq!(last_outcome(&proxy), Outcome::IdleTimeout);
    proxy.stop().await;
}

#[tokio::test]
async fn a_whole_answer_cut_by_our_idle_timeout_is_reported_as_that_timeout() {
    let upstream = Upstream::start(vec![Reply::Stream {
        status: 200,
        content_type: "application/json",
        delay: Duration::ZERO,
        steps: vec![
            Step::Send(Bytes::from_static(b"{\"id\":\"msg_1\",\"type\":\"mess")),
            Step::Hold,
        ],
    }])
    .await;
    let t = timeouts(|t| t.idle = Duration::from_millis(300));
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    let mut body = request();
    body["stream"] = json!(false);
    let resp = proxy.messages(&body).await;
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "timeout_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("--idle-timeout"), "{message}");
    assert!(!message.contains("not a message"), "{message}");
    proxy.settled(1).await;
    assert_eq!(last_outcome(&proxy), Outcome::IdleTimeout);
    proxy.stop().await;
}

#[tokio::test]
async fn no_answer_within_the_request_timeout_is_a_504_before_any_stream() {
    let upstream = Upstream::start(vec![Reply::Stream {
        status: 200,
        content_type: "text/event-stream",
        delay: Duration::from_secs(5),
        steps: vec![],
    }])
    .await;
    let t = timeouts(|t| {
        t.request = Duration::from_millis(300);
        t.idle = Duration::from_millis(300);
        t.keepalive = Duration::from_millis(100);
        t.drain = Duration::from_millis(200);
    });
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    let resp = proxy.messages(&request()).await;
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "timeout_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--timeout")
    );
    proxy.settled(1).await;
    assert_eq!(last_outcome(&proxy), Outcome::RequestTimeout);
    proxy.stop().await;
}

#[tokio::test]
async fn upstream_faults_mid_stream_end_in_an_error_event() {
    let stream = anthropic_stream("m");
    let mut reset = send(&stream[..3]);
    reset.push(Step::Reset);
    let truncated = send(&stream[..3]);
    let mut half_line = send(&stream[..3]);
    half_line.push(Step::Send(Bytes::from(stream[3].clone())));
    let html = Reply::Stream {
        status: 200,
        content_type: "text/html",
        delay: Duration::ZERO,
        steps: vec![Step::Send(Bytes::from_static(
            b"<html><body>502 Bad Gateway</body></html>",
        ))],
    };
    let upstream = Upstream::start(vec![
        Reply::steps(reset),
        Reply::steps(truncated),
        Reply::steps(half_line),
        html,
    ])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    // Each fault ends inside the open block.
    let in_open_block = &["message_start", "content_block_start", "error"][..];
    for (case, expected) in [
        ("reset", in_open_block),
        ("truncated", in_open_block),
        ("half line", in_open_block),
    ] {
        let text = read_all(proxy.messages(&request()).await).await;
        let events = parse_sse(&text);
        assert_eq!(names(&events), expected, "{case}: {text}");
        assert_eq!(events.last().unwrap().data["type"], "error", "{case}");
    }
    // A 200 that is HTML, not a stream, is seen before any stream starts: an error status
    // quoting the start of the page.
    let resp = proxy.messages(&request()).await;
    assert_eq!(resp.status(), 500);
    let text = read_all(resp).await;
    assert!(text.contains("502 Bad Gateway"), "{text}");
    proxy.settled(4).await;
    assert_eq!(proxy.proxy.metrics().count(Outcome::UpstreamError), 4);
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_promptly() {
    let stream = anthropic_stream("m");
    // A silent upstream: only our pings go to the client, so the proxy learns of the
    // closed connection at the latest on the next ping.
    let mut silent = send(&stream[..2]);
    silent.push(Step::Hold);
    // A chatty upstream that would go on for a long time.
    let mut chatty = send(&stream[..2]);
    for _ in 0..2000 {
        chatty.push(Step::Send(Bytes::from_static(
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n",
        )));
        chatty.push(Step::Pause(Duration::from_millis(5)));
    }
    let upstream = Upstream::start(vec![Reply::steps(silent), Reply::steps(chatty)]).await;
    let t = timeouts(|t| t.keepalive = Duration::from_millis(100));
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    for n in 1..=2 {
        let mut resp = proxy.messages(&request()).await;
        read_until(&mut resp, "content_block_start").await;
        let left = tokio::time::Instant::now();
        drop(resp);
        tokio::time::timeout(Duration::from_secs(3), upstream.wait_closed(n))
            .await
            .expect("the upstream connection closed within 3 s of the client leaving");
        let took = left.elapsed();
        assert!(took < Duration::from_secs(3), "{took:?}");
        proxy.settled(n as u64).await;
        assert_eq!(last_outcome(&proxy), Outcome::ClientGone);
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_drain_timeout() {
    let stream = anthropic_stream("m");
    let mut steps = send(&stream[..2]);
    let delta = text_delta_of_16k('x');
    // 64 MiB in all: far more than socket buffers hold, so the proxy must wait on the client.
    for _ in 0..4096 {
        steps.push(Step::Send(Bytes::from(delta.clone())));
    }
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let t = timeouts(|t| t.drain = Duration::from_millis(500));
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    let resp = proxy.messages(&request()).await;
    assert_eq!(resp.status(), 200);
    // Hold the response without reading it.
    tokio::time::timeout(Duration::from_secs(20), upstream.wait_closed(1))
        .await
        .expect("the stalled stream was given up");
    proxy.settled(1).await;
    let record = proxy
        .proxy
        .metrics()
        .snapshot()
        .recent
        .last()
        .unwrap()
        .clone();
    assert_eq!(record.outcome, Outcome::DrainTimeout);
    assert!(
        record.bytes < 48 * 1024 * 1024,
        "sent {} bytes",
        record.bytes
    );
    drop(resp);
    proxy.stop().await;
}

#[tokio::test]
async fn cleanup_runs_exactly_once_when_endings_race() {
    // Each stream ends by itself after a few chunks while its client leaves at a
    // varying point, sometimes before, sometimes after, sometimes at the same moment.
    const N: usize = 120;
    let stream = anthropic_stream("m");
    let replies: Vec<Reply> = (0..N)
        .map(|i| {
            let mut steps = Vec::new();
            for (j, chunk) in stream.iter().enumerate() {
                steps.push(Step::Send(Bytes::from(chunk.clone())));
                if (i + j) % 3 == 0 {
                    steps.push(Step::Pause(Duration::from_millis(1)));
                }
            }
            if i % 7 == 0 {
                steps.truncate(4);
                steps.push(Step::Reset);
            }
            Reply::steps(steps)
        })
        .collect();
    let upstream = Upstream::start(replies).await;
    let proxy = std::sync::Arc::new(TestProxy::start(&env(&upstream), None, test_timeouts()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let proxy = proxy.clone();
        tasks.spawn(async move {
            let mut resp = proxy.messages(&request()).await;
            let keep = i % 5;
            for _ in 0..keep {
                if resp.chunk().await.ok().flatten().is_none() {
                    break;
                }
            }
            if i % 2 == 0 {
                drop(resp);
            } else {
                while let Ok(Some(_)) = resp.chunk().await {}
            }
        });
        if i % 16 == 15 {
            while tasks.join_next().await.is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
    proxy.settled(N as u64).await;
    let snap = proxy.proxy.metrics().snapshot();
    assert_eq!(snap.requests, N as u64);
    assert_eq!(snap.active, 0);
    assert_eq!(snap.outcomes.values().sum::<u64>(), N as u64);
    // Still exactly N after everything has had time to finish twice.
    tokio::task::yield_now().await;
    assert_eq!(proxy.proxy.metrics().snapshot().requests, N as u64);
}

#[tokio::test]
async fn a_slow_client_is_not_mistaken_for_a_silent_upstream() {
    // The idle timeout is shorter than the client's pause: while output waits on the client,
    // the proxy stops reading the upstream, and that silence must not count as the
    // upstream's.
    let stream = anthropic_stream("m");
    let mut steps = send(&stream[..2]);
    let delta = text_delta_of_16k('y');
    for _ in 0..2048 {
        steps.push(Step::Send(Bytes::from(delta.clone())));
    }
    steps.extend(send(&stream[4..]));
    let upstream = Upstream::start(vec![Reply::steps(steps)]).await;
    let t = timeouts(|t| {
        t.idle = Duration::from_millis(300);
        t.keepalive = Duration::from_millis(100);
        t.drain = Duration::from_secs(10);
    });
    let proxy = TestProxy::start(&env(&upstream), None, t).await;
    let mut resp = proxy.messages(&request()).await;
    read_until(&mut resp, "content_block_start").await;
    // A pause longer than the idle timeout, as a busy terminal might make.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut tail = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        tail.extend_from_slice(&chunk);
        if tail.len() > 100_000 {
            tail.drain(..tail.len() - 2000);
        }
    }
    let tail = tail[tail.len().saturating_sub(600)..].to_vec();
    let tail = String::from_utf8_lossy(&tail);
    assert!(tail.contains("message_stop"), "ended with {tail}");
    proxy.settled(1).await;
    assert_eq!(last_outcome(&proxy), Outcome::Ok);
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_recorded_once() {
    // Claude Code gives up (Esc) while the upstream has not answered yet: hyper drops the
    // request's handler, and the request must still be counted, once, as client_gone.
    let upstream = Upstream::start(vec![Reply::Stream {
        status: 200,
        content_type: "text/event-stream",
        delay: Duration::from_secs(5),
        steps: vec![],
    }])
    .await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let gave_up =
        tokio::time::timeout(Duration::from_millis(300), proxy.messages(&request())).await;
    assert!(gave_up.is_err(), "the upstream had not answered yet");
    proxy.settled(1).await;
    let snap = proxy.proxy.metrics().snapshot();
    assert_eq!((snap.requests, snap.active), (1, 0));
    assert_eq!(last_outcome(&proxy), Outcome::ClientGone);
    proxy.stop().await;
}

/// Reads a streamed body to its end: the text, and whether it ended aborted (without its
/// terminating chunk) rather than cleanly.
async fn read_to_end_or_abort(mut resp: reqwest::Response) -> (String, bool) {
    let mut text = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => text.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8(text).unwrap(), false),
            Err(_) => return (String::from_utf8(text).unwrap(), true),
        }
    }
}

#[tokio::test]
async fn a_failed_stream_is_aborted_for_claude_code_2_0_and_an_error_event_for_others() {
    // Two failures after a text delta, both with the block open: the upstream connection
    // reset (our failure), and the upstream's own `event: error` (passed through).
    let stream = anthropic_stream("m");
    let mut reset = send(&stream[..4]);
    reset.push(Step::Send(Bytes::from_static(b"lo\"}}\n\n")));
    reset.push(Step::Reset);
    let mut upstream_error = send(&stream[..4]);
    upstream_error.push(Step::Send(Bytes::from(
        "lo\"}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    )));
    let user_agents = [
        (Some("claude-cli/2.0.77 (external, sdk-cli)"), true),
        (Some("claude-cli/2.0.0 (external, cli)"), true),
        (Some("claude-cli/2.1.197 (external, sdk-cli)"), false),
        (Some("claude-cli/2.1.332 (external, cli)"), false),
        (Some("claude-cli/20.0.1 (external, cli)"), false),
        (Some("curl/8.5.0"), false),
        (None, false),
    ];
    let mut replies = Vec::new();
    for _ in user_agents {
        replies.push(Reply::steps(reset.clone()));
        replies.push(Reply::steps(upstream_error.clone()));
    }
    let upstream = Upstream::start(replies).await;
    let proxy = TestProxy::start(&env(&upstream), None, test_timeouts()).await;
    let mut requests = 0;
    for (user_agent, aborts) in user_agents {
        for case in ["reset", "upstream error event"] {
            let mut req = proxy
                .client
                .post(proxy.url("/v1/messages?beta=true"))
                .json(&request());
            if let Some(ua) = user_agent {
                req = req.header(reqwest::header::USER_AGENT, ua);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let (text, aborted) = read_to_end_or_abort(resp).await;
            requests += 1;
            let events = parse_sse(&text);
            let case = format!("{user_agent:?}, {case}: {text}");
            assert_eq!(aborted, aborts, "{case}");
            if aborts {
                // The open block left open, no error event: the body is cut off.
                assert_eq!(
                    names(&events),
                    [
                        "message_start",
                        "content_block_start",
                        "content_block_delta"
                    ],
                    "{case}"
                );
            } else {
                assert_eq!(
                    names(&events),
                    [
                        "message_start",
                        "content_block_start",
                        "content_block_delta",
                        "error"
                    ],
                    "{case}"
                );
            }
        }
    }
    // The failure is recorded alike, whichever way it reached the client.
    proxy.settled(requests).await;
    assert_eq!(
        proxy.proxy.metrics().count(Outcome::UpstreamError),
        requests
    );
    proxy.stop().await;
}

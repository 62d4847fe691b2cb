//! Hostile and broken upstreams over real sockets: an endless fast stream (text, tool
//! arguments, calls without a name) keeps the proxy's memory flat and `/health` quick, a
//! runaway stream is cut at the request's `max_tokens`, pings flow while the upstream floods
//! without output, and a stream that makes no progress (keep-alive comments, a byte at a
//! time, whitespace) ends within `--progress-timeout`.

use std::io::Read;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::chat_script::chunk;
use crate::harness::{TestProxy, parse_sse, test_timeouts};
use crate::scripted::{Reply, Step, Upstream};
use crate::support::cli::{Anyclaude, addr_of};
use nix::sys::signal::Signal;

fn chat_env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-test-key".into()),
    ]
}

fn request(max_tokens: u64) -> Value {
    json!({"model": "openai/gpt-test", "max_tokens": max_tokens, "stream": true,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// `n` copies of `event`, as one chunk of the upstream body.
fn batch(event: &str, n: usize) -> Bytes {
    Bytes::from(event.repeat(n))
}

/// The upstream body: `opening` once, then `event` in batches, for ever.
fn endless(opening: &str, event: &str) -> Reply {
    Reply::steps(vec![
        Step::Send(Bytes::from(opening.to_owned())),
        Step::Forever(vec![Step::Send(batch(event, 256))]),
    ])
}

fn text_flood() -> Reply {
    endless(
        &chunk(json!({"role": "assistant", "content": "Go"}), None),
        &chunk(
            json!({"content": "all work and no play makes a dull proxy "}),
            None,
        ),
    )
}

fn tool_args_flood() -> Reply {
    let open = chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "Bash", "arguments": "{\"command\": \""}}]}),
        None,
    );
    endless(
        &open,
        &chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "echo yes; "}}]}),
            None,
        ),
    )
}

fn nameless_calls_flood() -> Reply {
    endless(
        &chunk(json!({"role": "assistant"}), None),
        &chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\": 1} "}}]}),
            None,
        ),
    )
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// `GET /health` over a new connection; the time it took to answer 200.
fn health_latency(addr: std::net::SocketAddr, token: &str) -> Duration {
    use std::io::Write;
    let started = Instant::now();
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /health HTTP/1.1\r\nhost: {addr}\r\nx-anyclaude-token: {token}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    started.elapsed()
}

/// Reads a streamed answer to its end (or for `for_at_most`), keeping only its last 64 KiB;
/// returns that tail and the bytes read.
async fn read_tail(mut resp: reqwest::Response, for_at_most: Duration) -> (String, u64) {
    let mut tail: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let until = tokio::time::Instant::now() + for_at_most;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, resp.chunk()).await {
        total += chunk.len() as u64;
        tail.extend_from_slice(&chunk);
        if tail.len() > 128 * 1024 {
            tail.drain(..tail.len() - 64 * 1024);
        }
    }
    (String::from_utf8_lossy(&tail).into_owned(), total)
}

/// `anyclaude --proxy-only` as a child against `upstream` (so its memory is its own): its
/// settings (which own its home), the running child, its address and token.
fn child_proxy(
    upstream: &Upstream,
) -> (
    Anyclaude,
    crate::support::process::Watched,
    std::net::SocketAddr,
    String,
) {
    let mut a = Anyclaude::bare();
    a.args(["--proxy-only", "--model", "openai/gpt-test"])
        .env("OPENAI_BASE_URL", format!("{}/v1", upstream.url()))
        .env("OPENAI_API_KEY", "sk-test-key");
    let mut running = a.spawn();
    let base = running.wait_line("ANTHROPIC_BASE_URL", |l| {
        l.starts_with("export ANTHROPIC_BASE_URL=")
    });
    let url = base
        .trim_start_matches("export ANTHROPIC_BASE_URL='")
        .trim_end_matches('\'')
        .to_owned();
    let headers = running.wait_line("ANTHROPIC_CUSTOM_HEADERS", |l| {
        l.starts_with("export ANTHROPIC_CUSTOM_HEADERS=")
    });
    let token = headers
        .split("x-anyclaude-token: ")
        .nth(1)
        .expect("the token")
        .trim_end_matches('\'')
        .to_owned();
    (a, running, addr_of(&url), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_fast_upstream_keeps_memory_flat_and_health_quick() {
    let upstream = Upstream::start(vec![
        text_flood(),
        text_flood(),
        text_flood(),
        tool_args_flood(),
        nameless_calls_flood(),
    ])
    .await;
    let (_a, running, addr, token) = child_proxy(&upstream);
    let pid = running.pid();
    anyclaude::upstream::install_tls_provider();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("http://{addr}/v1/messages"))
            .header("x-anyclaude-token", &token)
            .json(&body)
            .send()
    };
    // Warm up (the tokenizer loads on first use), then the baseline.
    let warm = post(request(64)).await.unwrap();
    let (tail, _) = read_tail(warm, Duration::from_secs(30)).await;
    assert!(tail.contains("\"max_tokens\""), "{tail}");
    let baseline = rss_kib(pid);

    // Two endless text streams at once for 4 s, /health probed throughout. The limit is far
    // away, so only the stream's own bounds hold its memory.
    let flood = Duration::from_secs(4);
    let a = tokio::spawn(read_tail(post(request(100_000_000)).await.unwrap(), flood));
    let b = tokio::spawn(read_tail(post(request(100_000_000)).await.unwrap(), flood));
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut peak = baseline;
    while started.elapsed() < flood {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let token = token.clone();
        let took = tokio::task::spawn_blocking(move || health_latency(addr, &token))
            .await
            .unwrap();
        slowest = slowest.max(took);
        peak = peak.max(rss_kib(pid));
    }
    let (_, read_a) = a.await.unwrap();
    let (_, read_b) = b.await.unwrap();
    eprintln!(
        "endless text: {} MiB streamed to Claude Code in {flood:?}; RSS {baseline} KiB → peak {peak} KiB; slowest /health {slowest:?}",
        (read_a + read_b) >> 20
    );
    assert!(
        read_a > 1 << 20 && read_b > 1 << 20,
        "the flood was not fast"
    );
    assert!(
        peak - baseline < 48 * 1024,
        "RSS grew from {baseline} KiB to {peak} KiB"
    );
    assert!(slowest < Duration::from_secs(1), "/health took {slowest:?}");

    // Endless tool arguments, and endless arguments of a call without a name: each ends at
    // the cap, with an error naming it.
    for what in ["tool arguments", "a call without a name"] {
        let resp = post(request(100_000_000)).await.unwrap();
        let (tail, _) = read_tail(resp, Duration::from_secs(60)).await;
        assert!(
            tail.contains("event: error") && tail.contains("4 MiB for one call"),
            "{what}: {}",
            &tail[tail.len().saturating_sub(600)..]
        );
        let rss = rss_kib(pid);
        eprintln!("endless {what}: cut at the cap; RSS {rss} KiB");
        assert!(rss - baseline < 48 * 1024, "{what}: RSS {rss} KiB");
    }
    running.signal(Signal::SIGTERM);
    running.finish().assert_code(0);
}

#[tokio::test]
async fn a_runaway_stream_is_cut_at_max_tokens() {
    let upstream = Upstream::start(vec![text_flood()]).await;
    let proxy = TestProxy::start(&chat_env(&upstream), None, test_timeouts()).await;
    let resp = proxy.messages(&request(2_000)).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let events = parse_sse(&text);
    let delta = events
        .iter()
        .find(|e| e.name == "message_delta")
        .expect("message_delta");
    assert_eq!(delta.data["delta"]["stop_reason"], "max_tokens");
    let output = delta.data["usage"]["output_tokens"].as_u64().unwrap();
    // Cut within the margin: 2,000 + 10% + 256, plus the batch still being counted.
    assert!((2_000..=4_000).contains(&output), "{output}");
    assert_eq!(events.last().unwrap().name, "message_stop");
    proxy.stop().await;
}

fn events_of(text: &str) -> Vec<crate::harness::Ev> {
    parse_sse(text)
}

/// Streams `reply` with a short keepalive and progress timeout; returns the events and how
/// long the stream took.
async fn with_progress_timeout(reply: Reply) -> (Vec<crate::harness::Ev>, Duration) {
    let upstream = Upstream::start(vec![reply]).await;
    let mut t = test_timeouts();
    t.keepalive = Duration::from_millis(100);
    t.progress = Duration::from_millis(1_500);
    let proxy = TestProxy::start(&chat_env(&upstream), None, t).await;
    let started = Instant::now();
    let resp = proxy.messages(&request(1_000)).await;
    assert_eq!(resp.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(20), resp.text())
        .await
        .expect("the stream ended")
        .unwrap();
    let took = started.elapsed();
    proxy.stop().await;
    (events_of(&text), took)
}

fn ended_for_no_progress(events: &[crate::harness::Ev], took: Duration) {
    let last = events.last().unwrap();
    assert_eq!(last.name, "error", "{events:?}");
    let message = last.data["error"]["message"].as_str().unwrap();
    assert!(message.contains("--progress-timeout"), "{message}");
    assert!(
        took >= Duration::from_millis(1_400) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[tokio::test]
async fn pings_flow_and_the_turn_ends_while_the_upstream_floods_without_output() {
    // Empty deltas as fast as the upstream can send them: nothing for Claude Code.
    let (events, took) = with_progress_timeout(endless(
        &chunk(json!({"role": "assistant"}), None),
        &chunk(json!({"content": ""}), None),
    ))
    .await;
    let pings = events.iter().filter(|e| e.name == "ping").count();
    eprintln!("{pings} pings during a {took:?} flood of empty deltas");
    assert!(pings >= 5, "{pings} pings");
    ended_for_no_progress(&events, took);
}

#[tokio::test]
async fn a_comment_drip_ends_within_the_progress_timeout() {
    let (events, took) = with_progress_timeout(Reply::steps(vec![Step::Forever(vec![
        Step::Send(Bytes::from_static(b": keep-alive\n\n")),
        Step::Pause(Duration::from_millis(50)),
    ])]))
    .await;
    assert!(events.iter().any(|e| e.name == "ping"));
    ended_for_no_progress(&events, took);
}

#[tokio::test]
async fn a_byte_at_a_time_drip_ends_within_the_progress_timeout() {
    // A text first, then one byte of an event that never completes, every 200 ms.
    let (events, took) = with_progress_timeout(Reply::steps(vec![
        Step::Send(Bytes::from(chunk(json!({"content": "Hello"}), None))),
        Step::Send(Bytes::from_static(b"data: ")),
        Step::Forever(vec![
            Step::Send(Bytes::from_static(b" ")),
            Step::Pause(Duration::from_millis(200)),
        ]),
    ]))
    .await;
    ended_for_no_progress(&events, took);
}

#[tokio::test]
async fn whitespace_deltas_are_no_progress() {
    let (events, took) = with_progress_timeout(Reply::steps(vec![
        Step::Send(Bytes::from(chunk(json!({"content": "Hello"}), None))),
        Step::Forever(vec![
            Step::Send(Bytes::from(chunk(json!({"content": " \n"}), None))),
            Step::Pause(Duration::from_millis(20)),
        ]),
    ]))
    .await;
    ended_for_no_progress(&events, took);
}

#[tokio::test]
async fn an_upstream_that_echoes_the_key_never_shows_it_to_claude_code() {
    let key = "sk-test-key";
    let echo = format!("Incorrect API key provided: {key}");
    let upstream = Upstream::start(vec![
        Reply::error(
            401,
            json!({"error": {"message": echo, "type": "invalid_request_error"}}),
        ),
        Reply::sse([
            chunk(json!({"content": "Hi"}), None),
            format!("data: {}\n\n", json!({"error": {"message": echo}})),
        ]),
    ])
    .await;
    let proxy = TestProxy::start(&chat_env(&upstream), None, test_timeouts()).await;
    // Before the stream: the error status's message.
    let resp = proxy.messages(&request(100)).await;
    assert_eq!(resp.status(), 401);
    let body = resp.text().await.unwrap();
    assert!(!body.contains(key) && body.contains("***"), "{body}");
    // Mid-stream: the error event that ends it.
    let resp = proxy.messages(&request(100)).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("event: error") && !body.contains(key) && body.contains("***"),
        "{body}"
    );
    proxy.stop().await;

    // The Anthropic pass-through forwards the upstream's own error event: scrubbed too.
    let anthropic_key = "sk-ant-user-key";
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
        "role": "assistant", "model": "m", "content": [], "stop_reason": null,
        "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}});
    let error = json!({"type": "error", "error": {"type": "overloaded_error",
        "message": format!("key {anthropic_key} is over its quota")}});
    let upstream = Upstream::start(vec![Reply::sse([
        format!("event: message_start\ndata: {start}\n\n"),
        format!("event: error\ndata: {error}\n\n"),
    ])])
    .await;
    let env = vec![
        ("ANTHROPIC_API_URL", upstream.url()),
        ("ANTHROPIC_API_KEY", anthropic_key.to_owned()),
    ];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;
    let resp = proxy
        .messages(
            &json!({"model": "anthropic/m", "max_tokens": 10, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("event: error") && !body.contains(anthropic_key) && body.contains("***"),
        "{body}"
    );
    proxy.stop().await;
}

fn gemini_env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("GEMINI_BASE_URL", format!("{}/v1beta", upstream.url())),
        ("GEMINI_API_KEY", "gemini-test-key".into()),
    ]
}

fn html_login_page() -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("content-type", "text/html; charset=utf-8".into())],
        body: "<html>\n<head><title>Sign in to the gateway</title></head>\n<body>session for sk-test-key</body></html>".into(),
    }
}

#[tokio::test]
async fn a_200_that_is_not_a_stream_is_read_for_what_it_is() {
    let whole = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "a whole answer"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
    let upstream = Upstream::start(vec![
        Reply::json(
            json!({"error": {"message": "The model is overloaded", "type": "server_error"}}),
        ),
        Reply::json(json!({"error": {"message": "Rate limit reached", "code": 429}})),
        Reply::json(whole),
        html_login_page(),
    ])
    .await;
    let proxy = TestProxy::start(&chat_env(&upstream), None, test_timeouts()).await;

    // A JSON error with 200: the Anthropic error with the status it means (retryable).
    let resp = proxy.messages(&request(100)).await;
    assert_eq!(resp.status(), 529);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overloaded")
    );
    let resp = proxy.messages(&request(100)).await;
    assert_eq!(resp.status(), 429);

    // A whole completion although a stream was asked for: translated, sent as a stream.
    let resp = proxy.messages(&request(100)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = parse_sse(&resp.text().await.unwrap());
    let text: String = events
        .iter()
        .filter(|e| e.name == "content_block_delta")
        .map(|e| e.data["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "a whole answer");
    let delta = events.iter().find(|e| e.name == "message_delta").unwrap();
    assert_eq!(delta.data["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta.data["usage"]["output_tokens"], 3);
    assert_eq!(events.last().unwrap().name, "message_stop");

    // An HTML page: a clear error quoting the start of the body, with no secret in it.
    let resp = proxy.messages(&request(100)).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("text/html") && message.contains("Sign in to the gateway"),
        "{message}"
    );
    assert!(!message.contains("sk-test-key"), "{message}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_gemini_200_that_is_not_a_stream_is_read_for_what_it_is() {
    let upstream = Upstream::start(vec![
        Reply::json(json!({"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}})),
        html_login_page(),
    ])
    .await;
    let proxy = TestProxy::start(&gemini_env(&upstream), None, test_timeouts()).await;
    let body = json!({"model": "gemini/gemini-test", "max_tokens": 100, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let resp = proxy.messages(&body).await;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap();
    assert!(status == 529 || status == 503, "{status} {answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overloaded"),
        "{answer}"
    );
    let resp = proxy.messages(&body).await;
    assert!(resp.status().is_server_error());
    let answer: Value = resp.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Sign in to the gateway"),
        "{answer}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_redirect_is_reported_as_one_and_not_followed() {
    let upstream = Upstream::start(vec![Reply::Full {
        status: 302,
        headers: vec![(
            "location",
            "https://login.example.invalid/sso?next=/v1".into(),
        )],
        body: Bytes::new(),
    }])
    .await;
    let proxy = TestProxy::start(&chat_env(&upstream), None, test_timeouts()).await;
    let resp = proxy.messages(&request(100)).await;
    // A client error: Claude Code shows it rather than retrying it as a 500.
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("302") && message.contains("login.example.invalid"),
        "{message}"
    );
    assert_eq!(
        upstream.received().len(),
        1,
        "the redirect was not followed"
    );
    proxy.stop().await;
}

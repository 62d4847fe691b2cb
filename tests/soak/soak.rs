//! A bounded soak: many streamed requests at concurrency 64 against the scripted upstream,
//! mixing normal streams, clients that leave mid-answer, slow readers, upstream faults,
//! endless fast upstreams (cut at the request's `max_tokens`) and upstreams that only drip
//! keep-alive comments (ended by the no-progress timeout).
//! Asserts that no request hangs and that tasks, file descriptors and memory do not grow
//! between the end of the first thousand requests and the end of the run.
//!
//! `ANYCLAUDE_SOAK_REQUESTS` sets the count (default 4,000 in the test suite; the README's
//! figures come from a 20,000-request run).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::chat_script;
use crate::harness::{TestProxy, test_timeouts};
use crate::scripted::{Received, Reply, Step, Upstream};

const CONCURRENCY: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Normal,
    ClientLeaves,
    SlowReader,
    UpstreamReset,
    UpstreamErrorChunk,
    Endless,
    CommentDrip,
}

fn kind(i: usize) -> Kind {
    match i % 20 {
        5 => return Kind::Endless,
        15 => return Kind::CommentDrip,
        _ => {}
    }
    match i % 10 {
        0 | 1 => Kind::ClientLeaves,
        2 => Kind::SlowReader,
        3 => Kind::UpstreamReset,
        4 => Kind::UpstreamErrorChunk,
        _ => Kind::Normal,
    }
}

fn reply(r: &Received) -> Reply {
    let what = r.json()["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let pieces: Vec<String> = (0..20).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let chunks = chat_script::text(&refs);
    let mut steps: Vec<Step> = chunks
        .iter()
        .map(|c| Step::Send(Bytes::from(c.clone())))
        .collect();
    match what.as_str() {
        "UpstreamReset" => {
            steps.truncate(8);
            steps.push(Step::Reset);
        }
        "UpstreamErrorChunk" => {
            steps.truncate(8);
            steps.push(Step::Send(Bytes::from_static(
                b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
            )));
        }
        "ClientLeaves" => steps.insert(6, Step::Pause(Duration::from_millis(2))),
        "Endless" => {
            steps.truncate(3);
            let flood =
                chat_script::chunk(json!({"content": "on and on and on "}), None).repeat(64);
            steps.push(Step::Forever(vec![Step::Send(Bytes::from(flood))]));
        }
        "CommentDrip" => {
            steps.truncate(3);
            steps.push(Step::Forever(vec![
                Step::Send(Bytes::from_static(b": keep-alive\n\n")),
                Step::Pause(Duration::from_millis(20)),
            ]));
        }
        _ => {}
    }
    Reply::steps(steps)
}

#[derive(Debug)]
struct Usage {
    fds: usize,
    rss_kib: u64,
    tasks: usize,
}

fn usage() -> Usage {
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    Usage {
        fds,
        rss_kib,
        tasks,
    }
}

async fn one(proxy: &TestProxy, i: usize) {
    let k = kind(i);
    let body = json!({"model": "openai/soak", "max_tokens": 100, "stream": true,
                      "messages": [{"role": "user", "content": format!("{k:?}")}]});
    let mut resp = proxy.messages(&body).await;
    assert_eq!(resp.status(), 200);
    let mut seen = 0;
    while let Some(chunk) = resp.chunk().await.unwrap_or(None) {
        seen += chunk.len();
        match k {
            Kind::ClientLeaves if seen > 200 => return,
            Kind::SlowReader => tokio::time::sleep(Duration::from_millis(1)).await,
            _ => {}
        }
    }
}

async fn batch(proxy: &Arc<TestProxy>, range: std::ops::Range<usize>) {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (proxy, next, end) = (proxy.clone(), next.clone(), range.end);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return;
                }
                tokio::time::timeout(Duration::from_secs(30), one(&proxy, i))
                    .await
                    .unwrap_or_else(|_| panic!("request {i} ({:?}) hung", kind(i)));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_traffic_leaks_nothing() {
    let total: usize = std::env::var("ANYCLAUDE_SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
        .max(2000);
    let upstream = Upstream::with_handler(reply).await;
    upstream.forget_requests();
    let env = vec![
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-soak".into()),
    ];
    let mut timeouts = test_timeouts();
    timeouts.keepalive = Duration::from_millis(100);
    timeouts.progress = Duration::from_millis(500);
    let proxy = Arc::new(TestProxy::start(&env, None, timeouts).await);
    let started = Instant::now();
    batch(&proxy, 0..1000).await;
    proxy.settled(1000).await;
    let first = usage();
    let mut at = 1000;
    while at < total {
        let end = (at + 1000).min(total);
        batch(&proxy, at..end).await;
        proxy.settled(end as u64).await;
        eprintln!("soak: after {end}: {:?}", usage());
        at = end;
    }
    proxy.settled(total as u64).await;
    let last = usage();
    let elapsed = started.elapsed();
    let snap = proxy.proxy.metrics().snapshot();
    eprintln!(
        "soak: {total} requests at concurrency {CONCURRENCY} in {elapsed:.1?} ({:.0}/s); after 1,000: {first:?}; at the end: {last:?}; outcomes {:?}",
        total as f64 / elapsed.as_secs_f64(),
        snap.outcomes
    );
    assert_eq!(snap.requests, total as u64);
    assert_eq!(snap.active, 0, "no stream still running");
    assert!(
        last.fds <= first.fds + 16,
        "file descriptors grew: {first:?} → {last:?}"
    );
    assert!(
        last.tasks <= first.tasks + 16,
        "tasks grew: {first:?} → {last:?}"
    );
    assert!(
        last.rss_kib <= first.rss_kib + 16 * 1024,
        "memory grew: {first:?} → {last:?}"
    );
    assert!(
        snap.outcomes["upstream_error"] >= (total / 10) as u64,
        "faults were exercised"
    );
    assert!(
        snap.outcomes["client_gone"] > 0,
        "departures were exercised"
    );
    assert!(
        snap.outcomes["idle_timeout"] >= (total / 20) as u64,
        "comment drips were ended by the no-progress timeout"
    );
}

//! Always-on request metrics with bounded memory: aggregate counters (atomics) plus the last
//! [`RECENT`] request records in a fixed-size ring. Nothing here grows per request, so a proxy
//! that runs for weeks holds the same few kilobytes it held after its first minute.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

/// How many request records the ring keeps.
pub const RECENT: usize = 128;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered completely.
    Ok,
    /// Answered with an error status before any stream started (ours or the upstream's).
    Error,
    /// Claude Code closed the connection before the answer was complete.
    ClientGone,
    /// Claude Code stopped reading for longer than the drain timeout.
    DrainTimeout,
    /// The upstream did not start answering within the request timeout.
    RequestTimeout,
    /// The upstream went silent for longer than the idle timeout mid-stream.
    IdleTimeout,
    /// The upstream failed mid-stream (reset, truncated, invalid data, error chunk).
    UpstreamError,
    /// anyclaude shut down while the stream was running.
    Shutdown,
}

impl Outcome {
    const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::ClientGone,
        Outcome::DrainTimeout,
        Outcome::RequestTimeout,
        Outcome::IdleTimeout,
        Outcome::UpstreamError,
        Outcome::Shutdown,
    ];

    fn slot(self) -> usize {
        self as usize
    }

    /// The snake_case name used in logs and `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::ClientGone => "client_gone",
            Outcome::DrainTimeout => "drain_timeout",
            Outcome::RequestTimeout => "request_timeout",
            Outcome::IdleTimeout => "idle_timeout",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Shutdown => "shutdown",
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The `request-id` we answered with.
    pub id: String,
    /// The provider preset (`openai`, `ollama`, …), or `-` when none was reached.
    pub provider: Arc<str>,
    /// The model as Claude Code named it.
    pub model: String,
    /// The HTTP status we answered with.
    pub status: u16,
    /// Milliseconds until the upstream's response headers, when it answered at all.
    pub ttfb_ms: Option<u64>,
    /// Milliseconds from request to the end of our answer.
    pub duration_ms: u64,
    /// Input tokens (the upstream's count, or our estimate).
    pub input_tokens: u64,
    /// Output tokens (the upstream's count, or our estimate).
    pub output_tokens: u64,
    /// Body bytes sent to Claude Code.
    pub bytes: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// The proxy's metrics.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    requests: AtomicU64,
    active: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    bytes: AtomicU64,
    outcomes: [AtomicU64; 8],
    recent: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    records: Vec<RequestRecord>,
    next: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            active: AtomicU64::new(0),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            outcomes: Default::default(),
            recent: Mutex::new(Ring {
                records: Vec::with_capacity(RECENT),
                next: 0,
            }),
        }
    }
}

/// Counters as served at `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Seconds since the proxy started.
    pub uptime_s: u64,
    /// Requests finished.
    pub requests: u64,
    /// Requests in flight.
    pub active: u64,
    /// Input tokens over all requests.
    pub input_tokens: u64,
    /// Output tokens over all requests.
    pub output_tokens: u64,
    /// Body bytes sent to Claude Code.
    pub bytes: u64,
    /// Finished requests by outcome.
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    /// Median time to the upstream's first byte over the recent requests, in ms.
    pub median_ttfb_ms: Option<u64>,
    /// The most recent requests, oldest first.
    pub recent: Vec<RequestRecord>,
}

impl Metrics {
    /// Marks a request as started; pair with [`Metrics::finish`].
    pub fn begin(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request. Call exactly once per [`Metrics::begin`].
    pub fn finish(&self, record: RequestRecord) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.input_tokens
            .fetch_add(record.input_tokens, Ordering::Relaxed);
        self.output_tokens
            .fetch_add(record.output_tokens, Ordering::Relaxed);
        self.bytes.fetch_add(record.bytes, Ordering::Relaxed);
        self.outcomes[record.outcome.slot()].fetch_add(1, Ordering::Relaxed);
        let mut ring = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if ring.records.len() < RECENT {
            ring.records.push(record);
        } else {
            let slot = ring.next;
            ring.records[slot] = record;
        }
        ring.next = (ring.next + 1) % RECENT;
    }

    /// Requests in flight.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Finished requests with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.slot()].load(Ordering::Relaxed)
    }

    /// A consistent-enough copy of everything, for `/health`.
    pub fn snapshot(&self) -> Snapshot {
        let recent = {
            let ring = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::with_capacity(ring.records.len());
            if ring.records.len() == RECENT {
                out.extend_from_slice(&ring.records[ring.next..]);
                out.extend_from_slice(&ring.records[..ring.next]);
            } else {
                out.extend_from_slice(&ring.records);
            }
            out
        };
        let mut ttfbs: Vec<u64> = recent.iter().filter_map(|r| r.ttfb_ms).collect();
        ttfbs.sort_unstable();
        Snapshot {
            uptime_s: self.started.elapsed().as_secs(),
            requests: self.requests.load(Ordering::Relaxed),
            active: self.active(),
            input_tokens: self.input_tokens.load(Ordering::Relaxed),
            output_tokens: self.output_tokens.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (o.as_str(), self.count(*o)))
                .collect(),
            median_ttfb_ms: ttfbs.get(ttfbs.len() / 2).copied(),
            recent,
        }
    }

    /// One line for stderr at exit: requests, errors, tokens in/out, median time to first
    /// byte.
    pub fn summary_line(&self) -> String {
        let snap = self.snapshot();
        let errors = snap.requests - self.count(Outcome::Ok);
        let ttfb = snap
            .median_ttfb_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
        let plural = if snap.requests == 1 { "" } else { "s" };
        format!(
            "anyclaude: {} request{plural}, {} not ok, {} tokens in, {} tokens out, median time to first byte {}",
            snap.requests, errors, snap.input_tokens, snap.output_tokens, ttfb
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            id: format!("req_{i}"),
            provider: "openai".into(),
            model: "m".into(),
            status: 200,
            ttfb_ms: Some(i),
            duration_ms: i,
            input_tokens: 1,
            output_tokens: 2,
            bytes: 3,
            outcome,
        }
    }

    #[test]
    fn ring_stays_bounded_and_ordered() {
        let metrics = Metrics::default();
        for i in 0..(RECENT as u64 * 3 + 5) {
            metrics.begin();
            metrics.finish(record(i, Outcome::Ok));
        }
        let snap = metrics.snapshot();
        assert_eq!(snap.recent.len(), RECENT);
        assert_eq!(snap.active, 0);
        assert_eq!(snap.requests, RECENT as u64 * 3 + 5);
        let ids: Vec<u64> = snap.recent.iter().map(|r| r.duration_ms).collect();
        let first = RECENT as u64 * 2 + 5;
        assert_eq!(ids, (first..first + RECENT as u64).collect::<Vec<_>>());
        assert_eq!(metrics.recent.lock().unwrap().records.capacity(), RECENT);
    }

    #[test]
    fn summary_counts_errors_and_tokens() {
        let metrics = Metrics::default();
        for (i, outcome) in [Outcome::Ok, Outcome::ClientGone, Outcome::Ok]
            .into_iter()
            .enumerate()
        {
            metrics.begin();
            metrics.finish(record(i as u64 + 1, outcome));
        }
        assert_eq!(
            metrics.summary_line(),
            "anyclaude: 3 requests, 1 not ok, 3 tokens in, 6 tokens out, median time to first byte 2 ms"
        );
        assert_eq!(metrics.snapshot().outcomes["client_gone"], 1);
    }
}

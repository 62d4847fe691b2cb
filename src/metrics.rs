//! Always-on request metrics with bounded memory: aggregate counters (atomics) plus the last
//! [`RECENT`] request records in a fixed-size ring. Nothing here grows per request, so a proxy
//! that runs for weeks holds the same few kilobytes it held after its first minute.
//!
//! Each finished request also feeds the per-model usage table and the live state of
//! [`crate::usage`] (the exit summary, `/health` and the status line read them).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::usage::{Live, LiveSnapshot, ModelFacts, ModelSummary, UsageTable};

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
    /// The backend model that answered (`provider/model`; a fallback's after a fallback),
    /// or `-` when none was reached.
    pub backend: String,
    /// The HTTP status we answered with.
    pub status: u16,
    /// Milliseconds until the upstream's response headers, when it answered at all.
    pub ttfb_ms: Option<u64>,
    /// Milliseconds from the request to the first token (text, reasoning or a tool call)
    /// Claude Code could see; for a whole answer, to the answer.
    pub ttft_ms: Option<u64>,
    /// Milliseconds from the first token to the end of the answer.
    pub generation_ms: Option<u64>,
    /// Milliseconds from request to the end of our answer.
    pub duration_ms: u64,
    /// Input tokens, cached ones included (the upstream's count, or our estimate).
    pub input_tokens: u64,
    /// Of those, the ones read from a cache.
    pub cached_tokens: u64,
    /// Output tokens (the upstream's count, or our estimate).
    pub output_tokens: u64,
    /// Whether the token counts are the backend's own (not our estimate).
    pub usage_reported: bool,
    /// Body bytes sent to Claude Code.
    pub bytes: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// When a fallback answered: the model it replaced and why (`openai/gpt-5: upstream
    /// 529`).
    pub fell_back: Option<String>,
}

impl RequestRecord {
    /// A record with no timings, tokens or bytes yet.
    pub fn new(id: &str, provider: Arc<str>, model: &str, backend: String) -> RequestRecord {
        RequestRecord {
            id: id.to_owned(),
            provider,
            model: model.to_owned(),
            backend,
            status: 0,
            ttfb_ms: None,
            ttft_ms: None,
            generation_ms: None,
            duration_ms: 0,
            input_tokens: 0,
            cached_tokens: 0,
            output_tokens: 0,
            usage_reported: false,
            bytes: 0,
            outcome: Outcome::Ok,
            fell_back: None,
        }
    }
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
    usage: Mutex<UsageTable>,
    live: Mutex<Live>,
    facts: Mutex<BTreeMap<String, ModelFacts>>,
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
            usage: Mutex::default(),
            live: Mutex::default(),
            facts: Mutex::default(),
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
    /// Per backend model: requests, outcomes, tokens, median time to first token and
    /// tokens per second, cost where priced.
    pub models: Vec<ModelSummary>,
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
        lock(&self.usage).add(&record);
        let facts = self.facts(&record.backend);
        lock(&self.live).finished(&record, facts);
        let mut ring = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if ring.records.len() < RECENT {
            ring.records.push(record);
        } else {
            let slot = ring.next;
            ring.records[slot] = record;
        }
        ring.next = (ring.next + 1) % RECENT;
    }

    /// Records an attempt that failed before its request went on to a fallback model: in
    /// the log and the per-model table only (the request itself is recorded once, when it
    /// ends).
    pub fn attempt(&self, record: &RequestRecord) {
        crate::server::pump::log_record(record, None);
        lock(&self.usage).add(record);
    }

    /// Adds what the configuration knows of backend models (windows, prices).
    pub fn set_facts(&self, facts: BTreeMap<String, ModelFacts>) {
        lock(&self.facts).extend(facts);
    }

    /// What the configuration knows of a backend model.
    pub fn facts(&self, backend: &str) -> Option<ModelFacts> {
        lock(&self.facts).get(backend).copied()
    }

    /// The live state the status line reads.
    pub fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        lock(&self.live)
    }

    /// A copy of the live state, for `GET /status`.
    pub fn live_snapshot(&self) -> LiveSnapshot {
        self.live().snapshot(Instant::now())
    }

    /// The per-model usage rows.
    pub fn models(&self) -> Vec<ModelSummary> {
        let facts = lock(&self.facts).clone();
        lock(&self.usage).summary(&facts)
    }

    /// Requests in flight.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Whether any request has reached the proxy (in flight or finished).
    pub fn any_request(&self) -> bool {
        self.active() > 0 || self.requests.load(Ordering::Relaxed) > 0
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
            models: self.models(),
            recent,
        }
    }

    /// The summary for stderr at exit: one line of totals (requests, errors, tokens
    /// in/out), then one line per backend model (see [`crate::usage::summary_lines`]).
    pub fn summary_line(&self) -> String {
        let requests = self.requests.load(Ordering::Relaxed);
        let errors = requests - self.count(Outcome::Ok);
        let plural = if requests == 1 { "" } else { "s" };
        let mut out = format!(
            "anyclaude: {requests} request{plural}, {errors} not ok, {} tokens in, {} tokens out",
            self.input_tokens.load(Ordering::Relaxed),
            self.output_tokens.load(Ordering::Relaxed),
        );
        for line in crate::usage::summary_lines(&self.models()) {
            out.push('\n');
            out.push_str(&line);
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            status: 200,
            ttfb_ms: Some(i),
            ttft_ms: Some(i * 10),
            duration_ms: i,
            input_tokens: 1,
            output_tokens: 2,
            usage_reported: true,
            bytes: 3,
            outcome,
            ..RequestRecord::new(&format!("req_{i}"), "openai".into(), "m", "openai/m".into())
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
            "anyclaude: 3 requests, 1 not ok, 3 tokens in, 6 tokens out\n  openai/m: 3 requests \
             (1 client_gone, 2 ok); tokens 3 in, 0 cached, 6 out; median time to first token \
             30 ms, median - tokens/s"
        );
        assert_eq!(metrics.snapshot().outcomes["client_gone"], 1);
    }
}

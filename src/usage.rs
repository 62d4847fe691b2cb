//! What each backend model did this run, and what is happening right now: the per-model
//! usage table behind the exit summary and `/health` ([`UsageTable`]), and the live state
//! behind the status line ([`Live`]). Pure bookkeeping with bounded memory: at most
//! [`MAX_MODELS`] models and [`SAMPLES`] timing samples per model are kept, however long
//! the run.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::metrics::{Outcome, RequestRecord};

/// Models tracked one by one; the rest are summed under [`OTHER_MODELS`].
pub const MAX_MODELS: usize = 64;

/// The row models past [`MAX_MODELS`] are counted in.
pub const OTHER_MODELS: &str = "(other models)";

/// Timing samples kept per model for the medians (the most recent ones).
pub const SAMPLES: usize = 256;

/// A generation shorter than this gives no tokens-per-second figure (the answer arrived in
/// one piece: a rate would be noise).
pub const MIN_GENERATION: Duration = Duration::from_millis(20);

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Input tokens not read from a cache.
    pub input: f64,
    /// Input tokens read from a cache (the input price when the table gives none).
    pub cached: f64,
    /// Output tokens.
    pub output: f64,
}

/// What is known about a backend model from the configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ModelFacts {
    /// Its context window, in tokens.
    pub context_window: Option<u64>,
    /// Its prices.
    pub price: Option<Price>,
}

/// Tokens per second of a generation, when it lasted long enough to measure.
pub fn tokens_per_second(output_tokens: u64, generation_ms: Option<u64>) -> Option<f64> {
    let ms = generation_ms?;
    if ms < MIN_GENERATION.as_millis() as u64 || output_tokens == 0 {
        return None;
    }
    Some(output_tokens as f64 * 1000.0 / ms as f64)
}

/// One backend model's usage so far.
#[derive(Debug, Clone, Default)]
struct ModelUsage {
    requests: u64,
    outcomes: BTreeMap<&'static str, u64>,
    input_tokens: u64,
    cached_tokens: u64,
    output_tokens: u64,
    /// Requests whose tokens are our estimate (the backend reported none).
    estimated: u64,
    ttft_ms: VecDeque<u64>,
    tokens_per_s: VecDeque<f64>,
}

fn push_sample<T>(ring: &mut VecDeque<T>, value: T) {
    if ring.len() == SAMPLES {
        ring.pop_front();
    }
    ring.push_back(value);
}

fn median_u64(samples: &VecDeque<u64>) -> Option<u64> {
    let mut sorted: Vec<u64> = samples.iter().copied().collect();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

fn median_f64(samples: &VecDeque<f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().collect();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// One row of the usage summary, as served at `/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    /// The backend model (`provider/model`) that answered.
    pub model: String,
    /// Requests it was sent (fallbacks included).
    pub requests: u64,
    /// Requests by outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Input tokens not read from a cache.
    pub input_tokens: u64,
    /// Input tokens read from a cache.
    pub cached_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// How many of its requests carry our estimate instead of the backend's count.
    pub estimated_requests: u64,
    /// Median time from the request to the first token, in ms.
    pub median_ttft_ms: Option<u64>,
    /// Median output tokens per second, from the first token on.
    pub median_tokens_per_s: Option<f64>,
    /// Cost in US dollars, when the model has prices (never guessed).
    pub cost_usd: Option<f64>,
}

impl ModelSummary {
    /// Whether any of its token counts is an estimate.
    pub fn estimated(&self) -> bool {
        self.estimated_requests > 0
    }
}

/// The per-model usage table.
#[derive(Debug, Default)]
pub struct UsageTable {
    models: BTreeMap<String, ModelUsage>,
}

impl UsageTable {
    /// Adds a finished request (one that reached no backend is not a model's).
    pub fn add(&mut self, record: &RequestRecord) {
        if record.backend == "-" || record.backend.is_empty() {
            return;
        }
        let key = if self.models.contains_key(&record.backend) || self.models.len() < MAX_MODELS {
            record.backend.clone()
        } else {
            OTHER_MODELS.to_owned()
        };
        let row = self.models.entry(key).or_default();
        row.requests += 1;
        *row.outcomes.entry(record.outcome.as_str()).or_default() += 1;
        row.input_tokens += record.input_tokens.saturating_sub(record.cached_tokens);
        row.cached_tokens += record.cached_tokens;
        row.output_tokens += record.output_tokens;
        if !record.usage_reported && (record.input_tokens > 0 || record.output_tokens > 0) {
            row.estimated += 1;
        }
        if record.outcome == Outcome::Ok {
            if let Some(ms) = record.ttft_ms {
                push_sample(&mut row.ttft_ms, ms);
            }
            if let Some(rate) = tokens_per_second(record.output_tokens, record.generation_ms) {
                push_sample(&mut row.tokens_per_s, rate);
            }
        }
    }

    /// The rows, by model name, with costs from `facts`.
    pub fn summary(&self, facts: &BTreeMap<String, ModelFacts>) -> Vec<ModelSummary> {
        self.models
            .iter()
            .map(|(model, row)| ModelSummary {
                model: model.clone(),
                requests: row.requests,
                outcomes: row.outcomes.clone(),
                input_tokens: row.input_tokens,
                cached_tokens: row.cached_tokens,
                output_tokens: row.output_tokens,
                estimated_requests: row.estimated,
                median_ttft_ms: median_u64(&row.ttft_ms),
                median_tokens_per_s: median_f64(&row.tokens_per_s),
                cost_usd: facts.get(model).and_then(|f| f.price).map(|p| {
                    (row.input_tokens as f64 * p.input
                        + row.cached_tokens as f64 * p.cached
                        + row.output_tokens as f64 * p.output)
                        / 1_000_000.0
                }),
            })
            .collect()
    }
}

/// `1234` → `1,234`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in ms as people read it: `850 ms`, `1.2 s`, `2 min 5 s`.
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// The summary's lines for each model (indented, no trailing newline).
pub fn summary_lines(rows: &[ModelSummary]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            let outcomes: Vec<String> = row
                .outcomes
                .iter()
                .map(|(name, n)| format!("{n} {name}"))
                .collect();
            let plural = if row.requests == 1 { "" } else { "s" };
            let mut line = format!(
                "  {}: {} request{plural} ({}); tokens {} in, {} cached, {} out",
                row.model,
                row.requests,
                outcomes.join(", "),
                thousands(row.input_tokens),
                thousands(row.cached_tokens),
                thousands(row.output_tokens),
            );
            if row.estimated() {
                line.push_str(&format!(
                    " (estimated for {} of {}: the backend reported none)",
                    row.estimated_requests, row.requests
                ));
            }
            line.push_str(&format!(
                "; median time to first token {}, median {}",
                row.median_ttft_ms.map_or_else(|| "-".to_owned(), human_ms),
                row.median_tokens_per_s
                    .map_or_else(|| "- tokens/s".to_owned(), |r| format!("{r:.1} tokens/s")),
            ));
            if let Some(cost) = row.cost_usd {
                line.push_str(&format!("; cost ${cost:.4}"));
            }
            line
        })
        .collect()
}

/// The last answer for one model Claude Code asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastTurn {
    /// The model Claude Code asked for.
    pub requested: String,
    /// The backend model that answered (`provider/model`); differs after a fallback.
    pub backend: String,
    /// Time from the request to the first token, in ms.
    pub ttft_ms: Option<u64>,
    /// Output tokens per second from the first token on.
    pub tokens_per_s: Option<f64>,
    /// Tokens in the context after the answer (input, cached and output).
    pub context_tokens: u64,
    /// Whether those tokens are our estimate.
    pub estimated: bool,
    /// The backend model's context window, when configured.
    pub context_window: Option<u64>,
    /// Why it was not the first choice, when a fallback answered: `openai/gpt-5: upstream 529`.
    pub fell_back: Option<String>,
}

/// A request waiting for its first token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    /// The backend model it waits for.
    pub backend: String,
    /// How long it has waited, in ms.
    pub waited_ms: u64,
}

/// A request whose answer is streaming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answering {
    /// The backend model answering.
    pub backend: String,
    /// Its time to the first token, in ms.
    pub ttft_ms: u64,
}

/// Why the last request failed before it was answered, while it matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// What happened: `upstream 429`, `local server not answering`.
    pub text: String,
    /// Seconds until the retry the upstream asked for (Claude Code retries then).
    pub retry_in_s: Option<u64>,
}

/// What the status line reads (`GET /status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveSnapshot {
    /// The last answer, whatever model it was for.
    pub last: Option<LastTurn>,
    /// The last answer per model Claude Code asked for.
    pub by_model: BTreeMap<String, LastTurn>,
    /// The request waiting longest for its first token, if any.
    pub waiting: Option<Waiting>,
    /// The request that started answering last, while it streams.
    pub answering: Option<Answering>,
    /// A failure that has not been followed by an answer yet.
    pub notice: Option<Notice>,
}

/// How long a failure is shown without a retry time (Claude Code's own retries of a
/// refused connection or a 5xx come within this).
pub const NOTICE_FOR: Duration = Duration::from_secs(60);

/// Models whose last answer is kept for the status line.
pub const MAX_LIVE_MODELS: usize = 32;

#[derive(Debug)]
struct InFlight {
    backend: String,
    since: Instant,
    /// Time to the first token, once it came.
    answering: Option<u64>,
    /// When it came.
    answering_at: Option<Instant>,
}

#[derive(Debug)]
struct HeldNotice {
    text: String,
    at: Instant,
    retry_at: Option<Instant>,
}

/// The live state behind the status line.
#[derive(Debug, Default)]
pub struct Live {
    last: Option<LastTurn>,
    by_model: BTreeMap<String, LastTurn>,
    in_flight: BTreeMap<String, InFlight>,
    notice: Option<HeldNotice>,
}

impl Live {
    /// A request (by id) went to `backend` and waits for its first token.
    pub fn sent(&mut self, request_id: &str, backend: String, now: Instant) {
        // Bounded by the connections served at once; guard anyway.
        if self.in_flight.len() >= 1024 {
            return;
        }
        self.in_flight.insert(
            request_id.to_owned(),
            InFlight {
                backend,
                since: now,
                answering: None,
                answering_at: None,
            },
        );
    }

    /// The request's first token arrived, `ttft_ms` after the request.
    pub fn answering(&mut self, request_id: &str, ttft_ms: u64) {
        if let Some(entry) = self.in_flight.get_mut(request_id) {
            entry.answering = Some(ttft_ms);
            entry.answering_at = Some(Instant::now());
        }
        self.notice = None;
    }

    /// A request failed before it was answered, for this reason.
    pub fn failed(&mut self, request_id: &str, text: String, retry_after: Option<Duration>) {
        self.in_flight.remove(request_id);
        let now = Instant::now();
        self.notice = Some(HeldNotice {
            text,
            at: now,
            retry_at: retry_after.and_then(|d| now.checked_add(d)),
        });
    }

    /// A request ended; an answered one becomes the last turn for its model.
    pub fn finished(&mut self, record: &RequestRecord, facts: Option<ModelFacts>) {
        self.in_flight.remove(&record.id);
        if record.outcome != Outcome::Ok || record.backend == "-" {
            return;
        }
        self.notice = None;
        let turn = LastTurn {
            requested: record.model.clone(),
            backend: record.backend.clone(),
            ttft_ms: record.ttft_ms,
            tokens_per_s: tokens_per_second(record.output_tokens, record.generation_ms),
            context_tokens: record.input_tokens + record.output_tokens,
            estimated: !record.usage_reported,
            context_window: facts.and_then(|f| f.context_window),
            fell_back: record.fell_back.clone(),
        };
        if self.by_model.contains_key(&turn.requested) || self.by_model.len() < MAX_LIVE_MODELS {
            self.by_model.insert(turn.requested.clone(), turn.clone());
        }
        self.last = Some(turn);
    }

    /// What the status line shows now.
    pub fn snapshot(&self, now: Instant) -> LiveSnapshot {
        let waiting = self
            .in_flight
            .values()
            .filter(|f| f.answering.is_none())
            .min_by_key(|f| f.since)
            .map(|f| Waiting {
                backend: f.backend.clone(),
                waited_ms: crate::server::pump::millis(now.saturating_duration_since(f.since)),
            });
        let notice = self.notice.as_ref().and_then(|n| {
            let retry_in = n.retry_at.map(|at| at.saturating_duration_since(now));
            let shown = match retry_in {
                Some(left) => !left.is_zero() || now.saturating_duration_since(n.at) < NOTICE_FOR,
                None => now.saturating_duration_since(n.at) < NOTICE_FOR,
            };
            shown.then(|| Notice {
                text: n.text.clone(),
                retry_in_s: retry_in.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)),
            })
        });
        let answering = self
            .in_flight
            .values()
            .filter_map(|f| Some((f.answering_at?, f.answering?, &f.backend)))
            .max_by_key(|(at, _, _)| *at)
            .map(|(_, ttft_ms, backend)| Answering {
                backend: backend.clone(),
                ttft_ms,
            });
        LiveSnapshot {
            last: self.last.clone(),
            by_model: self.by_model.clone(),
            waiting,
            answering,
            notice,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(backend: &str, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            id: "req_1".into(),
            provider: "openai".into(),
            model: "openai/gpt-x".into(),
            backend: backend.into(),
            status: 200,
            ttfb_ms: Some(5),
            ttft_ms: Some(100),
            generation_ms: Some(1000),
            duration_ms: 1100,
            input_tokens: 1000,
            cached_tokens: 400,
            output_tokens: 50,
            usage_reported: true,
            bytes: 10,
            outcome,
            fell_back: None,
        }
    }

    #[test]
    fn rows_sum_tokens_and_take_medians_of_answered_requests() {
        let mut table = UsageTable::default();
        for (ttft, gen_ms) in [(100, 1000), (300, 500), (200, 2000)] {
            let mut r = record("openai/gpt-x", Outcome::Ok);
            r.ttft_ms = Some(ttft);
            r.generation_ms = Some(gen_ms);
            table.add(&r);
        }
        let mut failed = record("openai/gpt-x", Outcome::UpstreamError);
        failed.ttft_ms = Some(1);
        table.add(&failed);
        let mut guessed = record("ollama/q", Outcome::Ok);
        guessed.usage_reported = false;
        table.add(&guessed);
        table.add(&record("-", Outcome::Error));

        let facts = BTreeMap::from([(
            "openai/gpt-x".to_owned(),
            ModelFacts {
                context_window: Some(8000),
                price: Some(Price {
                    input: 1.0,
                    cached: 0.1,
                    output: 10.0,
                }),
            },
        )]);
        let rows = table.summary(&facts);
        assert_eq!(rows.len(), 2);
        let (q, x) = (&rows[0], &rows[1]);
        assert_eq!(x.model, "openai/gpt-x");
        assert_eq!(x.requests, 4);
        assert_eq!(x.outcomes["ok"], 3);
        assert_eq!(x.outcomes["upstream_error"], 1);
        assert_eq!(
            (x.input_tokens, x.cached_tokens, x.output_tokens),
            (2400, 1600, 200)
        );
        assert_eq!(x.median_ttft_ms, Some(200));
        // 50 tokens in 1 s, 0.5 s and 2 s: 50, 100 and 25 per second.
        assert_eq!(x.median_tokens_per_s, Some(50.0));
        let cost = x.cost_usd.unwrap();
        assert!(
            (cost - (2400.0 + 160.0 + 2000.0) / 1e6).abs() < 1e-12,
            "{cost}"
        );
        assert!(!x.estimated());
        assert!(q.estimated());
        assert_eq!(q.cost_usd, None, "no price, no cost");
        let lines = summary_lines(&rows);
        assert_eq!(
            lines[1],
            "  openai/gpt-x: 4 requests (3 ok, 1 upstream_error); tokens 2,400 in, 1,600 cached, \
             200 out; median time to first token 200 ms, median 50.0 tokens/s; cost $0.0046"
        );
        assert!(lines[0].contains("(estimated for 1 of 1: the backend reported none)"));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut table = UsageTable::default();
        for i in 0..(MAX_MODELS + 10) {
            table.add(&record(&format!("p/m{i}"), Outcome::Ok));
        }
        let rows = table.summary(&BTreeMap::new());
        assert_eq!(rows.len(), MAX_MODELS + 1);
        let other = rows.iter().find(|r| r.model == OTHER_MODELS).unwrap();
        assert_eq!(other.requests, 10);
        let mut one = UsageTable::default();
        for _ in 0..(SAMPLES * 2) {
            one.add(&record("p/m", Outcome::Ok));
        }
        assert_eq!(one.models["p/m"].ttft_ms.len(), SAMPLES);
    }

    #[test]
    fn live_state_tracks_waits_failures_and_answers() {
        let mut live = Live::default();
        let t0 = Instant::now();
        live.sent("req_1", "openai/gpt-x".into(), t0);
        let snap = live.snapshot(t0 + Duration::from_millis(1500));
        assert_eq!(
            snap.waiting,
            Some(Waiting {
                backend: "openai/gpt-x".into(),
                waited_ms: 1500
            })
        );
        live.failed("req_1", "upstream 429".into(), Some(Duration::from_secs(3)));
        let snap = live.snapshot(Instant::now());
        assert_eq!(snap.waiting, None);
        let notice = snap.notice.unwrap();
        assert_eq!(notice.text, "upstream 429");
        assert_eq!(notice.retry_in_s, Some(3));
        live.sent("req_2", "openai/gpt-x".into(), Instant::now());
        live.answering("req_2", 700);
        let snap = live.snapshot(Instant::now());
        assert_eq!((snap.waiting, snap.notice), (None, None));
        assert_eq!(
            snap.answering,
            Some(Answering {
                backend: "openai/gpt-x".into(),
                ttft_ms: 700
            })
        );
        let mut done = record("openai/gpt-x", Outcome::Ok);
        done.id = "req_2".into();
        live.finished(
            &done,
            Some(ModelFacts {
                context_window: Some(8000),
                price: None,
            }),
        );
        let snap = live.snapshot(Instant::now());
        let last = snap.last.unwrap();
        assert_eq!(last.context_tokens, 1050);
        assert_eq!(last.tokens_per_s, Some(50.0));
        assert_eq!(last.context_window, Some(8000));
        assert_eq!(snap.by_model["openai/gpt-x"], last);
        assert_eq!(snap.answering, None);
        assert!(live.in_flight.is_empty());
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(human_ms(850), "850 ms");
        assert_eq!(human_ms(1240), "1.2 s");
        assert_eq!(human_ms(125_000), "2 min 5 s");
        assert_eq!(tokens_per_second(10, Some(5)), None);
        assert_eq!(tokens_per_second(10, None), None);
        assert_eq!(tokens_per_second(100, Some(2000)), Some(50.0));
    }
}

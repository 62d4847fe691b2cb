//! The streaming half of a request, once the upstream has answered with a success status:
//! one task per stream that reads the upstream body, feeds a pure translator, and sends what
//! comes out to Claude Code through a bounded channel.
//!
//! Everything that can end a stream meets in this task's one loop, so cleanup (metrics, log
//! line, upstream connection) runs exactly once whichever comes first:
//! - the upstream ends, cleanly or not (the translator ends the stream with an
//!   `event: error` when it was not a proper end: see the writer's failure ending);
//! - the upstream is silent for `--idle-timeout` (`event: error`);
//! - Claude Code closes the connection (hyper drops the body, the channel closes, the loop
//!   sees it at once and drops the upstream response, which closes that connection);
//! - Claude Code stops reading for `--drain-timeout` (the stream is given up: upstream
//!   cancelled, outcome `drain_timeout`);
//! - anyclaude shuts down (`event: error`).
//!
//! The one exception to "a stream ends in `message_stop` or `event: error`": for Claude Code
//! 2.0.x a failed stream writes no error event and its body is aborted instead (the
//! connection closes without the chunked body's last chunk), because that version shows an
//! empty result for the error event and retries an aborted stream (see the writer's
//! `FailureDelivery`).
//!
//! While nothing goes to Claude Code (the upstream is silent, or sends only SSE comments such
//! as llama.cpp's `: ping`), `event: ping` goes out every `--keepalive` so Claude Code's idle
//! timer never fires. Memory per stream is bounded: at most [`CHANNEL_FRAMES`] frames
//! wait in the channel, each about [`COALESCE_BYTES`] at most (the translation of the
//! upstream chunks that had already arrived, plus one).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use super::body::Aborted;
use crate::anthropic::stream::{Event, Usage};
use crate::anthropic::{ApiError, ErrorKind};
use crate::config::Timeouts;
use crate::metrics::{Metrics, Outcome, RequestRecord};
use crate::upstream::{Failure, Target};

/// Frames that may wait between the translator and the client: one, so that while Claude
/// Code has not taken it, further output gathers into the next frame.
pub const CHANNEL_FRAMES: usize = 1;

/// A pure stream translator as the pump drives it: upstream bytes in, SSE bytes out.
pub trait Translate: Send + 'static {
    /// Writes the opening of the stream (`message_start`, or nothing for pass-through).
    fn start(&mut self, out: &mut BytesMut);
    /// Feeds one chunk of the upstream body.
    fn push(&mut self, chunk: &[u8], out: &mut BytesMut);
    /// The upstream body ended.
    fn finish(&mut self, out: &mut BytesMut);
    /// The stream failed for a reason outside the body (timeout, reset, shutdown).
    fn fail(&mut self, err: ApiError, out: &mut BytesMut);
    /// Writes a keepalive `ping`.
    fn ping(&mut self, out: &mut BytesMut) {
        Event::Ping.encode_into(out);
    }
    /// Whether the stream has ended (`message_stop` or `error` written).
    fn is_finished(&self) -> bool;
    /// The error that ended the stream, if one did.
    fn failure(&self) -> Option<&ApiError>;
    /// Usage so far (final once finished).
    fn usage(&self) -> Usage;
    /// Whether the stream failed and its body is to be aborted rather than ended.
    fn ends_by_abort(&self) -> bool {
        false
    }
    /// A number that changes whenever the answer makes progress Claude Code would see
    /// (not pings, whitespace or empty pieces): the no-progress timer's measure.
    fn progress(&self) -> u64;
    /// Whether the usage holds the upstream's own counts (not estimates).
    fn usage_reported(&self) -> bool {
        false
    }
}

/// `from + d`, or a day past `from` should that overflow (durations are validated, but the
/// pump must not panic whatever it is given).
fn deadline(from: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(from)
}

/// What the pump needs besides the translator.
pub struct Job {
    /// The request's id.
    pub request_id: String,
    /// The provider preset's name.
    pub provider: std::sync::Arc<str>,
    /// The model as Claude Code named it.
    pub model: String,
    /// The backend model answering (`provider/model`).
    pub backend: String,
    /// When a fallback answers: the model it replaced and why.
    pub fell_back: Option<String>,
    /// The upstream's streaming response (status already checked).
    pub upstream: reqwest::Response,
    /// When the request arrived.
    pub started: Instant,
    /// Time to the upstream's response headers.
    pub ttfb: Duration,
    /// The proxy's timeouts.
    pub timeouts: Timeouts,
    /// Cancelled when anyclaude shuts down.
    pub shutdown: CancellationToken,
    /// Where the record goes.
    pub metrics: Arc<Metrics>,
    /// Whether a server-side failure (5xx) before any output is handed back to the caller
    /// ([`Opening::Failed`]), which then asks again unstreamed, instead of being streamed:
    /// Claude Code itself asks again unstreamed after a stream that fails before its first
    /// block, which is better for a hosted backend than retrying an error status. A client
    /// error (4xx: a prompt over the window, a bad key, a rate limit) before any output is
    /// always handed back, so that Claude Code reads its status at once.
    pub early_server_errors: bool,
}

/// How a stream opened, decided before any byte of it goes to Claude Code.
pub enum Opening {
    /// There is output for Claude Code (or a keepalive was due, or a server error before
    /// any output that is streamed: see [`Job::early_server_errors`]): the 200 goes out
    /// with this body, and the stream's task records the request.
    Answer(mpsc::Receiver<Result<Bytes, Aborted>>),
    /// The stream failed before any output Claude Code would see. Nothing was sent and
    /// nothing recorded: the caller answers with the error's own HTTP status (or asks
    /// again), and records the request.
    Failed(EarlyFailure),
}

/// A stream that failed before its first output.
#[derive(Debug)]
pub struct EarlyFailure {
    /// The error the stream would have ended with.
    pub error: ApiError,
    /// What ended it.
    pub outcome: Outcome,
}

/// Starts the stream task and waits for its opening: the 200 is held until the upstream's
/// first event has been translated into something Claude Code would see, the stream has
/// failed, or a keepalive is due, so that an answer refused before its first word (a
/// prompt over the window, a rate limit sent as the stream's first event) reaches Claude
/// Code as the error status it is, and a local server's stream that ends without a word
/// can be asked again.
pub async fn start<T: Translate>(job: Job, translator: T) -> Opening {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let (opened, opening) = oneshot::channel();
    tokio::spawn(run(job, translator, tx, opened));
    match opening.await {
        Ok(Some(failure)) => Opening::Failed(failure),
        // Answering; or the task ended without output (the body is then empty, and the task
        // recorded the request).
        Ok(None) | Err(_) => Opening::Answer(rx),
    }
}

/// Records the request exactly once: on the normal path through [`Recorder::finish`], or
/// from `Drop` if the task is torn down (runtime shutdown) before it got there.
struct Recorder {
    metrics: Arc<Metrics>,
    record: Option<RequestRecord>,
    started: Instant,
    /// When the first token Claude Code could see went out.
    first_token: Option<Instant>,
}

impl Recorder {
    /// Notes the first token (once).
    fn first_token(&mut self) {
        if self.first_token.is_some() {
            return;
        }
        let now = Instant::now();
        self.first_token = Some(now);
        if let Some(record) = self.record.as_mut() {
            let ttft = millis(now.saturating_duration_since(self.started));
            record.ttft_ms = Some(ttft);
            self.metrics.live().answering(&record.id, ttft);
        }
    }

    fn finish(&mut self, outcome: Outcome, usage: Usage, detail: Option<&ApiError>) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.outcome = outcome;
        record.duration_ms = millis(self.started.elapsed());
        record.generation_ms = self.first_token.map(|t| millis(t.elapsed()));
        record.input_tokens = usage.input_tokens + usage.cache_read_input_tokens;
        record.cached_tokens = usage.cache_read_input_tokens;
        record.output_tokens = usage.output_tokens;
        log_record(&record, detail);
        self.metrics.finish(record);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(Outcome::Shutdown, Usage::default(), None);
    }
}

/// Writes the one log line per request (level 1).
pub fn log_record(record: &RequestRecord, detail: Option<&ApiError>) {
    let ttfb = record.ttfb_ms.map_or(-1, |ms| ms as i64);
    match detail {
        None => tracing::info!(
            request_id = %record.id, provider = %record.provider, model = %record.model,
            status = record.status, ttfb_ms = ttfb, duration_ms = record.duration_ms,
            bytes = record.bytes, input_tokens = record.input_tokens,
            output_tokens = record.output_tokens, outcome = record.outcome.as_str(),
            "request"
        ),
        Some(err) => tracing::warn!(
            request_id = %record.id, provider = %record.provider, model = %record.model,
            status = record.status, ttfb_ms = ttfb, duration_ms = record.duration_ms,
            bytes = record.bytes, input_tokens = record.input_tokens,
            output_tokens = record.output_tokens, outcome = record.outcome.as_str(),
            error = %err, "request"
        ),
    }
}

/// Whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Output gathered from already-delivered upstream chunks before it is sent on.
pub const COALESCE_BYTES: usize = 16 * 1024;

/// Upstream bytes taken in one turn of the loop, whatever they produce.
pub const COALESCE_INPUT: usize = 64 * 1024;

fn push_chunk<T: Translate>(translator: &mut T, bytes: &[u8], out: &mut BytesMut) {
    if tracing::enabled!(tracing::Level::TRACE) {
        tracing::trace!(upstream_chunk = %String::from_utf8_lossy(bytes), "upstream");
    }
    translator.push(bytes, out);
}

/// The upstream body ended: the translator ends the stream, well or with an error.
fn finish<T: Translate>(translator: &mut T, out: &mut BytesMut, reason: &mut Option<Outcome>) {
    translator.finish(out);
    // A translator always ends the stream at the body's end; if one did not, end it here
    // rather than poll a finished body again.
    if !translator.is_finished() {
        translator.fail(
            ApiError::new(ErrorKind::Api, "the upstream answer ended incomplete"),
            out,
        );
    }
    *reason = Some(if translator.failure().is_some() {
        Outcome::UpstreamError
    } else {
        Outcome::Ok
    });
}

/// Ends the stream with `failure`'s error; returns the outcome to record.
fn fail<T: Translate>(
    translator: &mut T,
    provider: &str,
    failure: Failure,
    out: &mut BytesMut,
) -> Outcome {
    translator.fail(failure.to_api_error(Target::named(provider)), out);
    failure.outcome()
}

enum Step {
    Room,
    DrainTimeout,
    Chunk(Option<Bytes>),
    BodyError(reqwest::Error),
    Idle,
    Stalled,
    Ping,
    ClientGone,
    Shutdown,
}

async fn run<T: Translate>(
    job: Job,
    mut translator: T,
    tx: mpsc::Sender<Result<Bytes, Aborted>>,
    opened: oneshot::Sender<Option<EarlyFailure>>,
) {
    let Job {
        request_id,
        provider,
        model,
        backend,
        fell_back,
        mut upstream,
        started,
        ttfb,
        timeouts,
        shutdown,
        metrics,
        early_server_errors,
    } = job;
    let mut recorder = Recorder {
        metrics,
        started,
        first_token: None,
        record: Some(RequestRecord {
            status: 200,
            ttfb_ms: Some(millis(ttfb)),
            fell_back,
            ..RequestRecord::new(&request_id, provider.clone(), &model, backend)
        }),
    };
    let mut out = BytesMut::with_capacity(4096);
    let mut sent: u64 = 0;
    // The stream's opening (`message_start`) waits here, outside `out`, until there is
    // something to send after it: then the opening is decided (see [`start`]).
    let mut opening = BytesMut::new();
    translator.start(&mut opening);
    let mut opened = Some(opened);
    // Idle is measured from the upstream's last byte (its keep-alive comments count: the
    // server is alive); pings from the last byte sent to Claude Code (those comments never
    // reach it, so they must not hold our pings back).
    let mut last_upstream = tokio::time::Instant::now();
    let mut last_sent = last_upstream;
    // Set when the loop ends for a reason other than the upstream body ending well.
    let mut cut: Option<Outcome> = None;
    let mut reason: Option<Outcome> = None;
    // The waits live across iterations: a timer is moved, not registered anew, per chunk.
    let idle = sleep_until(deadline(last_upstream, timeouts.idle));
    // No progress is measured from the last output Claude Code would see; the timer is
    // re-armed lazily (when it fires early), not per chunk.
    let mut progress_seen = translator.progress();
    let progress_start = progress_seen;
    let mut last_progress = last_upstream;
    let stalled = sleep_until(deadline(last_progress, timeouts.progress));
    tokio::pin!(stalled);
    let ping = sleep_until(deadline(last_sent, timeouts.keepalive));
    let client_gone = tx.closed();
    let cancelled = shutdown.cancelled();
    tokio::pin!(idle, ping, client_gone, cancelled);

    // Output waits in `out` while the channel holds a frame Claude Code has not taken yet, so
    // a fast upstream's many small chunks leave in few writes; the drain timer runs while
    // output waits on a client that does not read.
    let mut waiting = false;
    // Set while reading from the upstream is paused because output waits on the client: the
    // upstream's silence is then ours, and the idle timer does not run.
    let mut paused = false;
    let drain = sleep_until(deadline(last_sent, timeouts.drain));
    tokio::pin!(drain);

    loop {
        if !out.is_empty()
            && let Some(opened) = opened.take()
        {
            if cut.is_none()
                && translator.progress() == progress_start
                && let Some(err) = translator.failure()
                && (err.status() < 500 || early_server_errors)
            {
                let failure = EarlyFailure {
                    error: err.clone(),
                    outcome: reason.unwrap_or(Outcome::UpstreamError),
                };
                if opened.send(Some(failure)).is_ok() {
                    // The caller answers and records it.
                    recorder.record = None;
                    return;
                }
                // Nobody waits for the answer any more.
                cut = Some(Outcome::ClientGone);
                break;
            }
            if opened.send(None).is_err() {
                cut = Some(Outcome::ClientGone);
                break;
            }
            opening.extend_from_slice(&out);
            out.clear();
            std::mem::swap(&mut out, &mut opening);
        }
        if !out.is_empty() {
            match tx.try_reserve() {
                Ok(permit) => {
                    let frame = out.split().freeze();
                    sent += frame.len() as u64;
                    permit.send(Ok(frame));
                    waiting = false;
                    last_sent = tokio::time::Instant::now();
                    ping.as_mut().reset(deadline(last_sent, timeouts.keepalive));
                    if paused {
                        paused = false;
                        idle.as_mut().reset(deadline(last_sent, timeouts.idle));
                    }
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    cut = Some(Outcome::ClientGone);
                    break;
                }
                Err(mpsc::error::TrySendError::Full(())) => {
                    if !waiting {
                        waiting = true;
                        drain
                            .as_mut()
                            .reset(deadline(tokio::time::Instant::now(), timeouts.drain));
                    }
                }
            }
        }
        let done = translator.is_finished() || reason.is_some();
        if done && out.is_empty() {
            break;
        }
        let gather = !done && out.len() < COALESCE_BYTES;
        paused |= !done && !gather;
        let step = tokio::select! {
            biased;
            _ = &mut client_gone => Step::ClientGone,
            _ = &mut cancelled, if !done => Step::Shutdown,
            room = tx.reserve(), if !out.is_empty() => match room {
                // The next turn of the loop hands `out` over.
                Ok(permit) => {
                    drop(permit);
                    Step::Room
                }
                Err(_) => Step::ClientGone,
            },
            chunk = upstream.chunk(), if gather => match chunk {
                Ok(chunk) => Step::Chunk(chunk),
                Err(err) => Step::BodyError(err),
            },
            _ = &mut drain, if waiting => Step::DrainTimeout,
            _ = &mut idle, if gather => Step::Idle,
            _ = &mut stalled, if gather => Step::Stalled,
            _ = &mut ping, if !done && out.is_empty() => Step::Ping,
        };
        match step {
            Step::Chunk(Some(bytes)) => {
                last_upstream = tokio::time::Instant::now();
                idle.as_mut().reset(deadline(last_upstream, timeouts.idle));
                push_chunk(&mut translator, &bytes, &mut out);
                // Take whatever else the upstream has already delivered, so one write to
                // Claude Code carries many events: a fast upstream sends hundreds of small
                // chunks per answer, and a wake-up and a syscall per event would cost more
                // than translating them.
                // At most COALESCE_INPUT of input per turn, so that an upstream flooding
                // chunks that produce nothing still comes back to the timers.
                let mut yielded = false;
                let mut taken = bytes.len();
                while out.len() < COALESCE_BYTES
                    && taken < COALESCE_INPUT
                    && !translator.is_finished()
                {
                    match upstream.chunk().now_or_never() {
                        Some(Ok(Some(bytes))) => {
                            taken += bytes.len();
                            push_chunk(&mut translator, &bytes, &mut out);
                            yielded = false;
                        }
                        Some(Ok(None)) => {
                            finish(&mut translator, &mut out, &mut reason);
                            break;
                        }
                        Some(Err(err)) => {
                            reason = Some(fail(
                                &mut translator,
                                &provider,
                                Failure::Body(err),
                                &mut out,
                            ));
                            break;
                        }
                        // Nothing more yet: let the connection task decode what the
                        // socket already holds, once, then look again.
                        None if !yielded => {
                            yielded = true;
                            tokio::task::yield_now().await;
                        }
                        None => break,
                    }
                }
                // A busy upstream keeps this branch winning the select: the progress and
                // ping timers are checked here too, so that a flood of chunks with nothing
                // for Claude Code neither holds the turn nor starves the pings.
                let now = tokio::time::Instant::now();
                if translator.progress() != progress_seen {
                    progress_seen = translator.progress();
                    last_progress = now;
                    recorder.first_token();
                } else if reason.is_none()
                    && !translator.is_finished()
                    && now >= deadline(last_progress, timeouts.progress)
                {
                    let failure = Failure::NoProgress(timeouts.progress);
                    reason = Some(fail(&mut translator, &provider, failure, &mut out));
                }
                if out.is_empty() && !translator.is_finished() && now >= ping.deadline() {
                    translator.ping(&mut out);
                    ping.as_mut().reset(deadline(now, timeouts.keepalive));
                }
            }
            Step::Chunk(None) => finish(&mut translator, &mut out, &mut reason),
            Step::Stalled => {
                let now = tokio::time::Instant::now();
                if translator.progress() != progress_seen {
                    progress_seen = translator.progress();
                    last_progress = now;
                }
                let due = deadline(last_progress, timeouts.progress);
                if now >= due {
                    let failure = Failure::NoProgress(timeouts.progress);
                    reason = Some(fail(&mut translator, &provider, failure, &mut out));
                } else {
                    stalled.as_mut().reset(due);
                }
            }
            Step::BodyError(err) => {
                reason = Some(fail(
                    &mut translator,
                    &provider,
                    Failure::Body(err),
                    &mut out,
                ));
            }
            Step::Idle => {
                let failure = Failure::Idle(timeouts.idle);
                reason = Some(fail(&mut translator, &provider, failure, &mut out));
            }
            Step::Ping => {
                translator.ping(&mut out);
                // Due again a keepalive from now even if the ping cannot be sent at once.
                ping.as_mut()
                    .reset(deadline(tokio::time::Instant::now(), timeouts.keepalive));
            }
            Step::ClientGone => {
                cut = Some(Outcome::ClientGone);
                break;
            }
            Step::DrainTimeout => {
                cut = Some(Outcome::DrainTimeout);
                break;
            }
            Step::Room => {}
            Step::Shutdown => {
                let failure = Failure::Shutdown { answering: true };
                reason = Some(fail(&mut translator, &provider, failure, &mut out));
            }
        }
        if tracing::enabled!(tracing::Level::TRACE) && !out.is_empty() {
            tracing::trace!(events = %String::from_utf8_lossy(&out), "to client");
        }
    }
    // Dropping the upstream response here closes its connection before the record is
    // written, so a cancelled request frees the backend at once.
    drop(upstream);
    let outcome = cut.or(reason).unwrap_or(if translator.failure().is_some() {
        Outcome::UpstreamError
    } else {
        Outcome::Ok
    });
    if let Some(record) = recorder.record.as_mut() {
        record.bytes = sent;
    }
    let detail = translator.failure().cloned();
    if translator.progress() != progress_start {
        // Output that came only with the body's end.
        recorder.first_token();
    }
    if let Some(record) = recorder.record.as_mut() {
        record.usage_reported = translator.usage_reported();
    }
    recorder.finish(outcome, translator.usage(), detail.as_ref());
    if cut.is_none() && translator.ends_by_abort() {
        // After the frames before it; a client that does not read for the drain timeout
        // gets none (the body then simply ends).
        let _ = tokio::time::timeout(timeouts.drain, tx.send(Err(Aborted))).await;
    }
}

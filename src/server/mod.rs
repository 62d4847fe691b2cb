//! The proxy server: accepts Claude Code's connections on the listener it is handed, serves
//! each with hyper, and shuts down gracefully.
//!
//! Layout: [`routes`] (dispatch, auth), [`request_body`] (reading request bodies: size,
//! encoding, deadline, memory budget, surrogate repair), [`forward`] (the one upstream path,
//! for every dialect), [`pump`] (the streaming task with keepalive, backpressure and
//! timeouts), [`body`] (response helpers), [`slots`] (background requests wait for the main
//! turn on one-slot local servers), [`templates`] (local chat templates that show no tools).

pub mod body;
pub mod fallback;
pub mod forward;
pub mod models;
pub mod pump;
pub mod request_body;
pub mod routes;
pub mod slots;
pub mod templates;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::HeaderMap;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::anthropic::ApiError;
use crate::config::Timeouts;
use crate::metrics::Metrics;
use crate::registry::{Registry, Route};

/// How long in-flight connections get to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The most a connection's read buffer may grow to (hyper's default is ~400 KiB).
pub const CONNECTION_BUFFER: usize = 64 * 1024;

/// What the proxy needs to know to serve. Its `Debug` leaves out the token and the
/// environment's values (they hold API keys).
#[derive(Clone)]
pub struct ProxySettings {
    /// The per-run token Claude Code must send as `x-anyclaude-token`.
    pub token: String,
    /// Validated timeouts.
    pub timeouts: Timeouts,
    /// The providers, models, aliases and tiers requests are routed with (its default
    /// model, from `--model` or the config file, takes bare `claude-*` ids).
    pub registry: Arc<Registry>,
    /// A snapshot of the environment (every variable that may hold a credential is
    /// scrubbed from upstream text).
    pub env: HashMap<String, String>,
    /// 0–3, as `ANYCLAUDE_DEBUG`.
    pub debug_level: u8,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut vars: Vec<&str> = self.env.keys().map(String::as_str).collect();
        vars.sort_unstable();
        f.debug_struct("ProxySettings")
            .field("token", &"***")
            .field("timeouts", &self.timeouts)
            .field("registry", &self.registry)
            .field(
                "env",
                &format_args!("{} variables (values not shown)", vars.len()),
            )
            .field("debug_level", &self.debug_level)
            .finish()
    }
}

/// A running proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    settings: ProxySettings,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    shutdown: CancellationToken,
    next_id: AtomicU64,
    id_prefix: u64,
    body_limits: request_body::Limits,
    body_budget: request_body::BodyBudget,
    scrubber: Arc<crate::secrets::Scrubber>,
    fallbacks: std::sync::Mutex<HashMap<String, Vec<String>>>,
    slots: slots::Slots,
    templates: templates::Templates,
    catalog: models::Catalog,
}

impl Proxy {
    /// A proxy with these settings; fails only when the upstream HTTP client cannot be set
    /// up.
    pub fn new(settings: ProxySettings) -> Result<Arc<Self>, crate::upstream::ClientError> {
        let client = crate::upstream::client(settings.timeouts.connect)?;
        let mut seed = [0u8; 8];
        // Request ids only need to be unique within a log; fall back to the clock.
        if getrandom::fill(&mut seed).is_err() {
            seed = (Instant::now().elapsed().as_nanos() as u64).to_le_bytes();
        }
        let scrubber = Arc::new(
            crate::secrets::Scrubber::from_env(&settings.env, &settings.token)
                .with(settings.registry.secrets()),
        );
        // Each configured model's fallbacks, context window and prices.
        let mut fallbacks = HashMap::new();
        let mut facts = std::collections::BTreeMap::new();
        for (full, spec) in settings.registry.models() {
            if !spec.fallbacks.is_empty() {
                fallbacks.insert(full.to_owned(), spec.fallbacks.clone());
            }
            facts.insert(
                full.to_owned(),
                crate::usage::ModelFacts {
                    context_window: spec.context_window,
                    price: spec.price.map(|p| crate::usage::Price {
                        input: p.input,
                        cached: p.cached_input,
                        output: p.output,
                    }),
                },
            );
        }
        let metrics = Arc::new(Metrics::default());
        metrics.set_facts(facts);
        Ok(Arc::new(Proxy {
            scrubber,
            settings,
            metrics,
            client,
            shutdown: CancellationToken::new(),
            next_id: AtomicU64::new(1),
            id_prefix: u64::from_le_bytes(seed) & 0xffff_ffff,
            body_limits: request_body::Limits::default(),
            body_budget: request_body::BodyBudget::default(),
            fallbacks: std::sync::Mutex::new(fallbacks),
            slots: slots::Slots::default(),
            templates: templates::Templates::default(),
            catalog: models::Catalog::default(),
        }))
    }

    /// A proxy with other request-body limits and budget than the defaults (tests use small
    /// ones).
    pub fn with_body_limits(
        settings: ProxySettings,
        limits: request_body::Limits,
        budget: request_body::BodyBudget,
    ) -> Result<Arc<Self>, crate::upstream::ClientError> {
        let mut proxy = Arc::into_inner(Proxy::new(settings)?).expect("not shared yet");
        proxy.body_limits = limits;
        proxy.body_budget = budget;
        Ok(Arc::new(proxy))
    }

    /// `text` without the API keys and token this proxy holds, nor URL userinfo: for any
    /// upstream text before it is logged or put in an answer to Claude Code.
    pub fn scrub<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.scrubber.scrub(text)
    }

    /// The scrubber of the secrets it knows, shared (for a stream's error events).
    pub fn scrubber(&self) -> &Arc<crate::secrets::Scrubber> {
        &self.scrubber
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The turn-taking of one-slot local servers.
    pub fn slots(&self) -> &slots::Slots {
        &self.slots
    }

    /// What it learned about local servers' chat templates.
    pub fn templates(&self) -> &templates::Templates {
        &self.templates
    }

    /// Resolves when the proxy starts shutting down.
    pub async fn shutting_down(&self) {
        self.shutdown.cancelled().await;
    }

    /// The local servers' model lists it keeps for `GET /v1/models`.
    pub fn catalog(&self) -> &models::Catalog {
        &self.catalog
    }

    /// The metrics it keeps.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Sets each backend model's ordered fallback list (`provider/model` → models to try
    /// next, aliases resolved); once, before serving.
    pub fn set_fallbacks(&self, fallbacks: HashMap<String, Vec<String>>) {
        let mut held = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        held.extend(fallbacks);
    }

    /// The models to try, in order, when `backend` fails before answering.
    pub fn fallbacks_for(&self, backend: &str) -> Vec<String> {
        self.fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(backend)
            .cloned()
            .unwrap_or_default()
    }

    /// One line summing up the run: requests, errors, tokens in/out, median time to first
    /// byte.
    pub fn summary_line(&self) -> String {
        self.metrics.summary_line()
    }

    fn next_request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("req_anyclaude_{:08x}{n:08x}", self.id_prefix)
    }

    /// Whether the request carries the right token (constant-time comparison).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers.get(routes::TOKEN_HEADER) else {
            return false;
        };
        constant_time_eq(given.as_bytes(), self.settings.token.as_bytes())
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One routed request on its way upstream.
pub struct RequestContext {
    /// The proxy.
    pub proxy: Arc<Proxy>,
    /// The request's id.
    pub request_id: String,
    /// When it arrived.
    pub started: Instant,
    /// Where it goes.
    pub route: Route,
    /// Set once a fallback took over: the model it replaced and why.
    pub fell_back: Option<String>,
}

impl RequestContext {
    /// Sends `req` upstream and waits for its response headers within the request timeout.
    /// Returns the response (any status) and the time it took, or why it failed.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, Duration), crate::upstream::Failure> {
        use crate::upstream::Failure;
        let timeouts = self.timeouts();
        let sent = Instant::now();
        tokio::select! {
            biased;
            _ = self.proxy.shutdown.cancelled() => Err(Failure::Shutdown { answering: false }),
            result = tokio::time::timeout(timeouts.request, req.send()) => match result {
                Ok(Ok(resp)) => Ok((resp, sent.elapsed())),
                Ok(Err(err)) => Err(Failure::Send(err)),
                Err(_) => Err(Failure::NoHeaders(timeouts.request)),
            },
        }
    }

    /// Moves the request to the next routable model of `fallbacks` after a failure before
    /// the answer (see [`fallback`]); records the failed attempt under its own backend and
    /// says so at log level 1 and in the status line. Returns false when no model is left.
    pub fn fall_back(
        &mut self,
        fallbacks: &mut std::vec::IntoIter<String>,
        client_model: &str,
        answered: Option<(u16, Duration)>,
        reason: &str,
        failure: &crate::upstream::Failure,
    ) -> bool {
        for next in fallbacks.by_ref() {
            let route = match self.proxy.settings.registry.route(&next) {
                Ok(route) => route,
                Err(err) => {
                    tracing::warn!(request_id = %self.request_id, fallback = %next, error = %err, "fallback model skipped");
                    continue;
                }
            };
            let from = self.backend();
            let to = format!("{}/{}", route.provider.name, route.model);
            let mut attempt = crate::metrics::RequestRecord {
                status: answered.map_or(0, |(status, _)| status),
                ttfb_ms: answered.map(|(_, ttfb)| pump::millis(ttfb)),
                duration_ms: pump::millis(self.started.elapsed()),
                outcome: failure.outcome(),
                ..crate::metrics::RequestRecord::new(
                    &self.request_id,
                    Arc::clone(&self.route.provider.name),
                    client_model,
                    from.clone(),
                )
            };
            attempt.fell_back = self.fell_back.clone();
            self.proxy.metrics.attempt(&attempt);
            tracing::info!(request_id = %self.request_id, from = %from, to = %to, reason, "falling back to the next model");
            self.proxy.metrics.live().failed(
                &self.request_id,
                format!("{from}: {reason} → {to}"),
                None,
            );
            self.fell_back = Some(format!("{from}: {reason}"));
            self.route = route;
            return true;
        }
        false
    }

    /// Tells the status line why this request failed before any answer (Claude Code
    /// retries it; `retry` is the wait the upstream asked for).
    pub fn note_failure(&self, status: Option<u16>, retry: Option<Duration>) {
        let text = fallback::notice(
            &self.route.provider.name,
            self.route.provider.server.is_some(),
            status,
        );
        self.proxy
            .metrics
            .live()
            .failed(&self.request_id, text, retry);
    }

    /// The timeouts for this request: the proxy's, with its provider's own in place.
    pub fn timeouts(&self) -> Timeouts {
        self.route
            .provider
            .timeouts
            .apply(self.proxy.settings.timeouts)
    }

    /// The upstream as error messages name it (the URL without its query string).
    pub fn target<'a>(&'a self, url: &'a str) -> crate::upstream::Target<'a> {
        crate::upstream::Target {
            provider: &self.route.provider.name,
            url: url.split('?').next().unwrap_or(url),
            server: self.route.provider.server,
            base_url_var: self
                .route
                .provider
                .base_url_vars
                .first()
                .map(String::as_str),
        }
    }

    /// What recording this request needs, for the model Claude Code named.
    pub fn finished<'a>(&'a self, model: &'a str, ttfb: Option<Duration>) -> routes::Finished<'a> {
        routes::Finished {
            request_id: &self.request_id,
            provider: Arc::clone(&self.route.provider.name),
            model,
            started: self.started,
            ttfb_ms: ttfb.map(pump::millis),
            backend: self.backend(),
            usage_reported: false,
            fell_back: self.fell_back.clone(),
        }
    }

    /// The backend model this request goes to, as `provider/model`.
    pub fn backend(&self) -> String {
        format!("{}/{}", self.route.provider.name, self.route.model)
    }

    /// Answers and records a request refused before it was sent (a bad request).
    pub fn refuse(
        &self,
        model: &str,
        ttfb: Option<Duration>,
        err: &ApiError,
    ) -> http::Response<body::Body> {
        let err = self.scrubbed(err.clone());
        let resp = body::error(&self.request_id, &err);
        self.finished(model, ttfb).record(
            &self.proxy,
            resp,
            crate::metrics::Outcome::Error,
            (0, 0, 0),
            Some(&err),
        )
    }

    /// `err` with every secret the proxy knows removed from its message: an upstream that
    /// echoes the key (or a URL with a password) does not show it to Claude Code.
    fn scrubbed(&self, mut err: ApiError) -> ApiError {
        if let std::borrow::Cow::Owned(clean) = self.proxy.scrub(&err.message) {
            err.message = clean;
        }
        err
    }

    /// Answers and records a request whose upstream failed before any stream started (a
    /// refused connection, a timeout, the upstream's error status, an unreadable answer),
    /// with the error and outcome the failure maps to.
    pub fn fail(
        &self,
        model: &str,
        ttfb: Option<Duration>,
        url: &str,
        failure: crate::upstream::Failure,
    ) -> http::Response<body::Body> {
        let err = failure.to_api_error(self.target(url));
        self.answer_error(model, ttfb, err, failure.outcome())
    }

    /// Answers and records a request with `err`'s HTTP status and body.
    pub fn answer_error(
        &self,
        model: &str,
        ttfb: Option<Duration>,
        err: ApiError,
        outcome: crate::metrics::Outcome,
    ) -> http::Response<body::Body> {
        let err = self.scrubbed(err);
        let resp = body::error(&self.request_id, &err);
        self.finished(model, ttfb)
            .record(&self.proxy, resp, outcome, (0, 0, 0), Some(&err))
    }

    /// Reads an upstream's error answer: its status, `retry-after` and (the start of) its
    /// body, logged at level 2.
    pub async fn read_failure(&self, resp: reqwest::Response) -> UpstreamFailure {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(resp, MAX_ERROR_BODY, self.timeouts().idle).await;
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(request_id = %self.request_id, status, body = %String::from_utf8_lossy(&body), "upstream error");
        }
        UpstreamFailure {
            status,
            retry_after,
            body,
        }
    }

    /// The pump job for a committed stream.
    pub fn job(&self, upstream: reqwest::Response, ttfb: Duration, model: String) -> pump::Job {
        pump::Job {
            request_id: self.request_id.clone(),
            provider: Arc::clone(&self.route.provider.name),
            model,
            backend: self.backend(),
            fell_back: self.fell_back.clone(),
            upstream,
            started: self.started,
            ttfb,
            timeouts: self.timeouts(),
            shutdown: self.proxy.shutdown.clone(),
            metrics: self.proxy.metrics.clone(),
            early_server_errors: false,
        }
    }
}

/// An upstream's error answer.
pub struct UpstreamFailure {
    /// Its HTTP status.
    pub status: u16,
    /// Its `retry-after` header.
    pub retry_after: Option<String>,
    /// The start of its body.
    pub body: Vec<u8>,
}

/// Largest non-streamed upstream answer read.
pub const MAX_UPSTREAM_BODY: usize = 32 * 1024 * 1024;

/// Largest part of an upstream error answer read.
pub const MAX_ERROR_BODY: usize = 1024 * 1024;

/// Reads at most `limit` bytes of an upstream body, within `timeout`; what it could not read
/// is left out (and a cut JSON body then fails to parse into a clear error).
pub async fn read_body(mut resp: reqwest::Response, limit: usize, timeout: Duration) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(timeout, async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = limit.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() >= limit {
                break;
            }
        }
    })
    .await;
    buf
}

/// How long a connection may take to send a complete request head, counted from when it
/// opens or its previous answer ended: an idle keep-alive connection is closed after it too.
/// Node's HTTP servers close idle connections after 5 s as well, and Claude Code's client
/// reuses a connection only within 4 s of its last answer.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The most connections served at once. Claude Code holds a handful; the rest of the file
/// descriptors stay free for upstream connections. Lowered further under a low open-file
/// limit (see [`connection_cap`]).
pub const MAX_CONNECTIONS: usize = 128;

/// File descriptors kept for everything but Claude Code's connections (upstream
/// connections, the log, the runtime, claude's pipes).
const RESERVED_FDS: u64 = 64;

/// How many connections to serve at once under an open-file limit of `nofile`.
pub fn connection_cap(nofile: Option<u64>) -> usize {
    let room = nofile.map_or(u64::MAX, |n| n.saturating_sub(RESERVED_FDS) / 2);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(4, MAX_CONNECTIONS)
}

/// Raises this process's soft limit on open files to its hard limit (the common soft limit of
/// 1024 is far below what the kernel allows); returns the limit in force.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(err) => {
            tracing::warn!(soft, hard, error = %err, "cannot raise the open-file limit");
            Some(soft)
        }
    }
}

fn open_file_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The connections being served, oldest first. When a new one would pass the cap, the oldest
/// that has not yet sent a request with the token is closed to make room (a neighbour's idle
/// connections go first; Claude Code's own, once they carried the token, are never closed
/// for room); when every one has, the new connection is closed instead.
#[derive(Debug)]
struct Connections {
    cap: usize,
    open: std::sync::Mutex<std::collections::VecDeque<Slot>>,
    next: AtomicU64,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    trusted: Arc<std::sync::atomic::AtomicBool>,
    close: CancellationToken,
}

/// Why a connection was not admitted as is.
enum Admission {
    /// Admitted.
    Admitted(Slot),
    /// Admitted, after closing an older connection.
    Evicted(Slot),
    /// Every slot is held by a trusted connection.
    Full,
}

impl Connections {
    fn new(cap: usize) -> Connections {
        Connections {
            cap,
            open: std::sync::Mutex::new(std::collections::VecDeque::with_capacity(cap)),
            next: AtomicU64::new(0),
        }
    }

    fn admit(&self) -> Admission {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        if open.len() >= self.cap {
            let Some(oldest) = open.iter().position(|s| !s.trusted.load(Ordering::Relaxed)) else {
                return Admission::Full;
            };
            if let Some(slot) = open.remove(oldest) {
                slot.close.cancel();
            }
            evicted = true;
        }
        let slot = Slot {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            trusted: Arc::default(),
            close: CancellationToken::new(),
        };
        open.push_back(Slot {
            id: slot.id,
            trusted: slot.trusted.clone(),
            close: slot.close.clone(),
        });
        if evicted {
            Admission::Evicted(slot)
        } else {
            Admission::Admitted(slot)
        }
    }

    fn release(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = open.iter().position(|s| s.id == id) {
            open.remove(at);
        }
    }
}

/// Logs a recurring event at most once per [`Throttle::EVERY`], with how often it happened
/// in between: a neighbour flooding the port, or a lasting shortage of file descriptors,
/// must not flood the log.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(10);

    /// Whether to log now; if so, also how many were left unlogged since the last time.
    fn tick(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Self::EVERY)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Serves `proxy` on `listener` until `shutdown` is cancelled, then closes the listener,
/// ends in-flight streams with an error event and returns once connections are drained (or
/// [`SHUTDOWN_GRACE`] has passed).
///
/// Bounded against a hostile neighbour on the same machine: at most [`connection_cap`]
/// connections (the oldest without the token is closed to make room), each closed when it
/// sends no complete request head within [`HEADER_TIMEOUT`]; the request body has its own
/// deadline ([`request_body::BODY_TIMEOUT`]).
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Connections::new(connection_cap(open_file_limit())));
    let mut accept_failures = Throttle::default();
    let mut evictions = Throttle::default();
    let mut refusals = Throttle::default();
    loop {
        let stream = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    if let Some(suppressed) = accept_failures.tick() {
                        tracing::warn!(error = %err, suppressed, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match connections.admit() {
            Admission::Admitted(slot) => slot,
            Admission::Evicted(slot) => {
                if let Some(suppressed) = evictions.tick() {
                    tracing::warn!(
                        cap = connections.cap,
                        suppressed,
                        "connection limit reached: closed the oldest connection that has not sent the token"
                    );
                }
                slot
            }
            Admission::Full => {
                if let Some(suppressed) = refusals.tick() {
                    tracing::warn!(
                        cap = connections.cap,
                        suppressed,
                        "connection limit reached with every connection in use: new connection closed"
                    );
                }
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let trusted = slot.trusted.clone();
        let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let proxy = proxy.clone();
            if !trusted.load(Ordering::Relaxed) && proxy.authorized(req.headers()) {
                trusted.store(true, Ordering::Relaxed);
            }
            async move { Ok::<_, Infallible>(routes::handle(proxy, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            // hyper's read buffer grows to ~400 KiB under a fast client and keeps its size
            // for the connection's life; Claude Code's requests are read as well in smaller
            // pieces, and this keeps each idle keep-alive connection small.
            .max_buf_size(CONNECTION_BUFFER)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        let connections = connections.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = conn => if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                },
                // Closed for room: dropping the connection closes its socket.
                _ = slot.close.cancelled() => {}
            }
            connections.release(slot.id);
        });
    }
    drop(listener);
    // In-flight streams see this and end with an error event.
    proxy.shutdown.cancel();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_files_fallbacks_windows_and_prices_reach_the_proxy() {
        let source = "[aliases]\nfast = \"groq/llama\"\n\
            [models.\"openai/gpt-x\"]\ncontext_window = 400000\n\
            fallbacks = [\"fast\", \"ollama/qwen3\"]\n\
            price = { input = 1.25, cached_input = 0.125, output = 10.0 }\n";
        let loaded = crate::registry::file::parse("/c.toml".into(), source.into()).unwrap();
        let env = HashMap::new();
        let registry = Registry::build(
            Some(&loaded),
            &env,
            &crate::registry::key_command::NoKeyCommands,
        )
        .unwrap();
        let proxy = Proxy::new(ProxySettings {
            token: "t".into(),
            timeouts: Timeouts::default(),
            registry: Arc::new(registry),
            env,
            debug_level: 0,
        })
        .unwrap();
        assert_eq!(
            proxy.fallbacks_for("openai/gpt-x"),
            ["groq/llama", "ollama/qwen3"]
        );
        assert!(proxy.fallbacks_for("groq/llama").is_empty());
        let facts = proxy.metrics().facts("openai/gpt-x").unwrap();
        assert_eq!(facts.context_window, Some(400_000));
        let price = facts.price.unwrap();
        assert_eq!(
            (price.input, price.cached, price.output),
            (1.25, 0.125, 10.0)
        );
        // ANYCLAUDE_FALLBACKS replaces a model's list.
        proxy.set_fallbacks(HashMap::from([(
            "openai/gpt-x".to_owned(),
            vec!["gemini/g".to_owned()],
        )]));
        assert_eq!(proxy.fallbacks_for("openai/gpt-x"), ["gemini/g"]);
    }

    #[test]
    fn settings_debug_shows_no_secret() {
        let settings = ProxySettings {
            token: "tok-secret".into(),
            timeouts: Timeouts::default(),
            registry: Arc::new(
                Registry::from_env(&HashMap::from([(
                    "OPENAI_API_KEY".to_owned(),
                    "sk-secret".to_owned(),
                )]))
                .unwrap(),
            ),
            env: [("OPENAI_API_KEY".to_owned(), "sk-secret".to_owned())].into(),
            debug_level: 0,
        };
        let shown = format!("{settings:?} {:?}", Proxy::new(settings.clone()).unwrap());
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn the_connection_cap_follows_the_open_file_limit() {
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1 << 20)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1024)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(200)), 68);
        assert_eq!(connection_cap(Some(10)), 4);
    }

    #[test]
    fn connections_past_the_cap_close_the_oldest_untrusted() {
        let table = Connections::new(3);
        let slots: Vec<Slot> = (0..3)
            .map(|_| match table.admit() {
                Admission::Admitted(slot) => slot,
                _ => panic!("room left"),
            })
            .collect();
        slots[0].trusted.store(true, Ordering::Relaxed);
        let Admission::Evicted(fourth) = table.admit() else {
            panic!("the cap is reached")
        };
        assert!(!slots[0].close.is_cancelled(), "trusted stays");
        assert!(slots[1].close.is_cancelled(), "oldest untrusted goes");
        assert!(!slots[2].close.is_cancelled());
        table.release(slots[1].id);
        slots[2].trusted.store(true, Ordering::Relaxed);
        fourth.trusted.store(true, Ordering::Relaxed);
        assert!(matches!(table.admit(), Admission::Full));
        table.release(fourth.id);
        assert!(matches!(table.admit(), Admission::Admitted(_)));
    }

    #[test]
    fn throttled_events_log_once_per_period_with_a_count() {
        let mut t = Throttle::default();
        assert_eq!(t.tick(), Some(0));
        assert_eq!(t.tick(), None);
        assert_eq!(t.tick(), None);
        t.last = Some(Instant::now() - Throttle::EVERY);
        assert_eq!(t.tick(), Some(2));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}

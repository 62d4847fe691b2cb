//! The proxy server: accepts Claude Code's connections on the listener it is handed, serves
//! each with hyper, and shuts down gracefully.
//!
//! Layout: [`routes`] (dispatch, auth, request bodies), [`forward`] (the one upstream path,
//! for every dialect), [`pump`] (the streaming task with keepalive, backpressure and
//! timeouts), [`body`] (response helpers).

pub mod body;
pub mod forward;
pub mod pump;
pub mod routes;

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
use crate::provider::Route;

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
    /// The model from `--model`, used for bare `claude-*` ids (background requests).
    pub default_model: Option<String>,
    /// A snapshot of the environment (keys and base URLs are read from it per request).
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
            .field("default_model", &self.default_model)
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
}

impl Proxy {
    /// A proxy with these settings.
    pub fn new(settings: ProxySettings) -> Arc<Self> {
        let client = crate::upstream::client(settings.timeouts.connect);
        let mut seed = [0u8; 8];
        // Request ids only need to be unique within a log; fall back to the clock.
        if getrandom::fill(&mut seed).is_err() {
            seed = (Instant::now().elapsed().as_nanos() as u64).to_le_bytes();
        }
        Arc::new(Proxy {
            settings,
            metrics: Arc::new(Metrics::default()),
            client,
            shutdown: CancellationToken::new(),
            next_id: AtomicU64::new(1),
            id_prefix: u64::from_le_bytes(seed) & 0xffff_ffff,
        })
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The metrics it keeps.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
}

impl RequestContext {
    /// Sends `req` upstream and waits for its response headers within the request timeout.
    /// Returns the response (any status) and the time it took, or the error Claude Code
    /// gets.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<(reqwest::Response, Duration), ApiError> {
        let timeouts = self.proxy.settings.timeouts;
        let target = self.target(url);
        let sent = Instant::now();
        tokio::select! {
            biased;
            _ = self.proxy.shutdown.cancelled() => Err(ApiError::new(
                crate::anthropic::ErrorKind::Overloaded,
                "anyclaude is shutting down",
            )),
            result = tokio::time::timeout(timeouts.request, req.send()) => match result {
                Ok(Ok(resp)) => Ok((resp, sent.elapsed())),
                Ok(Err(err)) => Err(crate::upstream::send_error(&err, target)),
                Err(_) => Err(crate::upstream::first_byte_timeout(
                    target.provider,
                    target.url,
                    timeouts.request,
                )),
            },
        }
    }

    /// The upstream as error messages name it (the URL without its query string).
    pub fn target<'a>(&'a self, url: &'a str) -> crate::upstream::Target<'a> {
        crate::upstream::Target {
            provider: self.route.preset.name,
            url: url.split('?').next().unwrap_or(url),
            server: self.route.preset.server,
            base_url_var: self.route.preset.base_url_vars.first().copied(),
        }
    }

    /// What recording this request needs, for the model Claude Code named.
    pub fn finished<'a>(&'a self, model: &'a str, ttfb: Option<Duration>) -> routes::Finished<'a> {
        routes::Finished {
            request_id: &self.request_id,
            provider: self.route.preset.name,
            model,
            started: self.started,
            ttfb_ms: ttfb.map(pump::millis),
        }
    }

    /// Answers and records a request that failed before any stream started: ours (a bad
    /// request, a timeout, a refused connection) or the upstream's error status.
    pub fn refuse(
        &self,
        model: &str,
        ttfb: Option<Duration>,
        err: &ApiError,
    ) -> http::Response<body::Body> {
        let outcome = if err.kind == crate::anthropic::ErrorKind::Timeout && ttfb.is_none() {
            crate::metrics::Outcome::RequestTimeout
        } else {
            crate::metrics::Outcome::Error
        };
        let resp = body::error(&self.request_id, err);
        self.finished(model, ttfb)
            .record(&self.proxy, resp, outcome, (0, 0), Some(err))
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
        let body = read_body(resp, MAX_ERROR_BODY, self.proxy.settings.timeouts.idle).await;
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
            provider: self.route.preset.name,
            model,
            upstream,
            started: self.started,
            ttfb,
            timeouts: self.proxy.settings.timeouts,
            shutdown: self.proxy.shutdown.clone(),
            metrics: self.proxy.metrics.clone(),
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

/// Serves `proxy` on `listener` until `shutdown` is cancelled, then closes the listener,
/// ends in-flight streams with an error event and returns once connections are drained (or
/// [`SHUTDOWN_GRACE`] has passed).
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let service = service_fn(move |req| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(routes::handle(proxy, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(60))
            // hyper's read buffer grows to ~400 KiB under a fast client and keeps its size
            // for the connection's life; Claude Code's requests are read as well in smaller
            // pieces, and this keeps each idle keep-alive connection small.
            .max_buf_size(CONNECTION_BUFFER)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
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
    fn settings_debug_shows_no_secret() {
        let settings = ProxySettings {
            token: "tok-secret".into(),
            timeouts: Timeouts::default(),
            default_model: None,
            env: [("OPENAI_API_KEY".to_owned(), "sk-secret".to_owned())].into(),
            debug_level: 0,
        };
        let shown = format!("{settings:?} {:?}", Proxy::new(settings.clone()));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}

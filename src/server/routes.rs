//! Request dispatch: authentication, routes, request bodies (size, type, JSON) and the
//! hand-off to the provider path. Every answer carries a `request-id`; every error has
//! Anthropic's shape.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::body::{self, Body};
use super::request_body::{self, BodyError, Encoding, Held};
use super::{Proxy, forward, slots};
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::{ApiError, ErrorKind};
use crate::metrics::{Outcome, RequestRecord};
use crate::registry::RouteError;
use crate::translate::tokens;

pub use super::request_body::MAX_BODY;

/// The header carrying the per-run token.
pub const TOKEN_HEADER: &str = "x-anyclaude-token";

/// Handles one request. Never fails: every problem becomes an Anthropic-shaped response.
pub async fn handle(proxy: Arc<Proxy>, req: Request<Incoming>) -> Response<Body> {
    let request_id = proxy.next_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = match (&method, path.as_str()) {
        // Claude Code's startup probe carries neither our header nor credentials.
        (&Method::GET | &Method::HEAD, "/") => {
            body::response(StatusCode::OK, &request_id, body::empty())
        }
        _ if !proxy.authorized(req.headers()) => body::error(
            &request_id,
            &ApiError::new(
                ErrorKind::Authentication,
                format!(
                    "missing or wrong {TOKEN_HEADER} header: this proxy serves only the Claude Code that anyclaude started"
                ),
            ),
        ),
        (&Method::GET | &Method::HEAD, "/health") => health(&proxy, &request_id),
        (&Method::GET, "/status") => body::json(
            StatusCode::OK,
            &request_id,
            &serde_json::to_value(proxy.metrics().live_snapshot()).unwrap_or_default(),
        ),
        (&Method::POST, "/v1/messages") => messages(proxy, req, request_id.clone()).await,
        (&Method::POST, "/v1/messages/count_tokens") => {
            count_tokens(&proxy, req, &request_id).await
        }
        (&Method::GET, "/v1/models") => models(&proxy, &request_id).await,
        _ => body::error(
            &request_id,
            &ApiError::new(
                ErrorKind::NotFound,
                format!("anyclaude serves no {method} {path}"),
            ),
        ),
    };
    if method == Method::HEAD {
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, body::empty());
    }
    resp
}

fn health(proxy: &Proxy, request_id: &str) -> Response<Body> {
    let snapshot = proxy.metrics().snapshot();
    body::json(
        StatusCode::OK,
        request_id,
        &serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "metrics": snapshot,
        }),
    )
}

async fn models(proxy: &Proxy, request_id: &str) -> Response<Body> {
    let settings = proxy.settings();
    let local = proxy.catalog().local(&settings.registry).await;
    let entries = super::models::entries(&settings.registry, &local);
    body::json(
        StatusCode::OK,
        request_id,
        &super::models::to_json(&entries),
    )
}

/// Reads and parses a JSON request body (see [`request_body`]): size cap after decoding
/// (413), content type and encoding (415 for one anyclaude cannot decode), a body that
/// trickles (408), no room in the memory budget (529), UTF-8 and JSON errors (400, saying
/// where it broke). Lone surrogate escapes are replaced with U+FFFD first (logged once, with
/// their count): the repaired bytes are what goes upstream. The returned [`Held`] share of
/// the budget is to be kept while the body is still needed.
pub async fn read_json(
    proxy: &Proxy,
    req: Request<Incoming>,
    request_id: &str,
) -> Result<(MessagesRequest, Bytes, Held), BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return Err(request_body::too_large());
    }
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                ErrorKind::InvalidRequest,
                format!("content-type must be application/json, not {ct:?}"),
            )
            .into());
        }
    }
    let encoding = Encoding::from_header(req.headers().get(header::CONTENT_ENCODING))
        .map_err(request_body::unsupported_encoding)?;
    let (bytes, held) = request_body::read(
        req.into_body(),
        encoding,
        declared,
        proxy.body_limits,
        &proxy.body_budget,
    )
    .await?;
    if let Err(err) = std::str::from_utf8(&bytes) {
        return Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!(
                "the request body is not valid UTF-8 (at byte {})",
                err.valid_up_to()
            ),
        )
        .into());
    }
    let bytes = if request_body::may_hold_surrogate(&bytes) {
        let mut owned = Vec::from(bytes);
        let replaced = request_body::repair_lone_surrogates(&mut owned);
        if replaced > 0 {
            tracing::info!(
                request_id,
                replaced,
                "lone UTF-16 surrogates in the request replaced with U+FFFD"
            );
        }
        Bytes::from(owned)
    } else {
        bytes
    };
    let parsed = MessagesRequest::from_slice(&bytes).map_err(|err| {
        let what = if err.to_string().contains("recursion limit") {
            "the request JSON is nested too deeply".to_owned()
        } else {
            format!("the request body is not a valid Messages request: {err}")
        };
        ApiError::new(ErrorKind::InvalidRequest, what)
    })?;
    Ok((parsed, bytes, held))
}

/// The response for a refused body.
fn refusal(request_id: &str, err: &BodyError) -> Response<Body> {
    let mut resp = body::error(request_id, &err.error);
    if let Some(status) = err.status {
        *resp.status_mut() = status;
    }
    resp
}

async fn count_tokens(proxy: &Proxy, req: Request<Incoming>, request_id: &str) -> Response<Body> {
    match read_json(proxy, req, request_id).await {
        Ok((parsed, _, _held)) => body::json(
            StatusCode::OK,
            request_id,
            &serde_json::json!({"input_tokens": tokens::estimate_request_tokens(&parsed)}),
        ),
        Err(err) => refusal(request_id, &err),
    }
}

/// What a finished non-streamed (or failed) request records.
pub struct Finished<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The provider's name, `-` when routing failed.
    pub provider: std::sync::Arc<str>,
    /// The model as sent.
    pub model: &'a str,
    /// When it arrived.
    pub started: Instant,
    /// Time to the upstream's headers.
    pub ttfb_ms: Option<u64>,
    /// The backend model (`provider/model`), `-` when routing failed.
    pub backend: String,
    /// The token counts are the backend's own.
    pub usage_reported: bool,
    /// When a fallback answered: the model it replaced and why.
    pub fell_back: Option<String>,
}

impl Finished<'_> {
    /// Records the request and passes `resp` on.
    pub fn record(
        self,
        proxy: &Proxy,
        resp: Response<Body>,
        outcome: Outcome,
        tokens: (u64, u64, u64),
        error: Option<&ApiError>,
    ) -> Response<Body> {
        let answered = outcome == Outcome::Ok;
        let duration_ms = super::pump::millis(self.started.elapsed());
        let record = RequestRecord {
            status: resp.status().as_u16(),
            ttfb_ms: self.ttfb_ms,
            // A whole answer shows its first token when it has all arrived.
            ttft_ms: answered.then_some(duration_ms),
            duration_ms,
            input_tokens: tokens.0,
            cached_tokens: tokens.2,
            output_tokens: tokens.1,
            usage_reported: self.usage_reported,
            bytes: hyper::body::Body::size_hint(resp.body())
                .exact()
                .unwrap_or(0),
            outcome,
            fell_back: self.fell_back,
            ..RequestRecord::new(self.request_id, self.provider, self.model, self.backend)
        };
        super::pump::log_record(&record, error);
        proxy.metrics().finish(record);
        resp
    }
}

/// Records a Messages request that Claude Code abandoned before it was answered (hyper drops
/// the handler when the connection closes), so that every `begin` is finished exactly once.
/// Once an answer exists, its own recording (or the stream's pump) takes over.
struct Abandoned<'a> {
    proxy: &'a Proxy,
    request_id: &'a str,
    started: Instant,
    armed: bool,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let record = RequestRecord {
            // nginx's "client closed request": there was no answer.
            status: 499,
            duration_ms: super::pump::millis(self.started.elapsed()),
            outcome: Outcome::ClientGone,
            ..RequestRecord::new(self.request_id, "-".into(), "-", "-".to_owned())
        };
        super::pump::log_record(&record, None);
        self.proxy.metrics().finish(record);
    }
}

async fn messages(proxy: Arc<Proxy>, req: Request<Incoming>, request_id: String) -> Response<Body> {
    let started = Instant::now();
    proxy.metrics().begin();
    let mut abandoned = Abandoned {
        proxy: &proxy,
        request_id: &request_id,
        started,
        armed: true,
    };
    let resp = answer_messages(proxy.clone(), req, request_id.clone(), started).await;
    abandoned.armed = false;
    resp
}

async fn answer_messages(
    proxy: Arc<Proxy>,
    req: Request<Incoming>,
    request_id: String,
    started: Instant,
) -> Response<Body> {
    let query = req.uri().query().map(str::to_owned);
    let headers = req.headers().clone();
    let fail = |model: &str, err: BodyError| {
        let finished = Finished {
            request_id: &request_id,
            provider: "-".into(),
            model,
            started,
            ttfb_ms: None,
            backend: "-".to_owned(),
            usage_reported: false,
            fell_back: None,
        };
        let resp = refusal(&request_id, &err);
        finished.record(&proxy, resp, Outcome::Error, (0, 0, 0), Some(&err.error))
    };
    // Held until the request has been sent upstream and answered (its body is no longer
    // needed then).
    let (parsed, raw, _held) = match read_json(&proxy, req, &request_id).await {
        Ok(ok) => ok,
        Err(err) => return fail("-", err),
    };
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(request_id = %request_id, body = %String::from_utf8_lossy(&raw), "request from claude");
    }
    let registry = &proxy.settings().registry;
    // An id from the model list (`anyclaude/<provider>/<model>`) names the model after it.
    let model = super::models::strip_picker_prefix(&parsed.model);
    // The estimate is made only when a long-context route could use it.
    let routed = match registry.long_context() {
        Some(_) => registry.route_request(model, tokens::estimate_request_tokens(&parsed)),
        None => registry.route(model),
    };
    let route = match routed {
        Ok(route) => route,
        Err(err) => {
            let kind = match err {
                RouteError::MissingKey { .. } => ErrorKind::Authentication,
                _ => ErrorKind::InvalidRequest,
            };
            let model = parsed.model.clone();
            return fail(&model, ApiError::new(kind, err.to_string()).into());
        }
    };
    if let Some(bare) = &route.defaulted_from {
        tracing::info!(request_id = %request_id, model = %bare, to = %route.full(), "bare model id sent to the default model");
    }
    if let Some(from) = &route.long_context_from {
        tracing::info!(request_id = %request_id, model = %from, to = %route.full(), "long request sent to the long-context model");
    }
    let ctx = super::RequestContext {
        proxy: proxy.clone(),
        request_id: request_id.clone(),
        started,
        route,
        fell_back: None,
    };
    if ctx.route.dialect == crate::provider::Dialect::OpenAiChat
        && ctx.route.provider.profile.one_slot
        && slots::kind(&parsed) == slots::Kind::Warmup
    {
        return answer_warmup(&ctx, &parsed);
    }
    forward::forward(ctx, parsed, raw, query.as_deref(), &headers).await
}

/// Answers a sub-agent's warm-up for a one-slot local server without asking it (see
/// [`slots`]), and records it as answered with no tokens.
fn answer_warmup(ctx: &super::RequestContext, parsed: &MessagesRequest) -> Response<Body> {
    let id = format!("msg_{}", ctx.request_id.trim_start_matches("req_"));
    let bytes = slots::warmup_answer(parsed, &id);
    tracing::info!(request_id = %ctx.request_id, provider = %ctx.route.provider.name, "warm-up answered by the proxy (one-slot local server)");
    let resp = if parsed.stream.unwrap_or(false) {
        body::sse(&ctx.request_id, body::full(bytes))
    } else {
        body::json_bytes(StatusCode::OK, &ctx.request_id, bytes)
    };
    ctx.finished(&parsed.model, None)
        .record(&ctx.proxy, resp, Outcome::Ok, (0, 0, 0), None)
}

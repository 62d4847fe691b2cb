//! The one upstream path every dialect shares: prepare the request with the route's
//! [`Dialect`](crate::dialect::Dialect), send it, and answer with what comes back —
//! streamed through the [`pump`], or whole for `stream: false`, both through the one
//! [`Writer`].
//!
//! The 200 is committed only once the upstream has answered with its own success status
//! and, for a stream, once its first output is translated (or a keepalive is due: see
//! [`pump::start`]): until then a 429, a 5xx, a refused connection, a time-to-first-byte
//! timeout or a stream that fails before its first word reaches Claude Code as an HTTP
//! error status, which it retries and whose message it shows.
//! Failures are typed ([`Failure`]) and mapped once to Claude Code's error and the recorded
//! outcome; a whole answer cut by our own idle timeout is reported as that timeout.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};

use super::body::{self, Body};
use super::pump::{self, Translate};
use super::{MAX_UPSTREAM_BODY, RequestContext, fallback};
use super::{slots, templates};
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::{FailureDelivery, MessageHead, Writer};
use crate::anthropic::{ApiError, ErrorKind};
use crate::dialect::{self, AnswerDecoder, Inbound, Whole};
use crate::local_server;
use crate::metrics::Outcome;
use crate::translate::tokens;
use crate::upstream::Failure;

/// Forwards one Messages request to the route's upstream, whatever its dialect. Until the
/// upstream has answered with a success status, a failure that another backend can cure
/// (see [`fallback`]) sends the request on to the next model of the route's fallback list,
/// encoded for that model's dialect.
pub async fn forward(
    mut ctx: RequestContext,
    parsed: MessagesRequest,
    raw: Bytes,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let client_model = parsed.model.clone();
    let stream = parsed.stream.unwrap_or(false);
    let max_tokens = parsed.max_tokens;
    let mut fallbacks = ctx.proxy.fallbacks_for(&ctx.backend()).into_iter();
    // Kept while a fallback may still need it; dropped before the wait otherwise (Claude
    // Code's request is ~80 KB of JSON and several times that parsed).
    let mut request = Some((parsed, raw));
    // The main turn on a one-slot local server, held until the answer ends; an attempt on
    // another route gives the previous one back first (that server has answered).
    let mut main_turn: Option<slots::MainTurn> = None;
    let (dialect, decoder, resp, ttfb, url, input_tokens, tool_check) = loop {
        let Some((parsed, raw)) = request.as_ref() else {
            unreachable!("the request is kept while attempts remain")
        };
        let dialect = dialect::of(ctx.route.dialect);
        let prepared = match dialect.prepare(Inbound {
            request: parsed,
            raw,
            query,
            headers,
            route: &ctx.route,
            tool_call_format: tool_call_format(&ctx),
        }) {
            Ok(prepared) => prepared,
            Err(err) => return ctx.refuse(&client_model, None, &err),
        };
        let dialect::Prepared { outbound, decoder } = prepared;
        drop(main_turn.take());
        main_turn = match take_turn(&ctx, parsed).await {
            Ok(turn) => turn,
            Err(failure) => return ctx.fail(&client_model, None, &outbound.url, failure),
        };
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(
                request_id = %ctx.request_id,
                dropped = ?outbound.dropped,
                body = %String::from_utf8_lossy(&outbound.body),
                "request to upstream"
            );
        }
        let req = upstream_request(&ctx, &outbound);
        let url = outbound.url;
        ctx.proxy
            .metrics()
            .live()
            .sent(&ctx.request_id, ctx.backend(), std::time::Instant::now());
        // Poll the send once so the request is on its way, then estimate the input tokens
        // (for `message_start`) while the upstream reads it, instead of after it has
        // answered.
        let (sent, input_tokens, tool_check) = {
            let send = ctx.send(req);
            tokio::pin!(send);
            let early =
                std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
            let tool_check = tool_check(&ctx, parsed);
            let input_tokens = match &tool_check {
                // A local server: the conversation, and the tools only if its template
                // shows them.
                Some(check) if ctx.proxy.templates().shows_no_tools(&check.key) => {
                    check.conversation
                }
                Some(check) => check.conversation + check.tools,
                None if dialect.estimates_input() => tokens::estimate_request_tokens(parsed),
                None => 0,
            };
            if fallbacks.as_slice().is_empty() && !(stream && reasks_whole(&ctx)) {
                request = None;
            }
            let sent = match early {
                std::task::Poll::Ready(result) => result,
                std::task::Poll::Pending => send.await,
            };
            (sent, input_tokens, tool_check)
        };
        let (resp, ttfb) = match sent {
            Ok(ok) => ok,
            Err(failure) => {
                let reason = match &failure {
                    Failure::Send(err) => fallback::for_send(err),
                    _ => None,
                };
                if let Some(reason) = reason
                    && ctx.fall_back(&mut fallbacks, &client_model, None, &reason, &failure)
                {
                    continue;
                }
                if matches!(failure, Failure::Send(_)) {
                    ctx.note_failure(None, None);
                }
                return ctx.fail(&client_model, None, &url, failure);
            }
        };
        if resp.status().is_redirection() {
            let err = redirect_error(&ctx.route.provider.name, &resp);
            return ctx.fail(&client_model, Some(ttfb), &url, Failure::Status(err));
        }
        if !resp.status().is_success() {
            let (failure, err) = status_error(&ctx, dialect, resp).await;
            let failure_kind = Failure::Status(err);
            if let Some(reason) =
                fallback::for_status(failure.status, failure.retry_after.as_deref())
                && ctx.fall_back(
                    &mut fallbacks,
                    &client_model,
                    Some((failure.status, ttfb)),
                    &reason,
                    &failure_kind,
                )
            {
                continue;
            }
            ctx.note_failure(
                Some(failure.status),
                fallback::retry_after(failure.retry_after.as_deref()),
            );
            return ctx.fail(&client_model, Some(ttfb), &url, failure_kind);
        }
        break (dialect, decoder, resp, ttfb, url, input_tokens, tool_check);
    };
    // Kept for a local server's stream that ends before its first event (see `reask`).
    let reask = if stream && reasks_whole(&ctx) {
        request.take()
    } else {
        None
    };
    drop(request);
    let mut decoder = decoder;
    let head = MessageHead {
        id: format!("msg_{}", ctx.request_id.trim_start_matches("req_")),
        model: client_model.clone(),
        input_tokens,
    };
    if stream && let Some(kind) = not_a_stream(resp.headers()) {
        return answer_not_a_stream(
            &ctx,
            NotStreamed {
                dialect,
                decoder,
                head,
                kind,
                client_model: &client_model,
                url: &url,
                ttfb,
            },
            resp,
        )
        .await;
    }
    if stream {
        let user_agent = headers.get(http::header::USER_AGENT);
        let delivery = FailureDelivery::for_user_agent(user_agent.and_then(|v| v.to_str().ok()));
        let mut writer = Writer::sse(head).with_failure_delivery(delivery);
        writer.scrub_errors(ctx.proxy.scrubber().clone());
        if let Some(max_tokens) = max_tokens {
            writer.limit_output(max_tokens);
        }
        let mut translator = DialectStream::new(decoder, writer);
        if let Some(check) = tool_check {
            let proxy = ctx.proxy.clone();
            translator.on_server_prompt_tokens(move |n| proxy.templates().observe(&check, n));
        }
        let mut job = ctx.job(resp, ttfb, client_model.clone());
        job.early_server_errors = reask.is_some();
        let early = match pump::start(job, translator).await {
            pump::Opening::Answer(rx) => {
                return body::sse(&ctx.request_id, holding(body::channel(rx), main_turn));
            }
            pump::Opening::Failed(early) => early,
        };
        let err = local_server::explain_overflow(ctx.route.provider.server.as_ref(), early.error);
        if let Some((parsed, raw)) = reask
            && early.outcome == Outcome::UpstreamError
            && err.status() >= 500
        {
            tracing::info!(request_id = %ctx.request_id, error = %err, "the local server's stream ended before its first event: asking again without streaming, for its error");
            let answer = reask_whole(
                &ctx,
                dialect,
                (parsed, raw),
                query,
                headers,
                (&client_model, input_tokens),
            )
            .await;
            drop(main_turn);
            return answer;
        }
        return ctx.answer_error(&client_model, Some(ttfb), err, early.outcome);
    }
    let idle = ctx.timeouts().idle;
    let bytes = match read_whole(resp, MAX_UPSTREAM_BODY, idle).await {
        Ok(bytes) => bytes,
        Err(failure) => return ctx.fail(&client_model, Some(ttfb), &url, failure),
    };
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(request_id = %ctx.request_id, body = %String::from_utf8_lossy(&bytes), "upstream answer");
    }
    let mut writer = Writer::message(head);
    let answer = match decoder.whole(&bytes, &mut writer) {
        Whole::Raw(bytes, usage) => Ok((Bytes::from(bytes), usage)),
        Whole::Folded => writer.into_message().map(|message| {
            let json = serde_json::to_vec(&message).unwrap_or_default();
            (Bytes::from(json), message.usage)
        }),
    };
    match answer {
        Ok((json, usage)) => {
            let resp = body::json_bytes(StatusCode::OK, &ctx.request_id, json);
            let mut finished = ctx.finished(&client_model, Some(ttfb));
            finished.usage_reported = decoder.usage_reported();
            finished.record(&ctx.proxy, resp, Outcome::Ok, record_tokens(usage), None)
        }
        Err(err) => ctx.fail(&client_model, Some(ttfb), &url, Failure::Undecodable(err)),
    }
}

/// The upstream request for `outbound`, with the provider's own headers.
fn upstream_request(ctx: &RequestContext, outbound: &dialect::Outbound) -> reqwest::RequestBuilder {
    let mut req = ctx
        .proxy
        .client
        .post(&outbound.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(outbound.body.clone());
    for (name, value) in outbound
        .headers
        .iter()
        .chain(ctx.route.provider.headers.iter())
    {
        req = req.header(name, value);
    }
    req
}

/// Reads an upstream's error answer and maps it to Claude Code's error by the dialect, with a
/// local server's window named when the prompt was over it.
async fn status_error(
    ctx: &RequestContext,
    dialect: &'static dyn dialect::Dialect,
    resp: reqwest::Response,
) -> (super::UpstreamFailure, ApiError) {
    let failure = ctx.read_failure(resp).await;
    let err = dialect.map_error(
        failure.status,
        &failure.body,
        failure.retry_after.as_deref(),
    );
    let err = local_server::explain_overflow(ctx.route.provider.server.as_ref(), err);
    (failure, err)
}

/// How the route's model writes tool calls, as the config file says (else found out).
fn tool_call_format(ctx: &RequestContext) -> crate::registry::ToolCallFormat {
    ctx.proxy
        .settings()
        .registry
        .model(&ctx.route.full())
        .map(|spec| spec.capabilities.tool_call_format)
        .unwrap_or_default()
}

/// Whether a stream that ends before its first event is asked again without streaming: on a
/// local server, whose streamed answer to a prompt over its window is a 200 that ends
/// without a word (llama-cpp-python), while the same request unstreamed gets the error that
/// says why. Never for hosted providers, where the second request would be charged.
fn reasks_whole(ctx: &RequestContext) -> bool {
    ctx.route.provider.server.is_some() && ctx.route.dialect == crate::provider::Dialect::OpenAiChat
}

/// Asks the upstream again, unstreamed, after its stream ended before its first event: its
/// error status becomes Claude Code's error (with a local server's window named); a whole
/// answer is written as the stream Claude Code asked for. (The Chat dialect encodes from
/// the parsed request, whose `stream` is changed here; `raw` is only passed through.)
async fn reask_whole(
    ctx: &RequestContext,
    dialect: &'static dyn dialect::Dialect,
    (mut parsed, raw): (MessagesRequest, Bytes),
    query: Option<&str>,
    headers: &HeaderMap,
    (client_model, input_tokens): (&str, u64),
) -> Response<Body> {
    parsed.stream = Some(false);
    let prepared = match dialect.prepare(Inbound {
        request: &parsed,
        raw: &raw,
        query,
        headers,
        route: &ctx.route,
        tool_call_format: tool_call_format(ctx),
    }) {
        Ok(prepared) => prepared,
        Err(err) => return ctx.refuse(client_model, None, &err),
    };
    let dialect::Prepared { outbound, decoder } = prepared;
    let url = &outbound.url;
    // A server that broke off its stream may close that connection just as it is reused:
    // such a send is tried once more, on a new connection.
    let sent = match ctx.send(upstream_request(ctx, &outbound)).await {
        Err(Failure::Send(err)) if !err.is_connect() => {
            tracing::debug!(request_id = %ctx.request_id, error = %err, "asking again once more");
            ctx.send(upstream_request(ctx, &outbound)).await
        }
        sent => sent,
    };
    let (resp, ttfb) = match sent {
        Ok(sent) => sent,
        Err(failure) => return ctx.fail(client_model, None, url, failure),
    };
    if !resp.status().is_success() {
        let (_, err) = status_error(ctx, dialect, resp).await;
        return ctx.fail(client_model, Some(ttfb), url, Failure::Status(err));
    }
    let head = MessageHead {
        id: format!("msg_{}", ctx.request_id.trim_start_matches("req_")),
        model: client_model.to_owned(),
        input_tokens,
    };
    drop(parsed);
    let not = NotStreamed {
        dialect,
        decoder,
        head,
        kind: NotAStream::Json,
        client_model,
        url,
        ttfb,
    };
    answer_not_a_stream(ctx, not, resp).await
}

/// On a one-slot local server, waits for this request's turn: a background request (see
/// [`slots::is_background`]) waits while a main turn runs there; a main request is marked
/// as running until the returned guard is dropped (with its answer's body, when streamed).
async fn take_turn(
    ctx: &RequestContext,
    request: &MessagesRequest,
) -> Result<Option<slots::MainTurn>, Failure> {
    let route = &ctx.route;
    if route.dialect != crate::provider::Dialect::OpenAiChat || !route.provider.profile.one_slot {
        return Ok(None);
    }
    if !slots::is_background(request) {
        return Ok(Some(ctx.proxy.slots().main_turn(&route.provider.base_url)));
    }
    let limit = ctx.proxy.settings().timeouts.request;
    let wait =
        ctx.proxy
            .slots()
            .background_turn(&route.provider.base_url, slots::BACKGROUND_GRACE, limit);
    let waited = tokio::select! {
        biased;
        _ = ctx.proxy.shutting_down() => return Err(Failure::Shutdown { answering: false }),
        waited = wait => waited,
    };
    if waited != slots::Waited::Not {
        tracing::info!(request_id = %ctx.request_id, provider = %route.provider.name, ?waited, "background request waited for the main turn (one-slot local server)");
    }
    Ok(None)
}

/// For a request offering tools to a local server, the estimates to check its own prompt
/// count against (see [`templates`]).
fn tool_check(ctx: &RequestContext, request: &MessagesRequest) -> Option<templates::ToolCheck> {
    let route = &ctx.route;
    if route.provider.server.is_none() || route.dialect != crate::provider::Dialect::OpenAiChat {
        return None;
    }
    let all = tokens::estimate_request_tokens(request);
    let tools = tokens::estimate_tool_tokens(request);
    Some(templates::ToolCheck {
        key: format!("{} {}", route.provider.base_url, route.model),
        provider: route.provider.name.to_string(),
        model: route.model.clone(),
        conversation: all.saturating_sub(tools),
        tools,
    })
}

/// `body`, keeping `held` alive until the body is done (sent or dropped).
fn holding<T: Send + 'static>(body: Body, held: T) -> Body {
    use http_body_util::BodyExt;
    body.map_frame(move |frame| {
        let _held = &held;
        frame
    })
    .boxed_unsync()
}

/// The error for an upstream that answered with a redirect, which anyclaude never follows
/// (the key would go to a host the provider does not name): its status and target host, so
/// the user can fix the base URL. Not a server error, so Claude Code does not retry it.
fn redirect_error(provider: &str, resp: &reqwest::Response) -> ApiError {
    let target = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|location| match reqwest::Url::parse(location) {
            Ok(url) => url.host_str().map_or_else(
                || "an unknown host".to_owned(),
                |host| format!("host `{host}`"),
            ),
            // A relative redirect stays on the same host.
            Err(_) => "another path on the same host".to_owned(),
        })
        .unwrap_or_else(|| "nowhere (no Location header)".to_owned());
    ApiError::new(
        ErrorKind::InvalidRequest,
        format!(
            "{provider} answered with a redirect ({}) to {target}; anyclaude does not follow redirects, so that your key only goes to the host you chose: check the provider's base URL",
            resp.status()
        ),
    )
}

/// What a 200 asked for a stream holds instead, by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotAStream {
    /// JSON: an error object, or a whole answer.
    Json,
    /// Anything else that is surely not a stream (an HTML login page, XML).
    Other,
}

fn not_a_stream(headers: &HeaderMap) -> Option<NotAStream> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Some(NotAStream::Json)
    } else if essence == "text/html" || essence.ends_with("xml") {
        Some(NotAStream::Other)
    } else {
        None
    }
}

/// The HTTP status a JSON body of a 200 means when it is an error (`{"error": …}`, or a
/// list whose first element is one): its own numeric code where it gives one, else by what
/// it says (overloaded → 529, rate limits and quotas → 429, anything else 500); `None` for
/// a body that is not an error.
fn json_error_status(body: &[u8]) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let value = match value {
        serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let error = value.get("error").filter(|e| !e.is_null())?;
    let numeric = ["code", "status"]
        .iter()
        .filter_map(|k| error.get(*k).and_then(serde_json::Value::as_u64))
        .find(|n| (400..600).contains(n));
    if let Some(n) = numeric {
        return u16::try_from(n).ok();
    }
    let text = error.to_string().to_ascii_lowercase();
    Some(if text.contains("overload") {
        529
    } else if text.contains("rate limit") || text.contains("rate_limit") || text.contains("quota") {
        429
    } else {
        500
    })
}

/// A 200 asked for a stream whose content type says it is not one.
struct NotStreamed<'a> {
    dialect: &'static dyn dialect::Dialect,
    decoder: Box<dyn AnswerDecoder>,
    head: MessageHead,
    kind: NotAStream,
    client_model: &'a str,
    url: &'a str,
    ttfb: Duration,
}

/// Answers a 200 that is not a stream: a JSON error becomes the Anthropic error with the
/// status it means; a whole JSON answer is translated and written to Claude Code as the
/// stream it asked for; anything else is an error quoting the start of the body.
async fn answer_not_a_stream(
    ctx: &RequestContext,
    not: NotStreamed<'_>,
    resp: reqwest::Response,
) -> Response<Body> {
    let NotStreamed {
        dialect,
        mut decoder,
        head,
        kind,
        client_model,
        url,
        ttfb,
    } = not;
    let provider = ctx.route.provider.name.clone();
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if kind == NotAStream::Other {
        let failure = ctx.read_failure(resp).await;
        let start = String::from_utf8_lossy(&failure.body);
        let start: String = start.split_whitespace().collect::<Vec<_>>().join(" ");
        let start: String = start.chars().take(200).collect();
        let err = ApiError::new(
            ErrorKind::Api,
            format!(
                "{provider} answered 200 with `{content_type}` instead of an event stream (a login page or a proxy in the way?); its body starts: {start}"
            ),
        );
        return ctx.fail(client_model, Some(ttfb), url, Failure::Undecodable(err));
    }
    let idle = ctx.timeouts().idle;
    let bytes = match read_whole(resp, MAX_UPSTREAM_BODY, idle).await {
        Ok(bytes) => bytes,
        Err(failure) => return ctx.fail(client_model, Some(ttfb), url, failure),
    };
    if let Some(status) = json_error_status(&bytes) {
        let err = dialect.map_error(status, &bytes, None);
        let err = local_server::explain_overflow(ctx.route.provider.server.as_ref(), err);
        return ctx.fail(client_model, Some(ttfb), url, Failure::Status(err));
    }
    // A whole answer although a stream was asked for: translated as a whole body, written
    // as the stream Claude Code expects.
    let mut writer = Writer::sse(head);
    let folded = matches!(decoder.whole(&bytes, &mut writer), Whole::Folded);
    let problem = if !folded {
        Some(ApiError::new(
            ErrorKind::Api,
            format!("{provider} answered with a whole message instead of the stream asked for"),
        ))
    } else if let Some(err) = writer.failure() {
        Some(err.clone())
    } else if !writer.is_finished() {
        Some(ApiError::new(
            ErrorKind::Api,
            "the answer ended before it was complete",
        ))
    } else {
        None
    };
    if let Some(err) = problem {
        return ctx.fail(client_model, Some(ttfb), url, Failure::Undecodable(err));
    }
    let usage = writer.final_usage().unwrap_or_default();
    let sse = writer.take_sse().freeze();
    let resp = body::sse(&ctx.request_id, body::full(sse));
    let mut finished = ctx.finished(client_model, Some(ttfb));
    finished.usage_reported = decoder.usage_reported();
    finished.record(&ctx.proxy, resp, Outcome::Ok, record_tokens(usage), None)
}

/// The (input, output, cached) tokens a request records: input includes cached tokens.
fn record_tokens(usage: Usage) -> (u64, u64, u64) {
    (
        usage.input_tokens + usage.cache_read_input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
    )
}

/// Reads a whole upstream body of at most `limit` bytes; the upstream may be silent for at
/// most `idle` between chunks.
async fn read_whole(
    mut resp: reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, resp.chunk()).await {
            Err(_) => return Err(Failure::Idle(idle)),
            Ok(Err(err)) => return Err(Failure::Body(err)),
            Ok(Ok(None)) => return Ok(buf),
            Ok(Ok(Some(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    return Err(Failure::TooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// A dialect's decoder and the SSE writer, as the pump drives them: upstream bytes in,
/// Anthropic SSE bytes out, written straight into the pump's buffer.
pub struct DialectStream {
    decoder: Box<dyn AnswerDecoder>,
    writer: Writer,
    /// Told the server's own prompt count once the answer is complete.
    on_prompt_count: Option<Box<dyn FnOnce(u64) + Send>>,
}

impl DialectStream {
    /// A stream of `decoder`'s answer into `writer` (a [`Writer::sse`]).
    pub fn new(decoder: Box<dyn AnswerDecoder>, writer: Writer) -> Self {
        DialectStream {
            decoder,
            writer,
            on_prompt_count: None,
        }
    }

    /// Once the answer has ended: the server's prompt count to whoever asked for it.
    fn report_prompt_count(&mut self) {
        if self.writer.is_finished()
            && let Some(f) = self.on_prompt_count.take()
            && let Some(n) = self.decoder.server_prompt_tokens()
        {
            f(n);
        }
    }

    /// Calls `f` with the prompt tokens the server counted, when its answer has ended and
    /// gave a count.
    pub fn on_server_prompt_tokens(&mut self, f: impl FnOnce(u64) + Send + 'static) {
        self.on_prompt_count = Some(Box::new(f));
    }
}

impl Translate for DialectStream {
    fn start(&mut self, out: &mut BytesMut) {
        let decoder = &mut self.decoder;
        self.writer.with_buffer(out, |w| decoder.start(w));
    }

    fn push(&mut self, chunk: &[u8], out: &mut BytesMut) {
        let decoder = &mut self.decoder;
        self.writer.with_buffer(out, |w| decoder.push(chunk, w));
        if self.on_prompt_count.is_some() {
            self.report_prompt_count();
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        let decoder = &mut self.decoder;
        self.writer.with_buffer(out, |w| decoder.finish(w));
        self.report_prompt_count();
    }

    fn fail(&mut self, err: ApiError, out: &mut BytesMut) {
        self.writer.with_buffer(out, |w| w.fail(err));
    }

    fn ping(&mut self, out: &mut BytesMut) {
        self.writer.with_buffer(out, Writer::ping);
    }

    fn is_finished(&self) -> bool {
        self.writer.is_finished()
    }

    fn failure(&self) -> Option<&ApiError> {
        self.writer.failure()
    }

    fn ends_by_abort(&self) -> bool {
        self.writer.ends_by_abort()
    }

    fn progress(&self) -> u64 {
        self.writer.progress()
    }

    fn usage(&self) -> Usage {
        self.writer
            .final_usage()
            .unwrap_or_else(|| self.decoder.usage(&self.writer))
    }

    fn usage_reported(&self) -> bool {
        self.decoder.usage_reported()
    }
}

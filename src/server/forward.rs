//! The one upstream path every dialect shares: prepare the request with the route's
//! [`Dialect`](crate::dialect::Dialect), send it, and answer with what comes back —
//! streamed through the [`pump`], or whole for `stream: false`, both through the one
//! [`Writer`].
//!
//! The 200 is committed only once the upstream has answered with its own success status:
//! until then a 429, a 5xx, a refused connection or a time-to-first-byte timeout reaches
//! Claude Code as an HTTP error status, which it retries and whose message it shows.
//! Failures are typed ([`Failure`]) and mapped once to Claude Code's error and the recorded
//! outcome; a whole answer cut by our own idle timeout is reported as that timeout.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};

use super::body::{self, Body};
use super::pump::{self, Translate};
use super::{MAX_UPSTREAM_BODY, RequestContext};
use crate::anthropic::ApiError;
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::{FailureDelivery, MessageHead, Writer};
use crate::dialect::{self, AnswerDecoder, Inbound, Whole};
use crate::metrics::Outcome;
use crate::translate::tokens;
use crate::upstream::Failure;

/// Forwards one Messages request to the route's upstream, whatever its dialect.
pub async fn forward(
    ctx: RequestContext,
    parsed: MessagesRequest,
    raw: Bytes,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let dialect = dialect::of(ctx.route.dialect);
    let client_model = parsed.model.clone();
    let prepared = match dialect.prepare(Inbound {
        request: &parsed,
        raw: &raw,
        query,
        headers,
        route: &ctx.route,
    }) {
        Ok(prepared) => prepared,
        Err(err) => return ctx.refuse(&client_model, None, &err),
    };
    drop(raw);
    let dialect::Prepared {
        outbound,
        mut decoder,
    } = prepared;
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            request_id = %ctx.request_id,
            dropped = ?outbound.dropped,
            body = %String::from_utf8_lossy(&outbound.body),
            "request to upstream"
        );
    }
    let url = outbound.url;
    let mut req = ctx
        .proxy
        .client
        .post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(outbound.body);
    for (name, value) in outbound.headers {
        req = req.header(name, value);
    }
    let stream = parsed.stream.unwrap_or(false);
    // Poll the send once so the request is on its way, then estimate the input tokens (for
    // `message_start`) while the upstream reads it, instead of after it has answered.
    let send = ctx.send(req);
    tokio::pin!(send);
    let early = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
    let input_tokens = if dialect.estimates_input() {
        tokens::estimate_request_tokens(&parsed)
    } else {
        0
    };
    // The parsed request is large (Claude Code's is ~80 KB of JSON and several times that
    // parsed); nothing needs it while the upstream thinks.
    drop(parsed);
    let sent = match early {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => send.await,
    };
    let (resp, ttfb) = match sent {
        Ok(ok) => ok,
        Err(failure) => return ctx.fail(&client_model, None, &url, failure),
    };
    if !resp.status().is_success() {
        let failure = ctx.read_failure(resp).await;
        let err = dialect.map_error(
            failure.status,
            &failure.body,
            failure.retry_after.as_deref(),
        );
        return ctx.fail(&client_model, Some(ttfb), &url, Failure::Status(err));
    }
    let head = MessageHead {
        id: format!("msg_{}", ctx.request_id.trim_start_matches("req_")),
        model: client_model.clone(),
        input_tokens,
    };
    if stream {
        let user_agent = headers.get(http::header::USER_AGENT);
        let delivery = FailureDelivery::for_user_agent(user_agent.and_then(|v| v.to_str().ok()));
        let writer = Writer::sse(head).with_failure_delivery(delivery);
        let translator = DialectStream::new(decoder, writer);
        let rx = pump::spawn(ctx.job(resp, ttfb, client_model.clone()), translator);
        return body::sse(&ctx.request_id, body::channel(rx));
    }
    let idle = ctx.proxy.settings().timeouts.idle;
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
            ctx.finished(&client_model, Some(ttfb)).record(
                &ctx.proxy,
                resp,
                Outcome::Ok,
                record_tokens(usage),
                None,
            )
        }
        Err(err) => ctx.fail(&client_model, Some(ttfb), &url, Failure::Undecodable(err)),
    }
}

/// The (input, output) tokens a request records: input includes cached tokens.
fn record_tokens(usage: Usage) -> (u64, u64) {
    (
        usage.input_tokens + usage.cache_read_input_tokens,
        usage.output_tokens,
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
}

impl DialectStream {
    /// A stream of `decoder`'s answer into `writer` (a [`Writer::sse`]).
    pub fn new(decoder: Box<dyn AnswerDecoder>, writer: Writer) -> Self {
        DialectStream { decoder, writer }
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
    }

    fn finish(&mut self, out: &mut BytesMut) {
        let decoder = &mut self.decoder;
        self.writer.with_buffer(out, |w| decoder.finish(w));
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

    fn usage(&self) -> Usage {
        self.writer
            .final_usage()
            .unwrap_or_else(|| self.decoder.usage(&self.writer))
    }
}

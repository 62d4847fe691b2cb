//! The OpenAI Chat Completions path (`openai/…`, `ollama/…` and every other Chat preset):
//! translate the request, send it, and translate the answer back — streamed through the
//! [`pump`](super::pump) or whole for `stream: false`.
//!
//! The 200 is committed only once the upstream has answered with its own success status:
//! until then a 429, a 5xx, a refused connection or a time-to-first-byte timeout reaches
//! Claude Code as an HTTP error status, which it retries and whose message it shows.

use bytes::BytesMut;
use http::{Response, StatusCode};

use super::body::{self, Body};
use super::pump::{self, Translate};
use super::{MAX_UPSTREAM_BODY, RequestContext, read_body};
use crate::anthropic::ApiError;
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::stream::{Event, Usage};
use crate::metrics::Outcome;
use crate::translate::stream::{ChatStream, StreamContext};
use crate::translate::{request, response, tokens};

/// Forwards one Messages request to a Chat Completions upstream.
pub async fn forward(ctx: RequestContext, parsed: MessagesRequest) -> Response<Body> {
    let client_model = parsed.model.clone();
    let plan = match request::to_chat(&parsed, &ctx.route.model, &ctx.route.preset.profile) {
        Ok(plan) => plan,
        Err(err) => return ctx.refuse(&client_model, None, &err),
    };
    let upstream_body = plan.to_bytes();
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            request_id = %ctx.request_id,
            dropped = ?plan.dropped,
            body = %String::from_utf8_lossy(&upstream_body),
            "request to upstream"
        );
    }
    let settings = ctx.proxy.settings();
    let url = ctx.route.chat_url();
    let mut req = ctx
        .proxy
        .client
        .post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(upstream_body);
    if let Some((name, value)) = ctx.route.auth_header() {
        req = req.header(name, value);
    }
    let tool_names = plan.tool_names;
    let stream = parsed.stream.unwrap_or(false);
    // Poll the send once so the request is on its way, then estimate the input tokens (for
    // `message_start`) while the upstream reads it, instead of after it has answered.
    let send = ctx.send(req, &url);
    tokio::pin!(send);
    let early = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
    let input_tokens_estimate = tokens::estimate_request_tokens(&parsed);
    // The parsed request and its translation are large (Claude Code's is ~80 KB of JSON and
    // several times that parsed); nothing needs them while the upstream thinks.
    drop(parsed);
    drop(plan.body);
    let sent = match early {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => send.await,
    };
    let (resp, ttfb) = match sent {
        Ok(ok) => ok,
        Err(err) => return ctx.refuse(&client_model, None, &err),
    };
    if !resp.status().is_success() {
        let failure = ctx.read_failure(resp).await;
        let err = response::upstream_error(
            failure.status,
            &failure.body,
            failure.retry_after.as_deref(),
        );
        return ctx.refuse(&client_model, Some(ttfb), &err);
    }
    let timeouts = settings.timeouts;
    let stream_ctx = StreamContext {
        message_id: format!("msg_{}", ctx.request_id.trim_start_matches("req_")),
        client_model: client_model.clone(),
        input_tokens_estimate,
        tool_names,
    };
    if stream {
        let translator = ChatTranslator::new(stream_ctx);
        let rx = pump::spawn(ctx.job(resp, ttfb, client_model.clone()), translator);
        return body::sse(&ctx.request_id, body::channel(rx));
    }
    let bytes = read_body(resp, MAX_UPSTREAM_BODY, timeouts.idle).await;
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(request_id = %ctx.request_id, body = %String::from_utf8_lossy(&bytes), "upstream answer");
    }
    match response::chat_to_message(&bytes, &stream_ctx) {
        Ok(message) => {
            let usage = &message["usage"];
            let tokens = (
                usage["input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_read_input_tokens"].as_u64().unwrap_or(0),
                usage["output_tokens"].as_u64().unwrap_or(0),
            );
            let resp = body::json(StatusCode::OK, &ctx.request_id, &message);
            ctx.finished(&client_model, Some(ttfb)).record(
                &ctx.proxy,
                resp,
                Outcome::Ok,
                tokens,
                None,
            )
        }
        Err(err) => {
            let resp = body::error(&ctx.request_id, &err);
            ctx.finished(&client_model, Some(ttfb)).record(
                &ctx.proxy,
                resp,
                Outcome::UpstreamError,
                (0, 0),
                Some(&err),
            )
        }
    }
}

/// [`ChatStream`] as the pump drives it: events encoded as SSE.
pub struct ChatTranslator {
    inner: ChatStream,
    events: Vec<Event>,
}

impl ChatTranslator {
    /// A translator for one stream.
    pub fn new(ctx: StreamContext) -> Self {
        ChatTranslator {
            inner: ChatStream::new(ctx),
            events: Vec::with_capacity(16),
        }
    }

    fn drain(&mut self, out: &mut BytesMut) {
        for event in self.events.drain(..) {
            event.encode_into(out);
        }
    }
}

impl Translate for ChatTranslator {
    fn start(&mut self, out: &mut BytesMut) {
        self.inner.start(&mut self.events);
        self.drain(out);
    }

    fn push(&mut self, chunk: &[u8], out: &mut BytesMut) {
        self.inner.push(chunk, &mut self.events);
        self.drain(out);
    }

    fn finish(&mut self, out: &mut BytesMut) {
        self.inner.finish(&mut self.events);
        self.drain(out);
    }

    fn fail(&mut self, err: ApiError, out: &mut BytesMut) {
        self.inner.fail(err, &mut self.events);
        self.drain(out);
    }

    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    fn failure(&self) -> Option<&ApiError> {
        self.inner.failure()
    }

    fn usage(&self) -> Usage {
        self.inner.usage()
    }
}

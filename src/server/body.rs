//! Response bodies and the small helpers that build the proxy's responses: JSON, empty,
//! Anthropic-shaped errors and streamed SSE, each with a `request-id` header.

use std::convert::Infallible;
use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use tokio::sync::mpsc;

use crate::anthropic::ApiError;

/// Every response body the proxy sends.
pub type Body = UnsyncBoxBody<Bytes, Aborted>;

/// The one way a body fails: a streamed answer that is deliberately cut off. hyper then
/// closes the connection without the chunked body's terminating chunk, so the client reads
/// an aborted response (see [`FailureDelivery`](crate::anthropic::writer::FailureDelivery)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the stream failed and was aborted")
    }
}

impl std::error::Error for Aborted {}

fn never(never: Infallible) -> Aborted {
    match never {}
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(never).boxed_unsync()
}

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(never).boxed_unsync()
}

/// A body streamed from a bounded channel; it ends when every sender is gone, or is aborted
/// when an `Err` comes through. Dropping the body (the client went away) closes the channel,
/// which the sender notices.
pub fn channel(rx: mpsc::Receiver<Result<Bytes, Aborted>>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await? {
            Ok(bytes) => Some((Ok(Frame::data(bytes)), rx)),
            Err(aborted) => {
                // Give hyper one turn to flush what it holds of the frames before: the
                // error makes it close the connection without writing its buffer.
                tokio::task::yield_now().await;
                Some((Err(aborted), rx))
            }
        }
    });
    BodyExt::boxed_unsync(StreamBody::new(stream))
}

/// A response with `status`, `body` and the `request-id` header.
pub fn response(status: StatusCode, request_id: &str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(id) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("request-id", id);
    }
    resp
}

/// A JSON response.
pub fn json(status: StatusCode, request_id: &str, value: &serde_json::Value) -> Response<Body> {
    json_bytes(status, request_id, value.to_string())
}

/// A JSON response of already serialised bytes.
pub fn json_bytes(status: StatusCode, request_id: &str, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = response(status, request_id, full(bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// An Anthropic-shaped error response, with `retry-after` passed on and
/// `x-should-retry: false` on errors no retry can fix (client errors, and those marked
/// [`ApiError::not_retried`]).
pub fn error(request_id: &str, err: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(status, request_id, &err.body());
    let headers = resp.headers_mut();
    if let Some(value) = err
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::RETRY_AFTER, value);
    }
    if !err.retryable() {
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
    }
    resp
}

/// The headers of a committed SSE stream.
pub fn sse(request_id: &str, body: Body) -> Response<Body> {
    let mut resp = response(StatusCode::OK, request_id, body);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

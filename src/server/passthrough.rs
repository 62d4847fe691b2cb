//! The Anthropic pass-through provider (`anthropic/<model>`): the request goes to the
//! Anthropic API (or `ANTHROPIC_API_URL`) with the user's `ANTHROPIC_API_KEY` and only the
//! model name changed; the answer streams back unchanged but for the model name.
//!
//! Claude Code's token and credentials are never forwarded: the upstream request is built
//! from scratch with only `anthropic-version` and `anthropic-beta` copied over.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};

use super::body::{self, Body};
use super::pump::{self, Translate};
use super::{MAX_UPSTREAM_BODY, RequestContext, read_body};
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::stream::{Event, Usage};
use crate::anthropic::{ApiError, ErrorKind};
use crate::metrics::Outcome;
use crate::sse::{SseDecoder, SseEvent};

/// Forwards one Messages request to the Anthropic upstream.
pub async fn forward(
    ctx: RequestContext,
    parsed: MessagesRequest,
    raw: Bytes,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let client_model = parsed.model.clone();
    let body = match with_model(&raw, &ctx.route.model) {
        Ok(body) => body,
        Err(err) => return ctx.refuse(&client_model, None, &err),
    };
    let url = match query {
        Some(q) => format!("{}/v1/messages?{q}", ctx.route.base_url),
        None => format!("{}/v1/messages", ctx.route.base_url),
    };
    let mut req = ctx
        .proxy
        .client
        .post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    for name in ["anthropic-version", "anthropic-beta", "accept"] {
        if let Some(value) = headers.get(name) {
            req = req.header(name, value);
        }
    }
    if let Some((name, value)) = ctx.route.auth_header() {
        req = req.header(name, value);
    }
    let (resp, ttfb) = match ctx.send(req, &url).await {
        Ok(ok) => ok,
        Err(err) => return ctx.refuse(&client_model, None, &err),
    };
    if !resp.status().is_success() {
        let failure = ctx.read_failure(resp).await;
        let err = anthropic_error(failure.status, &failure.body, failure.retry_after);
        return ctx.refuse(&client_model, Some(ttfb), &err);
    }
    let timeouts = ctx.proxy.settings.timeouts;
    if parsed.stream.unwrap_or(false) {
        let translator = Passthrough::new(client_model.clone());
        let rx = pump::spawn(ctx.job(resp, ttfb, client_model), translator);
        return body::sse(&ctx.request_id, body::channel(rx));
    }
    let bytes = read_body(resp, MAX_UPSTREAM_BODY, timeouts.idle).await;
    let (resp, outcome, err, tokens) = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut message) if message.get("type").and_then(|t| t.as_str()) == Some("message") => {
            message["model"] = serde_json::Value::String(client_model.clone());
            let usage = &message["usage"];
            let tokens = (
                usage["input_tokens"].as_u64().unwrap_or(0),
                usage["output_tokens"].as_u64().unwrap_or(0),
            );
            (
                body::json(StatusCode::OK, &ctx.request_id, &message),
                Outcome::Ok,
                None,
                tokens,
            )
        }
        _ => {
            let err = ApiError::new(
                ErrorKind::Api,
                format!(
                    "Anthropic answered 200 with a body that is not a message: {}",
                    crate::translate::response::snippet(&String::from_utf8_lossy(&bytes), 200)
                ),
            );
            (
                body::error(&ctx.request_id, &err),
                Outcome::UpstreamError,
                Some(err),
                (0, 0),
            )
        }
    };
    ctx.finished(&client_model, Some(ttfb))
        .record(&ctx.proxy, resp, outcome, tokens, err.as_ref())
}

/// The raw request with its `model` replaced, every other field as sent — except thinking
/// blocks that anyclaude itself signed (from a translated model earlier in the session,
/// before `/model` switched to Anthropic): Anthropic would reject their signatures.
fn with_model(raw: &[u8], model: &str) -> Result<Vec<u8>, ApiError> {
    let mut value: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(raw)
        .map_err(|e| ApiError::new(ErrorKind::InvalidRequest, format!("invalid JSON: {e}")))?;
    value.insert("model".into(), serde_json::Value::String(model.to_owned()));
    if let Some(messages) = value.get_mut("messages").and_then(|m| m.as_array_mut()) {
        for message in messages {
            strip_our_thinking(message);
        }
    }
    serde_json::to_vec(&value).map_err(|e| ApiError::new(ErrorKind::Api, e.to_string()))
}

/// Removes thinking blocks signed by anyclaude from one message, unless nothing would be left.
fn strip_our_thinking(message: &mut serde_json::Value) {
    let Some(blocks) = message.get_mut("content").and_then(|c| c.as_array_mut()) else {
        return;
    };
    let ours = |b: &serde_json::Value| {
        b["type"] == "thinking"
            && crate::translate::signature::is_ours(
                b["signature"].as_str().unwrap_or(""),
                b["thinking"].as_str().unwrap_or(""),
            )
    };
    if blocks.iter().any(ours) && !blocks.iter().all(ours) {
        blocks.retain(|b| !ours(b));
    }
}

/// An Anthropic error answer, passed on as it is when it has Anthropic's shape.
fn anthropic_error(status: u16, body: &[u8], retry_after: Option<String>) -> ApiError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let kind_name = error.and_then(|e| e.get("type")).and_then(|t| t.as_str());
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str());
    let mut err = match (kind_name.and_then(ErrorKind::from_name), message) {
        (Some(kind), Some(message)) => ApiError::new(kind, message),
        _ => crate::translate::response::upstream_error(status, body, None),
    };
    err.retry_after = retry_after;
    err
}

/// The pass-through "translator": re-frames each upstream event unchanged (its `data` as
/// sent), rewriting only the model in `message_start`, and tracks open blocks so a broken
/// upstream still ends in a well-formed error.
pub struct Passthrough {
    client_model: String,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    open_block: Option<u64>,
    finished: bool,
    failure: Option<ApiError>,
    usage: Usage,
}

impl Passthrough {
    /// A pass-through stream answering as `client_model`.
    pub fn new(client_model: String) -> Self {
        Passthrough {
            client_model,
            decoder: SseDecoder::new(),
            events: Vec::new(),
            open_block: None,
            finished: false,
            failure: None,
            usage: Usage::default(),
        }
    }

    fn forward(&mut self, out: &mut BytesMut) {
        for event in std::mem::take(&mut self.events) {
            if self.finished {
                break;
            }
            let SseEvent {
                event: name,
                mut data,
            } = event;
            let Some(name) = name.as_deref() else {
                continue;
            };
            match name {
                "message_start" => {
                    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&data) {
                        if let Some(message) = value.get_mut("message") {
                            message["model"] = serde_json::Value::String(self.client_model.clone());
                            let usage = &message["usage"];
                            self.usage.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0);
                            self.usage.cache_read_input_tokens =
                                usage["cache_read_input_tokens"].as_u64().unwrap_or(0);
                        }
                        data = value.to_string();
                    }
                }
                "content_block_start" => {
                    self.open_block = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v["index"].as_u64());
                }
                "content_block_stop" => self.open_block = None,
                "message_delta" => {
                    if let Some(n) = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v["usage"]["output_tokens"].as_u64())
                    {
                        self.usage.output_tokens = n;
                    }
                }
                "message_stop" => self.finished = true,
                "error" => {
                    self.finished = true;
                    let err = serde_json::from_str::<serde_json::Value>(&data).ok();
                    let message = err
                        .as_ref()
                        .and_then(|v| v["error"]["message"].as_str())
                        .unwrap_or("error event from Anthropic");
                    self.failure = Some(ApiError::new(ErrorKind::Api, message));
                }
                _ => {}
            }
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            for line in data.split('\n') {
                out.extend_from_slice(b"\ndata: ");
                out.extend_from_slice(line.as_bytes());
            }
            out.extend_from_slice(b"\n\n");
        }
    }
}

impl Translate for Passthrough {
    fn start(&mut self, _out: &mut BytesMut) {}

    fn push(&mut self, chunk: &[u8], out: &mut BytesMut) {
        if self.finished {
            return;
        }
        match self.decoder.push(chunk, &mut self.events) {
            Ok(()) => self.forward(out),
            Err(err) => {
                self.forward(out);
                self.fail(
                    ApiError::new(
                        ErrorKind::Api,
                        format!("Anthropic sent a broken stream: {err}"),
                    ),
                    out,
                );
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        // An event not closed by its blank line is a truncated one: it is not forwarded.
        if !self.finished {
            self.fail(
                ApiError::new(
                    ErrorKind::Api,
                    "the Anthropic stream ended before message_stop; the answer above is incomplete",
                ),
                out,
            );
        }
    }

    fn fail(&mut self, err: ApiError, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        if let Some(index) = self.open_block.take() {
            Event::BlockStop {
                index: index as usize,
            }
            .encode_into(out);
        }
        Event::Error(err.clone()).encode_into(out);
        self.failure = Some(err);
        self.finished = true;
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn failure(&self) -> Option<&ApiError> {
        self.failure.as_ref()
    }

    fn usage(&self) -> Usage {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::signature::sign;

    #[test]
    fn only_our_thinking_is_stripped_before_anthropic() {
        let raw = serde_json::json!({
            "model": "anthropic/claude-x",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "mine", "signature": sign("mine")},
                    {"type": "thinking", "thinking": "real", "signature": "EqQBCkYIBx"},
                    {"type": "text", "text": "answer"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "alone", "signature": sign("alone")}]}
            ]
        });
        let out: serde_json::Value =
            serde_json::from_slice(&with_model(raw.to_string().as_bytes(), "claude-x").unwrap())
                .unwrap();
        assert_eq!(out["model"], "claude-x");
        let kept: Vec<&str> = out["messages"][1]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(kept, ["thinking", "text"]);
        assert_eq!(out["messages"][1]["content"][0]["signature"], "EqQBCkYIBx");
        assert_eq!(out["messages"][2], raw["messages"][2]);
        assert_eq!(out["messages"][0], raw["messages"][0]);
    }
}

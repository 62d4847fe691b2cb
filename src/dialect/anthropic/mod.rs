//! The Anthropic pass-through dialect (`anthropic/<model>`): the request goes to the
//! Anthropic API (or `ANTHROPIC_API_URL`) with the user's `ANTHROPIC_API_KEY` and only the
//! model name changed; the answer streams back unchanged but for the model name.
//!
//! Claude Code's token and credentials are never forwarded: the upstream request is built
//! from scratch with only `anthropic-version`, `anthropic-beta` and `accept` copied over.
//! Thinking blocks carrying one of anyclaude's signatures (ours or a provider's envelope,
//! from a translated model earlier in the session) are stripped: Anthropic would reject them.

use http::HeaderName;

use super::{AnswerDecoder, Dialect, Inbound, Outbound, Prepared, Whole};
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::Writer;
use crate::anthropic::{ApiError, ErrorKind};
use crate::dialect::signature::Signature;
use crate::sse::{SseDecoder, SseEvent};

/// The Anthropic Messages pass-through.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anthropic;

impl Dialect for Anthropic {
    fn prepare(&self, inbound: Inbound<'_>) -> Result<Prepared, ApiError> {
        let route = inbound.route;
        let body = with_model(inbound.raw, &route.model)?;
        let url = match inbound.query {
            Some(q) => route.url(&format!("/v1/messages?{q}")),
            None => route.url("/v1/messages"),
        };
        let mut headers = super::chat::auth_headers(route);
        for name in ["anthropic-version", "anthropic-beta", "accept"] {
            if let Some(value) = inbound.headers.get(name) {
                headers.push((HeaderName::from_static(name), value.clone()));
            }
        }
        Ok(Prepared {
            outbound: Outbound {
                url,
                headers,
                body: body.into(),
                dropped: Vec::new(),
            },
            decoder: Box::new(Passthrough::new(inbound.request.model.clone())),
        })
    }

    fn map_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
        anthropic_error(status, body, retry_after)
    }

    fn estimates_input(&self) -> bool {
        false
    }
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

/// Removes thinking blocks signed by anyclaude (ours or a provider envelope) from one
/// message, unless nothing would be left.
fn strip_our_thinking(message: &mut serde_json::Value) {
    let Some(blocks) = message.get_mut("content").and_then(|c| c.as_array_mut()) else {
        return;
    };
    let ours = |b: &serde_json::Value| {
        b["type"] == "thinking"
            && Signature::decode(
                b["signature"].as_str().unwrap_or(""),
                b["thinking"].as_str().unwrap_or(""),
            )
            .is_anyclaudes()
    };
    if blocks.iter().any(ours) && !blocks.iter().all(ours) {
        blocks.retain(|b| !ours(b));
    }
}

/// An Anthropic error answer, passed on as it is when it has Anthropic's shape.
fn anthropic_error(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let kind_name = error.and_then(|e| e.get("type")).and_then(|t| t.as_str());
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str());
    let mut err = match (kind_name.and_then(ErrorKind::from_name), message) {
        (Some(kind), Some(message)) => ApiError::new(kind, message),
        _ => crate::dialect::chat::response::upstream_error(status, body, None),
    };
    err.retry_after = retry_after.map(str::to_owned);
    err
}

/// The pass-through answer: each upstream event is re-framed unchanged (its `data` as
/// sent) through [`Writer::forward_event`], rewriting only the model in `message_start`; a
/// broken upstream still ends the way the writer's failure ending says.
pub struct Passthrough {
    client_model: String,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    usage: Usage,
}

impl Passthrough {
    /// A pass-through answer as `client_model`.
    pub fn new(client_model: String) -> Self {
        Passthrough {
            client_model,
            decoder: SseDecoder::new(),
            events: Vec::new(),
            usage: Usage::default(),
        }
    }

    fn forward(&mut self, w: &mut Writer) {
        for event in std::mem::take(&mut self.events) {
            if w.is_finished() {
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
                "message_delta" => {
                    if let Some(n) = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v["usage"]["output_tokens"].as_u64())
                    {
                        self.usage.output_tokens = n;
                    }
                }
                _ => {}
            }
            w.forward_event(name, &data);
        }
    }
}

impl AnswerDecoder for Passthrough {
    /// The upstream's own `message_start` is forwarded: nothing of ours first.
    fn start(&mut self, _w: &mut Writer) {}

    fn push(&mut self, chunk: &[u8], w: &mut Writer) {
        if w.is_finished() {
            return;
        }
        match self.decoder.push(chunk, &mut self.events) {
            Ok(()) => self.forward(w),
            Err(err) => {
                self.forward(w);
                w.fail(ApiError::new(
                    ErrorKind::Api,
                    format!("Anthropic sent a broken stream: {err}"),
                ));
            }
        }
    }

    fn finish(&mut self, w: &mut Writer) {
        // An event not closed by its blank line is a truncated one: it is not forwarded.
        w.fail(ApiError::new(
            ErrorKind::Api,
            "the Anthropic stream ended before message_stop; the answer above is incomplete",
        ));
    }

    fn whole(&mut self, body: &[u8], w: &mut Writer) -> Whole {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut message) if message.get("type").and_then(|t| t.as_str()) == Some("message") => {
                message["model"] = serde_json::Value::String(self.client_model.clone());
                let usage = &message["usage"];
                let usage = Usage {
                    input_tokens: usage["input_tokens"].as_u64().unwrap_or(0),
                    output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                    cache_read_input_tokens: usage["cache_read_input_tokens"].as_u64().unwrap_or(0),
                    cache_creation_input_tokens: usage["cache_creation_input_tokens"]
                        .as_u64()
                        .unwrap_or(0),
                };
                Whole::Raw(serde_json::to_vec(&message).unwrap_or_default(), usage)
            }
            _ => {
                w.fail(ApiError::new(
                    ErrorKind::Api,
                    format!(
                        "Anthropic answered 200 with a body that is not a message: {}",
                        crate::dialect::chat::response::snippet(
                            &String::from_utf8_lossy(body),
                            200
                        )
                    ),
                ));
                Whole::Folded
            }
        }
    }

    fn usage(&self, _w: &Writer) -> Usage {
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

//! The Anthropic pass-through dialect (`anthropic/<model>`, and the hosts that serve the
//! Messages API themselves: `deepseek-anthropic/`, `kimi/`, `zai/`, `minimax/`): the request
//! goes to the preset's base URL with the user's key and the model name changed, minus what
//! the host rejects (see [`request`]); the answer streams back unchanged but for the model
//! name, tool ids outside `^[a-zA-Z0-9_-]+$` (some hosts') made valid the way [`request`]
//! makes them valid, and, from a host, its thinking signatures wrapped in its own envelope.
//!
//! Claude Code's token and credentials are never forwarded: the upstream request is built
//! from scratch with only `anthropic-version`, `anthropic-beta` (as the preset allows) and
//! `accept` copied over. Thinking blocks are only ever sent back to the backend that made
//! them: Anthropic's signatures pass as they are; a host's are wrapped on the way to Claude
//! Code (`anyclaude-s1.messages@<host>.<signature>`, also when it sent none) and unwrapped
//! on the way back to that host, so that a session moved to Anthropic with `/model` never
//! sends Anthropic a signature it would reject.

pub mod request;

use http::{HeaderName, HeaderValue};

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
        let profile = &route.provider.messages;
        let (body, dropped) = request::outbound_body(inbound.raw, &route.model, profile)?;
        let url = match inbound.query {
            Some(q) => route.url(&format!("/v1/messages?{q}")),
            None => route.url("/v1/messages"),
        };
        let mut headers = super::chat::auth_headers(route);
        for name in ["anthropic-version", "accept"] {
            if let Some(value) = inbound.headers.get(name) {
                headers.push((HeaderName::from_static(name), value.clone()));
            }
        }
        if let Some(sent) = inbound
            .headers
            .get("anthropic-beta")
            .and_then(|v| v.to_str().ok())
            && let Some(kept) = request::betas(sent, profile)
            && let Ok(value) = HeaderValue::from_str(&kept)
        {
            headers.push((HeaderName::from_static("anthropic-beta"), value));
        }
        Ok(Prepared {
            outbound: Outbound {
                url,
                headers,
                body: body.into(),
                dropped,
            },
            decoder: Box::new(Passthrough::for_upstream(
                inbound.request.model.clone(),
                if profile.signature_tag.is_some() {
                    route.provider.name.clone()
                } else {
                    "Anthropic".into()
                },
                profile.signature_tag,
            )),
        })
    }

    fn map_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
        anthropic_error(status, body, retry_after)
    }

    fn estimates_input(&self) -> bool {
        false
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
/// sent) through [`Writer::forward_event`], rewriting only the model in `message_start` and,
/// from a host, the signatures of its thinking blocks (wrapped in its envelope; a thinking
/// block closed without one gets one, so that it is recognised as the host's on the next
/// turn); a broken upstream still ends the way the writer's failure ending says.
pub struct Passthrough {
    client_model: String,
    upstream: std::sync::Arc<str>,
    signature_tag: Option<&'static str>,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    usage: Usage,
    /// The index of the open thinking block and whether it got a signature.
    thinking: Option<(u64, bool)>,
}

impl Passthrough {
    /// A pass-through answer from Anthropic as `client_model`.
    pub fn new(client_model: String) -> Self {
        Passthrough::for_upstream(client_model, "Anthropic", None)
    }

    /// A pass-through answer from `upstream` (its name, for messages) as `client_model`;
    /// with a `signature_tag`, the upstream's thinking signatures are wrapped in it.
    pub fn for_upstream(
        client_model: String,
        upstream: impl Into<std::sync::Arc<str>>,
        signature_tag: Option<&'static str>,
    ) -> Self {
        Passthrough {
            client_model,
            upstream: upstream.into(),
            signature_tag,
            decoder: SseDecoder::new(),
            events: Vec::new(),
            usage: Usage::default(),
            thinking: None,
        }
    }

    fn wrap(&self, signature: &str) -> Option<String> {
        self.signature_tag
            .map(|tag| Signature::provider(tag, signature).encode())
    }

    /// A host's content block, its signature (or redacted data) wrapped.
    fn wrap_block(&self, block: &mut serde_json::Value) {
        let field = match block["type"].as_str() {
            Some("thinking") => "signature",
            Some("redacted_thinking") => "data",
            _ => return,
        };
        if let Some(wrapped) = self.wrap(block[field].as_str().unwrap_or("")) {
            block[field] = serde_json::Value::String(wrapped);
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
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) {
                        let usage = &v["usage"];
                        if let Some(n) = usage["output_tokens"].as_u64() {
                            self.usage.output_tokens = n;
                        }
                        // Some hosts report the input only at the end.
                        if let Some(n) = usage["input_tokens"].as_u64().filter(|n| *n > 0) {
                            self.usage.input_tokens = n;
                        }
                    }
                }
                "content_block_start" if data.contains("\"tool_use\"") => {
                    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&data)
                        && value["content_block"]["type"] == "tool_use"
                    {
                        request::rewrite_id(&mut value["content_block"], "id");
                        data = value.to_string();
                    }
                }
                "content_block_start" | "content_block_delta" | "content_block_stop"
                    if self.signature_tag.is_some() =>
                {
                    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&data) {
                        let index = value["index"].as_u64().unwrap_or(0);
                        match name {
                            "content_block_start" => {
                                let block = &mut value["content_block"];
                                self.thinking = (block["type"] == "thinking").then(|| {
                                    (index, !block["signature"].as_str().unwrap_or("").is_empty())
                                });
                                if block["type"] == "redacted_thinking"
                                    || self.thinking.is_some_and(|(_, signed)| signed)
                                {
                                    self.wrap_block(block);
                                }
                            }
                            "content_block_delta" => {
                                let delta = &mut value["delta"];
                                if delta["type"] == "signature_delta" {
                                    if let Some(wrapped) =
                                        self.wrap(delta["signature"].as_str().unwrap_or(""))
                                    {
                                        delta["signature"] = serde_json::Value::String(wrapped);
                                    }
                                    if let Some((open, signed)) = &mut self.thinking
                                        && *open == index
                                    {
                                        *signed = true;
                                    }
                                }
                            }
                            _ => {
                                if let Some((open, false)) = self.thinking
                                    && open == index
                                    && let Some(wrapped) = self.wrap("")
                                {
                                    let delta = serde_json::json!({
                                        "type": "content_block_delta", "index": index,
                                        "delta": {"type": "signature_delta", "signature": wrapped},
                                    });
                                    w.forward_event("content_block_delta", &delta.to_string());
                                }
                                self.thinking = None;
                            }
                        }
                        data = value.to_string();
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
                    format!("{} sent a broken stream: {err}", self.upstream),
                ));
            }
        }
    }

    fn finish(&mut self, w: &mut Writer) {
        // An event not closed by its blank line is a truncated one: it is not forwarded.
        w.fail(ApiError::new(
            ErrorKind::Api,
            format!(
                "the {} stream ended before message_stop; the answer above is incomplete",
                self.upstream
            ),
        ));
    }

    fn whole(&mut self, body: &[u8], w: &mut Writer) -> Whole {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut message) if message.get("type").and_then(|t| t.as_str()) == Some("message") => {
                message["model"] = serde_json::Value::String(self.client_model.clone());
                if let Some(blocks) = message.get_mut("content").and_then(|c| c.as_array_mut()) {
                    for block in blocks {
                        self.wrap_block(block);
                        if block["type"] == "tool_use" {
                            request::rewrite_id(block, "id");
                        }
                    }
                }
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
                        "{} answered 200 with a body that is not a message: {}",
                        self.upstream,
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

    fn usage_reported(&self) -> bool {
        // Anthropic's Messages API always counts.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::writer::MessageHead;

    fn head() -> MessageHead {
        MessageHead {
            id: "msg_test".into(),
            model: "kimi/kimi-k2".into(),
            input_tokens: 0,
        }
    }

    fn ev(name: &str, data: serde_json::Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    /// A host's stream: signed thinking, unsigned thinking, redacted thinking, a call with
    /// an id Anthropic's pattern rejects.
    fn host_stream() -> String {
        use serde_json::json;
        let start = |i: u64, block: serde_json::Value| {
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": block}),
            )
        };
        let delta = |i: u64, d: serde_json::Value| {
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": d}),
            )
        };
        let stop = |i: u64| {
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            )
        };
        [
            ev(
                "message_start",
                json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant",
                       "model": "kimi-k2", "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
            ),
            start(0, json!({"type": "thinking", "thinking": "", "signature": ""})),
            delta(0, json!({"type": "thinking_delta", "thinking": "a"})),
            delta(0, json!({"type": "signature_delta", "signature": "sig-a"})),
            stop(0),
            start(1, json!({"type": "thinking", "thinking": "", "signature": ""})),
            delta(1, json!({"type": "thinking_delta", "thinking": "b"})),
            stop(1),
            start(2, json!({"type": "redacted_thinking", "data": "red"})),
            stop(2),
            start(
                3,
                json!({"type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {}}),
            ),
            delta(3, json!({"type": "input_json_delta", "partial_json": "{}"})),
            stop(3),
            ev(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 4}}),
            ),
            ev("message_stop", json!({"type": "message_stop"})),
        ]
        .concat()
    }

    fn run(chunks: &[&[u8]]) -> String {
        let mut decoder =
            Passthrough::for_upstream("kimi/kimi-k2".into(), "kimi", Some("messages@kimi"));
        let mut w = Writer::sse(head());
        decoder.start(&mut w);
        for chunk in chunks {
            decoder.push(chunk, &mut w);
        }
        if !w.is_finished() {
            decoder.finish(&mut w);
        }
        String::from_utf8(w.take_sse().to_vec()).unwrap()
    }

    #[test]
    fn a_hosts_signatures_are_wrapped_and_its_ids_made_valid_however_split() {
        let body = host_stream();
        let whole = run(&[body.as_bytes()]);
        for cut in 0..=body.len() {
            let (a, b) = body.as_bytes().split_at(cut);
            assert_eq!(run(&[a, b]), whole, "split at {cut}");
        }
        assert!(whole.contains("\"model\":\"kimi/kimi-k2\""), "{whole}");
        assert!(whole.contains("\"signature\":\"anyclaude-s1.messages@kimi.sig-a\""));
        // The unsigned block gets the host's empty envelope before it closes.
        let stamped = whole
            .find("\"signature\":\"anyclaude-s1.messages@kimi.\"")
            .expect("unsigned thinking stamped");
        let stop_1 = whole
            .find("{\"index\":1,\"type\":\"content_block_stop\"}")
            .expect("block 1 closes");
        assert!(stamped < stop_1, "{whole}");
        assert!(whole.contains("\"data\":\"anyclaude-s1.messages@kimi.red\""));
        assert!(!whole.contains("functions.Bash:0"), "{whole}");
        assert!(whole.contains("\"id\":\"functions_Bash_0_"), "{whole}");
        assert!(whole.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    }

    #[test]
    fn anthropics_own_stream_is_forwarded_as_sent_but_for_the_model() {
        let body = host_stream().replace("functions.Bash:0", "toolu_01A");
        let mut decoder = Passthrough::new("anthropic/claude-x".into());
        let mut w = Writer::sse(head());
        decoder.push(body.as_bytes(), &mut w);
        let out = String::from_utf8(w.take_sse().to_vec()).unwrap();
        assert!(out.contains("\"signature\":\"sig-a\""), "{out}");
        assert!(out.contains("\"data\":\"red\""));
        assert!(!out.contains("anyclaude-s1"));
        assert!(out.contains("\"model\":\"anthropic/claude-x\""));
    }
}

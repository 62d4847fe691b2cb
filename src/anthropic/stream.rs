//! The events of an Anthropic Messages stream as anyclaude emits them, and their SSE encoding.
//!
//! Only Anthropic's own event names are ever written, each as `event: <name>` plus one
//! `data: <json>` line whose `type` equals the name: no `id:` or `retry:` fields and no
//! invented events (the SDK dispatches on the `event:` name and drops the
//! rest).

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;

/// Token counts as Anthropic reports them: `input_tokens` excludes cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Prompt tokens not read from a cache.
    pub input_tokens: u64,
    /// Prompt tokens written to a cache.
    pub cache_creation_input_tokens: u64,
    /// Prompt tokens read from a cache.
    pub cache_read_input_tokens: u64,
    /// Generated tokens, thinking included.
    pub output_tokens: u64,
}

/// Why the model stopped, as Anthropic names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its turn.
    EndTurn,
    /// The output hit `max_tokens`.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model asked for tools.
    ToolUse,
    /// The backend's content filter stopped it.
    Refusal,
}

impl StopReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ToolUse => "tool_use",
            StopReason::Refusal => "refusal",
        }
    }
}

/// The opening of a content block.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockStart {
    /// `{"type":"text","text":""}`.
    Text,
    /// `{"type":"thinking","thinking":"","signature":""}`.
    Thinking,
    /// `{"type":"tool_use","id":…,"name":…,"input":{}}`.
    ToolUse {
        /// The tool call's id (already valid for Anthropic: `^[a-zA-Z0-9_-]+$`).
        id: String,
        /// The tool's name as Claude Code knows it.
        name: String,
    },
}

/// One increment of a content block.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// `text_delta`.
    Text(String),
    /// `thinking_delta`.
    Thinking(String),
    /// `signature_delta`, sent just before a thinking block's stop.
    Signature(String),
    /// `input_json_delta`: a fragment of a tool call's JSON arguments.
    InputJson(String),
}

/// One event of an Anthropic stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The first event: the message's id, the model name the client asked for, and the
    /// usage known so far (an estimated `input_tokens`).
    MessageStart {
        /// `msg_…`.
        id: String,
        /// The model name exactly as Claude Code sent it.
        model: String,
        /// Usage at the start; `output_tokens` is conventionally 1.
        usage: Usage,
    },
    /// `content_block_start`.
    BlockStart {
        /// 0-based, contiguous.
        index: usize,
        /// What kind of block.
        block: BlockStart,
    },
    /// `content_block_delta`.
    BlockDelta {
        /// The open block's index.
        index: usize,
        /// The increment.
        delta: Delta,
    },
    /// `content_block_stop`.
    BlockStop {
        /// The block being closed.
        index: usize,
    },
    /// `message_delta`: the stop reason and the final, cumulative usage.
    MessageDelta {
        /// Why the model stopped.
        stop_reason: StopReason,
        /// The stop sequence that matched, when known.
        stop_sequence: Option<String>,
        /// Totals for the whole message.
        usage: Usage,
    },
    /// `message_stop`.
    MessageStop,
    /// `ping`.
    Ping,
    /// `error`: the stream failed after it started.
    Error(ApiError),
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::BlockStart { .. } => "content_block_start",
            Event::BlockDelta { .. } => "content_block_delta",
            Event::BlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Ping => "ping",
            Event::Error(_) => "error",
        }
    }

    /// The event's `data:` JSON.
    pub fn data(&self) -> Value {
        use serde_json::json;
        match self {
            Event::MessageStart { id, model, usage } => json!({
                "type": "message_start",
                "message": {
                    "id": id, "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": usage,
                }
            }),
            Event::BlockStart { index, block } => {
                let block = match block {
                    BlockStart::Text => json!({"type": "text", "text": ""}),
                    BlockStart::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                    BlockStart::ToolUse { id, name } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                };
                json!({"type": "content_block_start", "index": index, "content_block": block})
            }
            Event::BlockDelta { index, delta } => {
                let delta = match delta {
                    Delta::Text(t) => json!({"type": "text_delta", "text": t}),
                    Delta::Thinking(t) => json!({"type": "thinking_delta", "thinking": t}),
                    Delta::Signature(s) => json!({"type": "signature_delta", "signature": s}),
                    Delta::InputJson(p) => {
                        json!({"type": "input_json_delta", "partial_json": p})
                    }
                };
                json!({"type": "content_block_delta", "index": index, "delta": delta})
            }
            Event::BlockStop { index } => json!({"type": "content_block_stop", "index": index}),
            Event::MessageDelta {
                stop_reason,
                stop_sequence,
                usage,
            } => json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason.as_str(), "stop_sequence": stop_sequence},
                "usage": usage,
            }),
            Event::MessageStop => json!({"type": "message_stop"}),
            Event::Ping => json!({"type": "ping"}),
            Event::Error(err) => err.body(),
        }
    }

    /// Appends this event in SSE framing: `event: <name>\ndata: <json>\n\n`. The events a
    /// stream is made of (deltas, block stops, pings) are written directly, without building
    /// a JSON tree; the rest go through [`Event::data`].
    pub fn encode_into(&self, buf: &mut BytesMut) {
        match self {
            Event::BlockDelta { index, delta } => {
                let (kind, value) = match delta {
                    Delta::Text(t) => (DeltaKind::Text, t),
                    Delta::Thinking(t) => (DeltaKind::Thinking, t),
                    Delta::Signature(s) => (DeltaKind::Signature, s),
                    Delta::InputJson(p) => (DeltaKind::InputJson, p),
                };
                encode_delta(buf, *index, kind, value);
            }
            Event::BlockStop { index } => encode_block_stop(buf, *index),
            Event::Ping => encode_ping(buf),
            Event::MessageStop => encode_message_stop(buf),
            _ => {
                buf.put_slice(b"event: ");
                buf.put_slice(self.name().as_bytes());
                buf.put_slice(b"\ndata: ");
                write_json(buf, &self.data());
                buf.put_slice(b"\n\n");
            }
        }
    }

    /// This event in SSE framing, as a string (tests and logs).
    pub fn encode_to_string(&self) -> String {
        let mut buf = BytesMut::new();
        self.encode_into(&mut buf);
        String::from_utf8(buf.to_vec()).expect("SSE encoding is UTF-8")
    }
}

/// The kind of a `content_block_delta`, for writing one from a borrowed string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaKind {
    /// `text_delta`.
    Text,
    /// `thinking_delta`.
    Thinking,
    /// `signature_delta`.
    Signature,
    /// `input_json_delta`.
    InputJson,
}

impl DeltaKind {
    /// The delta's `type` and the field holding its string.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            DeltaKind::Text => ("text_delta", "text"),
            DeltaKind::Thinking => ("thinking_delta", "thinking"),
            DeltaKind::Signature => ("signature_delta", "signature"),
            DeltaKind::InputJson => ("input_json_delta", "partial_json"),
        }
    }

    /// The owned [`Delta`] with this kind and `value`.
    pub fn to_delta(self, value: &str) -> Delta {
        let value = value.to_owned();
        match self {
            DeltaKind::Text => Delta::Text(value),
            DeltaKind::Thinking => Delta::Thinking(value),
            DeltaKind::Signature => Delta::Signature(value),
            DeltaKind::InputJson => Delta::InputJson(value),
        }
    }
}

/// Appends a `content_block_delta` written straight from a borrowed string.
pub fn encode_delta(buf: &mut BytesMut, index: usize, kind: DeltaKind, value: &str) {
    use std::fmt::Write as _;
    let (kind, field) = kind.names();
    buf.put_slice(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
    );
    // Writing into memory cannot fail.
    let _ = write!(buf, "{index}");
    buf.put_slice(b",\"delta\":{\"type\":\"");
    buf.put_slice(kind.as_bytes());
    buf.put_slice(b"\",\"");
    buf.put_slice(field.as_bytes());
    buf.put_slice(b"\":");
    write_json(buf, value);
    buf.put_slice(b"}}\n\n");
}

/// Appends a `content_block_stop`.
pub fn encode_block_stop(buf: &mut BytesMut, index: usize) {
    use std::fmt::Write as _;
    let _ = write!(
        buf,
        "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{index}}}\n\n"
    );
}

/// Appends a `ping`.
pub fn encode_ping(buf: &mut BytesMut) {
    buf.put_slice(b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

/// Appends a `message_stop`.
pub fn encode_message_stop(buf: &mut BytesMut) {
    buf.put_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

/// Appends a `content_block_start` written from borrowed parts.
pub fn encode_block_start(buf: &mut BytesMut, index: usize, block: BlockStartRef<'_>) {
    use std::fmt::Write as _;
    buf.put_slice(
        b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":",
    );
    let _ = write!(buf, "{index}");
    match block {
        BlockStartRef::Text => {
            buf.put_slice(b",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
        }
        BlockStartRef::Thinking => buf.put_slice(
            b",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
        ),
        BlockStartRef::ToolUse { id, name } => {
            buf.put_slice(b",\"content_block\":{\"type\":\"tool_use\",\"id\":");
            write_json(buf, id);
            buf.put_slice(b",\"name\":");
            write_json(buf, name);
            buf.put_slice(b",\"input\":{}}}\n\n");
        }
    }
}

/// A block opening with borrowed fields, as the writer emits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockStartRef<'a> {
    /// A text block.
    Text,
    /// A thinking block.
    Thinking,
    /// A tool call.
    ToolUse {
        /// The call's id.
        id: &'a str,
        /// The tool's name.
        name: &'a str,
    },
}

impl BlockStartRef<'_> {
    /// The owned [`BlockStart`].
    pub fn to_owned_block(self) -> BlockStart {
        match self {
            BlockStartRef::Text => BlockStart::Text,
            BlockStartRef::Thinking => BlockStart::Thinking,
            BlockStartRef::ToolUse { id, name } => BlockStart::ToolUse {
                id: id.to_owned(),
                name: name.to_owned(),
            },
        }
    }
}

/// Appends `value` as JSON. Serialising into a growing buffer cannot fail.
fn write_json<T: Serialize + ?Sized>(buf: &mut BytesMut, value: &T) {
    let mut writer = buf.writer();
    serde_json::to_writer(&mut writer, value).expect("JSON into memory");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::error::ErrorKind;

    #[test]
    fn every_event_names_itself_and_matches_its_type() {
        let events = [
            Event::MessageStart {
                id: "msg_1".into(),
                model: "m".into(),
                usage: Usage::default(),
            },
            Event::BlockStart {
                index: 0,
                block: BlockStart::ToolUse {
                    id: "toolu_1".into(),
                    name: "Bash".into(),
                },
            },
            Event::BlockDelta {
                index: 0,
                delta: Delta::InputJson("{\"a\": \"\\u00e9\\n\"}".into()),
            },
            Event::BlockDelta {
                index: 12,
                delta: Delta::Text("quote \" backslash \\ newline \n ünï \u{1}".into()),
            },
            Event::BlockDelta {
                index: 3,
                delta: Delta::Thinking("hmm".into()),
            },
            Event::BlockDelta {
                index: 3,
                delta: Delta::Signature("anyclaude-v1-00".into()),
            },
            Event::BlockStop { index: 0 },
            Event::MessageDelta {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
                usage: Usage::default(),
            },
            Event::MessageStop,
            Event::Ping,
            Event::Error(ApiError::new(ErrorKind::Overloaded, "busy")),
        ];
        for event in events {
            let text = event.encode_to_string();
            let (head, data) = text.split_once('\n').unwrap();
            assert_eq!(head, format!("event: {}", event.name()));
            assert!(data.ends_with("\n\n"), "{text:?}");
            let data = data.strip_prefix("data: ").unwrap().trim_end();
            let json: Value = serde_json::from_str(data).unwrap();
            assert_eq!(json["type"], event.name());
            assert_eq!(
                json,
                event.data(),
                "the direct encoding says what data() says"
            );
            assert!(!text.contains("\nid:") && !text.contains("retry:"));
        }
    }
}

//! The stream state machine: a Chat Completions SSE body (raw bytes, split anywhere) → the
//! events of an Anthropic Messages stream. Pure and synchronous: no I/O, no clock.
//!
//! Owned here: [`ChatStream`] and the rules that make its output something Claude Code
//! accepts:
//!
//! - Events go through the [`Writer`], which owns `message_start`, block indexes, one open
//!   block at a time, thinking signatures and the two endings (`message_delta` +
//!   `message_stop`, or `event: error` inside an open block); this module decides what the
//!   Chat chunks mean.
//! - `delta.content` → `text`; `delta.reasoning ?? delta.reasoning_content` → `thinking`,
//!   signed by the writer with ours over its text; `delta.refusal` → `text`.
//!   Empty strings are skipped, and a block is not opened on whitespace alone: leading
//!   whitespace is held until real text follows and dropped if something else comes first,
//!   so no empty or whitespace-only block is ever emitted (G.3).
//! - **Tool calls** are assembled by `index` (or by `id` when a backend omits `index`). The
//!   first call streams live as `input_json_delta`s; calls whose fragments arrive while
//!   another call's block is open are buffered and emitted whole once that block closes.
//!   The live block is closed early — so the next call can stream — when a fragment of
//!   another call arrives and the live call's arguments already form a complete JSON object.
//!   Text or reasoning arriving while a tool block is open is deferred to blocks after the
//!   tool calls. A call's id is sanitised and made unique (generated when missing), its name
//!   mapped back through [`ToolNames::original`]; empty arguments become `{}`; at the end of
//!   its block the arguments must be a JSON object, otherwise the turn ends in an
//!   `api_error` naming the tool (G.17). A "call" with neither name nor arguments is
//!   dropped; one with arguments but no name is an error.
//! - **The end**: a `finish_reason` is only recorded. `message_delta` + `message_stop` are
//!   sent when the usage chunk arrives after it, at `data: [DONE]`, or at EOF after a
//!   finish reason (llama.cpp-style servers end that way). `[DONE]` or EOF without any
//!   finish reason is an interrupted answer (a one-slot local server cuts a running answer
//!   with a bare `[DONE]` when another request arrives): a failure, never a silent
//!   `end_turn`. Stop reason and usage follow [`super::response::stop_reason_for`] and
//!   [`super::response::final_usage`].
//! - **Failures**: an `{"error":…}` chunk (or `event: error`), a data line that is not a
//!   chunk, an SSE decoding error, EOF without a finish reason, or [`ChatStream::fail`]
//!   end the answer with [`Writer::fail`]. Buffered tool calls and deferred text are then
//!   not emitted.
//! - **Tool calls written as text** (`<tool_call>…`, `<function=…>`, `[TOOL_CALLS]`, bare
//!   JSON), when [`ChatStream::with_text_tools`] asks for it: the answer text goes through
//!   [`TextTools`], which holds back a possible call and releases it unchanged when it is
//!   not one; a recovered call becomes a tool call like a native one.
//! - Comments, blank data, role-only deltas and choices other than index 0 are ignored, as
//!   is everything after `[DONE]` or the end.
//! - **Bounded whatever the upstream does**: a call's arguments are kept only until its
//!   block closes, at most [`MAX_TOOL_ARGUMENTS_BYTES`] per call and
//!   [`MAX_KEPT_ARGUMENTS_BYTES`] for the open and buffered calls together, at most
//!   [`MAX_TOOL_CALLS`] calls, at most [`MAX_DEFERRED_BYTES`] of deferred text; past a cap
//!   the answer ends in an error naming it. The output estimate is the writer's running
//!   count, not kept text.

use std::borrow::Cow;

use super::text_tools::{Piece, TextTools};
use super::wire_response::{
    ChatCompletionChunk, ChunkDelta, CompletionUsage, ErrorObject, FunctionFragment, ToolCallDelta,
};
use crate::anthropic::error::{ApiError, ErrorKind};
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::Writer;
use crate::sse::{SseDecoder, SseEvent};

use super::response::{
    final_usage, parse_tool_arguments, snippet, stop_reason_for, stream_error, tool_id_seed,
    unique_tool_id,
};
use crate::translate::tool_names::ToolNames;

/// The longest arguments one tool call may have: far more than any real call (a file
/// written whole is a few hundred KiB), and a bound on what a runaway upstream can make the
/// stream hold.
pub const MAX_TOOL_ARGUMENTS_BYTES: usize = 4 << 20;

/// The most arguments the open and buffered calls of one answer may hold together.
pub const MAX_KEPT_ARGUMENTS_BYTES: usize = 16 << 20;

/// The most tool calls one answer may make.
pub const MAX_TOOL_CALLS: usize = 1024;

/// The most text and reasoning held back while a tool block is open.
pub const MAX_DEFERRED_BYTES: usize = 4 << 20;

/// The most leading whitespace held before a block opens.
const MAX_HELD_WHITESPACE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Text,
    Thinking,
}

/// How an upstream stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `data: [DONE]`.
    Done,
    /// The body ended.
    Eof,
}

/// The block currently open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    Thinking,
    Tool { slot: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Not emitted yet (no name yet, or buffered behind the open tool block).
    Waiting,
    /// Its block is open.
    Live,
    /// Its block is closed.
    Done,
}

/// One tool call being assembled.
#[derive(Debug, Clone)]
struct ToolSlot {
    /// The upstream `index` (or a synthetic one when the backend sent none).
    key: u64,
    /// The upstream id, first non-empty one seen.
    raw_id: String,
    /// The upstream name, first non-empty one seen.
    name: String,
    /// All argument fragments so far.
    args: String,
    /// Bytes of `args` already sent (or skipped as leading whitespace).
    sent: usize,
    /// `args.len()` when it was last checked for completeness.
    checked: usize,
    state: SlotState,
}

/// Translates one streamed Chat Completions answer into [`Writer`] calls.
///
/// Call [`push`](Self::push) for every piece of the upstream body, then
/// [`finish`](Self::finish) at its end (or [`fail`](Self::fail) when the transport failed).
/// The message id (for generated tool ids) and the input estimate come from the writer's
/// [`head`](Writer::head). Once the writer [is finished](Writer::is_finished), every call
/// writes nothing.
#[derive(Debug)]
pub struct ChatStream {
    tool_names: ToolNames,
    decoder: SseDecoder,
    scratch: Vec<SseEvent>,
    open: Open,
    /// Whitespace held back before opening a block of `held_kind`.
    held: String,
    held_kind: TextKind,
    slots: Vec<ToolSlot>,
    /// Text and reasoning that arrived while a tool block was open, emitted after the tools.
    deferred: Vec<(TextKind, String)>,
    /// Bytes of text and reasoning in `deferred`.
    deferred_bytes: usize,
    /// Bytes of arguments kept in slots not yet closed.
    kept_args: usize,
    used_ids: Vec<String>,
    tool_blocks: usize,
    finish_reason: Option<String>,
    refused: bool,
    upstream_usage: Option<CompletionUsage>,
    /// `finish` found an event not terminated by a blank line (the stream was cut).
    cut_at_eof: bool,
    /// Recovers tool calls written as text, when the backend's models write them so.
    text_tools: Option<TextTools>,
}

/// The first synthetic `index` of a tool call recovered from text (far above any real one).
const TEXT_CALL_KEY: u64 = 1 << 40;

impl ChatStream {
    /// A stream translator for one answer; `tool_names` maps the backend's (shortened)
    /// tool names back.
    pub fn new(tool_names: ToolNames) -> Self {
        ChatStream {
            tool_names,
            decoder: SseDecoder::new(),
            scratch: Vec::new(),
            open: Open::None,
            held: String::new(),
            held_kind: TextKind::Text,
            slots: Vec::new(),
            deferred: Vec::new(),
            deferred_bytes: 0,
            kept_args: 0,
            used_ids: Vec::new(),
            tool_blocks: 0,
            finish_reason: None,
            refused: false,
            upstream_usage: None,
            cut_at_eof: false,
            text_tools: None,
        }
    }

    /// Recovers tool calls the model writes into its text (see [`TextTools`]), for a
    /// request that offered the tools named `known`.
    pub fn with_text_tools(mut self, known: Vec<String>) -> Self {
        self.text_tools = Some(TextTools::new(known));
        self
    }

    /// Feeds raw upstream body bytes, split anywhere.
    pub fn push(&mut self, bytes: &[u8], w: &mut Writer) {
        w.start();
        if w.is_finished() {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        let decoded = self.decoder.push(bytes, &mut events);
        self.handle_all(&mut events, w);
        self.scratch = events;
        if let Err(e) = decoded {
            self.fail(ApiError::new(ErrorKind::Api, e.to_string()), w);
        }
    }

    /// The upstream body ended. Completes the message if a finish reason was seen (or
    /// `[DONE]`), otherwise fails it: a stream cut short is never a normal end.
    pub fn finish(&mut self, w: &mut Writer) {
        w.start();
        if w.is_finished() {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        self.cut_at_eof = self.decoder.has_pending();
        let decoded = self.decoder.finish(&mut events);
        self.handle_all(&mut events, w);
        self.scratch = events;
        if let Err(e) = decoded {
            self.fail(ApiError::new(ErrorKind::Api, e.to_string()), w);
        }
        self.end_of_stream(End::Eof, w);
    }

    /// The upstream said it is done (`[DONE]`) or its body ended: complete the message if
    /// the model finished (a `finish_reason` was seen), otherwise fail it. A stream without
    /// a finish reason is an interrupted answer, never a finished one: llama.cpp-style
    /// servers stop a running answer with a bare `[DONE]` when another request takes their
    /// slot, and a connection can close early.
    fn end_of_stream(&mut self, end: End, w: &mut Writer) {
        if w.is_finished() {
            return;
        }
        if self.finish_reason.is_some() {
            self.complete(w);
            return;
        }
        let nothing = w.blocks_started() == 0 && self.slots.is_empty() && self.deferred.is_empty();
        let message = match end {
            // Nothing at all before the end: a backend that failed, not an empty answer.
            End::Done if nothing => {
                "the upstream ended its stream ([DONE]) without any answer".to_owned()
            }
            End::Done => "the upstream ended its stream ([DONE]) before the model finished its answer (no finish_reason; a local server does this when another request interrupts it): the answer is incomplete".to_owned(),
            End::Eof => "the upstream stream ended before the model finished its answer (no finish_reason): the answer is incomplete".to_owned(),
        };
        self.fail(ApiError::new(ErrorKind::Api, message), w);
    }

    /// Ends the answer with `err` (see [`Writer::fail`] for how a failure ends).
    pub fn fail(&mut self, err: ApiError, w: &mut Writer) {
        self.held.clear();
        if let Open::Tool { slot } = self.open {
            self.slots[slot].state = SlotState::Done;
        }
        self.open = Open::None;
        w.fail(err);
    }

    /// The best usage figure so far: upstream counts where known, else estimates (the
    /// writer's final usage once it finished).
    pub fn usage(&self, w: &Writer) -> Usage {
        w.final_usage().unwrap_or_else(|| {
            final_usage(self.upstream_usage.as_ref(), w.head().input_tokens, || {
                w.output_tokens()
            })
        })
    }

    /// Whether the upstream sent its own token counts.
    pub fn usage_reported(&self) -> bool {
        self.upstream_usage.is_some()
    }

    /// The prompt tokens the server counted (its usage, `timings` or eval counts), cached
    /// ones included; `None` when it sent no count.
    pub fn server_prompt_tokens(&self) -> Option<u64> {
        self.upstream_usage.and_then(|u| u.prompt_tokens)
    }

    /// The tool names this answer maps back.
    pub fn tool_names(&self) -> &ToolNames {
        &self.tool_names
    }

    /// The backend's own `finish_reason` (last non-empty one), for logs.
    pub fn raw_finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    fn handle_all(&mut self, events: &mut Vec<SseEvent>, w: &mut Writer) {
        for ev in events.drain(..) {
            if w.is_finished() {
                continue;
            }
            self.handle(ev, w);
        }
    }

    fn handle(&mut self, ev: SseEvent, w: &mut Writer) {
        let data = ev.data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.end_of_stream(End::Done, w);
            return;
        }
        let named = ev.event.as_deref().filter(|n| *n != "message");
        let chunk: ChatCompletionChunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                match named {
                    Some("error") => {
                        let obj = ErrorObject::from_body(data.as_bytes()).unwrap_or(ErrorObject {
                            message: Some(data.to_owned()),
                            ..ErrorObject::default()
                        });
                        self.fail(stream_error(&obj), w);
                    }
                    // An event of some other name that is not a chunk: not ours to read.
                    Some(_) => {}
                    None => {
                        let message = if self.cut_at_eof {
                            format!(
                                "the upstream stream ended in the middle of a chunk (the connection closed before the answer was complete): {}",
                                snippet(data, 200)
                            )
                        } else {
                            format!(
                                "the upstream sent a stream chunk anyclaude cannot read ({e}): {}",
                                snippet(data, 200)
                            )
                        };
                        self.fail(ApiError::new(ErrorKind::Api, message), w);
                    }
                }
                return;
            }
        };
        let error = match &chunk.error {
            Some(v) if !v.is_null() => Some(ErrorObject::from_value(v).unwrap_or(ErrorObject {
                message: Some(v.to_string()),
                ..ErrorObject::default()
            })),
            _ if named == Some("error") => Some(ErrorObject::from_body(data.as_bytes()).unwrap_or(
                ErrorObject {
                    message: Some(data.to_owned()),
                    ..ErrorObject::default()
                },
            )),
            _ => None,
        };
        if let Some(obj) = error {
            self.fail(stream_error(&obj), w);
            return;
        }
        // A usage object with no counts (some servers send `{}` on every chunk) is not the
        // usage chunk; llama.cpp's `timings` and Ollama's eval counts are one.
        let usage = chunk.counted_usage();
        let has_usage = usage.is_some();
        for choice in chunk.choices {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            let ChunkDelta {
                content,
                reasoning_content,
                reasoning,
                tool_calls,
                refusal,
                ..
            } = choice.delta;
            if let Some(r) = reasoning.or(reasoning_content) {
                self.text(TextKind::Thinking, &r, w);
            }
            if let Some(c) = content {
                if self.text_tools.is_some() {
                    self.recognised_text(&c, w);
                } else {
                    self.text(TextKind::Text, &c, w);
                }
            }
            if let Some(r) = refusal.filter(|r| !r.is_empty()) {
                self.refused = true;
                self.text(TextKind::Text, &r, w);
            }
            for (position, call) in tool_calls.into_iter().enumerate() {
                if let Err(err) = self.tool_fragment(call, position, w) {
                    self.fail(err, w);
                    return;
                }
            }
            if let Some(reason) = choice.finish_reason
                && (!reason.is_empty() || self.finish_reason.is_none())
            {
                self.finish_reason = Some(reason.into_owned());
            }
        }
        if let Some(usage) = usage {
            self.upstream_usage = Some(usage);
        }
        if has_usage && self.finish_reason.is_some() {
            self.complete(w);
        }
    }

    /// A piece of answer text or reasoning.
    fn text(&mut self, kind: TextKind, s: &str, w: &mut Writer) {
        if s.is_empty() {
            return;
        }
        if matches!(self.open, Open::Tool { .. }) || !self.deferred.is_empty() {
            self.deferred_bytes += s.len();
            if self.deferred_bytes > MAX_DEFERRED_BYTES {
                let err = ApiError::new(
                    ErrorKind::Api,
                    format!(
                        "the model sent more than {} MiB of text while a tool call was still open, more than anyclaude holds back for one answer",
                        MAX_DEFERRED_BYTES >> 20
                    ),
                );
                self.fail(err, w);
                return;
            }
            match self.deferred.last_mut() {
                Some((k, buf)) if *k == kind => buf.push_str(s),
                _ => self.deferred.push((kind, s.to_owned())),
            }
            return;
        }
        let same_open = matches!(
            (kind, self.open),
            (TextKind::Text, Open::Text) | (TextKind::Thinking, Open::Thinking)
        );
        if same_open {
            self.held.clear();
            self.delta(kind, s, w);
            return;
        }
        if self.held_kind != kind {
            self.held.clear();
            self.held_kind = kind;
        }
        if s.trim().is_empty() {
            // Leading whitespace past a screenful is dropped rather than held without end.
            if self.held.len() < MAX_HELD_WHITESPACE {
                self.held.push_str(s);
            }
            return;
        }
        let held = std::mem::take(&mut self.held);
        let text = if held.is_empty() {
            Cow::Borrowed(s)
        } else {
            let mut t = held;
            t.push_str(s);
            Cow::Owned(t)
        };
        self.close_text(w);
        self.open_text(kind, w);
        self.delta(kind, &text, w);
    }

    /// Answer text through the recogniser of tool calls written as text.
    fn recognised_text(&mut self, text: &str, w: &mut Writer) {
        let mut pieces = Vec::new();
        if let Some(t) = self.text_tools.as_mut() {
            t.push(text, &mut pieces);
        }
        self.text_pieces(pieces, w);
    }

    /// The text the recogniser still holds, at the end of the answer.
    fn flush_recognised_text(&mut self, w: &mut Writer) {
        if let Some(mut t) = self.text_tools.take() {
            let mut pieces = Vec::new();
            t.finish(&mut pieces);
            self.text_pieces(pieces, w);
        }
    }

    /// Text as text; a recovered call as a tool call of its own (a synthetic index).
    fn text_pieces(&mut self, pieces: Vec<Piece>, w: &mut Writer) {
        for piece in pieces {
            if w.is_finished() {
                return;
            }
            match piece {
                Piece::Text(t) => self.text(TextKind::Text, &t, w),
                Piece::Call { name, arguments } => {
                    let call = ToolCallDelta {
                        index: Some(TEXT_CALL_KEY + self.slots.len() as u64),
                        id: None,
                        kind: None,
                        function: FunctionFragment {
                            name: Some(Cow::Owned(name)),
                            arguments: Some(Cow::Owned(arguments)),
                        },
                    };
                    if let Err(err) = self.tool_fragment(call, 0, w) {
                        self.fail(err, w);
                        return;
                    }
                }
            }
        }
    }

    /// Opens a new block of `kind` (the writer opens it with the first delta).
    fn open_text(&mut self, kind: TextKind, w: &mut Writer) {
        w.close_block();
        self.open = match kind {
            TextKind::Text => Open::Text,
            TextKind::Thinking => Open::Thinking,
        };
    }

    fn delta(&mut self, kind: TextKind, text: &str, w: &mut Writer) {
        match (kind, self.open) {
            (TextKind::Text, Open::Text) => w.text(text),
            (TextKind::Thinking, Open::Thinking) => w.thinking(text),
            _ => {}
        }
    }

    /// Closes an open text or thinking block (the writer signs a thinking block).
    fn close_text(&mut self, w: &mut Writer) {
        if matches!(self.open, Open::Text | Open::Thinking) {
            w.close_block();
            self.open = Open::None;
        }
    }

    /// One tool-call fragment.
    fn tool_fragment(
        &mut self,
        call: ToolCallDelta,
        position: usize,
        w: &mut Writer,
    ) -> Result<(), ApiError> {
        let id = call.id.as_deref().map(str::trim).unwrap_or("");
        let slot = self.slot_for(call.index, id, position);
        if self.slots.len() > MAX_TOOL_CALLS {
            return Err(ApiError::new(
                ErrorKind::Api,
                format!(
                    "the model made more than {MAX_TOOL_CALLS} tool calls in one answer, more than anyclaude passes on"
                ),
            ));
        }
        let name = call.function.name.as_deref().map(str::trim).unwrap_or("");
        let args = call.function.arguments.unwrap_or_default();
        let s = &mut self.slots[slot];
        if s.state == SlotState::Done {
            if args.trim().is_empty() {
                return Ok(());
            }
            let name = self.tool_names.original(&s.name).to_owned();
            return Err(ApiError::new(
                ErrorKind::Api,
                format!(
                    "the model sent more arguments for its call to tool `{name}` after they already formed a complete JSON object ({}), so the call cannot be passed on intact",
                    snippet(&args, 120)
                ),
            ));
        }
        if s.raw_id.is_empty() && !id.is_empty() {
            s.raw_id = id.to_owned();
        }
        if s.name.is_empty() && !name.is_empty() {
            s.name = name.to_owned();
        }
        s.args.push_str(&args);
        self.kept_args += args.len();
        if s.args.len() > MAX_TOOL_ARGUMENTS_BYTES || self.kept_args > MAX_KEPT_ARGUMENTS_BYTES {
            let tool = if s.name.is_empty() {
                "a call without a tool name".to_owned()
            } else {
                format!("the call to tool `{}`", self.tool_names.original(&s.name))
            };
            return Err(ApiError::new(
                ErrorKind::Api,
                format!(
                    "the model's tool-call arguments grew past anyclaude's limit ({} MiB for one call, {} MiB for the calls of one answer) in {tool}; the call cannot be passed on",
                    MAX_TOOL_ARGUMENTS_BYTES >> 20,
                    MAX_KEPT_ARGUMENTS_BYTES >> 20
                ),
            ));
        }

        match self.open {
            Open::Tool { slot: live, .. } if live == slot => self.send_args(slot, w),
            Open::Tool { slot: live, .. } => {
                if self.args_complete(live) {
                    self.close_tool(w)?;
                    self.activate_next(w);
                }
            }
            _ => {
                if !self.slots[slot].name.is_empty() {
                    self.activate_next(w);
                }
            }
        }
        Ok(())
    }

    /// The slot a fragment belongs to: by `index` (a new id under a used index starts a new
    /// call); without an index, by id, else the latest.
    fn slot_for(&mut self, index: Option<u64>, id: &str, position: usize) -> usize {
        let key = match index {
            Some(i) => i,
            None => {
                if !id.is_empty() {
                    if let Some(pos) = self.slots.iter().position(|s| s.raw_id == id) {
                        return pos;
                    }
                    (1 << 32) + self.slots.len() as u64
                } else if let Some(last) = self.slots.len().checked_sub(1) {
                    return last;
                } else {
                    (1 << 32) + position as u64
                }
            }
        };
        // The latest call under this key, unless the fragment names a different id: some
        // backends number every call 0, and a new id can only mean a new call.
        if let Some(pos) = self.slots.iter().rposition(|s| s.key == key) {
            let raw = &self.slots[pos].raw_id;
            if id.is_empty() || raw.is_empty() || raw == id {
                return pos;
            }
        }
        self.slots.push(ToolSlot {
            key,
            raw_id: String::new(),
            name: String::new(),
            args: String::new(),
            sent: 0,
            checked: 0,
            state: SlotState::Waiting,
        });
        self.slots.len() - 1
    }

    /// Whether the slot's arguments already form a complete JSON object (checked again only
    /// when they changed).
    fn args_complete(&mut self, slot: usize) -> bool {
        let s = &mut self.slots[slot];
        if s.checked == s.args.len() {
            return false;
        }
        s.checked = s.args.len();
        let t = s.args.trim();
        t.starts_with('{')
            && t.ends_with('}')
            && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
    }

    /// Opens the first waiting tool call that has a name (closing an open text block first)
    /// and sends its arguments so far.
    fn activate_next(&mut self, w: &mut Writer) {
        let Some(slot) = self
            .slots
            .iter()
            .position(|s| s.state == SlotState::Waiting && !s.name.is_empty())
        else {
            return;
        };
        self.held.clear();
        self.close_text(w);
        self.open_tool(slot, w);
        self.send_args(slot, w);
    }

    fn open_tool(&mut self, slot: usize, w: &mut Writer) {
        let seed = tool_id_seed(&w.head().id, slot);
        let id = unique_tool_id(&self.slots[slot].raw_id, seed, &mut self.used_ids);
        let name = self.tool_names.original(&self.slots[slot].name);
        w.tool_start(&id, name);
        self.slots[slot].state = SlotState::Live;
        self.open = Open::Tool { slot };
        self.tool_blocks += 1;
    }

    /// Sends the live slot's unsent arguments (leading whitespace is never sent, so
    /// whitespace-only arguments can still become `{}`).
    fn send_args(&mut self, slot: usize, w: &mut Writer) {
        let Open::Tool { .. } = self.open else {
            return;
        };
        let s = &mut self.slots[slot];
        if s.sent == 0 {
            match s.args.find(|c: char| !c.is_whitespace()) {
                Some(start) => s.sent = start,
                None => return,
            }
        }
        if s.sent < s.args.len() {
            w.tool_args(&s.args[s.sent..]);
            s.sent = s.args.len();
        }
    }

    /// Closes the open tool block after checking its arguments. On bad arguments the block
    /// is left open and the error returned for the caller to end the answer with.
    fn close_tool(&mut self, w: &mut Writer) -> Result<(), ApiError> {
        let Open::Tool { slot } = self.open else {
            return Ok(());
        };
        self.open = Open::None;
        let s = &mut self.slots[slot];
        s.state = SlotState::Done;
        let name = self.tool_names.original(&s.name);
        parse_tool_arguments(name, &s.args, self.finish_reason.as_deref())?;
        if s.args.trim().is_empty() {
            w.tool_args("{}");
        }
        w.close_block();
        // A closed call's arguments are not needed again.
        self.kept_args -= s.args.len();
        s.args = String::new();
        Ok(())
    }

    /// The answer is complete: closes and flushes everything, then `message_delta` and
    /// `message_stop` (or an error, when a tool call's arguments are broken).
    fn complete(&mut self, w: &mut Writer) {
        if w.is_finished() {
            return;
        }
        self.flush_recognised_text(w);
        if w.is_finished() {
            return;
        }
        self.held.clear();
        self.close_text(w);
        if let Err(err) = self.flush_tools(w) {
            self.fail(err, w);
            return;
        }
        for (kind, text) in std::mem::take(&mut self.deferred) {
            if text.trim().is_empty() {
                continue;
            }
            self.close_text(w);
            self.open_text(kind, w);
            self.delta(kind, &text, w);
        }
        self.close_text(w);
        let stop_reason = stop_reason_for(
            self.finish_reason.as_deref(),
            self.tool_blocks > 0,
            self.refused,
        );
        let usage = final_usage(self.upstream_usage.as_ref(), w.head().input_tokens, || {
            w.output_tokens()
        });
        w.finish(stop_reason, usage);
    }

    /// Closes the live tool block and emits every waiting call, in order of appearance.
    fn flush_tools(&mut self, w: &mut Writer) -> Result<(), ApiError> {
        self.close_tool(w)?;
        for slot in 0..self.slots.len() {
            let s = &self.slots[slot];
            if s.state != SlotState::Waiting {
                continue;
            }
            if s.name.is_empty() {
                if s.args.trim().is_empty() {
                    continue; // an empty placeholder, not a call
                }
                return Err(ApiError::new(
                    ErrorKind::Api,
                    format!(
                        "the model made a tool call without a tool name (arguments: {})",
                        snippet(&s.args, 200)
                    ),
                ));
            }
            self.open_tool(slot, w);
            self.send_args(slot, w);
            self.close_tool(w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::stream::{BlockStart, Delta, Event, StopReason};
    use crate::anthropic::writer::{MessageHead, check_events as check_invariants};
    use crate::dialect::testing::{
        Rng, check_fixtures, fixture_dir, message_of, random_chunks, transcript,
    };
    use proptest::prelude::*;

    /// The long MCP tool name the fixtures' context shortens (its short form is in
    /// `openai_parallel_tools.sse`).
    const LONG_TOOL: &str =
        "mcp__github__create_pull_request_review_comment_with_suggestion_and_thread_resolution";

    fn head() -> MessageHead {
        MessageHead {
            id: "msg_test".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: 100,
        }
    }

    fn ctx() -> ToolNames {
        let mut tool_names = ToolNames::default();
        tool_names.upstream_name(LONG_TOOL);
        tool_names
    }

    /// A [`ChatStream`] with its event writer, appending the events of each call to `out`.
    struct Stream {
        s: ChatStream,
        w: Writer,
    }

    impl Stream {
        fn new(tool_names: ToolNames) -> Self {
            Stream {
                s: ChatStream::new(tool_names),
                w: Writer::events(head()),
            }
        }
        fn start(&mut self, out: &mut Vec<Event>) {
            self.w.start();
            out.extend(self.w.take_events());
        }
        fn push(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
            self.s.push(bytes, &mut self.w);
            out.extend(self.w.take_events());
        }
        fn finish(&mut self, out: &mut Vec<Event>) {
            self.s.finish(&mut self.w);
            out.extend(self.w.take_events());
        }
        fn fail(&mut self, err: ApiError, out: &mut Vec<Event>) {
            self.s.fail(err, &mut self.w);
            out.extend(self.w.take_events());
        }
        fn stop_reason(&self) -> Option<StopReason> {
            self.w.stop_reason()
        }
        fn failure(&self) -> Option<&ApiError> {
            self.w.failure()
        }
        fn is_finished(&self) -> bool {
            self.w.is_finished()
        }
        fn usage(&self) -> Usage {
            self.s.usage(&self.w)
        }
        fn raw_finish_reason(&self) -> Option<&str> {
            self.s.raw_finish_reason()
        }
    }

    fn run(chunks: &[&[u8]]) -> (Vec<Event>, Stream) {
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        s.start(&mut out);
        for c in chunks {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        // Nothing more, whatever is called afterwards.
        let n = out.len();
        s.push(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n",
            &mut out,
        );
        s.finish(&mut out);
        s.fail(ApiError::new(ErrorKind::Api, "late"), &mut out);
        assert_eq!(out.len(), n, "events after the end");
        (out, s)
    }

    /// The (id, name) of every tool_use block started.
    fn tool_starts(events: &[Event]) -> Vec<(String, String)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::BlockStart {
                    block: BlockStart::ToolUse { id, name },
                    ..
                } => Some((id.clone(), name.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every Chat fixture (the streams of no other dialect) replays identically however
    /// split, keeps the writer's rules, folds into the same message and matches its
    /// `.expected` transcript.
    #[test]
    fn fixtures() {
        check_fixtures(
            |name| !name.starts_with("gemini_") && !name.starts_with("responses_"),
            15,
            &head(),
            |chunks| run(chunks).0,
            folded_message,
        );
    }

    /// The same body through a message writer: the non-streamed answer.
    fn folded_message(body: &[u8]) -> Result<serde_json::Value, String> {
        let mut s = ChatStream::new(ctx());
        let mut w = Writer::message(head());
        s.push(body, &mut w);
        s.finish(&mut w);
        w.into_message()
            .map(|m| serde_json::to_value(m).unwrap())
            .map_err(|e| e.message)
    }

    fn fixture(name: &str) -> (Vec<Event>, Stream) {
        let body = std::fs::read(fixture_dir().join(format!("{name}.sse"))).unwrap();
        run(&[&body])
    }

    #[test]
    fn fixture_accessors() {
        let (_, s) = fixture("openai_parallel_tools");
        assert_eq!(s.stop_reason(), Some(StopReason::ToolUse));
        assert_eq!(s.raw_finish_reason(), Some("tool_calls"));
        assert!(s.failure().is_none() && s.is_finished());
        let (_, s) = fixture("ollama_tool");
        assert_eq!(
            (s.stop_reason(), s.raw_finish_reason()),
            (Some(StopReason::ToolUse), Some("stop"))
        );
        let (_, s) = fixture("eof_without_finish");
        assert_eq!(s.stop_reason(), None);
        assert_eq!(s.failure().map(|e| e.kind), Some(ErrorKind::Api));
        let (_, s) = fixture("llamacpp_no_usage");
        assert_eq!(s.usage().input_tokens, 100);
        assert!(s.usage().output_tokens > 0);
    }

    #[test]
    fn fail_ends_inside_the_open_block() {
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        s.push(
            b"data: {\"choices\":[{\"delta\":{\"reasoning\":\"hmm\"}}]}\n\n",
            &mut out,
        );
        s.fail(
            ApiError::new(ErrorKind::Timeout, "upstream idle for 300s"),
            &mut out,
        );
        check_invariants(&out, true).unwrap();
        // The thinking block stays open (no signature, no stop) and the error follows: the
        // ending that makes Claude Code retry instead of keeping a truncated answer.
        assert_eq!(
            transcript(&out[1..]),
            format!(
                "{}\n{}\n{}\n",
                r#"{"content_block":{"signature":"","thinking":"","type":"thinking"},"index":0,"type":"content_block_start"}"#,
                r#"{"delta":{"thinking":"hmm","type":"thinking_delta"},"index":0,"type":"content_block_delta"}"#,
                r#"{"error":{"message":"upstream idle for 300s","type":"timeout_error"},"type":"error"}"#,
            )
        );
        assert_eq!(s.failure().map(|e| e.kind), Some(ErrorKind::Timeout));
        // Fail before anything: message_start, an empty text block left open, the error.
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        s.fail(ApiError::new(ErrorKind::Overloaded, "busy"), &mut out);
        assert_eq!(out.len(), 3);
        assert!(matches!(
            out[1],
            Event::BlockStart {
                index: 0,
                block: BlockStart::Text
            }
        ));
        check_invariants(&out, true).unwrap();
    }

    fn chunk(delta: &str) -> String {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}]}}\n\n"
        )
    }

    fn run_str(body: &str) -> Vec<Event> {
        let (events, _) = run(&[body.as_bytes()]);
        check_invariants(&events, true).unwrap_or_else(|e| panic!("{e}\n{}", transcript(&events)));
        events
    }

    #[test]
    fn sequential_tools_stream_live_and_close_early() {
        let body = [
            chunk(r#"{"tool_calls":[{"index":0,"id":"a","function":{"name":"Read","arguments":"{\"file_path\":"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"\"/x\"}"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":1,"id":"b","function":{"name":"Bash","arguments":"{\"command\":"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":1,"function":{"arguments":"\"ls\"}"}}]}"#),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        // Feed up to the first fragment of call 1: call 0's block must already be closed
        // and call 1's open, streaming live.
        let cut = body.find(r#"\"ls\""#).unwrap();
        s.push(&body.as_bytes()[..cut], &mut out);
        let names: Vec<_> = out.iter().map(Event::name).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta"
            ]
        );
        s.push(&body.as_bytes()[cut..], &mut out);
        s.finish(&mut out);
        check_invariants(&out, true).unwrap();
        assert_eq!(s.stop_reason(), Some(StopReason::ToolUse));
    }

    #[test]
    fn late_fragment_after_complete_args_is_an_error() {
        let body = [
            chunk(r#"{"tool_calls":[{"index":0,"id":"a","function":{"name":"Read","arguments":"{}"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":1,"id":"b","function":{"name":"Bash","arguments":"{}"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"  "}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}"#),
        ]
        .concat();
        let events = run_str(&body);
        let Some(Event::Error(err)) = events.last() else {
            panic!()
        };
        assert!(
            err.message.contains("tool `Read`")
                && err.message.contains("after they already formed"),
            "{}",
            err.message
        );
    }

    #[test]
    fn text_after_tool_is_deferred_and_whitespace_dropped() {
        let body = [
            chunk(r#"{"content":"\n\n"}"#),
            chunk(r#"{"tool_calls":[{"index":0,"id":"a","function":{"name":"Read","arguments":"{\"file_path\":"}}]}"#),
            chunk(r#"{"content":"Reading it."}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"\"/x\"}"}}]}"#),
            chunk(r#"{"content":" Done."}"#),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".to_owned(),
        ]
        .concat();
        let events = run_str(&body);
        let blocks: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::BlockStart { block, .. } => Some(block.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            blocks,
            [
                BlockStart::ToolUse {
                    id: "a".into(),
                    name: "Read".into()
                },
                BlockStart::Text
            ]
        );
        assert!(events.contains(&Event::BlockDelta {
            index: 1,
            delta: Delta::Text("Reading it. Done.".into())
        }));
    }

    #[test]
    fn missing_index_ids_and_names() {
        // Gemini-style: no index; calls told apart by id; a duplicate id is made unique;
        // a nameless empty call is dropped.
        let body = [
            chunk(r#"{"tool_calls":[{"id":"x.1","function":{"name":"A","arguments":"{\"a\":1}"}},{"id":"x.1","function":{"name":"B","arguments":"{}"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":5}]}"#),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_owned(),
        ]
        .concat();
        let events = run_str(&body);
        let starts = tool_starts(&events);
        // Same id in one delta: the second fragment continues the first call (by id).
        assert_eq!(starts, [("x_1".to_owned(), "A".to_owned())]);
        let Some(Event::Error(err)) = events.last() else {
            panic!("{}", transcript(&events))
        };
        assert!(err.message.contains("tool `A`"), "{}", err.message);

        let body = [
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"name":"A","arguments":"1}"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":1,"id":"call_1","function":{"name":"B"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":2,"id":"call_1","function":{"name":"C","arguments":"  "}}]}"#),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".to_owned(),
        ]
        .concat();
        let events = run_str(&body);
        let starts = tool_starts(&events);
        let generated = crate::translate::tool_names::sanitize_id("", tool_id_seed("msg_test", 0));
        assert_eq!(
            starts,
            [
                (generated, "A".to_owned()),
                ("call_1".to_owned(), "B".to_owned()),
                ("call_1_2".to_owned(), "C".to_owned())
            ]
        );
        let inputs: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::BlockDelta {
                    delta: Delta::InputJson(p),
                    ..
                } => Some(p.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(inputs, ["{\"a\":1}", "{}", "{}"]);
        let nameless = [
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}"#),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".to_owned(),
        ]
        .concat();
        let events = run_str(&nameless);
        let Some(Event::Error(err)) = events.last() else {
            panic!()
        };
        assert!(err.message.contains("without a tool name"));
    }

    #[test]
    fn same_index_with_a_new_id_is_a_new_call() {
        let body = [
            chunk(r#"{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"Read","arguments":"{\"file_path\":\"/a\"}"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"id":"call_b","function":{"name":"Read","arguments":"{\"file_path\":"}}]}"#),
            chunk(r#"{"tool_calls":[{"index":0,"id":"call_b","function":{"arguments":"\"/b\"}"}}]}"#),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".to_owned(),
        ]
        .concat();
        let events = run_str(&body);
        let inputs: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::BlockDelta {
                    delta: Delta::InputJson(p),
                    ..
                } => Some(p.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            inputs,
            ["{\"file_path\":\"/a\"}", "{\"file_path\":", "\"/b\"}"]
        );
        assert!(matches!(events.last(), Some(Event::MessageStop)));
    }

    #[test]
    fn finish_reasons_and_usage_timing() {
        let text = chunk(r#"{"content":"hi"}"#);
        let cases = [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("content_filter", StopReason::Refusal),
            ("tool_calls", StopReason::EndTurn),
            ("eos", StopReason::EndTurn),
            ("", StopReason::EndTurn),
        ];
        for (reason, want) in cases {
            let body = format!(
                "{text}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"{reason}\"}}]}}\n\n"
            );
            let (events, s) = run(&[body.as_bytes()]);
            check_invariants(&events, true).unwrap();
            assert_eq!(s.stop_reason(), Some(want), "{reason}");
            assert_eq!(s.raw_finish_reason(), Some(reason));
        }
        // Nothing final is sent at finish_reason; the usage chunk completes the message.
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        s.push(
            format!(
                "{text}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
            )
            .as_bytes(),
            &mut out,
        );
        assert!(!s.is_finished());
        assert!(
            !out.iter()
                .any(|e| matches!(e, Event::MessageDelta { .. } | Event::BlockStop { .. }))
        );
        s.push(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":20}}}\n\n", &mut out);
        assert!(s.is_finished());
        assert_eq!(
            out[out.len() - 2],
            Event::MessageDelta {
                stop_reason: StopReason::EndTurn,
                stop_sequence: None,
                usage: Usage {
                    input_tokens: 30,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 20,
                    output_tokens: 5
                }
            }
        );
        // Usage on every chunk before the finish does not end the message early.
        let body = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"a\"}}}}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":1}}}}\n\n{text}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2}}}}\n\n"
        );
        let events = run_str(&body);
        assert!(events.contains(&Event::BlockDelta {
            index: 0,
            delta: Delta::Text("hi".into())
        }));
        // An empty usage object on the finish chunk is not the usage chunk.
        let body = format!(
            "{text}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{}}}}\n\ndata: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":77,\"completion_tokens\":3}}}}\n\n"
        );
        let (events, s) = run(&[body.as_bytes()]);
        check_invariants(&events, true).unwrap();
        assert_eq!((s.usage().input_tokens, s.usage().output_tokens), (77, 3));
        // [DONE] after a finish reason ends normally; content after it is ignored.
        let events = run_str(&format!(
            "{text}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n{}",
            chunk(r#"{"content":"ignored"}"#)
        ));
        assert!(matches!(events.last(), Some(Event::MessageStop)));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::BlockDelta { .. }))
                .count(),
            1
        );
    }

    /// `[DONE]` without any finish reason is an interrupted answer (llama.cpp's servers cut
    /// a running answer so when another request arrives): the answer so far, then the
    /// writer's failure ending, never `end_turn`; nothing after it counts.
    #[test]
    fn done_without_a_finish_reason_is_incomplete() {
        for body in [
            format!("{}data: [DONE]\n\n", chunk(r#"{"content":"Once upon a"}"#)),
            format!(
                "{}data: [DONE]\n\n{}",
                chunk(r#"{"content":"Once upon a"}"#),
                "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
            ),
            format!(
                "{}{}data: [DONE]\n\n",
                chunk(r#"{"content":"Once upon a"}"#),
                chunk(
                    r#"{"tool_calls":[{"index":0,"id":"a","function":{"name":"Read","arguments":"{}"}}]}"#
                )
            ),
        ] {
            let (events, s) = run(&[body.as_bytes()]);
            check_invariants(&events, true).unwrap();
            assert_eq!(s.stop_reason(), None, "{body}");
            let err = s.failure().expect("an error");
            assert!(
                err.message.contains("no finish_reason") && err.message.contains("incomplete"),
                "{}",
                err.message
            );
            assert!(matches!(events.last(), Some(Event::Error(_))));
            assert!(events.contains(&Event::BlockDelta {
                index: 0,
                delta: Delta::Text("Once upon a".into())
            }));
            assert_eq!(folded_message(body.as_bytes()), Err(err.message.clone()));
        }
    }

    #[test]
    fn refusal_delta_is_text_with_refusal_stop() {
        let body = format!(
            "{}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n",
            chunk(r#"{"refusal":"I can't help with that."}"#)
        );
        let (events, s) = run(&[body.as_bytes()]);
        check_invariants(&events, true).unwrap();
        assert_eq!(s.stop_reason(), Some(StopReason::Refusal));
    }

    #[test]
    fn oversized_event_fails_cleanly() {
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        s.push(chunk(r#"{"content":"hi"}"#).as_bytes(), &mut out);
        let big = vec![b'x'; 1 << 20];
        for _ in 0..17 {
            s.push(&big, &mut out);
        }
        check_invariants(&out, true).unwrap();
        let Some(Event::Error(err)) = out.last() else {
            panic!()
        };
        assert!(err.message.contains("16 MiB"), "{}", err.message);
    }

    #[test]
    fn named_events() {
        let body = format!(
            "event: ping\ndata: ping\n\n{}event: error\ndata: {{\"message\":\"overloaded\",\"type\":\"overloaded_error\"}}\n\n",
            chunk(r#"{"content":"hi"}"#)
        );
        let events = run_str(&body);
        let Some(Event::Error(err)) = events.last() else {
            panic!()
        };
        assert_eq!(err.kind, ErrorKind::Overloaded);
    }

    fn arb_piece() -> impl Strategy<Value = String> {
        let text = prop_oneof![
            Just(""),
            Just(" "),
            Just("\n\n"),
            Just("hi"),
            Just("é🌍"),
            Just("\"quoted\""),
            Just("{"),
        ];
        let args = prop_oneof![
            Just(""),
            Just("{"),
            Just("}"),
            Just("{}"),
            Just("{\"a\":"),
            Just("1"),
            Just("\"x\""),
            Just(" "),
            Just("[1]"),
            Just("null"),
            Just("{\"b\":[1,{\"c\":null}]}"),
        ];
        let reason = prop_oneof![
            Just("stop"),
            Just("length"),
            Just("tool_calls"),
            Just("content_filter"),
            Just("eos"),
            Just(""),
        ];
        prop_oneof![
            text.clone().prop_map(|t| chunk(&serde_json::json!({ "content": t }).to_string())),
            text.clone().prop_map(|t| chunk(&serde_json::json!({ "reasoning": t }).to_string())),
            text.prop_map(|t| chunk(&serde_json::json!({ "reasoning_content": t, "role": "assistant" }).to_string())),
            (0u64..3, proptest::option::of(prop_oneof![Just("c1"), Just("c2"), Just("")]),
             proptest::option::of(prop_oneof![Just("Bash"), Just("Read"), Just("")]), args)
                .prop_map(|(i, id, name, a)| {
                    let mut call = serde_json::json!({"index": i, "function": {"arguments": a}});
                    if let Some(id) = id { call["id"] = id.into(); }
                    if let Some(n) = name { call["function"]["name"] = n.into(); }
                    chunk(&serde_json::json!({ "tool_calls": [call] }).to_string())
                }),
            reason.prop_map(|r| format!("data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"{r}\"}}]}}\n\n")),
            Just("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}\n\n".to_owned()),
            Just("data: {\"error\":{\"message\":\"boom\",\"code\":429}}\n\n".to_owned()),
            Just(": OPENROUTER PROCESSING\n\n".to_owned()),
            Just("data: [DONE]\n\n".to_owned()),
            Just("data: {\"choi\n\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}\n\n".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn structured_streams_keep_the_invariants(
            pieces in proptest::collection::vec(arb_piece(), 0..24),
            seed in any::<u64>(),
        ) {
            let body = pieces.concat();
            let (events, s) = run(&[body.as_bytes()]);
            prop_assert!(check_invariants(&events, true).is_ok(), "{:?}\n{}", check_invariants(&events, true), transcript(&events));
            prop_assert!(s.is_finished());
            prop_assert_eq!(s.failure().is_some(), matches!(events.last(), Some(Event::Error(_))));
            // The non-streamed answer is the fold of the same events.
            prop_assert_eq!(folded_message(body.as_bytes()), message_of(&events, &head()));
            let mut rng = Rng(seed | 1);
            let chunks = random_chunks(body.as_bytes(), &mut rng);
            let (split, _) = run(&chunks);
            prop_assert_eq!(split, events);
        }

        #[test]
        fn arbitrary_bytes_keep_the_invariants(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
        ) {
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let (events, _) = run(&refs);
            prop_assert!(check_invariants(&events, true).is_ok(), "{:?}", check_invariants(&events, true));
        }

        #[test]
        fn prefixes_keep_the_invariants_until_the_end(
            pieces in proptest::collection::vec(arb_piece(), 0..16),
        ) {
            // Whatever was pushed so far is a valid (unfinished) stream.
            let body = pieces.concat();
            let mut s = Stream::new(ctx());
            let mut out = Vec::new();
            for b in body.as_bytes().chunks(7) {
                s.push(b, &mut out);
                prop_assert!(check_invariants(&out, false).is_ok(), "{:?}", check_invariants(&out, false));
            }
        }
    }

    /// `cargo test --release --lib stream_throughput -- --nocapture`: 500 text deltas and a
    /// tool call in 200 fragments, replayed in 1500-byte pieces.
    #[test]
    fn stream_throughput() {
        let mut body = String::new();
        body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
        for i in 0..500 {
            body.push_str(&format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"));
        }
        body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\": \\\"\"}}]},\"finish_reason\":null}]}\n\n");
        for _ in 0..198 {
            body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"echo x; \"}}]},\"finish_reason\":null}]}\n\n");
        }
        body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"}\"}}]},\"finish_reason\":null}]}\n\n");
        body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n");
        body.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":700,\"total_tokens\":800}}\n\ndata: [DONE]\n\n");
        let bytes = body.as_bytes();
        let mut out = Vec::with_capacity(1024);
        let (mut events, mut chunks, mut runs) = (0usize, 0usize, 0usize);
        let started = std::time::Instant::now();
        while started.elapsed().as_millis() < 500 || runs == 0 {
            let mut s = Stream::new(ctx());
            s.start(&mut out);
            for piece in bytes.chunks(1500) {
                s.push(piece, &mut out);
            }
            s.finish(&mut out);
            if runs == 0 {
                check_invariants(&out, true).unwrap();
                assert_eq!(s.stop_reason(), Some(StopReason::ToolUse));
            }
            events += out.len();
            chunks += 704;
            runs += 1;
            out.clear();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "stream_throughput: {:.2} M Anthropic events/s, {:.2} M upstream chunks/s, {:.0} MB/s ({} runs, {} events per run)",
            events as f64 / secs / 1e6,
            chunks as f64 / secs / 1e6,
            (runs * bytes.len()) as f64 / secs / 1e6,
            runs,
            events / runs
        );
    }

    /// Tool calls a model wrote as text (a local server without a tool parser) become
    /// tool_use blocks while streaming, however the text is split into chunks; the text
    /// around them stays text; the stream and the whole answer agree.
    #[test]
    fn tool_calls_written_as_text_are_recovered() {
        let text = "I'll list it.\n<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>\n<tool_call>\n<function=Read>\n<parameter=file_path>\n/a b\n</parameter>\n</function>\n</tool_call>";
        let body = |sizes: usize| {
            let chars: Vec<char> = text.chars().collect();
            let mut body: String = chars
                .chunks(sizes)
                .map(|c| {
                    chunk(&serde_json::json!({"content": c.iter().collect::<String>()}).to_string())
                })
                .collect();
            body.push_str("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
            body
        };
        let run_text_tools = |chunks: &[&[u8]]| {
            let mut s = ChatStream::new(ctx()).with_text_tools(vec!["Bash".into(), "Read".into()]);
            let mut w = Writer::events(head());
            w.start();
            for c in chunks {
                s.push(c, &mut w);
            }
            s.finish(&mut w);
            (w.take_events(), w.stop_reason())
        };
        let mut first = None;
        for size in [1, 3, 7, 1000] {
            let body = body(size);
            let (events, stop) = run_text_tools(&[body.as_bytes()]);
            check_invariants(&events, true)
                .unwrap_or_else(|e| panic!("{e}\n{}", transcript(&events)));
            assert_eq!(stop, Some(StopReason::ToolUse));
            let message = message_of(&events, &head()).unwrap();
            assert_eq!(message["content"][0]["text"], "I'll list it.\n");
            assert_eq!(message["content"][1]["name"], "Bash");
            assert_eq!(
                message["content"][1]["input"],
                serde_json::json!({"command": "ls"})
            );
            assert_eq!(message["content"][2]["name"], "Read");
            assert_eq!(
                message["content"][2]["input"],
                serde_json::json!({"file_path": "/a b"})
            );
            assert_eq!(message["content"].as_array().unwrap().len(), 3);
            let mut rng = Rng(size as u64 | 1);
            for _ in 0..20 {
                let chunks = random_chunks(body.as_bytes(), &mut rng);
                assert_eq!(run_text_tools(&chunks).0, events);
            }
            first.get_or_insert(message);
        }
        // Off (a hosted preset), the same text stays text.
        let (events, _) = run(&[body(5).as_bytes()]);
        assert!(tool_starts(&events).is_empty());
    }

    #[test]
    fn done_with_nothing_before_it_is_an_error() {
        let mut s = Stream::new(ctx());
        let mut out = Vec::new();
        s.start(&mut out);
        s.push(b"data: [DONE]\n\n", &mut out);
        s.finish(&mut out);
        let err = s.failure().expect("an error");
        assert!(err.message.contains("[DONE]"), "{}", err.message);
        assert!(matches!(out.last(), Some(Event::Error(_))));
    }

    #[test]
    fn endless_tool_arguments_end_at_the_cap() {
        for name in ["Bash", ""] {
            let mut s = Stream::new(ctx());
            let mut out = Vec::new();
            let open = serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "c1", "function": {"name": name, "arguments": "{\"a\": \""}}]}}]});
            s.push(format!("data: {open}\n\n").as_bytes(), &mut out);
            let more = serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": "x".repeat(64 * 1024)}}]}}]});
            let more = format!("data: {more}\n\n");
            let mut pushes = 0;
            while !s.is_finished() {
                s.push(more.as_bytes(), &mut out);
                pushes += 1;
                assert!(pushes <= 80, "not cut");
            }
            let err = s.failure().expect("cut at the cap");
            assert!(
                err.message.contains("4 MiB for one call"),
                "{}",
                err.message
            );
            assert!(
                s.s.slots.iter().map(|slot| slot.args.len()).sum::<usize>()
                    <= MAX_KEPT_ARGUMENTS_BYTES
            );
        }
    }

    #[test]
    fn a_runaway_answer_is_cut_at_max_tokens_by_the_writer() {
        let mut s = Stream::new(ctx());
        s.w.limit_output(1_000);
        let mut out = Vec::new();
        let piece = serde_json::json!({"choices": [{"index": 0, "delta": {"content": "word ".repeat(100)}}]});
        let piece = format!("data: {piece}\n\n");
        let mut pushes = 0;
        while !s.is_finished() {
            s.push(piece.as_bytes(), &mut out);
            pushes += 1;
            assert!(pushes < 1_000, "not cut");
        }
        assert_eq!(s.stop_reason(), Some(StopReason::MaxTokens));
        let output = s.w.final_usage().unwrap().output_tokens;
        assert!((1_000..=2_500).contains(&output), "{output}");
        check_invariants(&out, true).unwrap();
    }
}

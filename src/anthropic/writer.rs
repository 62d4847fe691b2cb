//! The one way anyclaude produces an Anthropic answer: [`Writer`], fed by a dialect's
//! decoder, writes the stream's events and enforces the rules Claude Code relies on.
//!
//! Owned here:
//! - **The invariants**, by construction: `message_start` first (once); block indexes
//!   0-based and contiguous; at most one block open (opening a block closes the open one);
//!   empty deltas never written; a thinking block always carries a `signature_delta` before
//!   its `content_block_stop` (ours, over its text, when the dialect gave none); the stream
//!   ends exactly once, in `message_delta` + `message_stop` or in `event: error`, and
//!   nothing is written after the end.
//! - **The failure ending**, in one function ([`failure_ending`]): see there. The one
//!   exception to "the stream ends in `message_stop` or `event: error`":
//!   [`FailureDelivery::Abort`], for Claude Code 2.0.x, where a failed stream writes no
//!   error event and the server aborts the body instead.
//! - **Where the events go** ([`Output`]): straight into SSE bytes for a streamed answer (no
//!   event value is built), into a typed [`Message`] for a non-streamed one (so the whole
//!   answer follows exactly the same rules as the stream), or into a list of [`Event`]s for
//!   tests.
//! - [`check_events`], the test oracle that says whether a list of events keeps the rules.
//!
//! How a dialect uses it: create one writer per answer ([`Writer::sse`] or
//! [`Writer::message`]), call [`Writer::start`] (or let the first call do it), then for
//! each piece of the answer call [`text`](Writer::text), [`thinking`](Writer::thinking) /
//! [`thinking_signature`](Writer::thinking_signature),
//! [`tool_start`](Writer::tool_start) / [`tool_args`](Writer::tool_args), optionally
//! [`close_block`](Writer::close_block), and end with [`finish`](Writer::finish) or
//! [`fail`](Writer::fail). Ids passed to `tool_start` must already be valid Anthropic ids
//! (`^[a-zA-Z0-9_-]+$`, unique within the message) and names the ones Claude Code knows.

use bytes::BytesMut;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::stream::{
    BlockStart, BlockStartRef, Delta, DeltaKind, Event, StopReason, Usage, encode_block_start,
    encode_block_stop, encode_delta, encode_message_stop, encode_ping,
};
use crate::dialect::signature::Signature;
use crate::secrets::Scrubber;
use crate::translate::tokens::TokenCounter;
use std::borrow::Cow;
use std::sync::Arc;

/// What the answer's `message_start` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageHead {
    /// `msg_…`.
    pub id: String,
    /// The model name exactly as Claude Code sent it.
    pub model: String,
    /// The estimated input tokens, reported in `message_start` (with `output_tokens` 1).
    pub input_tokens: u64,
}

/// Where a writer's events go.
#[derive(Debug)]
pub enum Output {
    /// SSE bytes (a streamed answer).
    Sse(BytesMut),
    /// A typed message (a non-streamed answer).
    Message(Box<MessageFold>),
    /// Event values (tests, logs).
    Events(Vec<Event>),
}

/// The kind of the open block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A text block.
    Text,
    /// A thinking block.
    Thinking,
    /// A `tool_use` block.
    ToolUse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Open,
    Ended,
}

#[derive(Debug, Clone, Copy)]
struct OpenBlock {
    index: usize,
    kind: BlockKind,
    /// FNV-1a over the thinking text so far (thinking blocks).
    hash: u64,
    /// Whether a signature was written (thinking blocks).
    signed: bool,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Writes one Anthropic answer; see the module documentation.
#[derive(Debug)]
pub struct Writer {
    out: Output,
    head: MessageHead,
    phase: Phase,
    next_index: usize,
    open: Option<OpenBlock>,
    tool_blocks: usize,
    stop_reason: Option<StopReason>,
    usage: Option<Usage>,
    failure: Option<ApiError>,
    delivery: FailureDelivery,
    /// The running estimate of the output written (text, thinking, tool names and
    /// arguments).
    output: TokenCounter,
    /// Past this many output tokens the answer is cut with `max_tokens`.
    output_limit: Option<u64>,
    /// Bumped by everything Claude Code would see as progress (see [`Writer::progress`]).
    progress: u64,
    /// Removes secrets from the error that ends a failed stream.
    scrubber: Option<Arc<Scrubber>>,
}

/// The output a stream may produce past the request's `max_tokens` before it is cut: our
/// count is an estimate, so a backend that honours `max_tokens` is never cut by us.
pub fn output_limit_for(max_tokens: u64) -> u64 {
    max_tokens
        .saturating_add(max_tokens / 10)
        .saturating_add(256)
}

impl Writer {
    /// A writer with the given output.
    pub fn new(head: MessageHead, out: Output) -> Self {
        Writer {
            out,
            head,
            phase: Phase::New,
            next_index: 0,
            open: None,
            tool_blocks: 0,
            stop_reason: None,
            usage: None,
            failure: None,
            delivery: FailureDelivery::ErrorEvent,
            output: TokenCounter::default(),
            output_limit: None,
            progress: 0,
            scrubber: None,
        }
    }

    /// Removes `scrubber`'s secrets from the message of the error that ends the answer (an
    /// upstream error that echoes the key must not show it to Claude Code).
    pub fn scrub_errors(&mut self, scrubber: Arc<Scrubber>) {
        self.scrubber = Some(scrubber);
    }

    /// Cuts the answer with `stop_reason: max_tokens` once its output passes
    /// [`output_limit_for`]`(max_tokens)`: a runaway upstream that ignores the request's
    /// `max_tokens` cannot stream forever.
    pub fn limit_output(&mut self, max_tokens: u64) {
        self.output_limit = Some(output_limit_for(max_tokens));
    }

    /// The estimated output tokens written so far (a running count: cheap to ask once, not
    /// per piece).
    pub fn output_tokens(&self) -> u64 {
        self.output.total()
    }

    /// A number that changes whenever the answer makes progress Claude Code would see: a
    /// block opened, text, thinking or arguments with more than whitespace, a forwarded
    /// event. Pings, whitespace and empty pieces do not change it.
    pub fn progress(&self) -> u64 {
        self.progress
    }

    /// Counts written output and cuts the answer when it passes the limit.
    fn count_output(&mut self, text: &str) {
        self.output.push(text);
        if text.bytes().any(|b| !b.is_ascii_whitespace()) {
            self.progress += 1;
        }
        if let Some(limit) = self.output_limit
            && self.output.counted() > limit
        {
            let usage = Usage {
                input_tokens: self.head.input_tokens,
                output_tokens: self.output.total(),
                ..Usage::default()
            };
            self.finish(StopReason::MaxTokens, usage);
        }
    }

    /// The same writer, delivering a failure as `delivery` says.
    #[must_use]
    pub fn with_failure_delivery(mut self, delivery: FailureDelivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Whether the answer failed and is to end with its body aborted rather than an
    /// `event: error` ([`FailureDelivery::Abort`]).
    pub fn ends_by_abort(&self) -> bool {
        self.failure.is_some() && self.delivery == FailureDelivery::Abort
    }

    /// A writer of SSE bytes.
    pub fn sse(head: MessageHead) -> Self {
        Writer::new(head, Output::Sse(BytesMut::new()))
    }

    /// A writer that folds the answer into a [`Message`] (see [`Writer::into_message`]).
    pub fn message(head: MessageHead) -> Self {
        let fold = MessageFold::new(&head);
        Writer::new(head, Output::Message(Box::new(fold)))
    }

    /// A writer that keeps the events as values (see [`Writer::events`]).
    pub fn events(head: MessageHead) -> Self {
        Writer::new(head, Output::Events(Vec::new()))
    }

    /// Runs `f` with the SSE output swapped for `buf`, so the events land in the caller's
    /// buffer without a copy. For other outputs `f` runs unchanged.
    pub fn with_buffer<R>(&mut self, buf: &mut BytesMut, f: impl FnOnce(&mut Self) -> R) -> R {
        if let Output::Sse(own) = &mut self.out {
            std::mem::swap(own, buf);
            let r = f(self);
            if let Output::Sse(own) = &mut self.out {
                std::mem::swap(own, buf);
            }
            r
        } else {
            f(self)
        }
    }

    /// The SSE bytes written so far, taken (empty for other outputs).
    pub fn take_sse(&mut self) -> BytesMut {
        match &mut self.out {
            Output::Sse(buf) => buf.split(),
            _ => BytesMut::new(),
        }
    }

    /// The event values written so far, taken (empty for other outputs).
    pub fn take_events(&mut self) -> Vec<Event> {
        match &mut self.out {
            Output::Events(events) => std::mem::take(events),
            _ => Vec::new(),
        }
    }

    /// The folded message once the writer has finished; the error when it failed (or
    /// never ended). Only for [`Writer::message`] writers.
    pub fn into_message(self) -> Result<Message, ApiError> {
        if let Some(err) = self.failure {
            return Err(err);
        }
        match (self.out, self.phase) {
            (Output::Message(fold), Phase::Ended) => Ok(fold.message),
            _ => Err(ApiError::new(
                super::ErrorKind::Api,
                "the answer ended before it was complete",
            )),
        }
    }

    /// Writes `message_start`. Does nothing when already started; every other call
    /// starts the message itself when needed.
    pub fn start(&mut self) {
        if self.phase != Phase::New {
            return;
        }
        self.phase = Phase::Open;
        let usage = Usage {
            input_tokens: self.head.input_tokens,
            output_tokens: 1,
            ..Usage::default()
        };
        match &mut self.out {
            Output::Sse(buf) => Event::MessageStart {
                id: self.head.id.clone(),
                model: self.head.model.clone(),
                usage,
            }
            .encode_into(buf),
            Output::Message(_) => {}
            Output::Events(events) => events.push(Event::MessageStart {
                id: self.head.id.clone(),
                model: self.head.model.clone(),
                usage,
            }),
        }
    }

    /// Whether the answer has ended (finished or failed).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The error the answer failed with.
    pub fn failure(&self) -> Option<&ApiError> {
        self.failure.as_ref()
    }

    /// The stop reason, once finished normally.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop_reason
    }

    /// The final usage, once finished normally.
    pub fn final_usage(&self) -> Option<Usage> {
        self.usage
    }

    /// How many blocks were opened.
    pub fn blocks_started(&self) -> usize {
        self.next_index
    }

    /// How many `tool_use` blocks were opened.
    pub fn tool_blocks(&self) -> usize {
        self.tool_blocks
    }

    /// The kind of the open block, if one is open.
    pub fn open_block(&self) -> Option<BlockKind> {
        self.open.map(|o| o.kind)
    }

    /// The message head (id, model, estimate).
    pub fn head(&self) -> &MessageHead {
        &self.head
    }

    fn live(&mut self) -> bool {
        self.start();
        self.phase == Phase::Open
    }

    /// Answer text. Opens a text block unless one is open (closing any other block).
    /// Empty strings are ignored.
    pub fn text(&mut self, text: &str) {
        if text.is_empty() || !self.live() {
            return;
        }
        if self.open.map(|o| o.kind) != Some(BlockKind::Text) {
            self.open_block_of(BlockKind::Text, BlockStartRef::Text);
        }
        self.delta(DeltaKind::Text, text);
        self.count_output(text);
    }

    /// Reasoning text. Opens a thinking block unless an unsigned one is open (closing any
    /// other block). Empty strings are ignored.
    pub fn thinking(&mut self, text: &str) {
        if text.is_empty() || !self.live() {
            return;
        }
        if !matches!(self.open, Some(o) if o.kind == BlockKind::Thinking && !o.signed) {
            self.open_block_of(BlockKind::Thinking, BlockStartRef::Thinking);
        }
        if let Some(open) = &mut self.open {
            open.hash = fnv1a_continue(open.hash, text.as_bytes());
        }
        self.delta(DeltaKind::Thinking, text);
        self.count_output(text);
    }

    /// The open thinking block's signature (a provider's opaque reasoning state, see
    /// [`Signature`]); the block takes no more text after it. With no unsigned thinking
    /// block open, an empty thinking block is opened to carry it. A thinking block closed
    /// without this call is signed with ours over its text.
    pub fn thinking_signature(&mut self, signature: &Signature) {
        if !self.live() {
            return;
        }
        if !matches!(self.open, Some(o) if o.kind == BlockKind::Thinking && !o.signed) {
            self.open_block_of(BlockKind::Thinking, BlockStartRef::Thinking);
        }
        let encoded = signature.encode();
        self.delta(DeltaKind::Signature, &encoded);
        if let Some(open) = &mut self.open {
            open.signed = true;
        }
    }

    /// Opens a `tool_use` block (closing the open block).
    pub fn tool_start(&mut self, id: &str, name: &str) {
        if !self.live() {
            return;
        }
        self.tool_blocks += 1;
        self.open_block_of(BlockKind::ToolUse, BlockStartRef::ToolUse { id, name });
        self.progress += 1;
        self.count_output(name);
    }

    /// A fragment of the open tool call's JSON arguments. Ignored when empty or when no
    /// tool block is open.
    pub fn tool_args(&mut self, fragment: &str) {
        if fragment.is_empty() || !self.live() {
            return;
        }
        if self.open.map(|o| o.kind) != Some(BlockKind::ToolUse) {
            debug_assert!(false, "tool_args with no tool block open");
            return;
        }
        self.delta(DeltaKind::InputJson, fragment);
        self.count_output(fragment);
    }

    /// Closes the open block, if any (a thinking block is signed first).
    pub fn close_block(&mut self) {
        if self.phase != Phase::Open {
            return;
        }
        let Some(open) = self.open else {
            return;
        };
        if open.kind == BlockKind::Thinking && !open.signed {
            let signature = Signature::ours_from_hash(open.hash);
            self.delta(DeltaKind::Signature, &signature);
        }
        self.open = None;
        match &mut self.out {
            Output::Sse(buf) => encode_block_stop(buf, open.index),
            Output::Message(fold) => fold.block_stop(),
            Output::Events(events) => events.push(Event::BlockStop { index: open.index }),
        }
    }

    /// Ends the answer normally: closes the open block, then `message_delta` (with
    /// `stop_reason` and the final, cumulative `usage`) and `message_stop`.
    pub fn finish(&mut self, stop_reason: StopReason, usage: Usage) {
        self.finish_at(stop_reason, None, usage);
    }

    /// [`finish`](Self::finish) naming the stop sequence that matched.
    pub fn finish_at(
        &mut self,
        stop_reason: StopReason,
        stop_sequence: Option<&str>,
        usage: Usage,
    ) {
        if !self.live() {
            return;
        }
        self.close_block();
        self.phase = Phase::Ended;
        self.stop_reason = Some(stop_reason);
        self.usage = Some(usage);
        match &mut self.out {
            Output::Sse(buf) => {
                Event::MessageDelta {
                    stop_reason,
                    stop_sequence: stop_sequence.map(str::to_owned),
                    usage,
                }
                .encode_into(buf);
                encode_message_stop(buf);
            }
            Output::Message(fold) => {
                fold.message.stop_reason = Some(stop_reason);
                fold.message.stop_sequence = stop_sequence.map(str::to_owned);
                fold.message.usage = usage;
            }
            Output::Events(events) => {
                events.push(Event::MessageDelta {
                    stop_reason,
                    stop_sequence: stop_sequence.map(str::to_owned),
                    usage,
                });
                events.push(Event::MessageStop);
            }
        }
    }

    /// Ends the answer with `err`, following [`failure_ending`]. Nothing is written after.
    pub fn fail(&mut self, mut err: ApiError) {
        if !self.live() {
            return;
        }
        if let Some(scrubber) = &self.scrubber
            && let Cow::Owned(clean) = scrubber.scrub(&err.message)
        {
            err.message = clean;
        }
        if failure_ending(self.open.is_some()) == FailureEnding::OpenEmptyTextThenError {
            self.open_block_of(BlockKind::Text, BlockStartRef::Text);
        }
        self.phase = Phase::Ended;
        match &mut self.out {
            _ if self.delivery == FailureDelivery::Abort => {}
            Output::Sse(buf) => Event::Error(err.clone()).encode_into(buf),
            Output::Message(_) => {}
            Output::Events(events) => events.push(Event::Error(err.clone())),
        }
        self.failure = Some(err);
    }

    /// For the Anthropic pass-through: writes an upstream event as it came (`data`
    /// unchanged), keeping track of the message's start, its blocks and its end, so that
    /// a failure afterwards still ends the way [`failure_ending`] says. An upstream
    /// `error` event ends the answer with that error.
    pub fn forward_event(&mut self, name: &str, data: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        let scrubbed;
        let data = match &self.scrubber {
            Some(scrubber) if name == "error" => {
                scrubbed = scrubber.scrub(data).into_owned();
                scrubbed.as_str()
            }
            _ => data,
        };
        if name != "ping" {
            self.progress += 1;
        }
        match name {
            "message_start" if self.phase == Phase::New => self.phase = Phase::Open,
            // A second start (ours went out before the upstream's): not forwarded.
            "message_start" => return,
            "ping" => {}
            "error" => {
                self.start();
                if failure_ending(self.open.is_some()) == FailureEnding::OpenEmptyTextThenError {
                    self.open_block_of(BlockKind::Text, BlockStartRef::Text);
                }
                self.phase = Phase::Ended;
                self.failure = Some(
                    ApiError::from_anthropic_body(data.as_bytes()).unwrap_or_else(|| {
                        ApiError::new(super::ErrorKind::Api, "error event from Anthropic")
                    }),
                );
                if self.delivery == FailureDelivery::Abort {
                    return;
                }
            }
            _ => {
                self.start();
                match name {
                    "content_block_start" => {
                        #[derive(serde::Deserialize)]
                        struct Index {
                            index: usize,
                        }
                        let index = serde_json::from_str::<Index>(data)
                            .map_or(self.next_index, |i| i.index);
                        self.next_index = index + 1;
                        self.open = Some(OpenBlock {
                            index,
                            kind: BlockKind::Text,
                            hash: FNV_OFFSET,
                            // Never signed by us: the upstream's own signature passes through.
                            signed: true,
                        });
                    }
                    "content_block_stop" => self.open = None,
                    "message_stop" => self.phase = Phase::Ended,
                    _ => {}
                }
            }
        }
        if let Output::Sse(buf) = &mut self.out {
            buf.extend_from_slice(b"event: ");
            buf.extend_from_slice(name.as_bytes());
            for line in data.split('\n') {
                buf.extend_from_slice(b"\ndata: ");
                buf.extend_from_slice(line.as_bytes());
            }
            buf.extend_from_slice(b"\n\n");
        }
    }

    /// A keepalive `ping` (not after the end; before the start it does not start the
    /// message, so a pass-through's upstream `message_start` can still come first).
    pub fn ping(&mut self) {
        if self.phase == Phase::Ended {
            return;
        }
        match &mut self.out {
            Output::Sse(buf) => encode_ping(buf),
            Output::Message(_) => {}
            Output::Events(events) => events.push(Event::Ping),
        }
    }

    fn open_block_of(&mut self, kind: BlockKind, block: BlockStartRef<'_>) {
        self.close_block();
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(OpenBlock {
            index,
            kind,
            hash: FNV_OFFSET,
            signed: false,
        });
        match &mut self.out {
            Output::Sse(buf) => encode_block_start(buf, index, block),
            Output::Message(fold) => fold.block_start(block),
            Output::Events(events) => events.push(Event::BlockStart {
                index,
                block: block.to_owned_block(),
            }),
        }
    }

    fn delta(&mut self, kind: DeltaKind, value: &str) {
        let Some(open) = self.open else {
            return;
        };
        match &mut self.out {
            Output::Sse(buf) => encode_delta(buf, open.index, kind, value),
            Output::Message(fold) => fold.delta(kind, value),
            Output::Events(events) => events.push(Event::BlockDelta {
                index: open.index,
                delta: kind.to_delta(value),
            }),
        }
    }
}

/// How a failed stream ends, given whether a block is open when the failure comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEnding {
    /// Leave the open block open and write `event: error`.
    ErrorInOpenBlock,
    /// Open an empty text block, leave it open, and write `event: error`.
    OpenEmptyTextThenError,
}

/// The failure-ending policy, in one place so it can be adjusted.
///
/// Claude Code treats a stream that ends "`content_block_stop`, then `event: error`" as a
/// success with truncated text (2.0.77 shows the partial answer as if complete), while every
/// pinned version falls back to a non-streaming retry when `event: error` arrives with a
/// block still open. So the error is always written inside an open block: the one that was
/// open (no `content_block_stop`, no signature), or, when none is (a failure before the first
/// block or between blocks), a fresh empty text block. Nothing follows the error.
pub fn failure_ending(block_open: bool) -> FailureEnding {
    if block_open {
        FailureEnding::ErrorInOpenBlock
    } else {
        FailureEnding::OpenEmptyTextThenError
    }
}

/// How a failed stream reaches the client, learned from its `user-agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureDelivery {
    /// `event: error`, inside the open block (see [`failure_ending`]): every client but
    /// Claude Code 2.0.x.
    #[default]
    ErrorEvent,
    /// No error event: the block is left open (as [`failure_ending`] says) and the server
    /// aborts the body, which ends without its terminating chunk. For Claude Code 2.0.x
    /// (`claude-cli/2.0.…`): it shows no answer and no error (exit 0) for an `event: error`
    /// that comes after more than one text delta, and neither retries; an aborted body
    /// makes it retry without streaming, so the user sees the complete answer or the error
    /// (measured on 2.0.77, tests/it/e2e_endings.rs).
    Abort,
}

impl FailureDelivery {
    /// The delivery for a client sending this `user-agent` (Claude Code sends
    /// `claude-cli/<version> (external, …)`); [`ErrorEvent`](Self::ErrorEvent) for any other
    /// or none.
    pub fn for_user_agent(user_agent: Option<&str>) -> Self {
        let version = user_agent.and_then(|ua| ua.strip_prefix("claude-cli/"));
        if version.is_some_and(|v| v.starts_with("2.0.")) {
            FailureDelivery::Abort
        } else {
            FailureDelivery::ErrorEvent
        }
    }
}

/// One content block of a non-streamed answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Answer text.
    Text {
        /// The text.
        text: String,
    },
    /// Reasoning, with its signature.
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// The signature.
        signature: String,
    },
    /// A tool call.
    ToolUse {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments (a JSON object).
        input: Value,
    },
}

/// A non-streamed Anthropic answer (`"type":"message"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// `msg_…`.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always `assistant`.
    pub role: &'static str,
    /// The model name as Claude Code sent it.
    pub model: String,
    /// The blocks, in order.
    pub content: Vec<ContentBlock>,
    /// Why the model stopped.
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that matched.
    pub stop_sequence: Option<String>,
    /// Final usage.
    pub usage: Usage,
}

/// Folds written events into a [`Message`].
#[derive(Debug)]
pub struct MessageFold {
    message: Message,
    /// The open tool call's argument text.
    args: String,
}

impl MessageFold {
    fn new(head: &MessageHead) -> Self {
        MessageFold {
            message: Message {
                id: head.id.clone(),
                kind: "message",
                role: "assistant",
                model: head.model.clone(),
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: Usage::default(),
            },
            args: String::new(),
        }
    }

    fn block_start(&mut self, block: BlockStartRef<'_>) {
        self.message.content.push(match block {
            BlockStartRef::Text => ContentBlock::Text {
                text: String::new(),
            },
            BlockStartRef::Thinking => ContentBlock::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            BlockStartRef::ToolUse { id, name } => ContentBlock::ToolUse {
                id: id.to_owned(),
                name: name.to_owned(),
                input: Value::Object(serde_json::Map::new()),
            },
        });
        self.args.clear();
    }

    fn delta(&mut self, kind: DeltaKind, value: &str) {
        match (self.message.content.last_mut(), kind) {
            (Some(ContentBlock::Text { text }), DeltaKind::Text) => text.push_str(value),
            (Some(ContentBlock::Thinking { thinking, .. }), DeltaKind::Thinking) => {
                thinking.push_str(value)
            }
            (Some(ContentBlock::Thinking { signature, .. }), DeltaKind::Signature) => {
                signature.push_str(value)
            }
            (Some(ContentBlock::ToolUse { .. }), DeltaKind::InputJson) => self.args.push_str(value),
            _ => {}
        }
    }

    fn block_stop(&mut self) {
        if let Some(ContentBlock::ToolUse { input, .. }) = self.message.content.last_mut()
            && !self.args.trim().is_empty()
            && let Ok(value @ Value::Object(_)) = serde_json::from_str(&self.args)
        {
            *input = value;
        }
        self.args.clear();
    }
}

/// Checks the rules every emitted stream must follow; `Err` says which one broke where.
/// With `require_end`, the stream must also have ended (`message_stop` or `error`).
/// A thinking block's signature must be ours for exactly its text, or a provider's envelope.
pub fn check_events(events: &[Event], require_end: bool) -> Result<(), String> {
    #[derive(PartialEq)]
    enum Kind {
        Text,
        Thinking,
        Tool,
    }
    let mut open: Option<(usize, Kind, String, bool)> = None; // index, kind, content, signed
    let mut next = 0;
    let mut ended = false;
    let mut tool_blocks = 0;
    for (i, ev) in events.iter().enumerate() {
        let at = format!("event {i} ({})", ev.name());
        if ended {
            return Err(format!("{at}: after the end"));
        }
        if (i == 0) != matches!(ev, Event::MessageStart { .. }) {
            return Err(format!("{at}: message_start must be first and only first"));
        }
        match ev {
            Event::MessageStart { .. } | Event::Ping => {}
            Event::BlockStart { index, block } => {
                if open.is_some() {
                    return Err(format!("{at}: block opened while another is open"));
                }
                if *index != next {
                    return Err(format!("{at}: index {index}, expected {next}"));
                }
                next += 1;
                let kind = match block {
                    BlockStart::Text => Kind::Text,
                    BlockStart::Thinking => Kind::Thinking,
                    BlockStart::ToolUse { id, name } => {
                        if id.is_empty()
                            || !id
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        {
                            return Err(format!("{at}: bad tool id {id:?}"));
                        }
                        if name.is_empty() {
                            return Err(format!("{at}: empty tool name"));
                        }
                        tool_blocks += 1;
                        Kind::Tool
                    }
                };
                open = Some((*index, kind, String::new(), false));
            }
            Event::BlockDelta { index, delta } => {
                let Some((open_index, kind, content, signed)) = &mut open else {
                    return Err(format!("{at}: delta with no open block"));
                };
                if index != open_index {
                    return Err(format!("{at}: delta for {index}, open is {open_index}"));
                }
                if *signed {
                    return Err(format!("{at}: delta after the signature"));
                }
                match (kind, delta) {
                    (Kind::Text, Delta::Text(t)) | (Kind::Thinking, Delta::Thinking(t)) => {
                        if t.is_empty() {
                            return Err(format!("{at}: empty delta"));
                        }
                        content.push_str(t);
                    }
                    (Kind::Thinking, Delta::Signature(s)) => {
                        match Signature::decode(s, content) {
                            Signature::Ours { valid: true } | Signature::Provider { .. } => {}
                            _ => {
                                return Err(format!("{at}: signature does not match the thinking"));
                            }
                        }
                        *signed = true;
                    }
                    (Kind::Tool, Delta::InputJson(p)) => {
                        if p.is_empty() {
                            return Err(format!("{at}: empty input_json_delta"));
                        }
                        content.push_str(p);
                    }
                    _ => return Err(format!("{at}: wrong delta kind for the block")),
                }
            }
            Event::BlockStop { index } => {
                let Some((open_index, kind, content, signed)) = open.take() else {
                    return Err(format!("{at}: stop with no open block"));
                };
                if *index != open_index {
                    return Err(format!("{at}: stop for {index}, open is {open_index}"));
                }
                match kind {
                    Kind::Text if content.trim().is_empty() => {
                        return Err(format!("{at}: empty or whitespace-only text block"));
                    }
                    Kind::Thinking if !signed => {
                        return Err(format!("{at}: thinking block closed without a signature"));
                    }
                    _ => {}
                }
            }
            Event::MessageDelta { stop_reason, .. } => {
                if open.is_some() {
                    return Err(format!("{at}: message_delta with a block open"));
                }
                if !matches!(events.get(i + 1), Some(Event::MessageStop)) || events.len() != i + 2 {
                    return Err(format!("{at}: must be followed by message_stop, last"));
                }
                if (tool_blocks > 0) != (*stop_reason == StopReason::ToolUse) {
                    return Err(format!(
                        "{at}: stop_reason {stop_reason:?} with {tool_blocks} tool blocks"
                    ));
                }
            }
            Event::MessageStop => {
                if !matches!(
                    events.get(i.wrapping_sub(1)),
                    Some(Event::MessageDelta { .. })
                ) {
                    return Err(format!("{at}: message_stop without message_delta"));
                }
                ended = true;
            }
            Event::Error(_) => {
                // The failure ending: the error comes inside an open block, never after
                // closed ones (see `failure_ending`).
                if open.is_none() {
                    return Err(format!(
                        "{at}: error with no block open (it must come inside an open block)"
                    ));
                }
                ended = true;
            }
        }
    }
    if require_end && !ended {
        return Err("the stream did not end".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::ErrorKind;
    use crate::sse::SseDecoder;

    fn head() -> MessageHead {
        MessageHead {
            id: "msg_1".into(),
            model: "m".into(),
            input_tokens: 7,
        }
    }

    /// The same calls against the three outputs.
    fn script(w: &mut Writer) {
        w.start();
        w.thinking("let me ");
        w.thinking("think");
        w.text("");
        w.text("Hello");
        w.text(" world");
        w.tool_start("toolu_1", "Bash");
        w.tool_args("{\"command\":");
        w.tool_args("\"ls\"}");
        w.thinking("more");
        w.thinking_signature(&Signature::Provider {
            tag: "gemini".into(),
            data: "c2ln".into(),
        });
        w.tool_start("toolu_2", "Read");
        w.finish(
            StopReason::ToolUse,
            Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
        );
        w.text("after the end");
        w.fail(ApiError::new(ErrorKind::Api, "late"));
    }

    #[test]
    fn the_three_outputs_agree() {
        let mut events = Writer::events(head());
        script(&mut events);
        let list = events.take_events();
        check_events(&list, true).unwrap();

        let mut sse = Writer::sse(head());
        script(&mut sse);
        let bytes = sse.take_sse();
        let expected: String = list.iter().map(Event::encode_to_string).collect();
        // Same events, same JSON (field order may differ for block starts).
        let mut decoder = SseDecoder::new();
        let mut raw = Vec::new();
        decoder.push(&bytes, &mut raw).unwrap();
        let mut exp_raw = Vec::new();
        SseDecoder::new()
            .push(expected.as_bytes(), &mut exp_raw)
            .unwrap();
        assert_eq!(raw.len(), exp_raw.len());
        for (a, b) in raw.iter().zip(&exp_raw) {
            assert_eq!(a.event, b.event);
            let a: Value = serde_json::from_str(&a.data).unwrap();
            let b: Value = serde_json::from_str(&b.data).unwrap();
            assert_eq!(a, b);
        }

        let mut fold = Writer::message(head());
        script(&mut fold);
        let message = fold.into_message().unwrap();
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(json["stop_reason"], "tool_use");
        assert_eq!(json["usage"]["output_tokens"], 5);
        let types: Vec<&str> = json["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["thinking", "text", "tool_use", "thinking", "tool_use"]
        );
        assert_eq!(
            json["content"][0]["signature"],
            Signature::ours("let me think")
        );
        assert_eq!(json["content"][1]["text"], "Hello world");
        assert_eq!(
            json["content"][2]["input"],
            serde_json::json!({"command": "ls"})
        );
        assert_eq!(json["content"][3]["signature"], "anyclaude-s1.gemini.c2ln");
        assert_eq!(json["content"][4]["input"], serde_json::json!({}));
    }

    #[test]
    fn a_failure_ends_inside_an_open_block() {
        // A block is open: it stays open, unsigned, and the error follows.
        let mut w = Writer::events(head());
        w.thinking("hmm");
        w.fail(ApiError::new(ErrorKind::Api, "cut"));
        w.text("ignored");
        let events = w.take_events();
        check_events(&events, true).unwrap();
        assert!(matches!(events.last(), Some(Event::Error(_))));
        assert!(!events.iter().any(|e| matches!(
            e,
            Event::BlockStop { .. }
                | Event::BlockDelta {
                    delta: Delta::Signature(_),
                    ..
                }
        )));
        assert_eq!(w.failure().unwrap().message, "cut");

        // No block open (before the first, or between blocks): an empty text block opens.
        for before in [false, true] {
            let mut w = Writer::events(head());
            if before {
                w.text("done");
                w.close_block();
            }
            w.fail(ApiError::new(ErrorKind::Timeout, "idle"));
            let events = w.take_events();
            check_events(&events, true).unwrap();
            let n = events.len();
            assert!(matches!(
                &events[n - 2],
                Event::BlockStart {
                    block: BlockStart::Text,
                    ..
                }
            ));
            assert!(matches!(events[n - 1], Event::Error(_)));
        }
        // The non-stream fold reports the failure.
        let mut w = Writer::message(head());
        w.text("partial");
        w.fail(ApiError::new(ErrorKind::Api, "cut"));
        assert_eq!(w.into_message().unwrap_err().message, "cut");
    }

    #[test]
    fn claude_code_2_0_gets_an_abort_every_other_client_the_error_event() {
        use FailureDelivery::{Abort, ErrorEvent};
        for (user_agent, delivery) in [
            (Some("claude-cli/2.0.77 (external, sdk-cli)"), Abort),
            (Some("claude-cli/2.0.0 (external, cli)"), Abort),
            (Some("claude-cli/2.1.197 (external, sdk-cli)"), ErrorEvent),
            (Some("claude-cli/2.1.332 (external, cli)"), ErrorEvent),
            (Some("claude-cli/20.0.1"), ErrorEvent),
            (Some("claude-cli/1.0.128 (external, cli)"), ErrorEvent),
            (Some("curl/8.5.0 claude-cli/2.0.77"), ErrorEvent),
            (Some(""), ErrorEvent),
            (None, ErrorEvent),
        ] {
            assert_eq!(
                FailureDelivery::for_user_agent(user_agent),
                delivery,
                "{user_agent:?}"
            );
        }
    }

    #[test]
    fn an_aborted_failure_writes_no_error_but_leaves_the_block_open_and_records_it() {
        let sse_of = |delivery: FailureDelivery, before: bool| {
            let mut w = Writer::sse(head()).with_failure_delivery(delivery);
            if before {
                w.text("partial");
            }
            w.fail(ApiError::new(ErrorKind::Api, "cut"));
            w.text("ignored");
            let text = String::from_utf8(w.take_sse().to_vec()).unwrap();
            (w, text)
        };
        for before in [false, true] {
            let (w, aborted) = sse_of(FailureDelivery::Abort, before);
            assert!(w.is_finished() && w.ends_by_abort(), "{aborted}");
            assert_eq!(w.failure().unwrap().message, "cut");
            assert!(!aborted.contains("event: error"), "{aborted}");
            assert!(!aborted.contains("content_block_stop"), "{aborted}");
            assert!(!aborted.contains("ignored"), "{aborted}");
            // A block is open at the cut: the one that was, or an empty text block.
            assert!(aborted.contains("content_block_start"), "{aborted}");
            // The same stream as the error ending, without its last event.
            let (w, errored) = sse_of(FailureDelivery::ErrorEvent, before);
            assert!(!w.ends_by_abort());
            let error_at = errored.find("event: error").unwrap();
            assert_eq!(errored[..error_at], aborted);
        }
        // An upstream's own error event (the pass-through) is not forwarded either.
        let mut w = Writer::sse(head()).with_failure_delivery(FailureDelivery::Abort);
        w.forward_event("message_start", "{}");
        w.forward_event("content_block_start", r#"{"index":0}"#);
        w.forward_event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        let text = String::from_utf8(w.take_sse().to_vec()).unwrap();
        assert!(w.ends_by_abort());
        assert_eq!(w.failure().unwrap().message, "Overloaded");
        assert!(!text.contains("error"), "{text}");
        // A stream that finishes is not aborted, whatever the client.
        let mut w = Writer::sse(head()).with_failure_delivery(FailureDelivery::Abort);
        w.text("whole");
        w.finish(StopReason::EndTurn, Usage::default());
        assert!(!w.ends_by_abort());
    }

    #[test]
    fn the_checker_rejects_what_the_writer_never_writes() {
        let start = Event::MessageStart {
            id: "m".into(),
            model: "m".into(),
            usage: Usage::default(),
        };
        let err = || Event::Error(ApiError::new(ErrorKind::Api, "x"));
        let closed_then_error = [
            start.clone(),
            Event::BlockStart {
                index: 0,
                block: BlockStart::Text,
            },
            Event::BlockDelta {
                index: 0,
                delta: Delta::Text("a".into()),
            },
            Event::BlockStop { index: 0 },
            err(),
        ];
        assert!(check_events(&closed_then_error, true).is_err());
        let unsigned = [
            start.clone(),
            Event::BlockStart {
                index: 0,
                block: BlockStart::Thinking,
            },
            Event::BlockStop { index: 0 },
        ];
        assert!(check_events(&unsigned, false).is_err());
        let gap = [
            start,
            Event::BlockStart {
                index: 1,
                block: BlockStart::Text,
            },
        ];
        assert!(check_events(&gap, false).is_err());
    }
}

//! Reading a Responses answer: the stream (raw SSE bytes, split anywhere) or the whole
//! response object, written through the one Anthropic [`Writer`]. Pure and synchronous.
//!
//! Owned here: [`ResponsesDecoder`] and the rules that map Responses output to Anthropic
//! blocks:
//!
//! - **Items become blocks, in the order they were announced** (`response.output_item.added`):
//!   a `message` item becomes a text block, a `reasoning` item a thinking block, a
//!   `function_call` item a `tool_use` block. Increments name their item by `item_id` (for a
//!   call that is its `fc_…` id, not its `call_id`); the item's kind, call id and name come
//!   from its `output_item.added`. The first unfinished item streams live; increments of
//!   later items (interleaved parallel calls) are kept and written once every item before
//!   them is done, so one block is open at a time and each call's arguments stay whole.
//! - `response.output_text.delta` and `response.refusal.delta` → text (a refusal also makes
//!   the stop reason `refusal`). Leading whitespace is held until real text follows, so no
//!   whitespace-only text block is written.
//! - `response.reasoning_summary_text.delta` (and the raw `response.reasoning_text.delta`)
//!   → thinking; summary parts are joined by a blank line. When the reasoning item is done,
//!   its `encrypted_content` becomes the block's signature, as a provider envelope tagged
//!   with this route's tag ([`Signature::provider`]), so the reasoning goes back to the same
//!   provider on the next turn. A reasoning item with encrypted content but no summary
//!   still becomes a (empty) thinking block, to carry it.
//! - `response.function_call_arguments.delta` → `input_json_delta`. When a call is done its
//!   arguments must be a JSON object (empty → `{}`), otherwise the answer fails naming the
//!   tool. Names are mapped back through [`ToolNames`]; `call_id`s are made valid Anthropic
//!   ids, unique in the message.
//! - Whole texts in `*.done` events and `output_item.done` items are used only when no
//!   increment came for them (servers that send only the result).
//! - **The end**: `response.completed` → `end_turn` (`tool_use` when a call was written,
//!   `refusal` after a refusal); `response.incomplete` → `max_tokens` for
//!   `max_output_tokens`, `refusal` for `content_filter`; `response.failed` and `error`
//!   events → the writer fails with the provider's error in Anthropic's terms (context
//!   overflow in Anthropic's own words). A stream that ends without one of these events is
//!   a failure, never a silent end. Usage: `input_tokens` without the cached tokens,
//!   `cache_read_input_tokens` = `input_tokens_details.cached_tokens`, `output_tokens`
//!   (reasoning included); estimates where the provider gave none.
//! - A data line that is not a JSON event fails the answer; unknown event and item types
//!   (`response.created`, annotations, web search calls, …) are skipped.
//! - A non-streamed answer ([`AnswerDecoder::whole`]) goes through the same item rules; a
//!   body that turns out to be an event stream is read as one.

use std::collections::VecDeque;

use crate::anthropic::error::{ApiError, ErrorKind};
use crate::anthropic::stream::{StopReason, Usage};
use crate::anthropic::writer::Writer;
use crate::dialect::chat::response::{
    parse_tool_arguments, snippet, stream_error, tool_id_seed, unique_tool_id,
};
use crate::dialect::chat::wire_response::ErrorObject;
use crate::dialect::signature::Signature;
use crate::dialect::{AnswerDecoder, Whole};
use crate::sse::{SseDecoder, SseEvent};
use crate::translate::tokens::estimate_text_tokens;
use crate::translate::tool_names::ToolNames;

use super::wire::{OutputItem, ResponseObject, ResponseUsage, StreamEvent};

/// What reading one answer needs to know about its request.
#[derive(Debug, Clone, Default)]
pub struct DecodeContext {
    /// The tool names shortened for this request, to map calls back.
    pub tool_names: ToolNames,
    /// The tag of the signature envelope carrying encrypted reasoning (e.g.
    /// `responses@openai`): only a request to the same provider sends it back.
    pub signature_tag: String,
}

/// What an output item holds while it is being read.
#[derive(Debug)]
enum Body {
    Message {
        /// Leading whitespace, held until real text follows.
        held: String,
        /// Whether real text has been seen.
        started: bool,
    },
    Reasoning {
        /// The last summary (or content) part an increment belonged to.
        part: Option<u64>,
        /// The encrypted reasoning, once known.
        encrypted: Option<String>,
    },
    Call {
        call_id: String,
        name: String,
        /// All argument text so far.
        args: String,
        /// Bytes of `args` already written.
        sent: usize,
        /// Whether its `tool_use` block was opened.
        started: bool,
    },
    /// An item type anyclaude does not translate.
    Other,
}

#[derive(Debug)]
struct Item {
    id: Option<String>,
    output_index: Option<u64>,
    body: Body,
    /// Text or thinking not yet written (the item is not live yet).
    pending: String,
    /// Bytes of increments received (whole texts in `*.done` are used only when 0).
    received: usize,
    done: bool,
}

impl Item {
    fn new(id: Option<String>, output_index: Option<u64>, body: Body) -> Self {
        Item {
            id,
            output_index,
            body,
            pending: String::new(),
            received: 0,
            done: false,
        }
    }
}

/// The kind of item an increment implies, for increments of an item never announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Implied {
    Message,
    Reasoning,
    Call,
}

/// Reads one Responses answer into a [`Writer`]; see the module documentation.
#[derive(Debug)]
pub struct ResponsesDecoder {
    ctx: DecodeContext,
    sse: SseDecoder,
    scratch: Vec<SseEvent>,
    items: Vec<Item>,
    /// Indexes into `items` not yet written whole, in announcement order; the first is live.
    queue: VecDeque<usize>,
    /// Everything written (text, thinking, tool names and arguments), for the output
    /// estimate.
    emitted: String,
    used_ids: Vec<String>,
    refused: bool,
    /// `incomplete_details.reason` of an incomplete response.
    incomplete: Option<String>,
    upstream_usage: Option<ResponseUsage>,
    /// A terminal event was handled.
    ended: bool,
    /// `finish` found an event not terminated by a blank line.
    cut_at_eof: bool,
}

impl ResponsesDecoder {
    /// A decoder for one answer.
    pub fn new(ctx: DecodeContext) -> Self {
        ResponsesDecoder {
            ctx,
            sse: SseDecoder::new(),
            scratch: Vec::new(),
            items: Vec::new(),
            queue: VecDeque::new(),
            emitted: String::new(),
            used_ids: Vec::new(),
            refused: false,
            incomplete: None,
            upstream_usage: None,
            ended: false,
            cut_at_eof: false,
        }
    }

    fn handle_all(&mut self, events: &mut Vec<SseEvent>, w: &mut Writer) {
        for ev in events.drain(..) {
            if self.ended || w.is_finished() {
                continue;
            }
            if let Err(err) = self.handle(&ev, w) {
                w.fail(err);
            }
        }
    }

    fn handle(&mut self, ev: &SseEvent, w: &mut Writer) -> Result<(), ApiError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let mut event: StreamEvent = match serde_json::from_str(data) {
            Ok(event) => event,
            Err(e) => {
                let message = if self.cut_at_eof {
                    format!(
                        "the upstream stream ended in the middle of an event (the connection closed before the answer was complete): {}",
                        snippet(data, 200)
                    )
                } else {
                    format!(
                        "the upstream sent a stream event anyclaude cannot read ({e}): {}",
                        snippet(data, 200)
                    )
                };
                return Err(ApiError::new(ErrorKind::Api, message));
            }
        };
        if event.kind.is_empty()
            && let Some(name) = ev.event.as_deref()
        {
            event.kind = name.to_owned();
        }
        self.event(event, w)
    }

    fn event(&mut self, ev: StreamEvent, w: &mut Writer) -> Result<(), ApiError> {
        match ev.kind.as_str() {
            "response.output_item.added" => {
                if let Some(item) = ev.item {
                    self.announce(item, ev.output_index);
                }
            }
            "response.output_item.done" => {
                if let Some(item) = ev.item {
                    self.item_done(item, ev.output_index);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if ev.kind == "response.refusal.delta" {
                    self.refused = true;
                }
                let i = self.item_for(&ev, Implied::Message);
                self.text(i, ev.delta.as_deref().unwrap_or(""));
            }
            "response.output_text.done" | "response.refusal.done" => {
                let whole = if ev.kind == "response.refusal.done" {
                    self.refused = true;
                    ev.refusal.as_deref().or(ev.text.as_deref())
                } else {
                    ev.text.as_deref()
                };
                let i = self.item_for(&ev, Implied::Message);
                if self.items[i].received == 0 {
                    self.text(i, whole.unwrap_or(""));
                }
            }
            "response.reasoning_summary_text.delta" => {
                let i = self.item_for(&ev, Implied::Reasoning);
                self.thinking(i, ev.summary_index.unwrap_or(0), ev.delta.as_deref());
            }
            "response.reasoning_text.delta" => {
                // Raw reasoning (servers that show it): kept apart from summary parts.
                let i = self.item_for(&ev, Implied::Reasoning);
                let part = RAW_PART | ev.content_index.unwrap_or(0);
                self.thinking(i, part, ev.delta.as_deref());
            }
            "response.reasoning_summary_text.done" => {
                let i = self.item_for(&ev, Implied::Reasoning);
                if self.items[i].received == 0 {
                    self.thinking(i, ev.summary_index.unwrap_or(0), ev.text.as_deref());
                }
            }
            "response.function_call_arguments.delta" => {
                let i = self.item_for(&ev, Implied::Call);
                if let Some(delta) = ev.delta.as_deref() {
                    self.items[i].received += delta.len();
                    if let Body::Call { args, .. } = &mut self.items[i].body {
                        args.push_str(delta);
                    }
                }
            }
            "response.function_call_arguments.done" => {
                let i = self.item_for(&ev, Implied::Call);
                if let Some(whole) = ev.arguments.as_deref() {
                    complete_arguments(&mut self.items[i], whole);
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = ev.response.unwrap_or_default();
                return self.end(response, w);
            }
            "response.failed" => {
                let response = ev.response.unwrap_or_default();
                return Err(failure(&response));
            }
            "error" => return Err(error_event(&ev)),
            // response.created, .in_progress, content parts, annotations, …: nothing to
            // write.
            _ => return Ok(()),
        }
        self.advance(w)
    }

    /// The item an increment belongs to: by `item_id`, else by `output_index`; an item
    /// never announced is created with the kind the increment implies.
    fn item_for(&mut self, ev: &StreamEvent, implied: Implied) -> usize {
        let found = match (&ev.item_id, ev.output_index) {
            (Some(id), _) => self
                .items
                .iter()
                .rposition(|it| it.id.as_deref() == Some(id.as_str())),
            (None, Some(index)) => self
                .items
                .iter()
                .rposition(|it| it.output_index == Some(index)),
            (None, None) => self.queue.back().copied(),
        };
        if let Some(i) = found {
            return i;
        }
        let body = match implied {
            Implied::Message => message_body(),
            Implied::Reasoning => reasoning_body(None),
            Implied::Call => Body::Call {
                call_id: String::new(),
                name: String::new(),
                args: String::new(),
                sent: 0,
                started: false,
            },
        };
        self.push_item(Item::new(ev.item_id.clone(), ev.output_index, body))
    }

    fn push_item(&mut self, item: Item) -> usize {
        let i = self.items.len();
        self.items.push(item);
        self.queue.push_back(i);
        i
    }

    /// `response.output_item.added`.
    fn announce(&mut self, item: OutputItem, output_index: Option<u64>) {
        if let Some(id) = &item.id
            && let Some(i) = self
                .items
                .iter()
                .rposition(|it| it.id.as_deref() == Some(id.as_str()))
        {
            // Announced twice, or increments came first: fill in what the item says.
            fill_call(&mut self.items[i], &item);
            return;
        }
        let body = match item.kind.as_str() {
            "message" => message_body(),
            "reasoning" => reasoning_body(item.encrypted_content.clone()),
            "function_call" => Body::Call {
                call_id: item.call_id.clone().unwrap_or_default(),
                name: item.name.clone().unwrap_or_default(),
                args: String::new(),
                sent: 0,
                started: false,
            },
            _ => Body::Other,
        };
        let i = self.push_item(Item::new(item.id.clone(), output_index, body));
        // Some servers announce a call with its arguments already there.
        if let Some(args) = item.arguments.as_deref().filter(|a| !a.is_empty()) {
            complete_arguments(&mut self.items[i], args);
        }
    }

    /// `response.output_item.done`: the item whole, used for what no increment brought.
    fn item_done(&mut self, item: OutputItem, output_index: Option<u64>) {
        let found = item
            .id
            .as_deref()
            .and_then(|id| {
                self.items
                    .iter()
                    .rposition(|it| it.id.as_deref() == Some(id))
            })
            .or_else(|| {
                output_index.and_then(|index| {
                    self.items
                        .iter()
                        .rposition(|it| it.output_index == Some(index) && !it.done)
                })
            });
        let i = match found {
            Some(i) => i,
            None => {
                self.announce(item.clone(), output_index);
                self.items.len() - 1
            }
        };
        self.absorb_whole(i, &item);
        self.items[i].done = true;
    }

    /// Takes from a whole item what its increments did not bring.
    fn absorb_whole(&mut self, i: usize, item: &OutputItem) {
        let fresh = self.items[i].received == 0;
        match kind_of(&self.items[i].body) {
            Some(Implied::Message) if fresh => {
                for part in &item.content {
                    if part.kind == "refusal" {
                        self.refused = true;
                        self.text(i, part.refusal.as_deref().unwrap_or(""));
                    } else {
                        self.text(i, part.text.as_deref().unwrap_or(""));
                    }
                }
            }
            Some(Implied::Reasoning) => {
                if fresh {
                    for (n, part) in item.summary.iter().enumerate() {
                        self.thinking(i, n as u64, Some(&part.text));
                    }
                    if item.summary.is_empty() {
                        for (n, part) in item.content.iter().enumerate() {
                            self.thinking(i, RAW_PART | n as u64, part.text.as_deref());
                        }
                    }
                }
                if let Body::Reasoning { encrypted, .. } = &mut self.items[i].body
                    && let Some(enc) = item.encrypted_content.as_deref().filter(|e| !e.is_empty())
                {
                    *encrypted = Some(enc.to_owned());
                }
            }
            Some(Implied::Call) => {
                fill_call(&mut self.items[i], item);
                if let Some(args) = item.arguments.as_deref() {
                    complete_arguments(&mut self.items[i], args);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, i: usize, delta: &str) {
        if delta.is_empty() {
            return;
        }
        let item = &mut self.items[i];
        item.received += delta.len();
        let Body::Message { held, started } = &mut item.body else {
            return;
        };
        if *started {
            item.pending.push_str(delta);
            return;
        }
        held.push_str(delta);
        if held.trim().is_empty() {
            return;
        }
        *started = true;
        item.pending.push_str(held);
        held.clear();
    }

    fn thinking(&mut self, i: usize, part: u64, delta: Option<&str>) {
        let Some(delta) = delta.filter(|d| !d.is_empty()) else {
            return;
        };
        let item = &mut self.items[i];
        let Body::Reasoning { part: last, .. } = &mut item.body else {
            return;
        };
        if item.received > 0 && *last != Some(part) {
            item.pending.push_str("\n\n");
        }
        *last = Some(part);
        item.received += delta.len();
        item.pending.push_str(delta);
    }

    /// Writes what the live item holds, and every item after it that is already done.
    fn advance(&mut self, w: &mut Writer) -> Result<(), ApiError> {
        while let Some(&head) = self.queue.front() {
            self.flush(head, w);
            if !self.items[head].done {
                break;
            }
            self.complete(head, w)?;
            self.queue.pop_front();
        }
        Ok(())
    }

    /// Writes what the item holds that is not written yet.
    fn flush(&mut self, i: usize, w: &mut Writer) {
        let item = &mut self.items[i];
        match &mut item.body {
            Body::Message { .. } => {
                if !item.pending.is_empty() {
                    w.text(&item.pending);
                    self.emitted.push_str(&item.pending);
                    item.pending.clear();
                }
            }
            Body::Reasoning { .. } => {
                if !item.pending.is_empty() {
                    w.thinking(&item.pending);
                    self.emitted.push_str(&item.pending);
                    item.pending.clear();
                }
            }
            Body::Call {
                call_id,
                name,
                args,
                sent,
                started,
            } => {
                if name.is_empty() {
                    return;
                }
                if !*started {
                    let seed = tool_id_seed(&w.head().id, self.used_ids.len());
                    let id = unique_tool_id(call_id, seed, &mut self.used_ids);
                    let original = self.ctx.tool_names.original(name);
                    w.tool_start(&id, original);
                    self.emitted.push_str(original);
                    *started = true;
                }
                if *sent < args.len() {
                    w.tool_args(&args[*sent..]);
                    self.emitted.push_str(&args[*sent..]);
                    *sent = args.len();
                }
            }
            Body::Other => {}
        }
    }

    /// Ends the live item's block (it is done and flushed).
    fn complete(&mut self, i: usize, w: &mut Writer) -> Result<(), ApiError> {
        let hint = self
            .incomplete
            .as_deref()
            .filter(|r| *r == "max_output_tokens")
            .map(|_| "length");
        let received = self.items[i].received;
        match &mut self.items[i].body {
            Body::Message { started, .. } => {
                if *started {
                    w.close_block();
                }
            }
            Body::Reasoning { encrypted, .. } => {
                if let Some(enc) = encrypted.as_deref() {
                    w.thinking_signature(&Signature::provider(&self.ctx.signature_tag, enc));
                    w.close_block();
                } else if received > 0 {
                    w.close_block();
                }
            }
            Body::Call {
                name, args, sent, ..
            } => {
                if name.is_empty() {
                    return Err(ApiError::new(
                        ErrorKind::Api,
                        "the model made a tool call without a tool name, so it cannot be passed on",
                    ));
                }
                parse_tool_arguments(self.ctx.tool_names.original(name), args, hint)?;
                if args.trim().is_empty() {
                    // A call without arguments: what is written must still join into an
                    // object.
                    args.clear();
                    args.push_str("{}");
                    *sent = 0;
                }
                self.flush(i, w);
                w.close_block();
            }
            Body::Other => {}
        }
        Ok(())
    }

    /// `response.completed` / `.incomplete`, or a whole response: writes every item left,
    /// then finishes with the stop reason and usage.
    fn end(&mut self, response: ResponseObject, w: &mut Writer) -> Result<(), ApiError> {
        self.ended = true;
        if response.status == "incomplete" || response.incomplete_details.is_some() {
            self.incomplete = Some(
                response
                    .incomplete_details
                    .as_ref()
                    .and_then(|d| d.reason.clone())
                    .unwrap_or_default(),
            );
        }
        if self.items.is_empty() {
            // A server that sent only the final response (or a whole answer).
            for item in &response.output {
                self.item_done(item.clone(), None);
            }
        }
        for item in &mut self.items {
            item.done = true;
        }
        self.advance(w)?;
        self.upstream_usage = response.usage;
        let stop_reason = if w.tool_blocks() > 0 {
            StopReason::ToolUse
        } else {
            match self.incomplete.as_deref() {
                Some("max_output_tokens") => StopReason::MaxTokens,
                Some("content_filter") => StopReason::Refusal,
                _ if self.refused => StopReason::Refusal,
                _ => StopReason::EndTurn,
            }
        };
        let usage = self.current_usage(w);
        w.finish(stop_reason, usage);
        Ok(())
    }

    fn current_usage(&self, w: &Writer) -> Usage {
        final_usage(self.upstream_usage.as_ref(), w.head().input_tokens, || {
            estimate_text_tokens(&self.emitted)
        })
    }
}

/// Part keys of raw reasoning text, apart from summary part indexes.
const RAW_PART: u64 = 1 << 32;

fn kind_of(body: &Body) -> Option<Implied> {
    match body {
        Body::Message { .. } => Some(Implied::Message),
        Body::Reasoning { .. } => Some(Implied::Reasoning),
        Body::Call { .. } => Some(Implied::Call),
        Body::Other => None,
    }
}

fn message_body() -> Body {
    Body::Message {
        held: String::new(),
        started: false,
    }
}

fn reasoning_body(encrypted: Option<String>) -> Body {
    Body::Reasoning {
        part: None,
        encrypted: encrypted.filter(|e| !e.is_empty()),
    }
}

/// Fills a call's id and name from a whole item where they are still unknown.
fn fill_call(item: &mut Item, whole: &OutputItem) {
    if let Body::Call { call_id, name, .. } = &mut item.body {
        if call_id.is_empty()
            && let Some(id) = &whole.call_id
        {
            call_id.clone_from(id);
        }
        if name.is_empty()
            && let Some(n) = &whole.name
        {
            name.clone_from(n);
        }
    }
}

/// A call's whole arguments: taken when no fragment came, or to complete the fragments
/// when they are a prefix of it.
fn complete_arguments(item: &mut Item, whole: &str) {
    if let Body::Call { args, .. } = &mut item.body
        && whole.len() > args.len()
        && whole.starts_with(args.as_str())
    {
        args.push_str(&whole[args.len()..]);
    }
}

/// The final usage: the provider's counts where non-zero (`input_tokens` without the
/// cached ones, which are reported as cache reads), otherwise the estimates.
pub fn final_usage(
    upstream: Option<&ResponseUsage>,
    input_estimate: u64,
    output_estimate: impl FnOnce() -> u64,
) -> Usage {
    let input = upstream.and_then(|u| u.input_tokens).filter(|&n| n > 0);
    let output = upstream.and_then(|u| u.output_tokens).filter(|&n| n > 0);
    let (input_tokens, cache_read) = match (input, upstream) {
        (Some(input), Some(u)) => {
            let cached = u.cached_tokens().min(input);
            (input - cached, cached)
        }
        _ => (input_estimate, 0),
    };
    Usage {
        input_tokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cache_read,
        output_tokens: output.unwrap_or_else(output_estimate),
    }
}

/// The error of a `response.failed` (or a whole response whose status is `failed`).
fn failure(response: &ResponseObject) -> ApiError {
    match response.error.as_ref().and_then(ErrorObject::from_value) {
        Some(obj) => stream_error(&obj),
        None => ApiError::new(
            ErrorKind::Api,
            "the upstream reported that the response failed, without saying why",
        ),
    }
}

/// The error of an `error` event: `{code, message, param}`, or the error nested.
fn error_event(ev: &StreamEvent) -> ApiError {
    let nested = ev.error.as_ref().and_then(ErrorObject::from_value);
    let obj = nested.unwrap_or_else(|| ErrorObject {
        message: ev.message.clone(),
        code: ev.code.clone(),
        param: ev.param.clone(),
        ..ErrorObject::default()
    });
    if obj.message.is_none() && obj.code.is_none() && obj.kind.is_none() {
        return ApiError::new(
            ErrorKind::Api,
            "the upstream sent an error event without a message",
        );
    }
    stream_error(&obj)
}

impl AnswerDecoder for ResponsesDecoder {
    fn push(&mut self, bytes: &[u8], w: &mut Writer) {
        w.start();
        if self.ended || w.is_finished() {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        let decoded = self.sse.push(bytes, &mut events);
        self.handle_all(&mut events, w);
        self.scratch = events;
        if let Err(e) = decoded {
            w.fail(ApiError::new(ErrorKind::Api, e.to_string()));
        }
    }

    fn finish(&mut self, w: &mut Writer) {
        w.start();
        if self.ended || w.is_finished() {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        self.cut_at_eof = self.sse.has_pending();
        let decoded = self.sse.finish(&mut events);
        self.handle_all(&mut events, w);
        self.scratch = events;
        if let Err(e) = decoded {
            w.fail(ApiError::new(ErrorKind::Api, e.to_string()));
        }
        if !self.ended {
            w.fail(ApiError::new(
                ErrorKind::Api,
                "the upstream stream ended before the response was complete (no response.completed): the answer is incomplete",
            ));
        }
    }

    fn whole(&mut self, body: &[u8], w: &mut Writer) -> Whole {
        let text = String::from_utf8_lossy(body);
        let lead = text.trim_start();
        if ["event:", "data:", ":", "id:", "retry:"]
            .iter()
            .any(|field| lead.starts_with(field))
        {
            // Asked for a whole answer, sent a stream: read it as one.
            self.push(body, w);
            self.finish(w);
            return Whole::Folded;
        }
        w.start();
        let response: ResponseObject = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                let err = match ErrorObject::from_body(body) {
                    Some(obj) => stream_error(&obj),
                    None => ApiError::new(
                        ErrorKind::Api,
                        format!(
                            "the upstream sent a body that is not a Responses answer ({e}): {}",
                            snippet(&text, 200)
                        ),
                    ),
                };
                w.fail(err);
                return Whole::Folded;
            }
        };
        let result = match response.status.as_str() {
            "completed" | "incomplete" => self.end(response, w),
            "failed" => Err(failure(&response)),
            "" if response.error.is_some() => Err(failure(&response)),
            other => Err(ApiError::new(
                ErrorKind::Api,
                format!(
                    "the upstream answered before the response was complete (status {other:?})"
                ),
            )),
        };
        if let Err(err) = result {
            w.fail(err);
        }
        Whole::Folded
    }

    fn usage_reported(&self) -> bool {
        self.upstream_usage.is_some()
    }

    fn usage(&self, w: &Writer) -> Usage {
        self.current_usage(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::stream::{BlockStart, Delta, Event};
    use crate::anthropic::writer::{MessageHead, check_events};
    use crate::dialect::testing::{
        Rng, check_fixtures, fixture_dir, message_of, random_chunks, transcript,
    };
    use proptest::prelude::*;
    use serde_json::json;

    const TAG: &str = "responses@openai";
    const LONG_TOOL: &str =
        "mcp__github__create_pull_request_review_comment_with_suggestion_and_thread_resolution";

    fn head() -> MessageHead {
        MessageHead {
            id: "msg_test".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: 100,
        }
    }

    fn ctx() -> DecodeContext {
        let mut tool_names = ToolNames::default();
        tool_names.upstream_name(LONG_TOOL);
        DecodeContext {
            tool_names,
            signature_tag: TAG.into(),
        }
    }

    /// Replays `chunks` as one stream; checks that nothing is written after the end.
    fn run(chunks: &[&[u8]]) -> (Vec<Event>, ResponsesDecoder, Writer) {
        let mut d = ResponsesDecoder::new(ctx());
        let mut w = Writer::events(head());
        d.start(&mut w);
        for c in chunks {
            d.push(c, &mut w);
        }
        d.finish(&mut w);
        let mut out = w.take_events();
        d.push(b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"late\"}\n\n", &mut w);
        d.finish(&mut w);
        w.fail(ApiError::new(ErrorKind::Api, "late"));
        let late = w.take_events();
        assert!(late.is_empty(), "events after the end: {late:?}");
        out.shrink_to_fit();
        (out, d, w)
    }

    fn run_str(body: &str) -> Vec<Event> {
        run(&[body.as_bytes()]).0
    }

    /// Every `responses_*` fixture replays identically however split, keeps the writer's
    /// rules, folds into the same message and matches its `.expected` transcript.
    #[test]
    fn fixtures() {
        check_fixtures(
            |name| name.starts_with("responses_"),
            10,
            &head(),
            |chunks| run(chunks).0,
            folded_message,
        );
    }

    /// The same body as a whole answer (read as the stream it is) through a message
    /// writer: the non-streamed answer.
    fn folded_message(body: &[u8]) -> Result<serde_json::Value, String> {
        let mut d = ResponsesDecoder::new(ctx());
        let mut w = Writer::message(head());
        d.whole(body, &mut w);
        w.into_message()
            .map(|m| serde_json::to_value(m).unwrap())
            .map_err(|e| e.message)
    }

    fn fixture(name: &str) -> (Vec<Event>, ResponsesDecoder, Writer) {
        let body = std::fs::read(fixture_dir().join(format!("{name}.sse"))).unwrap();
        run(&[&body])
    }

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

    /// Each block's content joined: (kind, text or arguments, signature).
    fn blocks(events: &[Event]) -> Vec<(&'static str, String, String)> {
        let mut out: Vec<(&'static str, String, String)> = Vec::new();
        for e in events {
            match e {
                Event::BlockStart { block, .. } => out.push((
                    match block {
                        BlockStart::Text => "text",
                        BlockStart::Thinking => "thinking",
                        BlockStart::ToolUse { .. } => "tool_use",
                    },
                    String::new(),
                    String::new(),
                )),
                Event::BlockDelta { delta, .. } => {
                    let last = out.last_mut().unwrap();
                    match delta {
                        Delta::Text(t) | Delta::Thinking(t) | Delta::InputJson(t) => {
                            last.1.push_str(t)
                        }
                        Delta::Signature(s) => last.2.push_str(s),
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn ending(events: &[Event]) -> Option<(StopReason, Usage)> {
        events.iter().find_map(|e| match e {
            Event::MessageDelta {
                stop_reason, usage, ..
            } => Some((*stop_reason, *usage)),
            _ => None,
        })
    }

    fn error(events: &[Event]) -> &ApiError {
        match events.last() {
            Some(Event::Error(err)) => err,
            other => panic!("no error at the end: {other:?}"),
        }
    }

    #[test]
    fn text_with_usage() {
        let (events, d, w) = fixture("responses_text");
        assert_eq!(
            blocks(&events),
            [(
                "text",
                "Hello! How can I help you today? ✨".into(),
                String::new()
            )]
        );
        let (stop, usage) = ending(&events).unwrap();
        assert_eq!(stop, StopReason::EndTurn);
        assert_eq!(
            usage,
            Usage {
                input_tokens: 1532,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: 14
            }
        );
        assert_eq!(d.usage(&w), usage);
    }

    #[test]
    fn interleaved_parallel_calls_come_out_whole_and_in_order() {
        let (events, _, _) = fixture("responses_parallel_tools");
        assert_eq!(
            tool_starts(&events),
            [
                ("call_Bash7f3a".to_owned(), "Bash".to_owned()),
                ("call_Read91c2".to_owned(), "Read".to_owned())
            ]
        );
        let b = blocks(&events);
        assert_eq!(b[0].1, "I'll run both.");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&b[1].1).unwrap(),
            json!({"command": "ls -la /tmp", "description": "List /tmp"})
        );
        assert_eq!(b[2].1, "{\"file_path\":\"/etc/hosts\"}");
        // The first call streams live, in its own fragments.
        let first_call_deltas = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::BlockDelta {
                        index: 1,
                        delta: Delta::InputJson(_)
                    }
                )
            })
            .count();
        assert_eq!(first_call_deltas, 5);
        let (stop, usage) = ending(&events).unwrap();
        assert_eq!(stop, StopReason::ToolUse);
        assert_eq!(
            (usage.input_tokens, usage.cache_read_input_tokens),
            (4200 - 3968, 3968)
        );
    }

    #[test]
    fn reasoning_summary_carries_the_encrypted_reasoning() {
        let (events, _, _) = fixture("responses_reasoning_text_call");
        let b = blocks(&events);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].0, "thinking");
        assert_eq!(
            b[0].1,
            "**Checking the files**\n\nI should list the directory first.\n\n**Planning**\n\nThen read the config."
        );
        let sig = Signature::decode(&b[0].2, &b[0].1);
        assert_eq!(
            sig.provider_data(TAG),
            Some(
                "gAAAAABpKx1rEncryptedReasoning_0123456789-abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJ=="
            )
        );
        assert_eq!(sig.provider_data("responses@azure"), None);
        assert_eq!(
            (b[1].0, b[1].1.as_str()),
            ("text", "Let me look at the directory.")
        );
        assert_eq!(
            (b[2].0, b[2].1.as_str()),
            ("tool_use", "{\"command\":\"ls\"}")
        );
        let (stop, usage) = ending(&events).unwrap();
        assert_eq!(stop, StopReason::ToolUse);
        assert_eq!(
            (
                usage.input_tokens,
                usage.cache_read_input_tokens,
                usage.output_tokens
            ),
            (1024, 1024, 320)
        );
    }

    #[test]
    fn encrypted_reasoning_without_a_summary_is_an_empty_signed_block() {
        let (events, _, _) = fixture("responses_usage_cached_reasoning");
        let b = blocks(&events);
        assert_eq!(b[0].0, "thinking");
        assert_eq!(b[0].1, "");
        assert!(Signature::decode(&b[0].2, "").provider_data(TAG).is_some());
        assert_eq!(b[1].1, "Done: 42.");
        let (_, usage) = ending(&events).unwrap();
        assert_eq!(
            usage,
            Usage {
                input_tokens: 52000 - 48128,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 48128,
                output_tokens: 900
            }
        );
    }

    #[test]
    fn endings() {
        let (events, _, _) = fixture("responses_incomplete");
        assert_eq!(ending(&events).unwrap().0, StopReason::MaxTokens);
        let (events, _, _) = fixture("responses_refusal");
        assert_eq!(ending(&events).unwrap().0, StopReason::Refusal);
        assert_eq!(blocks(&events)[0].1, "I'm sorry, I can't help with that.");

        let (events, _, w) = fixture("responses_failed");
        let err = error(&events);
        assert_eq!(err.kind, ErrorKind::Api);
        assert!(
            err.message.contains("The model produced invalid content"),
            "{}",
            err.message
        );
        assert_eq!(w.failure(), Some(err));

        let (events, _, _) = fixture("responses_failed_context");
        let err = error(&events);
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(
            err.message.starts_with("prompt is too long"),
            "{}",
            err.message
        );

        let (events, _, _) = fixture("responses_error_event");
        let err = error(&events);
        assert_eq!(err.kind, ErrorKind::RateLimit);
        assert!(
            err.message.contains("Rate limit reached"),
            "{}",
            err.message
        );

        let (events, _, _) = fixture("responses_eof_mid_call");
        assert!(error(&events).message.contains("no response.completed"));
    }

    fn ev(value: serde_json::Value) -> String {
        format!(
            "event: {}\ndata: {value}\n\n",
            value["type"].as_str().unwrap()
        )
    }

    fn completed() -> String {
        ev(
            json!({"type": "response.completed", "response": {"status": "completed",
            "usage": {"input_tokens": 10, "output_tokens": 3}}}),
        )
    }

    #[test]
    fn increments_without_announcements_and_whole_texts_only_at_done() {
        // No output_item.added at all: deltas create their items.
        let body = [
            ev(json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "delta": "  "})),
            ev(json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "delta": "hi"})),
            ev(json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "{}"})),
            ev(json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "function_call", "id": "fc_1", "call_id": "call 1", "name": "Bash", "arguments": "{}"}})),
            completed(),
        ]
        .concat();
        let events = run_str(&body);
        check_events(&events, true).unwrap();
        let b = blocks(&events);
        assert_eq!(
            b[0].1, "  hi",
            "held whitespace is kept once real text follows"
        );
        assert_eq!(
            tool_starts(&events)[0],
            ("call_1".to_owned(), "Bash".to_owned())
        );

        // Only whole texts: taken from the done events and items.
        let body = [
            ev(json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}})),
            ev(json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}], "encrypted_content": "enc"}})),
            ev(json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "id": "msg_1", "content": []}})),
            ev(json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1, "text": "whole"})),
            ev(json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "whole"}]}})),
            ev(json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": LONG_TOOL.chars().take(50).collect::<String>() + "_x"}})),
            ev(json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 2, "arguments": ""})),
            completed(),
        ]
        .concat();
        let events = run_str(&body);
        check_events(&events, true).unwrap();
        let b = blocks(&events);
        assert_eq!(b[0].1, "a\n\nb");
        assert_eq!(
            Signature::decode(&b[0].2, "").provider_data(TAG),
            Some("enc")
        );
        assert_eq!(b[1].1, "whole");
        assert_eq!(b[2].1, "{}", "a call without arguments gets {{}}");

        // Only the final response: its output is read like a whole answer.
        let body = ev(
            json!({"type": "response.completed", "response": {"status": "completed", "output": [
            {"type": "message", "id": "m", "content": [{"type": "output_text", "text": "only at the end"}]}]}}),
        );
        let (events, _, w) = run(&[body.as_bytes()]);
        check_events(&events, true).unwrap();
        assert_eq!(blocks(&events)[0].1, "only at the end");
        let (_, usage) = ending(&events).unwrap();
        assert_eq!(
            usage.input_tokens, 100,
            "the estimate when the provider gave no usage"
        );
        assert!(usage.output_tokens > 0);
        assert!(w.is_finished());
    }

    #[test]
    fn whitespace_only_text_and_bad_calls() {
        let body = [
            ev(json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "\n\n"})),
            ev(json!({"type": "response.output_item.done", "item": {"type": "message", "id": "msg_1"}})),
            completed(),
        ]
        .concat();
        let events = run_str(&body);
        check_events(&events, true).unwrap();
        assert!(blocks(&events).is_empty());

        let bad = [
            ev(json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "Bash"}})),
            ev(json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "[1]"})),
            ev(json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "function_call", "id": "fc_1"}})),
            completed(),
        ]
        .concat();
        let events = run_str(&bad);
        check_events(&events, true).unwrap();
        assert!(error(&events).message.contains("`Bash`"));

        let nameless = [
            ev(json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{}"})),
            completed(),
        ]
        .concat();
        let events = run_str(&nameless);
        assert!(error(&events).message.contains("without a tool name"));

        // Cut by the output limit in the middle of a call: the error says so.
        let cut = [
            ev(json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "Write"}})),
            ev(json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{\"content\":\"abc"})),
            ev(json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}})),
        ]
        .concat();
        let events = run_str(&cut);
        check_events(&events, true).unwrap();
        assert!(error(&events).message.contains("output token limit"));
    }

    #[test]
    fn undecodable_and_nested_errors() {
        let events = run_str("data: {not json\n\n");
        check_events(&events, true).unwrap();
        assert!(error(&events).message.contains("cannot read"));
        let events = run_str(&ev(
            json!({"type": "error", "error": {"type": "server_error", "code": "overloaded", "message": "busy"}}),
        ));
        assert_eq!(error(&events).kind, ErrorKind::Overloaded);
        let events = run_str(&ev(json!({"type": "error"})));
        assert!(error(&events).message.contains("without a message"));
        // The event name stands in for a missing type; [DONE] and comments are skipped.
        let events = run_str(&format!(
            ": keepalive\n\nevent: response.output_text.delta\ndata: {}\n\n{}data: [DONE]\n\n",
            json!({"item_id": "m", "delta": "x"}),
            completed()
        ));
        check_events(&events, true).unwrap();
        assert_eq!(blocks(&events)[0].1, "x");
    }

    fn whole(body: &serde_json::Value) -> Result<crate::anthropic::writer::Message, ApiError> {
        let mut d = ResponsesDecoder::new(ctx());
        let mut w = Writer::message(head());
        let bytes = body.to_string();
        assert!(matches!(d.whole(bytes.as_bytes(), &mut w), Whole::Folded));
        w.into_message()
    }

    #[test]
    fn whole_answers() {
        let body = json!({
            "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}], "encrypted_content": "ENC"},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": "Hello", "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Bash", "arguments": "{\"command\":\"ls\"}", "status": "completed"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"}
            ],
            "usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 20},
                      "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 57}
        });
        let message = serde_json::to_value(whole(&body).unwrap()).unwrap();
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["model"], "claude-sonnet-4-5");
        assert_eq!(message["content"][0]["thinking"], "think");
        assert_eq!(
            Signature::decode(
                message["content"][0]["signature"].as_str().unwrap(),
                "think"
            )
            .provider_data(TAG),
            Some("ENC")
        );
        assert_eq!(message["content"][1]["text"], "Hello");
        assert_eq!(message["content"][2]["input"], json!({"command": "ls"}));
        assert_eq!(message["content"][2]["id"], "call_1");
        assert_eq!(message["content"].as_array().unwrap().len(), 3);
        assert_eq!(
            message["usage"],
            json!({"input_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20, "output_tokens": 7})
        );

        let incomplete = json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "cut"}]}]});
        let message = serde_json::to_value(whole(&incomplete).unwrap()).unwrap();
        assert_eq!(message["stop_reason"], "max_tokens");

        let failed = json!({"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}});
        assert_eq!(whole(&failed).unwrap_err().kind, ErrorKind::RateLimit);
        let error_body =
            json!({"error": {"message": "bad", "type": "invalid_request_error", "code": null}});
        assert_eq!(
            whole(&error_body).unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
        let queued = json!({"status": "queued", "output": []});
        assert!(whole(&queued).unwrap_err().message.contains("queued"));

        // A stream where a whole answer was expected is read as a stream.
        let stream = std::fs::read(fixture_dir().join("responses_text.sse")).unwrap();
        let mut d = ResponsesDecoder::new(ctx());
        let mut w = Writer::message(head());
        d.whole(&stream, &mut w);
        let message = serde_json::to_value(w.into_message().unwrap()).unwrap();
        assert_eq!(
            message["content"][0]["text"],
            "Hello! How can I help you today? ✨"
        );

        let mut d = ResponsesDecoder::new(ctx());
        let mut w = Writer::message(head());
        d.whole(b"<html>bad gateway</html>", &mut w);
        assert!(
            w.into_message()
                .unwrap_err()
                .message
                .contains("not a Responses answer")
        );
    }

    /// `cargo test --release --lib responses_stream_throughput -- --nocapture`: 500 text
    /// deltas and a call in 200 fragments, in the API's real framing, replayed in 1500-byte
    /// pieces into SSE bytes.
    #[test]
    fn responses_stream_throughput() {
        let mut body = String::new();
        let mut seq = 0;
        let mut push = |v: serde_json::Value, body: &mut String| {
            let mut v = v;
            v["sequence_number"] = json!(seq);
            seq += 1;
            body.push_str(&ev(v));
        };
        push(
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}}),
            &mut body,
        );
        for i in 0..500 {
            push(
                json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": format!("word{i} "), "logprobs": [], "obfuscation": "abcdef"}),
                &mut body,
            );
        }
        push(
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "msg_1", "type": "message", "status": "completed", "content": [], "role": "assistant"}}),
            &mut body,
        );
        push(
            json!({"type": "response.output_item.added", "output_index": 1, "item": {"id": "fc_1", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "call_1", "name": "Bash"}}),
            &mut body,
        );
        push(
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "{\"command\": \""}),
            &mut body,
        );
        for _ in 0..198 {
            push(
                json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "echo x; "}),
                &mut body,
            );
        }
        push(
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "\"}"}),
            &mut body,
        );
        push(
            json!({"type": "response.output_item.done", "output_index": 1, "item": {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "Bash"}}),
            &mut body,
        );
        push(
            json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 100, "output_tokens": 700}}}),
            &mut body,
        );
        let bytes = body.as_bytes();
        let (mut out_bytes, mut runs) = (0usize, 0usize);
        let started = std::time::Instant::now();
        while started.elapsed().as_millis() < 500 || runs == 0 {
            let mut d = ResponsesDecoder::new(ctx());
            let mut w = Writer::sse(head());
            d.start(&mut w);
            for piece in bytes.chunks(1500) {
                d.push(piece, &mut w);
            }
            d.finish(&mut w);
            assert_eq!(w.stop_reason(), Some(StopReason::ToolUse));
            out_bytes += w.take_sse().len();
            runs += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "responses_stream_throughput: {:.2} M upstream events/s, {:.0} MB/s in, {:.0} MB/s out ({runs} runs)",
            (runs * seq) as f64 / secs / 1e6,
            (runs * bytes.len()) as f64 / secs / 1e6,
            out_bytes as f64 / secs / 1e6,
        );
    }

    fn arb_event() -> impl Strategy<Value = String> {
        let ids = prop_oneof![
            Just("msg_1"),
            Just("msg_2"),
            Just("rs_1"),
            Just("fc_1"),
            Just("fc_2")
        ];
        let text = prop_oneof![
            Just(""),
            Just(" "),
            Just("\n"),
            Just("hi"),
            Just("é🌍"),
            Just("{"),
            Just("\"q\"")
        ];
        let args = prop_oneof![
            Just(""),
            Just("{"),
            Just("}"),
            Just("{}"),
            Just("{\"a\":"),
            Just("1"),
            Just(" "),
            Just("[1]")
        ];
        let items = prop_oneof![
            Just(json!({"type": "message", "id": "msg_1", "content": []})),
            Just(
                json!({"type": "message", "id": "msg_2", "content": [{"type": "output_text", "text": "whole"}]})
            ),
            Just(
                json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "E"})
            ),
            Just(
                json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}]})
            ),
            Just(
                json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Bash", "arguments": ""})
            ),
            Just(
                json!({"type": "function_call", "id": "fc_2", "call_id": "call_1", "name": "Read"})
            ),
            Just(json!({"type": "function_call", "id": "fc_2", "arguments": "{}"})),
            Just(json!({"type": "web_search_call", "id": "ws_1"})),
        ];
        prop_oneof![
            (0u64..3, items.clone()).prop_map(|(i, item)| ev(json!({"type": "response.output_item.added", "output_index": i, "item": item}))),
            (0u64..3, items).prop_map(|(i, item)| ev(json!({"type": "response.output_item.done", "output_index": i, "item": item}))),
            (ids.clone(), text.clone()).prop_map(|(id, t)| ev(json!({"type": "response.output_text.delta", "item_id": id, "delta": t}))),
            (ids.clone(), text.clone()).prop_map(|(id, t)| ev(json!({"type": "response.refusal.delta", "item_id": id, "delta": t}))),
            (ids.clone(), 0u64..2, text).prop_map(|(id, s, t)| ev(json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "summary_index": s, "delta": t}))),
            (ids.clone(), args.clone()).prop_map(|(id, a)| ev(json!({"type": "response.function_call_arguments.delta", "item_id": id, "delta": a}))),
            (ids, args).prop_map(|(id, a)| ev(json!({"type": "response.function_call_arguments.done", "item_id": id, "arguments": a}))),
            Just(completed()),
            Just(ev(json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}))),
            Just(ev(json!({"type": "response.failed", "response": {"status": "failed", "error": {"code": "server_error", "message": "x"}}}))),
            Just(ev(json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow"}))),
            Just(ev(json!({"type": "response.in_progress", "response": {"status": "in_progress"}}))),
            Just("data: {\"typ\n\n".to_owned()),
            Just(": comment\n\n".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn structured_streams_keep_the_rules(
            pieces in proptest::collection::vec(arb_event(), 0..24),
            seed in any::<u64>(),
        ) {
            let body = pieces.concat();
            let (events, _, w) = run(&[body.as_bytes()]);
            prop_assert!(check_events(&events, true).is_ok(), "{:?}\n{}", check_events(&events, true), transcript(&events));
            prop_assert!(w.is_finished());
            prop_assert_eq!(w.failure().is_some(), matches!(events.last(), Some(Event::Error(_))));
            // The non-streamed answer is the fold of the same events (an empty body is no
            // stream: it is refused as such).
            if !body.trim().is_empty() {
                prop_assert_eq!(folded_message(body.as_bytes()), message_of(&events, &head()));
            }
            let mut rng = Rng(seed | 1);
            let chunks = random_chunks(body.as_bytes(), &mut rng);
            let (split, _, _) = run(&chunks);
            prop_assert_eq!(split, events);
        }

        #[test]
        fn arbitrary_bytes_keep_the_rules(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
        ) {
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let (events, _, _) = run(&refs);
            prop_assert!(check_events(&events, true).is_ok(), "{:?}", check_events(&events, true));
        }

        #[test]
        fn every_prefix_keeps_the_rules(
            pieces in proptest::collection::vec(arb_event(), 0..16),
        ) {
            let body = pieces.concat();
            let mut d = ResponsesDecoder::new(ctx());
            let mut w = Writer::events(head());
            let mut out = Vec::new();
            for b in body.as_bytes().chunks(7) {
                d.push(b, &mut w);
                out.extend(w.take_events());
                prop_assert!(check_events(&out, false).is_ok(), "{:?}", check_events(&out, false));
            }
        }
    }
}

//! A Gemini answer → the Anthropic [`Writer`]: the stream decoder for
//! `streamGenerateContent?alt=sse` (bytes split anywhere) and the whole-body decoder for
//! `generateContent`, both reading each `GenerateContentResponse` the same way. Pure and
//! synchronous.
//!
//! Owned here:
//! - **Parts**, in order, from the first candidate: text → `text` (leading whitespace held
//!   until real text follows, so no blank block is written); `thought: true` text →
//!   `thinking`; `functionCall` → one whole `tool_use` block (`args` written as one
//!   `input_json_delta`; absent args are `{}`). Gemini sends calls whole and often several
//!   in one chunk; each gets an id: Gemini's own (sanitised, made unique) or, when it sent
//!   none, a synthesised `toolu_gemini_…` one. Names are mapped back through the request's
//!   [`ToolNames`]. Other parts (inline data, code execution) are skipped.
//! - **`thoughtSignature`**, the model's opaque state, which Gemini 3 requires back on the
//!   part it came with. It travels through Claude Code as a thinking block's signature (a
//!   provider envelope, see [`Signature`]) whose tag says which part it belongs to:
//!   [`TAG_NEXT`] (the part after the thinking block: the signature came on a call or on a
//!   text part that started a block; an open thought summary is signed with it, otherwise
//!   an empty thinking block carries it) and [`TAG_THOUGHT`] (the thought summary itself).
//!   The request encoder reads the tags back. A signature on a later piece of a text part
//!   already streaming (Gemini 3 ends a text answer with an empty text part carrying one) is
//!   dropped: a thinking block after the answer's text makes Claude Code take an empty
//!   string as the answer (seen with the real client), and Gemini validates signatures on
//!   function calls only; it documents the one on a final text part as optional.
//! - **The end**: there is no `[DONE]`; the answer ends at the end of the body, after a
//!   chunk with a `finishReason` (or a `promptFeedback.blockReason`). Stop reason: any
//!   `tool_use` block → `tool_use` (Gemini says `STOP` when it called functions);
//!   `MAX_TOKENS` → `max_tokens`; `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`,
//!   `SPII`, `IMAGE_*` and a blocked prompt → `refusal`, with a text block naming the reason
//!   so the user sees why; `STOP` and anything else → `end_turn` (with the reason as text
//!   when the answer is otherwise empty). `MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL`
//!   and `TOO_MANY_TOOL_CALLS` without a usable call are failures (`api_error`).
//! - **Usage**: the last `usageMetadata` counts: `input_tokens` = `promptTokenCount` −
//!   `cachedContentTokenCount`, `cache_read_input_tokens` = cached, `output_tokens` =
//!   `candidatesTokenCount` + `thoughtsTokenCount`; estimates where Gemini sent none.
//! - **Failures**: an `{"error":…}` event (Gemini's way of failing a stream), a data line
//!   that is not JSON, an event over the SSE size limit, or a body that ends without a
//!   finish reason end the answer with [`Writer::fail`].

use serde_json::Value;

use crate::anthropic::stream::{StopReason, Usage};
use crate::anthropic::writer::{BlockKind, Writer};
use crate::anthropic::{ApiError, ErrorKind};
use crate::dialect::signature::Signature;
use crate::dialect::{AnswerDecoder, Whole};
use crate::sse::{SseDecoder, SseEvent};
use crate::translate::tokens::estimate_text_tokens;
use crate::translate::tool_names::{ToolNames, fnv1a, sanitize_id};

use super::error::stream_error;
use super::wire::{
    ErrorBody, FinishReason, FunctionCall, GenerateContentResponse, Part, UsageMetadata,
};

/// Signature tag: the state belongs to the part after the thinking block.
pub const TAG_NEXT: &str = "gemini";
/// Signature tag: the state belongs to the thought summary in the thinking block itself.
pub const TAG_THOUGHT: &str = "gemini-thought";

/// The prefix of the tool-call ids anyclaude makes up for calls Gemini sent without one
/// (such ids are not sent back to Gemini).
pub const SYNTHETIC_ID_PREFIX: &str = "toolu_gemini_";

/// Longest excerpt of an undecodable event carried into an error, in characters.
const MAX_SNIPPET_CHARS: usize = 200;

/// Reads one Gemini answer; see the module documentation.
#[derive(Debug)]
pub struct GeminiDecoder {
    tool_names: ToolNames,
    sse: SseDecoder,
    scratch: Vec<SseEvent>,
    /// Whitespace held before a text block is opened.
    held: String,
    /// Ids given to this answer's calls.
    used_ids: Vec<String>,
    finish: Option<FinishReason>,
    finish_message: Option<String>,
    /// `promptFeedback.blockReason` (and its message).
    blocked: Option<(String, Option<String>)>,
    usage: Option<UsageMetadata>,
    /// Estimated output tokens of what was written, for when Gemini reports none.
    output_estimate: u64,
}

impl GeminiDecoder {
    /// A decoder for an answer to a request whose tool names were shortened as in
    /// `tool_names`.
    pub fn new(tool_names: ToolNames) -> Self {
        GeminiDecoder {
            tool_names,
            sse: SseDecoder::new(),
            scratch: Vec::new(),
            held: String::new(),
            used_ids: Vec::new(),
            finish: None,
            finish_message: None,
            blocked: None,
            usage: None,
            output_estimate: 0,
        }
    }

    fn events(&mut self, w: &mut Writer) {
        let mut events = std::mem::take(&mut self.scratch);
        for ev in events.drain(..) {
            if w.is_finished() {
                break;
            }
            self.event(&ev.data, w);
        }
        self.scratch = events;
    }

    fn event(&mut self, data: &str, w: &mut Writer) {
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        if let Some(err) = ErrorBody::parse(data.as_bytes()) {
            w.fail(stream_error(&err));
            return;
        }
        match serde_json::from_str::<GenerateContentResponse>(data) {
            Ok(response) => self.response(response, w),
            Err(e) => w.fail(ApiError::new(
                ErrorKind::Api,
                format!(
                    "Gemini sent a stream event anyclaude cannot read ({e}): {}",
                    crate::dialect::chat::response::snippet(data, MAX_SNIPPET_CHARS)
                ),
            )),
        }
    }

    /// One `GenerateContentResponse` (a stream chunk or the whole answer).
    fn response(&mut self, response: GenerateContentResponse, w: &mut Writer) {
        if let Some(usage) = response.usage_metadata {
            self.usage = Some(usage);
        }
        if let Some(feedback) = response.prompt_feedback
            && let Some(reason) = feedback.block_reason
        {
            self.blocked = Some((reason, feedback.block_reason_message));
        }
        let Some(candidate) = response
            .candidates
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        else {
            return;
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if w.is_finished() {
                return;
            }
            self.part(part, w);
        }
        if let Some(reason) = candidate.finish_reason {
            self.finish = Some(FinishReason::parse(&reason));
        }
        if let Some(message) = candidate.finish_message.filter(|m| !m.trim().is_empty()) {
            self.finish_message = Some(message);
        }
    }

    fn part(&mut self, part: Part, w: &mut Writer) {
        let signature = part.thought_signature.clone().filter(|s| !s.is_empty());
        if part.is_thought() {
            self.held.clear();
            if let Some(text) = &part.text {
                self.output_estimate += estimate_text_tokens(text);
                w.thinking(text);
            }
            if let Some(sig) = signature {
                w.thinking_signature(&Signature::provider(TAG_THOUGHT, &sig));
            }
            return;
        }
        if let Some(call) = part.function_call {
            self.held.clear();
            if let Some(sig) = signature {
                w.thinking_signature(&Signature::provider(TAG_NEXT, &sig));
            }
            self.call(call, w);
            return;
        }
        let Some(text) = part.text else {
            // Inline data, code execution and kinds added later carry nothing Claude Code
            // can show; a signature on one still goes back on the next part.
            if let Some(sig) = signature {
                w.thinking_signature(&Signature::provider(TAG_NEXT, &sig));
            }
            return;
        };
        let text_open = w.open_block() == Some(BlockKind::Text);
        match signature {
            // Dropped (see the module documentation).
            Some(_) if text_open => self.text(text, w),
            Some(sig) => {
                w.thinking_signature(&Signature::provider(TAG_NEXT, &sig));
                self.text(text, w);
            }
            None => self.text(text, w),
        }
    }

    fn text(&mut self, text: String, w: &mut Writer) {
        if text.is_empty() {
            return;
        }
        if w.open_block() != Some(BlockKind::Text) {
            if text.trim().is_empty() {
                self.held.push_str(&text);
                return;
            }
            if !self.held.is_empty() {
                let held = std::mem::take(&mut self.held);
                self.output_estimate += estimate_text_tokens(&held);
                w.text(&held);
            }
        }
        self.output_estimate += estimate_text_tokens(&text);
        w.text(&text);
    }

    fn call(&mut self, call: FunctionCall, w: &mut Writer) {
        let name = self.tool_names.original(&call.name).to_owned();
        if name.is_empty() {
            w.fail(ApiError::new(
                ErrorKind::Api,
                "Gemini sent a function call without a name",
            ));
            return;
        }
        let args = match call.args {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(args @ Value::Object(_)) => args.to_string(),
            Some(other) => {
                w.fail(ApiError::new(
                    ErrorKind::Api,
                    format!(
                        "Gemini called {name} with arguments that are not a JSON object: {}",
                        crate::dialect::chat::response::snippet(
                            &other.to_string(),
                            MAX_SNIPPET_CHARS
                        )
                    ),
                ));
                return;
            }
        };
        let id = self.call_id(call.id.as_deref(), w);
        self.output_estimate += estimate_text_tokens(&name) + estimate_text_tokens(&args);
        w.tool_start(&id, &name);
        w.tool_args(&args);
        w.close_block();
    }

    /// Gemini's id, sanitised, or a synthesised one; unique within the answer and, through
    /// the message id, across the session.
    fn call_id(&mut self, upstream: Option<&str>, w: &Writer) -> String {
        let base = match upstream.map(str::trim).filter(|id| !id.is_empty()) {
            Some(id) => sanitize_id(id, 0),
            None => format!(
                "{SYNTHETIC_ID_PREFIX}{:012x}_{}",
                fnv1a(w.head().id.as_bytes()) & 0xffff_ffff_ffff,
                self.used_ids.len()
            ),
        };
        let mut id = base.clone();
        let mut n = 1;
        while self.used_ids.contains(&id) {
            n += 1;
            id = format!("{base}_{n}");
        }
        self.used_ids.push(id.clone());
        id
    }

    /// Ends the answer once the body is complete.
    fn end(&mut self, w: &mut Writer) {
        if w.is_finished() {
            return;
        }
        if let Some((reason, message)) = self.blocked.take() {
            // Calls already written stand (a turn with tool_use blocks stops with tool_use).
            let stop = if w.tool_blocks() > 0 {
                StopReason::ToolUse
            } else {
                self.note(w, &format!("Gemini blocked the prompt ({reason})"), message);
                StopReason::Refusal
            };
            let usage = self.usage(w);
            w.finish(stop, usage);
            return;
        }
        let Some(finish) = self.finish.take() else {
            w.fail(ApiError::new(
                ErrorKind::Api,
                "Gemini's stream ended before the answer was complete (no finishReason)",
            ));
            return;
        };
        let message = self.finish_message.take();
        let stop = if w.tool_blocks() > 0 {
            StopReason::ToolUse
        } else {
            match &finish {
                FinishReason::Stop => StopReason::EndTurn,
                FinishReason::MaxTokens => StopReason::MaxTokens,
                f if f.is_policy() => {
                    let name = wire_name(f);
                    self.note(w, &format!("Gemini stopped the answer ({name})"), message);
                    StopReason::Refusal
                }
                FinishReason::MalformedFunctionCall
                | FinishReason::UnexpectedToolCall
                | FinishReason::TooManyToolCalls => {
                    let mut text = format!(
                        "Gemini could not make a valid tool call ({})",
                        wire_name(&finish)
                    );
                    if let Some(m) = message {
                        text = format!("{text}: {m}");
                    }
                    w.fail(ApiError::new(ErrorKind::Api, text));
                    return;
                }
                other => {
                    if w.blocks_started() == 0 {
                        let name = wire_name(other);
                        self.note(
                            w,
                            &format!("Gemini ended without an answer ({name})"),
                            message,
                        );
                    }
                    StopReason::EndTurn
                }
            }
        };
        let usage = self.usage(w);
        w.finish(stop, usage);
    }

    /// A text block of its own saying why the answer stopped.
    fn note(&mut self, w: &mut Writer, what: &str, message: Option<String>) {
        let text = match message {
            Some(m) => format!("[{what}: {m}]"),
            None => format!("[{what}]"),
        };
        w.close_block();
        w.text(&text);
    }
}

/// The finish reason as Gemini wrote it.
fn wire_name(reason: &FinishReason) -> &str {
    match reason {
        FinishReason::Stop => "STOP",
        FinishReason::MaxTokens => "MAX_TOKENS",
        FinishReason::Safety => "SAFETY",
        FinishReason::Recitation => "RECITATION",
        FinishReason::Language => "LANGUAGE",
        FinishReason::Blocklist => "BLOCKLIST",
        FinishReason::ProhibitedContent => "PROHIBITED_CONTENT",
        FinishReason::Spii => "SPII",
        FinishReason::MalformedFunctionCall => "MALFORMED_FUNCTION_CALL",
        FinishReason::UnexpectedToolCall => "UNEXPECTED_TOOL_CALL",
        FinishReason::TooManyToolCalls => "TOO_MANY_TOOL_CALLS",
        FinishReason::Image(name) | FinishReason::Other(name) => name,
    }
}

impl AnswerDecoder for GeminiDecoder {
    fn push(&mut self, bytes: &[u8], w: &mut Writer) {
        if w.is_finished() {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        let result = self.sse.push(bytes, &mut events);
        self.scratch = events;
        self.events(w);
        if let Err(e) = result {
            w.fail(ApiError::new(
                ErrorKind::Api,
                format!("Gemini's stream: {e}"),
            ));
        }
    }

    fn finish(&mut self, w: &mut Writer) {
        if w.is_finished() {
            return;
        }
        let mut events = std::mem::take(&mut self.scratch);
        let result = self.sse.finish(&mut events);
        self.scratch = events;
        self.events(w);
        if let Err(e) = result {
            w.fail(ApiError::new(
                ErrorKind::Api,
                format!("Gemini's stream: {e}"),
            ));
        }
        self.end(w);
    }

    fn whole(&mut self, body: &[u8], w: &mut Writer) -> Whole {
        w.start();
        if let Some(err) = ErrorBody::parse(body) {
            w.fail(stream_error(&err));
            return Whole::Folded;
        }
        match serde_json::from_slice::<GenerateContentResponse>(body) {
            Ok(response) => {
                self.response(response, w);
                self.end(w);
            }
            Err(e) => w.fail(ApiError::new(
                ErrorKind::Api,
                format!(
                    "Gemini answered with a body anyclaude cannot read ({e}): {}",
                    crate::dialect::chat::response::snippet(
                        &String::from_utf8_lossy(body),
                        MAX_SNIPPET_CHARS
                    )
                ),
            )),
        }
        Whole::Folded
    }

    fn usage_reported(&self) -> bool {
        self.usage.is_some()
    }

    fn usage(&self, w: &Writer) -> Usage {
        let reported = self.usage.unwrap_or_default();
        let (input, cached) = match reported.prompt_token_count.filter(|&n| n > 0) {
            Some(prompt) => {
                let cached = reported.cached_content_token_count.unwrap_or(0).min(prompt);
                (prompt - cached, cached)
            }
            None => (w.head().input_tokens, 0),
        };
        let output = reported.candidates_token_count.unwrap_or(0)
            + reported.thoughts_token_count.unwrap_or(0);
        Usage {
            input_tokens: input,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            output_tokens: if output > 0 {
                output
            } else {
                self.output_estimate.max(1)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::stream::{BlockStart, Delta, Event};
    use crate::anthropic::writer::{ContentBlock, MessageHead, check_events};
    use crate::dialect::testing::{check_fixtures, fixture_dir, transcript};

    /// The long MCP tool name the fixtures' context shortens.
    const LONG_TOOL: &str =
        "mcp__github__create_pull_request_review_comment_with_suggestion_and_thread_resolution";

    fn head() -> MessageHead {
        MessageHead {
            id: "msg_test".into(),
            model: "gemini/gemini-2.5-flash".into(),
            input_tokens: 100,
        }
    }

    fn tool_names() -> ToolNames {
        let mut names = ToolNames::default();
        names.upstream_name(LONG_TOOL);
        names
    }

    /// Runs a body through a fresh decoder; checks that nothing is written after the end
    /// and that the invariants hold on every event.
    fn run(chunks: &[&[u8]]) -> Vec<Event> {
        let mut w = Writer::events(head());
        let mut d = GeminiDecoder::new(tool_names());
        d.start(&mut w);
        for c in chunks {
            d.push(c, &mut w);
        }
        d.finish(&mut w);
        let events = w.take_events();
        d.push(
            b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"late\"}]}}]}\n\n",
            &mut w,
        );
        d.finish(&mut w);
        w.fail(ApiError::new(ErrorKind::Api, "late"));
        assert!(w.take_events().is_empty(), "events after the end");
        events
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(fixture_dir().join(format!("{name}.sse"))).unwrap()
    }

    fn gemini_fixtures() -> Vec<std::path::PathBuf> {
        let mut paths: Vec<_> = std::fs::read_dir(fixture_dir())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "sse")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("gemini_"))
            })
            .collect();
        paths.sort();
        paths
    }

    /// Every Gemini fixture replays identically however split, keeps the writer's rules,
    /// folds into the same message and matches its `.expected` transcript.
    #[test]
    fn fixtures_replay_identically_however_split() {
        check_fixtures(
            |name| name.starts_with("gemini_"),
            12,
            &head(),
            run,
            |body| {
                let mut w = Writer::message(head());
                let mut d = GeminiDecoder::new(tool_names());
                d.push(body, &mut w);
                d.finish(&mut w);
                w.into_message()
                    .map(|m| serde_json::to_value(m).unwrap())
                    .map_err(|e| e.message)
            },
        );
    }

    /// Every prefix of every fixture keeps the invariants: a cut stream ends in an error
    /// inside an open block, never in a truncated success.
    #[test]
    fn every_prefix_ends_well() {
        for path in gemini_fixtures() {
            let body = std::fs::read(&path).unwrap();
            for cut in 0..body.len() {
                let events = run(&[&body[..cut]]);
                check_events(&events, true)
                    .unwrap_or_else(|e| panic!("{path:?} cut at {cut}: {e}"));
                let last = events.last().unwrap();
                let complete = body[cut..].iter().all(u8::is_ascii_whitespace);
                if !complete {
                    assert!(
                        matches!(last, Event::Error(_)),
                        "{path:?} cut at {cut} ended as {last:?}"
                    );
                }
            }
        }
    }

    fn stop_and_usage(events: &[Event]) -> (StopReason, Usage) {
        match &events[events.len() - 2] {
            Event::MessageDelta {
                stop_reason, usage, ..
            } => (*stop_reason, *usage),
            other => panic!("no message_delta: {other:?}"),
        }
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

    fn signatures(events: &[Event]) -> Vec<Signature> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::BlockDelta {
                    delta: Delta::Signature(s),
                    ..
                } => Some(Signature::decode(s, "")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn parallel_calls_in_one_chunk_get_ids_names_and_tool_use() {
        let events = run(&[&fixture("gemini_parallel_calls")]);
        let starts = tool_starts(&events);
        assert_eq!(starts.len(), 3);
        assert_eq!(starts[0].1, "Bash");
        assert_eq!(starts[1].1, "Read");
        assert_eq!(starts[2].1, LONG_TOOL, "the shortened name is mapped back");
        for (id, _) in &starts {
            assert!(id.starts_with(SYNTHETIC_ID_PREFIX), "{id}");
        }
        let mut ids: Vec<_> = starts.iter().map(|s| s.0.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3, "unique ids");
        let (stop, usage) = stop_and_usage(&events);
        assert_eq!(stop, StopReason::ToolUse, "Gemini said STOP");
        assert_eq!(usage.input_tokens, 300);
        assert_eq!(usage.output_tokens, 40);
        assert_eq!(
            signatures(&events),
            [Signature::provider(TAG_NEXT, "CiQBVKhc7sigA+/==")]
        );
    }

    #[test]
    fn thoughts_then_a_signed_call_keep_the_signature_for_the_call() {
        let events = run(&[&fixture("gemini_thinking_call")]);
        let sigs = signatures(&events);
        assert_eq!(sigs.len(), 2);
        assert!(
            matches!(sigs[0], Signature::Ours { .. }),
            "the summary is ours"
        );
        assert_eq!(
            sigs[1],
            Signature::provider(TAG_NEXT, "EhsKGQFrb3Rfc2lnbmF0dXJl+/=")
        );
        assert_eq!(
            tool_starts(&events),
            [("call-abc_1".to_owned(), "Bash".to_owned())],
            "Gemini's id, sanitised"
        );
        let (stop, usage) = stop_and_usage(&events);
        assert_eq!(stop, StopReason::ToolUse);
        assert_eq!(usage.output_tokens, 12 + 41, "thoughts count as output");
    }

    #[test]
    fn a_signature_after_streamed_text_is_not_written_after_the_answer() {
        let events = run(&[&fixture("gemini_thinking_text_signature")]);
        assert!(
            matches!(signatures(&events).as_slice(), [Signature::Ours { .. }]),
            "{events:?}"
        );
        assert!(
            matches!(&events[events.len() - 3], Event::BlockStop { .. })
                && matches!(
                    events
                        .iter()
                        .rev()
                        .find(|e| matches!(e, Event::BlockStart { .. })),
                    Some(Event::BlockStart {
                        block: BlockStart::Text,
                        ..
                    })
                ),
            "the answer's text is the last block"
        );
        let texts: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::BlockDelta {
                    delta: Delta::Text(t),
                    ..
                } => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            texts.concat(),
            "  The answer is 42.",
            "held whitespace is kept"
        );
    }

    #[test]
    fn policy_finishes_are_refusals_with_the_reason() {
        for (name, reason) in [
            ("gemini_safety", "SAFETY"),
            ("gemini_recitation", "RECITATION"),
            ("gemini_prompt_blocked", "PROHIBITED_CONTENT"),
        ] {
            let events = run(&[&fixture(name)]);
            let (stop, _) = stop_and_usage(&events);
            assert_eq!(stop, StopReason::Refusal, "{name}");
            assert!(transcript(&events).contains(reason), "{name}");
        }
        let (stop, _) = stop_and_usage(&run(&[&fixture("gemini_max_tokens")]));
        assert_eq!(stop, StopReason::MaxTokens);
    }

    #[test]
    fn cached_and_thought_tokens() {
        let (stop, usage) = stop_and_usage(&run(&[&fixture("gemini_cached_usage")]));
        assert_eq!(stop, StopReason::EndTurn);
        assert_eq!(
            usage,
            Usage {
                input_tokens: 2000,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 8000,
                output_tokens: 155,
            }
        );
    }

    #[test]
    fn failures_end_in_an_error() {
        for (name, kind, words) in [
            (
                "gemini_error_midstream",
                ErrorKind::Overloaded,
                "overloaded",
            ),
            (
                "gemini_eof_without_finish",
                ErrorKind::Api,
                "no finishReason",
            ),
            (
                "gemini_malformed_call",
                ErrorKind::Api,
                "(MALFORMED_FUNCTION_CALL): Malformed function call",
            ),
        ] {
            let events = run(&[&fixture(name)]);
            match events.last() {
                Some(Event::Error(err)) => {
                    assert_eq!(err.kind, kind, "{name}");
                    assert!(err.message.contains(words), "{name}: {}", err.message);
                }
                other => panic!("{name}: ended with {other:?}"),
            }
        }
        let events = run(&[b"data: {not json\r\n\r\n"]);
        assert!(
            matches!(events.last(), Some(Event::Error(e)) if e.message.contains("cannot read"))
        );
    }

    #[test]
    fn a_whole_answer_folds_into_the_same_message() {
        let body = serde_json::json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Thinking.", "thought": true},
                {"text": "Answer."},
                {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "c2ln"}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 9, "thoughtsTokenCount": 3}
        });
        let mut w = Writer::message(head());
        let mut d = GeminiDecoder::new(ToolNames::default());
        assert!(matches!(
            d.whole(body.to_string().as_bytes(), &mut w),
            Whole::Folded
        ));
        let message = w.into_message().unwrap();
        assert_eq!(message.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(message.usage.output_tokens, 12);
        assert_eq!(message.content.len(), 4);
        assert!(matches!(&message.content[1], ContentBlock::Text { text } if text == "Answer."));
        assert!(matches!(
            &message.content[2],
            ContentBlock::Thinking { thinking, signature }
                if thinking.is_empty() && signature == &Signature::provider(TAG_NEXT, "c2ln").encode()
        ));
        assert!(matches!(
            &message.content[3],
            ContentBlock::ToolUse { name, input, .. } if name == "Bash" && input["command"] == "ls"
        ));

        let mut w = Writer::message(head());
        let mut d = GeminiDecoder::new(ToolNames::default());
        d.whole(
            br#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}"#,
            &mut w,
        );
        assert_eq!(w.into_message().unwrap_err().kind, ErrorKind::RateLimit);
    }

    /// One random part, as Gemini could send it.
    fn arb_part() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::json;
        let text = prop_oneof![
            Just(""),
            Just(" "),
            Just("\n\n"),
            Just("hi"),
            Just("é🌍"),
            Just("\"quoted\""),
        ];
        let sig = proptest::option::of(prop_oneof![Just("c2ln"), Just("")]);
        prop_oneof![
            (text.clone(), sig.clone()).prop_map(|(t, s)| json!({"text": t, "thoughtSignature": s})),
            (text, sig.clone()).prop_map(|(t, s)| json!({"text": t, "thought": true, "thoughtSignature": s})),
            (
                prop_oneof![Just("Bash"), Just(""), Just(LONG_TOOL)],
                prop_oneof![Just(json!({"a": 1})), Just(json!({})), Just(json!(null)), Just(json!([1]))],
                proptest::option::of(prop_oneof![Just("id.1"), Just("id.1"), Just("")]),
                sig,
            )
                .prop_map(|(n, a, id, s)| json!({"functionCall": {"name": n, "args": a, "id": id}, "thoughtSignature": s})),
            Just(json!({"inlineData": {"mimeType": "image/png", "data": "AA=="}})),
        ]
    }

    /// A random chunk: parts, maybe a finish reason, maybe usage, or an error.
    fn arb_chunk() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        use serde_json::json;
        let finish = proptest::option::of(prop_oneof![
            Just("STOP"),
            Just("MAX_TOKENS"),
            Just("SAFETY"),
            Just("MALFORMED_FUNCTION_CALL"),
            Just("OTHER"),
        ]);
        prop_oneof![
            8 => (proptest::collection::vec(arb_part(), 0..4), finish, any::<bool>()).prop_map(|(parts, f, u)| {
                let mut c = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}]});
                if let Some(f) = f {
                    c["candidates"][0]["finishReason"] = json!(f);
                }
                if u {
                    c["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": 2});
                }
                format!("data: {c}\r\n\r\n")
            }),
            1 => Just("data: {\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}\n\n".to_owned()),
            1 => Just("data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n".to_owned()),
            1 => Just(": comment\n\ndata: [DONE]\n\n".to_owned()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..proptest::prelude::ProptestConfig::default() })]

        /// Whatever Gemini sends, and however it is split, the events keep the writer's
        /// rules and end exactly once.
        #[test]
        fn random_streams_keep_the_invariants(
            chunks in proptest::collection::vec(arb_chunk(), 0..8),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let body = chunks.concat();
            let events = run(&[body.as_bytes()]);
            check_events(&events, true).map_err(proptest::test_runner::TestCaseError::fail)?;
            let mut rng = crate::dialect::testing::Rng(seed | 1);
            let pieces = crate::dialect::testing::random_chunks(body.as_bytes(), &mut rng);
            proptest::prop_assert_eq!(run(&pieces), events);
        }

        /// Arbitrary bytes never break the rules either.
        #[test]
        fn arbitrary_bytes_keep_the_invariants(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let events = run(&[&bytes]);
            check_events(&events, true).map_err(proptest::test_runner::TestCaseError::fail)?;
        }
    }
}

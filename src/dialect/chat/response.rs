//! Chat Completions answers → Anthropic, when they are not streamed, and upstream errors →
//! Anthropic errors (both before a stream starts and in the middle of one).
//!
//! Owned here: [`chat_to_message`] (a whole `chat.completion` body → Anthropic's `Message`,
//! written through the same [`Writer`] as a stream), [`upstream_error`] (an upstream HTTP error → [`ApiError`]),
//! [`stream_error`] (an `{"error":…}` chunk mid-stream → [`ApiError`]), and the rules both
//! this module and [`super::stream`] share: finish reason → stop reason
//! ([`stop_reason_for`]), upstream usage → Anthropic usage ([`final_usage`]), tool
//! arguments → a JSON object or a clear error ([`parse_tool_arguments`]), and context
//! overflow in Anthropic's own words (`prompt is too long: N tokens > M maximum`, A.7, G.11).

use serde_json::{Map, Value};

use super::wire_response::{ChatCompletion, CompletionUsage, ErrorObject};
use crate::anthropic::error::{ApiError, ErrorKind};
use crate::anthropic::stream::{StopReason, Usage};

use crate::anthropic::writer::{Message, MessageHead, Writer};

use crate::translate::tokens::estimate_text_tokens;
use crate::translate::tool_names::{ToolNames, fnv1a, sanitize_id};

/// Longest upstream message carried into an error, in characters.
const MAX_MESSAGE_CHARS: usize = 2000;
/// Longest excerpt of a body that is not a JSON error, in characters.
const MAX_SNIPPET_CHARS: usize = 200;

/// Anthropic's stop reason for a Chat Completions `finish_reason`.
///
/// `stop`→`end_turn`, `length`→`max_tokens`, `content_filter`→`refusal`,
/// `tool_calls`/`function_call`→`tool_use`; anything else (`eos`, `""`, absent) →
/// `end_turn`. Whatever the backend said, a turn that produced a `tool_use` block stops with
/// `tool_use`, and one that did not never does. `refused` (the backend sent
/// a `refusal`) gives `refusal` unless tools were called.
pub fn stop_reason_for(raw: Option<&str>, tool_use_emitted: bool, refused: bool) -> StopReason {
    if tool_use_emitted {
        return StopReason::ToolUse;
    }
    match raw.map(str::trim) {
        Some("length" | "max_tokens") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::Refusal,
        _ if refused => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

/// The final usage: from the upstream's `usage` where it reports non-zero counts
/// (`input_tokens` = prompt − cached − cache-written, `cache_read_input_tokens` = cached,
/// `output_tokens` = completion), otherwise the estimates (G.10: never report 0 input).
pub fn final_usage(
    upstream: Option<&CompletionUsage>,
    input_estimate: u64,
    output_estimate: impl FnOnce() -> u64,
) -> Usage {
    let prompt = upstream.and_then(|u| u.prompt_tokens).filter(|&n| n > 0);
    let completion = upstream
        .and_then(|u| u.completion_tokens)
        .filter(|&n| n > 0);
    let (input, cache_read, cache_write) = match (prompt, upstream) {
        (Some(prompt), Some(u)) => {
            let cached = u.cached_tokens().min(prompt);
            let written = u.cache_write_tokens().min(prompt - cached);
            (prompt - cached - written, cached, written)
        }
        _ => (input_estimate, 0, 0),
    };
    Usage {
        input_tokens: input,
        cache_creation_input_tokens: cache_write,
        cache_read_input_tokens: cache_read,
        output_tokens: completion.unwrap_or_else(output_estimate),
    }
}

/// Parses a tool call's complete `arguments` into the `input` object Anthropic needs.
/// Empty (or whitespace) arguments are `{}`; anything else must be a JSON object, or the
/// answer is an `api_error` naming the tool and saying what was wrong (G.17).
pub fn parse_tool_arguments(
    tool: &str,
    arguments: &str,
    finish_reason: Option<&str>,
) -> Result<Value, ApiError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let why = match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => return Ok(v),
        Ok(other) => format!("that are JSON {}, not an object", json_kind(&other)),
        Err(e) => format!("that are not valid JSON ({e})"),
    };
    let hint = if finish_reason.map(str::trim) == Some("length") {
        " (the model hit its output token limit while writing them: raise max_tokens or ask for less)"
    } else {
        ""
    };
    Err(ApiError::new(
        ErrorKind::Api,
        format!(
            "the model called tool `{tool}` with arguments {why}, so the call cannot be passed on{hint}; received: {}",
            snippet(arguments, MAX_SNIPPET_CHARS)
        ),
    ))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A stable seed for a generated tool-call id: the message id and the call's position.
pub(crate) fn tool_id_seed(message_id: &str, position: usize) -> u64 {
    fnv1a(message_id.as_bytes()).wrapping_add(position as u64)
}

/// A sanitised tool-call id not yet in `used` (a suffix `_2`, `_3`, … on collision), which
/// is then recorded in `used`.
pub(crate) fn unique_tool_id(raw: &str, seed: u64, used: &mut Vec<String>) -> String {
    let base = sanitize_id(raw.trim(), seed);
    let mut id = base.clone();
    let mut n = 2;
    while used.contains(&id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    used.push(id.clone());
    id
}

/// The Anthropic error for an upstream HTTP error response.
///
/// The status decides the kind (401 authentication, 402 billing, 403 permission, 404 not
/// found, 400/422 and other 4xx invalid request, 413 request too large, 429 rate limit,
/// 408/504 timeout, 500 api error, 502/503/529 and other 5xx overloaded), except that a
/// context-length overflow is always a 400 `invalid_request_error` in Anthropic's wording.
/// `retry_after` is carried on rate-limit and overloaded errors. A body that is not a JSON
/// error is described (status plus a sanitised excerpt), never passed on as is.
pub fn upstream_error(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    let parsed = ErrorObject::from_body(body);
    if status != 429
        && let Some(obj) = &parsed
        && let Some(message) = context_overflow_message(obj)
    {
        return ApiError::new(ErrorKind::InvalidRequest, message);
    }
    if status == 500
        && let Some(obj) = &parsed
        && let Some(short) = validation_error(obj, body)
    {
        return ApiError::new(
            ErrorKind::InvalidRequest,
            format!(
                "the upstream rejected the request as invalid (its HTTP {status} is a validation error, which no retry fixes): {short}"
            ),
        );
    }
    let kind = kind_for_status(status);
    let message = match &parsed {
        Some(obj) => format!("upstream HTTP {status}: {}", describe(obj)),
        None => describe_body(status, body),
    };
    let mut err = ApiError::new(kind, message);
    if matches!(kind, ErrorKind::RateLimit | ErrorKind::Overloaded) {
        err.retry_after = retry_after
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    }
    err
}

/// Longest summary of a validation error, in characters.
const MAX_VALIDATION_CHARS: usize = 300;

/// If a 500's body is really a request validation error, a short one-line summary
/// of it. Python servers (llama-cpp-python, FastAPI apps) answer a request their schema
/// rejects with a 500 whose message is pydantic's multi-line dump (`1 validation error for
/// …`), or FastAPI's `detail` list; llama.cpp's server uses the type
/// `invalid_request_error` on some 500s. Those are the request's fault: retrying the same
/// request fails the same way, so Claude Code must get a 400 at once.
fn validation_error(obj: &ErrorObject, body: &[u8]) -> Option<String> {
    let label = format!(
        "{} {}",
        obj.kind.as_deref().unwrap_or(""),
        obj.code.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase();
    let message = obj.message.as_deref().unwrap_or("").trim();
    let lower = message.to_ascii_lowercase();
    let detail_list = serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|v| v.get("detail").is_some_and(Value::is_array));
    const MARKERS: &[&str] = &[
        "validation error",
        "input should be",
        "field required",
        "value is not a valid",
    ];
    let is_validation = detail_list
        || label.contains("invalid_request")
        || label.contains("validation")
        || MARKERS.iter().any(|m| lower.contains(m));
    if !is_validation {
        return None;
    }
    // pydantic: "1 validation error for X\nmessages.1.content\n  Input should be a valid
    // string [type=string_type, input_value=None, input_type=NoneType]\n    For further
    // information visit https://…": the lines that say what and where, without the link and
    // the bracketed internals.
    // FastAPI's `RequestValidationError` as text: "3 validation errors:\n  {'type':
    // 'string_type', 'loc': ('body', 'messages', 1, 'content'), 'msg': 'Input should be a
    // valid string', 'input': None}\n…": each error as `loc: msg`, once each.
    let mut lines: Vec<String> = Vec::new();
    for line in message.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("For further information") {
            continue;
        }
        let line = match python_dict_error(line) {
            Some(short) => short,
            None => match line.find(" [type=") {
                Some(cut) => line[..cut].to_owned(),
                None => line.to_owned(),
            },
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    let short = if lines.is_empty() {
        obj.kind
            .clone()
            .unwrap_or_else(|| "a validation error".to_owned())
    } else {
        let head = lines[0].trim_end_matches(':');
        match lines.get(1..) {
            Some(rest) if !rest.is_empty() => format!("{head}: {}", rest.join("; ")),
            _ => head.to_owned(),
        }
    };
    Some(snippet(&short, MAX_VALIDATION_CHARS))
}

/// `loc: msg` of one error printed as a Python dict (`{'type': …, 'loc': ('body',
/// 'messages', 1), 'msg': '…', …}`), `None` for a line that is not one.
fn python_dict_error(line: &str) -> Option<String> {
    let msg_at = line.find("'msg': '")? + "'msg': '".len();
    let msg = &line[msg_at..];
    let msg = &msg[..msg.find("', '").or_else(|| msg.find("'}"))?];
    let loc = line.find("'loc': (").map(|at| {
        let rest = &line[at + "'loc': (".len()..];
        let rest = &rest[..rest.find(')').unwrap_or(rest.len())];
        rest.split(',')
            .map(|p| p.trim().trim_matches('\''))
            .filter(|p| !p.is_empty() && *p != "body")
            .collect::<Vec<_>>()
            .join(".")
    });
    Some(match loc {
        Some(loc) if !loc.is_empty() => format!("{loc}: {msg}"),
        _ => msg.to_owned(),
    })
}

/// The Anthropic error for an error the upstream reported inside a 200 stream (an
/// `{"error":…}` chunk) or body. The kind comes from a numeric `code` (OpenRouter puts the
/// HTTP status there) or from the words in `type`/`code`; `api_error` when nothing fits.
pub fn stream_error(obj: &ErrorObject) -> ApiError {
    if let Some(message) = context_overflow_message(obj) {
        return ApiError::new(ErrorKind::InvalidRequest, message);
    }
    let status = obj
        .code
        .as_deref()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|s| (400..600).contains(s));
    let kind = match status {
        Some(s) => kind_for_status(s),
        None => kind_for_words(&format!(
            "{} {}",
            obj.kind.as_deref().unwrap_or(""),
            obj.code.as_deref().unwrap_or("")
        )),
    };
    ApiError::new(
        kind,
        format!("the upstream failed mid-answer: {}", describe(obj)),
    )
}

fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        402 => ErrorKind::Billing,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::RequestTooLarge,
        429 => ErrorKind::RateLimit,
        408 | 504 => ErrorKind::Timeout,
        500 => ErrorKind::Api,
        501..=599 => ErrorKind::Overloaded,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Api,
    }
}

fn kind_for_words(words: &str) -> ErrorKind {
    let w = words.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| w.contains(n));
    if has(&[
        "rate_limit",
        "rate limit",
        "ratelimit",
        "too_many_requests",
        "resource_exhausted",
        "quota",
    ]) {
        ErrorKind::RateLimit
    } else if has(&["overloaded", "unavailable", "capacity"]) {
        ErrorKind::Overloaded
    } else if has(&["timeout", "timed_out", "deadline"]) {
        ErrorKind::Timeout
    } else if has(&["auth"]) {
        ErrorKind::Authentication
    } else if has(&["permission", "forbidden"]) {
        ErrorKind::Permission
    } else if has(&["not_found", "notfound"]) {
        ErrorKind::NotFound
    } else if has(&[
        "invalid_request",
        "bad_request",
        "badrequest",
        "invalid_argument",
        "validation",
    ]) {
        ErrorKind::InvalidRequest
    } else {
        ErrorKind::Api
    }
}

/// `message`, or the type/code when there is no message, with the type in brackets.
fn describe(obj: &ErrorObject) -> String {
    let label = obj.kind.as_deref().or(obj.code.as_deref());
    match (obj.message.as_deref().map(str::trim), label) {
        (Some(m), Some(l)) if !m.is_empty() && !m.contains(l) => {
            format!("{} ({l})", truncate(m, MAX_MESSAGE_CHARS))
        }
        (Some(m), _) if !m.is_empty() => truncate(m, MAX_MESSAGE_CHARS),
        (_, Some(l)) => format!("error {l} without a message"),
        _ => "an error without a message".to_owned(),
    }
}

/// What a body that is not a JSON error was.
fn describe_body(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return format!("upstream HTTP {status} with an empty body");
    }
    let what = if serde_json::from_slice::<Value>(body).is_ok() {
        "JSON that is not an error object"
    } else if text.trim_start().starts_with('<') {
        "an HTML/XML page instead of a JSON error"
    } else {
        "a body that is not JSON"
    };
    format!(
        "upstream HTTP {status} sent {what}: {}",
        snippet(&text, MAX_SNIPPET_CHARS)
    )
}

/// A printable one-line excerpt: tags of markup removed, control characters and whitespace
/// runs collapsed to one space, at most `max` characters (then `…`).
pub(crate) fn snippet(text: &str, max: usize) -> String {
    let markup = text.trim_start().starts_with('<');
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut in_tag = false;
    let mut space = false;
    let mut chars = 0;
    for c in text.chars() {
        if markup {
            if c == '<' {
                in_tag = true;
                space = true;
                continue;
            }
            if in_tag {
                in_tag = c != '>';
                continue;
            }
        }
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if chars >= max {
            out.push('…');
            return out;
        }
        if space && !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        space = false;
        out.push(c);
        chars += 1;
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// If `obj` is a context-length overflow, the message in Anthropic's words:
/// `input length and \`max_tokens\` exceed context limit: A + B > C, …` when the prompt fits
/// but prompt plus completion does not and all three numbers are known;
/// `prompt is too long: N tokens > M maximum` when both numbers are known; otherwise a
/// message that still starts with `prompt is too long`.
pub(crate) fn context_overflow_message(obj: &ErrorObject) -> Option<String> {
    let message = obj.message.as_deref().unwrap_or("");
    let lower = message.to_ascii_lowercase();
    let label = format!(
        "{} {}",
        obj.kind.as_deref().unwrap_or(""),
        obj.code.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase();
    let by_label = label.contains("context_length") || label.contains("exceed_context_size");
    const MARKERS: &[&str] = &[
        "context length",
        "context_length",
        "context size",
        "context window",
        "maximum context",
        "prompt is too long",
        "prompt too long",
        "maximum model length",
        "input is too long",
        "input length exceeds",
    ];
    if !by_label && !MARKERS.iter().any(|m| lower.contains(m)) {
        return None;
    }
    let limit = obj.context_tokens.or_else(|| {
        first_of(
            &lower,
            &[
                After("maximum context length is "),
                After("context length of "),
                After("maximum model length of "),
                After("context size ("),
                After("context length ("),
                After("context window of "),
                After("context window is "),
                Before(" maximum context length"),
                Before("-token context"),
                After("> "),
            ],
        )
    });
    let completion = first_of(
        &lower,
        &[Before(" in the completion"), After("is too large: ")],
    );
    let messages = first_of(&lower, &[Before(" in the messages")]);
    let prompt = obj.prompt_tokens.or(messages).or_else(|| {
        first_of(
            &lower,
            &[
                After("resulted in "),
                After("your request has "),
                After("request ("),
                After("the input ("),
                After("prompt (length "),
                After("prompt contains "),
                After("prompt has "),
                After("prompt is too long: "),
                After("you requested "),
            ],
        )
    });
    Some(match (prompt, completion, limit) {
        (Some(a), Some(b), Some(c)) if b > 0 && a <= c => format!(
            "input length and `max_tokens` exceed context limit: {a} + {b} > {c}, decrease input length or `max_tokens` and try again"
        ),
        (Some(n), _, Some(m)) => format!("prompt is too long: {n} tokens > {m} maximum"),
        _ if message.trim().is_empty() => {
            "prompt is too long for the model's context window".to_owned()
        }
        _ => format!(
            "prompt is too long for the model's context window (upstream: {})",
            truncate(message.trim(), MAX_MESSAGE_CHARS)
        ),
    })
}

/// Where a number sits relative to a phrase.
#[derive(Clone, Copy)]
enum Near {
    /// Right after the phrase (spaces, `~` and `about ` skipped).
    After(&'static str),
    /// Right before the phrase.
    Before(&'static str),
}
use Near::{After, Before};

fn first_of(hay: &str, patterns: &[Near]) -> Option<u64> {
    patterns.iter().find_map(|p| match *p {
        After(pat) => hay.match_indices(pat).find_map(|(i, _)| {
            let rest = hay[i + pat.len()..].trim_start_matches([' ', '~']);
            let rest = rest.strip_prefix("about ").unwrap_or(rest);
            leading_number(rest)
        }),
        Before(pat) => hay
            .match_indices(pat)
            .find_map(|(i, _)| trailing_number(hay[..i].trim_end())),
    })
}

/// Digits (commas between them allowed) at the start of `s`.
fn leading_number(s: &str) -> Option<u64> {
    let mut n: u64 = 0;
    let mut digits = 0;
    for c in s.chars() {
        match c {
            '0'..='9' => {
                n = n.checked_mul(10)?.checked_add(u64::from(c as u8 - b'0'))?;
                digits += 1;
            }
            ',' if digits > 0 => {}
            _ => break,
        }
    }
    (digits > 0).then_some(n)
}

/// Digits (commas between them allowed) at the end of `s`.
fn trailing_number(s: &str) -> Option<u64> {
    let start = s
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == ',')
        .last()
        .map(|(i, _)| i)?;
    leading_number(&s[start..])
}

/// Translates a non-streaming `chat.completion` body into Anthropic's [`Message`]
/// by writing it through a [`Writer::message`]: `thinking` (signed),
/// `text` and `tool_use` blocks in that order, the same stop-reason and usage rules as the
/// stream, and the client's model name. An error body, a body that is not a completion, a
/// completion without choices, or tool arguments that are not a JSON object give an
/// [`ApiError`].
pub fn chat_to_message(
    body: &[u8],
    tool_names: &ToolNames,
    head: MessageHead,
) -> Result<Message, ApiError> {
    let mut w = Writer::message(head);
    chat_completion_into(body, tool_names, &mut w);
    w.into_message()
}

/// Writes a whole `chat.completion` body into `w` and ends it (see [`chat_to_message`]).
pub fn chat_completion_into(body: &[u8], tool_names: &ToolNames, w: &mut Writer) {
    if let Err(err) = write_completion(body, tool_names, w) {
        w.fail(err);
    }
}

fn write_completion(body: &[u8], tool_names: &ToolNames, w: &mut Writer) -> Result<(), ApiError> {
    let completion: ChatCompletion = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => {
            if let Some(obj) = ErrorObject::from_body(body) {
                return Err(stream_error(&obj));
            }
            return Err(ApiError::new(
                ErrorKind::Api,
                format!(
                    "the upstream answered 200 with a body that is not a chat completion ({e}): {}",
                    snippet(&String::from_utf8_lossy(body), MAX_SNIPPET_CHARS)
                ),
            ));
        }
    };
    if let Some(obj) = completion.error.as_ref().and_then(ErrorObject::from_value) {
        return Err(stream_error(&obj));
    }
    let Some(choice) = completion
        .choices
        .iter()
        .find(|c| c.index.unwrap_or(0) == 0)
        .or(completion.choices.first())
    else {
        return Err(ApiError::new(
            ErrorKind::Api,
            "the upstream answered 200 with no choices (no answer at all)",
        ));
    };
    let msg = &choice.message;
    let finish = choice.finish_reason.as_deref();
    // Check every call before writing anything, so a broken call fails the whole answer.
    let mut calls = Vec::with_capacity(msg.tool_calls.len());
    let mut used = Vec::new();
    for (position, call) in msg.tool_calls.iter().enumerate() {
        let name = call.function.name.as_deref().map(str::trim).unwrap_or("");
        let arguments = call.function.arguments.as_deref().unwrap_or("");
        if name.is_empty() {
            if arguments.trim().is_empty() {
                continue; // an empty placeholder, not a call
            }
            return Err(ApiError::new(
                ErrorKind::Api,
                format!(
                    "the model made tool call #{} without a tool name (arguments: {})",
                    position + 1,
                    snippet(arguments, MAX_SNIPPET_CHARS)
                ),
            ));
        }
        let name = tool_names.original(name);
        let input = parse_tool_arguments(name, arguments, finish)?;
        let id = unique_tool_id(
            call.id.as_deref().unwrap_or(""),
            tool_id_seed(&w.head().id, position),
            &mut used,
        );
        calls.push((id, name, arguments, input));
    }
    let mut emitted = String::new();
    if let Some(thinking) = msg.reasoning_text().filter(|t| !t.trim().is_empty()) {
        w.thinking(thinking);
        w.close_block();
        emitted.push_str(thinking);
    }
    let mut text = msg.content.clone().unwrap_or_default();
    if let Some(refusal) = msg.refusal.as_deref().filter(|r| !r.trim().is_empty()) {
        if !text.trim().is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(refusal);
    }
    if !text.trim().is_empty() {
        emitted.push_str(&text);
        w.text(&text);
    }
    let tools = calls.len();
    for (id, name, arguments, input) in calls {
        emitted.push_str(name);
        emitted.push_str(arguments);
        w.tool_start(&id, name);
        w.tool_args(&input.to_string());
    }
    let refused = msg.refusal.as_deref().is_some_and(|r| !r.trim().is_empty());
    let stop_reason = stop_reason_for(finish, tools > 0, refused);
    let usage = final_usage(
        completion.counted_usage().as_ref(),
        w.head().input_tokens,
        || estimate_text_tokens(&emitted),
    );
    w.finish(stop_reason, usage);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::signature::sign;
    use serde_json::json;

    struct Ctx {
        head: MessageHead,
        tool_names: ToolNames,
    }

    fn chat_to_message(body: &[u8], c: &Ctx) -> Result<Value, ApiError> {
        super::chat_to_message(body, &c.tool_names, c.head.clone())
            .map(|m| serde_json::to_value(m).unwrap())
    }
    use proptest::prelude::*;

    fn ctx() -> Ctx {
        Ctx {
            head: MessageHead {
                id: "msg_test".into(),
                model: "claude-sonnet-4-5".into(),
                input_tokens: 100,
            },
            tool_names: ToolNames::default(),
        }
    }

    #[test]
    fn status_table() {
        let cases = [
            (400, ErrorKind::InvalidRequest),
            (401, ErrorKind::Authentication),
            (402, ErrorKind::Billing),
            (403, ErrorKind::Permission),
            (404, ErrorKind::NotFound),
            (405, ErrorKind::InvalidRequest),
            (408, ErrorKind::Timeout),
            (413, ErrorKind::RequestTooLarge),
            (422, ErrorKind::InvalidRequest),
            (429, ErrorKind::RateLimit),
            (500, ErrorKind::Api),
            (502, ErrorKind::Overloaded),
            (503, ErrorKind::Overloaded),
            (504, ErrorKind::Timeout),
            (520, ErrorKind::Overloaded),
            (529, ErrorKind::Overloaded),
        ];
        for (status, kind) in cases {
            let err = upstream_error(status, br#"{"error":{"message":"nope"}}"#, Some("7"));
            assert_eq!(err.kind, kind, "{status}");
            assert_eq!(err.message, format!("upstream HTTP {status}: nope"));
            let carried = matches!(kind, ErrorKind::RateLimit | ErrorKind::Overloaded);
            assert_eq!(err.retry_after.is_some(), carried, "{status}");
        }
    }

    #[test]
    fn upstream_message_and_type_are_kept() {
        let err = upstream_error(
            401,
            br#"{"error":{"message":"Incorrect API key provided: sk-***","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            None,
        );
        assert_eq!(err.kind, ErrorKind::Authentication);
        assert_eq!(
            err.message,
            "upstream HTTP 401: Incorrect API key provided: sk-*** (invalid_request_error)"
        );
        let err = upstream_error(404, br#"{"error":"model 'qwen3:8b' not found"}"#, None);
        assert_eq!(err.message, "upstream HTTP 404: model 'qwen3:8b' not found");
        let err = upstream_error(429, br#"{"error":{"message":"Rate limit reached for requests: context length irrelevant"}}"#, Some(" 20 "));
        assert_eq!(
            (err.kind, err.retry_after.as_deref()),
            (ErrorKind::RateLimit, Some("20"))
        );
    }

    #[test]
    fn context_overflow_in_anthropic_words() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                "prompt is too long: 9000 tokens > 8192 maximum",
            ),
            (
                br#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4500 in the messages, 500 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}"#,
                "prompt is too long: 4500 tokens > 4096 maximum",
            ),
            (
                br#"{"error":{"message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (3500 in the messages, 1500 in the completion).","code":"context_length_exceeded"}}"#,
                "input length and `max_tokens` exceed context limit: 3500 + 1500 > 4096, decrease input length or `max_tokens` and try again",
            ),
            (
                br#"{"error":{"message":"'max_tokens' or 'max_completion_tokens' is too large: 1000. This model's maximum context length is 4096 tokens and your request has 3500 input tokens (1000 > 4096 - 3500).","type":"BadRequestError","code":400}}"#,
                "input length and `max_tokens` exceed context limit: 3500 + 1000 > 4096, decrease input length or `max_tokens` and try again",
            ),
            (
                br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#,
                "prompt is too long: 9000 tokens > 8192 maximum",
            ),
            (
                br#"{"error":{"code":400,"message":"request (9,000 tokens) exceeds the available context size (8,192 tokens), try increasing it","type":"invalid_request_error"}}"#,
                "prompt is too long: 9000 tokens > 8192 maximum",
            ),
            (
                br#"{"error":{"message":"The input (5000 tokens) is longer than the model's context length (4096 tokens).","type":"BadRequestError"}}"#,
                "prompt is too long: 5000 tokens > 4096 maximum",
            ),
            (
                br#"{"object":"error","message":"Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length","type":"invalid_request_error"}"#,
                "prompt is too long: 40000 tokens > 32768 maximum",
            ),
            (
                br#"{"error":"prompt too long; exceeded max context length by 1200 tokens"}"#,
                "prompt is too long for the model's context window (upstream: prompt too long; exceeded max context length by 1200 tokens)",
            ),
            (
                br#"{"error":{"message":"","code":"context_length_exceeded"}}"#,
                "prompt is too long for the model's context window",
            ),
        ];
        for (body, want) in cases {
            for status in [400, 413, 500] {
                let err = upstream_error(status, body, None);
                assert_eq!(
                    err.kind,
                    ErrorKind::InvalidRequest,
                    "{}",
                    String::from_utf8_lossy(body)
                );
                assert_eq!(&err.message, want, "{}", String::from_utf8_lossy(body));
            }
        }
    }

    /// A 500 that is really the server's schema rejecting the request: a 400 with a short
    /// message (never the whole dump), so Claude Code shows it at once instead of retrying.
    #[test]
    fn server_errors_that_are_validation_errors_are_400s() {
        // llama-cpp-python wraps any exception, FastAPI's request validation included, in
        // a 500 `internal_server_error` whose message is the exception's text.
        let fastapi = json!({"error": {"message": "2 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'messages', 1, 'typed-dict', 'content'), 'msg': 'Input should be a valid string', 'input': None}\n  {'type': 'string_type', 'loc': ('body', 'messages', 1, 'typed-dict', 'content'), 'msg': 'Input should be a valid string', 'input': None}\n", "type": "internal_server_error", "param": null, "code": null}});
        let err = upstream_error(500, fastapi.to_string().as_bytes(), None);
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(
            err.message,
            "the upstream rejected the request as invalid (its HTTP 500 is a validation error, which no retry fixes): 2 validation errors: messages.1.typed-dict.content: Input should be a valid string"
        );
        let pydantic = json!({"error": {"message": "1 validation error for ChatCompletionRequestAssistantMessage\ncontent\n  Input should be a valid string [type=string_type, input_value=None, input_type=NoneType]\n    For further information visit https://errors.pydantic.dev/2.9/v/string_type", "type": "internal_server_error"}});
        let err = upstream_error(500, pydantic.to_string().as_bytes(), None);
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(
            err.message.ends_with(
                "1 validation error for ChatCompletionRequestAssistantMessage: content; Input should be a valid string"
            ),
            "{}",
            err.message
        );
        let detail = json!({"detail": [{"type": "missing", "loc": ["body", "model"], "msg": "Field required"}]});
        let err = upstream_error(500, detail.to_string().as_bytes(), None);
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.message.ends_with(": Field required"), "{}", err.message);
        let llamacpp = json!({"error": {"code": 500, "message": "Assistant message must contain either 'content' or 'tool_calls'!", "type": "invalid_request_error"}});
        let err = upstream_error(500, llamacpp.to_string().as_bytes(), None);
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.message.ends_with("'tool_calls'!"), "{}", err.message);
        // A long dump is cut short.
        let long = json!({"error": {"message": format!("1 validation error for X\n{}", "y".repeat(5000)), "type": "internal_server_error"}});
        let err = upstream_error(500, long.to_string().as_bytes(), None);
        assert!(err.message.chars().count() < 450, "{}", err.message);
        // A real server failure stays a retryable 5xx.
        for (status, body, kind) in [
            (
                500,
                json!({"error": {"message": "CUDA out of memory", "type": "internal_server_error"}}),
                ErrorKind::Api,
            ),
            (
                503,
                json!({"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}),
                ErrorKind::Overloaded,
            ),
        ] {
            assert_eq!(
                upstream_error(status, body.to_string().as_bytes(), None).kind,
                kind
            );
        }
    }

    #[test]
    fn bodies_that_are_not_json_errors_are_described() {
        let html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
        let err = upstream_error(502, html, None);
        assert_eq!(err.kind, ErrorKind::Overloaded);
        assert_eq!(
            err.message,
            "upstream HTTP 502 sent an HTML/XML page instead of a JSON error: 502 Bad Gateway 502 Bad Gateway nginx"
        );
        let err = upstream_error(500, b"Internal Server Error\x00\x01 boom", None);
        assert_eq!(
            err.message,
            "upstream HTTP 500 sent a body that is not JSON: Internal Server Error boom"
        );
        let err = upstream_error(503, b"", None);
        assert_eq!(err.message, "upstream HTTP 503 with an empty body");
        let err = upstream_error(400, br#"{"weird":true}"#, None);
        assert_eq!(
            err.message,
            r#"upstream HTTP 400 sent JSON that is not an error object: {"weird":true}"#
        );
        let long = "x".repeat(1000);
        let err = upstream_error(500, long.as_bytes(), None);
        assert!(
            err.message.ends_with("…") && err.message.chars().count() < 300,
            "{}",
            err.message
        );
    }

    #[test]
    fn mid_stream_error_kinds() {
        let kind = |v: &str| stream_error(&ErrorObject::from_body(v.as_bytes()).unwrap()).kind;
        assert_eq!(
            kind(r#"{"error":{"message":"slow","code":429}}"#),
            ErrorKind::RateLimit
        );
        assert_eq!(
            kind(r#"{"error":{"message":"x","type":"rate_limit_exceeded"}}"#),
            ErrorKind::RateLimit
        );
        assert_eq!(
            kind(r#"{"error":{"message":"x","type":"server_error"}}"#),
            ErrorKind::Api
        );
        assert_eq!(
            kind(r#"{"error":{"message":"x","type":"overloaded_error"}}"#),
            ErrorKind::Overloaded
        );
        assert_eq!(
            kind(r#"{"error":{"message":"x","code":502}}"#),
            ErrorKind::Overloaded
        );
        assert_eq!(kind(r#"{"error":"boom"}"#), ErrorKind::Api);
        assert_eq!(
            stream_error(
                &ErrorObject::from_body(br#"{"error":{"message":"boom","type":"server_error"}}"#)
                    .unwrap()
            )
            .message,
            "the upstream failed mid-answer: boom (server_error)"
        );
    }

    #[test]
    fn stop_reasons() {
        let cases = [
            (Some("stop"), false, StopReason::EndTurn),
            (Some("length"), false, StopReason::MaxTokens),
            (Some("tool_calls"), false, StopReason::EndTurn),
            (Some("function_call"), true, StopReason::ToolUse),
            (Some("stop"), true, StopReason::ToolUse),
            (Some("length"), true, StopReason::ToolUse),
            (Some("content_filter"), false, StopReason::Refusal),
            (Some("eos"), false, StopReason::EndTurn),
            (Some(""), false, StopReason::EndTurn),
            (None, false, StopReason::EndTurn),
        ];
        for (raw, tools, want) in cases {
            assert_eq!(stop_reason_for(raw, tools, false), want, "{raw:?} {tools}");
        }
        assert_eq!(
            stop_reason_for(Some("stop"), false, true),
            StopReason::Refusal
        );
    }

    #[test]
    fn usage_rules() {
        let u: CompletionUsage = serde_json::from_str(
            r#"{"prompt_tokens":1000,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":800}}"#,
        )
        .unwrap();
        assert_eq!(
            final_usage(Some(&u), 7, || 9),
            Usage {
                input_tokens: 200,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 800,
                output_tokens: 50
            }
        );
        assert_eq!(
            final_usage(None, 7, || 9),
            Usage {
                input_tokens: 7,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: 9
            }
        );
        let zero: CompletionUsage =
            serde_json::from_str(r#"{"prompt_tokens":0,"completion_tokens":0}"#).unwrap();
        assert_eq!(final_usage(Some(&zero), 7, || 9).input_tokens, 7);
        let odd: CompletionUsage = serde_json::from_str(
            r#"{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":8,"cache_write_tokens":5}}"#,
        )
        .unwrap();
        let got = final_usage(Some(&odd), 7, || 9);
        assert_eq!(
            (
                got.input_tokens,
                got.cache_read_input_tokens,
                got.cache_creation_input_tokens
            ),
            (0, 8, 2)
        );
    }

    #[test]
    fn message_with_everything() {
        let mut c = ctx();
        let long = format!("mcp__github__{}", "y".repeat(70));
        let short = c.tool_names.upstream_name(&long);
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "deepseek-chat",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "Let me look.", "reasoning_content": "think",
                "tool_calls": [
                    {"id": "functions.Bash:0", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                    {"id": "functions.Bash:0", "type": "function", "function": {"name": short, "arguments": ""}},
                    {"type": "function", "function": {"name": "Read", "arguments": {"file_path": "/a"}}}
                ]}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 100}}
        });
        let msg = chat_to_message(body.to_string().as_bytes(), &c).unwrap();
        let seed_id = sanitize_id("", tool_id_seed("msg_test", 2));
        assert_eq!(
            msg,
            json!({
                "id": "msg_test", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [
                    {"type": "thinking", "thinking": "think", "signature": sign("think")},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "functions_Bash_0", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "functions_Bash_0_2", "name": long, "input": {}},
                    {"type": "tool_use", "id": seed_id, "name": "Read", "input": {"file_path": "/a"}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 30}
            })
        );
    }

    #[test]
    fn message_edge_cases() {
        let c = ctx();
        // Whitespace text and no usage: no empty block, estimated usage, end_turn.
        let msg = chat_to_message(
            br#"{"choices":[{"message":{"content":"  \n","tool_calls":[{"function":{"arguments":""}}]},"finish_reason":"tool_calls"}]}"#,
            &c,
        )
        .unwrap();
        assert_eq!(msg["content"], json!([]));
        assert_eq!(msg["stop_reason"], "end_turn");
        assert_eq!(msg["usage"]["input_tokens"], 100);
        // Refusal.
        let msg = chat_to_message(br#"{"choices":[{"message":{"content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#, &c).unwrap();
        assert_eq!(
            msg["content"],
            json!([{"type":"text","text":"I can't help with that."}])
        );
        assert_eq!(msg["stop_reason"], "refusal");
        // Length.
        let msg = chat_to_message(
            br#"{"choices":[{"message":{"content":"abc"},"finish_reason":"length"}]}"#,
            &c,
        )
        .unwrap();
        assert_eq!(msg["stop_reason"], "max_tokens");
        assert_eq!(msg["usage"]["output_tokens"], 1);
    }

    #[test]
    fn message_errors() {
        let c = ctx();
        let err = chat_to_message(br#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"Bash","arguments":"{\"command\": \"ls"}}]},"finish_reason":"length"}]}"#, &c).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Api);
        assert!(
            err.message.contains("tool `Bash`")
                && err.message.contains("not valid JSON")
                && err.message.contains("output token limit"),
            "{}",
            err.message
        );
        let err = chat_to_message(br#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"Bash","arguments":"[1]"}}]}}]}"#, &c).unwrap_err();
        assert!(
            err.message.contains("JSON an array, not an object"),
            "{}",
            err.message
        );
        let err = chat_to_message(br#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"arguments":"{}"}}]}}]}"#, &c).unwrap_err();
        assert!(
            err.message.contains("without a tool name"),
            "{}",
            err.message
        );
        let err = chat_to_message(br#"{"choices":[]}"#, &c).unwrap_err();
        assert!(err.message.contains("no choices"));
        let err = chat_to_message(br#"{"error":{"message":"This model's maximum context length is 10 tokens. However, your messages resulted in 20 tokens.","code":"context_length_exceeded"}}"#, &c).unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                ErrorKind::InvalidRequest,
                "prompt is too long: 20 tokens > 10 maximum"
            )
        );
        let err = chat_to_message(b"<html>oops</html>", &c).unwrap_err();
        assert!(
            err.message.contains("not a chat completion") && err.message.ends_with("oops"),
            "{}",
            err.message
        );
        let err = chat_to_message(br#"{"error":"boom"}"#, &c).unwrap_err();
        assert_eq!(err.message, "the upstream failed mid-answer: boom");
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(v in arb_json()) {
            let body = v.to_string();
            let _ = chat_to_message(body.as_bytes(), &ctx());
            let wrapped = json!({"choices": [{"message": v.clone(), "finish_reason": "stop"}], "usage": v});
            let _ = chat_to_message(wrapped.to_string().as_bytes(), &ctx());
            let _ = upstream_error(400, body.as_bytes(), None);
            let _ = upstream_error(500, json!({"error": v}).to_string().as_bytes(), Some("1"));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), status in 0u16..1000) {
            let _ = chat_to_message(&body, &ctx());
            let _ = upstream_error(status, &body, None);
        }

        #[test]
        fn context_messages_never_panic(msg in "[a-z0-9 ,().:>~-]{0,120}") {
            let obj = ErrorObject { message: Some(format!("maximum context length is {msg}")), ..ErrorObject::default() };
            let out = context_overflow_message(&obj).unwrap();
            prop_assert!(out.starts_with("prompt is too long") || out.starts_with("input length and"));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            prop_oneof![
                Just("choices".to_owned()),
                Just("message".to_owned()),
                Just("tool_calls".to_owned()),
                Just("function".to_owned()),
                Just("arguments".to_owned()),
                Just("{\"a\":1}".to_owned()),
                Just("content".to_owned()),
                Just("error".to_owned()),
                Just("usage".to_owned()),
                ".{0,12}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("choices"),
                            Just("message"),
                            Just("tool_calls"),
                            Just("function"),
                            Just("name"),
                            Just("arguments"),
                            Just("content"),
                            Just("reasoning"),
                            Just("reasoning_content"),
                            Just("refusal"),
                            Just("error"),
                            Just("usage"),
                            Just("prompt_tokens"),
                            Just("completion_tokens"),
                            Just("finish_reason"),
                            Just("index"),
                            Just("id"),
                            Just("message"),
                            Just("code"),
                            Just("type"),
                        ],
                        inner,
                    ),
                    0..5,
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }
}

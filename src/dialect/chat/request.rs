//! Request translation from the Anthropic Messages API to OpenAI Chat Completions.
//!
//! [`to_chat`] is pure: it takes a parsed [`MessagesRequest`], the upstream model id and the
//! backend's [`ChatProfile`], normalises the request into a [`Conversation`] (the rules every
//! dialect shares live there) and [`encode`]s it: the Chat Completions body, the tool-name
//! map needed to translate the answer back, and the list of everything it dropped (the
//! server logs it). What this encoding adds (the known pitfalls of this translation):
//!
//! - `system` (string or blocks) and mid-conversation `"role":"system"` turns become system
//!   messages: one leading message when the profile says so, otherwise in place (deferred
//!   past the tool results when they arrive between a tool call and its results). A leading
//!   `x-anthropic-billing-header:` line in the system prompt, which changes on every request
//!   and defeats prefix caches, is dropped.
//! - Text-only content is flattened to a string; arrays are sent only with images or files.
//!   Empty and whitespace-only text is never sent.
//! - Assistant `tool_use` becomes `tool_calls` (when there is no text, `content: null` as
//!   OpenAI documents it, or `""` for servers that validate it as a string, as the profile's
//!   [`ToolCallContent`] says); all assistant text of the turn is kept, before and after the
//!   calls alike.
//! - User `tool_result`s become `tool` messages right after the assistant turn; their images
//!   and PDFs move to one following user message naming the tool call; the rest of the user
//!   turn follows. Calls left unanswered get a placeholder result and results without a call
//!   become user text, so the backend never sees a broken tool sequence.
//! - Earlier `thinking` is echoed as `reasoning_content` only for backends that require it
//!   (DeepSeek), and only blocks whose signature is ours for exactly that text; never as
//!   visible text. For those backends every assistant message carries `reasoning_content`
//!   (`""` when there is none), as DeepSeek's thinking mode requires.
//! - Server tools and tools with `defer_loading: true` are not offered, unless a deferred
//!   tool was already loaded by a `tool_reference` in a tool result (Anthropic's tool search),
//!   in which case it is offered like any other.

use bytes::Bytes;

use super::wire_request::{
    AssistantMessage, ChatCompletionRequest, ChatMessage, ChatTool, ChatToolChoice, ContentPart,
    FileData, FunctionCall, FunctionDef, FunctionType, ImageUrl, ReasoningEffort, StreamOptions,
    ToolCall, UserContent,
};
use crate::anthropic::request::{MessagesRequest, Thinking, push_paragraph};
use crate::anthropic::{ApiError, ErrorKind};
use crate::conversation::{
    AssistantPart, Conversation, Item, Media, Part, ToolChoice, ToolResult, ToolSpec, result_text,
};
use crate::dialect::signature::Signature;
use crate::provider::{ChatProfile, MaxTokensField, ReasoningEcho, ToolCallContent};

use crate::translate::tool_names::ToolNames;

/// The most stop sequences Chat Completions accepts.
pub const MAX_STOP: usize = 4;

pub use crate::conversation::{EMPTY_RESULT, MISSING_RESULT};

/// A translated request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The Chat Completions body.
    pub body: ChatCompletionRequest,
    /// The tool names shortened on the way out, to map the answer's names back.
    pub tool_names: ToolNames,
    /// Every field, tool and block that was not forwarded, once each, for the debug log.
    pub dropped: Vec<String>,
}

impl ChatRequest {
    /// The body as JSON bytes.
    pub fn to_bytes(&self) -> Bytes {
        // Serialising plain structs, strings, integers, finite floats (JSON never yields
        // others) and `Value`s has no failure path.
        Bytes::from(serde_json::to_vec(&self.body).unwrap_or_default())
    }

    /// Whether the upstream answer will be streamed.
    pub fn is_stream(&self) -> bool {
        self.body.stream == Some(true)
    }
}

/// Translates `req` into a Chat Completions request for `upstream_model` on a backend that
/// behaves as `profile` says: normalised once into a [`Conversation`], then encoded. Errors
/// are 400s for content the backend cannot take (a PDF on a backend without PDF input, an
/// Anthropic Files API reference).
pub fn to_chat(
    req: &MessagesRequest,
    upstream_model: &str,
    profile: &ChatProfile,
) -> Result<ChatRequest, ApiError> {
    encode(Conversation::from_request(req)?, upstream_model, profile)
}

/// Encodes a conversation as a Chat Completions request (see [`to_chat`]).
pub fn encode(
    conv: Conversation,
    upstream_model: &str,
    profile: &ChatProfile,
) -> Result<ChatRequest, ApiError> {
    let mut cx = Cx {
        profile,
        names: ToolNames::default(),
        dropped: Dropped(conv.dropped),
    };
    let reasoning_model = profile.max_tokens_field == MaxTokensField::MaxCompletionTokens
        && is_openai_reasoning_model(upstream_model);
    if conv.top_k.is_some() {
        cx.dropped.add("top_k");
    }

    let tools: Vec<ChatTool> = conv
        .tools
        .into_iter()
        .map(|t| chat_tool(&mut cx, t))
        .collect();
    let tool_choice = conv.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::Auto => ChatToolChoice::Auto,
        ToolChoice::Any => ChatToolChoice::Required,
        ToolChoice::None => ChatToolChoice::None,
        ToolChoice::Tool(name) => ChatToolChoice::Function(cx.names.upstream_name(name)),
    });
    let parallel_tool_calls = (!tools.is_empty() && !conv.parallel_tool_calls).then_some(false);
    let tools = (!tools.is_empty()).then_some(tools);

    let reasoning_effort = reasoning_effort(
        &mut cx,
        conv.thinking.as_ref(),
        conv.effort.as_deref(),
        upstream_model,
    );
    let messages = encode_items(&mut cx, conv.system, conv.items)?;

    let (temperature, top_p, stop) = if reasoning_model {
        for (present, name) in [
            (conv.temperature.is_some(), "temperature"),
            (conv.top_p.is_some(), "top_p"),
            (!conv.stop_sequences.is_empty(), "stop_sequences"),
        ] {
            if present {
                cx.dropped
                    .add(format!("{name} (not accepted by reasoning models)"));
            }
        }
        (None, None, None)
    } else {
        (
            conv.temperature,
            conv.top_p,
            stop_sequences(&mut cx, conv.stop_sequences),
        )
    };

    let max_tokens = conv.max_tokens.map(|n| n.max(1));
    let (max_tokens, max_completion_tokens) = match profile.max_tokens_field {
        MaxTokensField::MaxTokens => (max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, max_tokens),
    };
    let stream_options =
        (conv.stream == Some(true) && profile.stream_usage).then_some(StreamOptions {
            include_usage: true,
        });

    Ok(ChatRequest {
        body: ChatCompletionRequest {
            model: upstream_model.to_owned(),
            messages,
            max_tokens,
            max_completion_tokens,
            temperature,
            top_p,
            stop,
            stream: conv.stream,
            stream_options,
            tools,
            tool_choice,
            parallel_tool_calls,
            reasoning_effort,
        },
        tool_names: cx.names,
        dropped: cx.dropped.0,
    })
}

/// Whether an OpenAI model id names a reasoning model (`o1`, `o3`, `o4`, `gpt-5` families),
/// which rejects `temperature`, `top_p` and `stop` and takes `reasoning_effort`.
pub fn is_openai_reasoning_model(model: &str) -> bool {
    let id = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|prefix| id.starts_with(prefix))
        && !id.starts_with("gpt-5-chat")
}

/// Translation state shared by the helpers.
struct Cx<'a> {
    profile: &'a ChatProfile,
    names: ToolNames,
    dropped: Dropped,
}

/// The dropped-items list, without duplicates, in first-seen order.
#[derive(Default)]
struct Dropped(Vec<String>);

impl Dropped {
    fn add(&mut self, what: impl Into<String>) {
        let what = what.into();
        if !self.0.contains(&what) {
            self.0.push(what);
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequest, message)
}

// ---------------------------------------------------------------------------------------
// Sampling and reasoning

fn stop_sequences(cx: &mut Cx<'_>, mut kept: Vec<String>) -> Option<Vec<String>> {
    if kept.len() > MAX_STOP {
        cx.dropped.add(format!(
            "stop_sequences beyond the first {MAX_STOP} ({} more)",
            kept.len() - MAX_STOP
        ));
        kept.truncate(MAX_STOP);
    }
    (!kept.is_empty()).then_some(kept)
}

/// `reasoning_effort` for the request: from the thinking budget for `enabled`, from
/// `output_config.effort` for `adaptive` (or when thinking is unset); omitted for
/// `disabled`, for `adaptive` without an effort (the backend's default applies), and for
/// backends that do not take it (OpenAI's non-reasoning models among them).
fn reasoning_effort(
    cx: &mut Cx<'_>,
    thinking: Option<&Thinking>,
    effort: Option<&str>,
    upstream_model: &str,
) -> Option<ReasoningEffort> {
    let from_effort = |cx: &mut Cx<'_>| {
        let e = effort?;
        let mapped = effort_from_str(e);
        if mapped.is_none() {
            cx.dropped
                .add(format!("output_config.effort {e:?} (unknown)"));
        }
        mapped
    };
    let wanted = match thinking {
        Some(Thinking::Enabled { budget_tokens, .. }) => {
            if effort.is_some() {
                cx.dropped
                    .add("output_config.effort (the thinking budget decides)");
            }
            Some(match budget_tokens {
                Some(b) if *b < 4_096 => ReasoningEffort::Low,
                Some(b) if *b < 16_384 => ReasoningEffort::Medium,
                Some(_) => ReasoningEffort::High,
                None => ReasoningEffort::Medium,
            })
        }
        Some(Thinking::Adaptive { .. }) | None => from_effort(cx),
        Some(Thinking::Disabled) => {
            if effort.is_some() {
                cx.dropped.add("output_config.effort (thinking disabled)");
            }
            None
        }
        Some(Thinking::Other(_)) => {
            cx.dropped.add("thinking (unknown type)");
            from_effort(cx)
        }
    };
    let wanted = wanted?;
    let accepts = cx.profile.reasoning_effort
        && (cx.profile.max_tokens_field != MaxTokensField::MaxCompletionTokens
            || is_openai_reasoning_model(upstream_model));
    if accepts {
        Some(wanted)
    } else {
        cx.dropped
            .add("thinking/effort (the backend takes no reasoning_effort)");
        None
    }
}

fn effort_from_str(effort: &str) -> Option<ReasoningEffort> {
    match effort {
        "low" => Some(ReasoningEffort::Low),
        "medium" => Some(ReasoningEffort::Medium),
        "high" | "xhigh" | "max" => Some(ReasoningEffort::High),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Tools

/// A tool definition, moved (not copied: Claude Code's schemas are tens of KB) out of the
/// conversation.
fn chat_tool(cx: &mut Cx<'_>, tool: ToolSpec) -> ChatTool {
    ChatTool {
        kind: FunctionType::Function,
        function: FunctionDef {
            name: cx.names.upstream_name(&tool.name),
            description: tool.description,
            parameters: tool.parameters,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Messages

/// Appends a user message, merging it into a directly preceding user message.
fn push_user(messages: &mut Vec<ChatMessage>, parts: Vec<ContentPart>) {
    if parts.is_empty() {
        return;
    }
    if let Some(ChatMessage::User { content }) = messages.last_mut() {
        let mut merged = match std::mem::replace(content, UserContent::Text(String::new())) {
            UserContent::Text(text) => vec![ContentPart::Text { text }],
            UserContent::Parts(parts) => parts,
        };
        merged.extend(parts);
        *content = user_content(merged);
    } else {
        messages.push(ChatMessage::User {
            content: user_content(parts),
        });
    }
}

/// Text-only parts flattened to one string; parts kept when there is an image or file.
fn user_content(parts: Vec<ContentPart>) -> UserContent {
    if parts.iter().all(|p| matches!(p, ContentPart::Text { .. })) {
        let mut text = String::new();
        for part in &parts {
            if let ContentPart::Text { text: t } = part {
                push_paragraph(&mut text, t);
            }
        }
        UserContent::Text(text)
    } else {
        UserContent::Parts(parts)
    }
}

fn text_part(text: impl Into<String>) -> ContentPart {
    ContentPart::Text { text: text.into() }
}

/// The conversation's items as Chat messages. Tool results become `tool` messages; their
/// images and PDFs go into the user message that follows them (one is made when none
/// does), introduced by a line naming the call.
fn encode_items(
    cx: &mut Cx<'_>,
    system: String,
    items: Vec<Item>,
) -> Result<Vec<ChatMessage>, ApiError> {
    let mut messages = Vec::with_capacity(items.len() + 1);
    let single = cx.profile.single_leading_system;
    let mut leading = String::new();
    if single {
        leading = system;
    } else if !system.is_empty() {
        messages.push(ChatMessage::System { content: system });
    }
    let mut attachments: Vec<ContentPart> = Vec::new();
    for item in items {
        match item {
            Item::System(text) => {
                if single {
                    push_paragraph(&mut leading, &text);
                } else {
                    messages.push(ChatMessage::System { content: text });
                }
            }
            Item::ToolResult(result) => {
                let (text, files) = tool_result_content(cx, &result)?;
                if !files.is_empty() {
                    attachments.push(text_part(format!(
                        "Attachments returned by tool call {} ({}):",
                        result.call_id, result.name
                    )));
                    attachments.extend(files);
                }
                messages.push(ChatMessage::Tool {
                    tool_call_id: result.call_id,
                    content: text,
                });
            }
            Item::User(parts) => {
                let mut out = std::mem::take(&mut attachments);
                for part in parts {
                    user_part(cx, part, &mut out)?;
                }
                push_user(&mut messages, out);
            }
            Item::Assistant(parts) => {
                push_user(&mut messages, std::mem::take(&mut attachments));
                assistant_message(cx, &mut messages, parts);
            }
        }
    }
    push_user(&mut messages, attachments);
    if !leading.is_empty() {
        messages.insert(0, ChatMessage::System { content: leading });
    }
    if messages.is_empty() {
        return Err(invalid(
            "messages: at least one non-empty message is required",
        ));
    }
    Ok(messages)
}

fn assistant_message(cx: &mut Cx<'_>, messages: &mut Vec<ChatMessage>, parts: Vec<AssistantPart>) {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let echo = cx.profile.reasoning_echo == ReasoningEcho::ReasoningContent;
    for part in parts {
        match part {
            AssistantPart::Text(t) => push_paragraph(&mut text, &t),
            AssistantPart::ToolCall(call) => calls.push(ToolCall {
                id: call.id,
                kind: FunctionType::Function,
                function: FunctionCall {
                    name: cx.names.upstream_name(&call.name),
                    arguments: call.input.to_string(),
                },
            }),
            AssistantPart::Thinking {
                text: thinking,
                signature,
            } => {
                if echo && signature == (Signature::Ours { valid: true }) {
                    if !reasoning.is_empty() && !thinking.is_empty() {
                        reasoning.push('\n');
                    }
                    reasoning.push_str(&thinking);
                } else if echo {
                    cx.dropped.add("thinking block (signature not ours)");
                } else {
                    cx.dropped.add("thinking block");
                }
            }
        }
    }
    if text.is_empty() && calls.is_empty() {
        if !reasoning.is_empty() {
            cx.dropped.add("assistant turn with only reasoning");
        }
        return;
    }
    let reasoning_content = match cx.profile.reasoning_echo {
        ReasoningEcho::ReasoningContent => Some(reasoning),
        ReasoningEcho::Drop => None,
    };
    let content = match cx.profile.tool_call_content {
        _ if !text.is_empty() => Some(text),
        ToolCallContent::Null => None,
        ToolCallContent::Empty => Some(String::new()),
    };
    messages.push(ChatMessage::Assistant(AssistantMessage {
        content,
        tool_calls: calls,
        reasoning_content,
    }));
}

/// A tool result's text for the `tool` message, and its images and files for the user
/// message that follows.
fn tool_result_content(
    cx: &mut Cx<'_>,
    result: &ToolResult,
) -> Result<(String, Vec<ContentPart>), ApiError> {
    let mut text = String::new();
    let mut files = Vec::new();
    for part in &result.content {
        let mut parts = Vec::new();
        user_part(cx, part.clone(), &mut parts)?;
        for part in parts {
            match part {
                ContentPart::Text { text: t } => push_paragraph(&mut text, &t),
                other => files.push(other),
            }
        }
    }
    let has_files = !files.is_empty();
    Ok((result_text(text, has_files, result.is_error), files))
}

const NO_PDF: &str = "this backend cannot read PDF documents; extract the text first (for \
                      example with pdftotext) or use a provider that accepts PDF input \
                      (openai, openrouter, azure)";

/// The Chat parts for one user-side part: an image as an `image_url` (a data URL when
/// inline), a PDF as a `file` part after its heading on a backend that reads PDFs.
fn user_part(cx: &mut Cx<'_>, part: Part, parts: &mut Vec<ContentPart>) -> Result<(), ApiError> {
    match part {
        Part::Text(text) => parts.push(text_part(text)),
        Part::Image(media) => parts.push(ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: media_url(media),
            },
        }),
        Part::Pdf(pdf) => match pdf.source {
            Media::Base64 { .. } if !cx.profile.pdf => return Err(invalid(NO_PDF)),
            Media::Base64 { media_type, data } => {
                if !pdf.heading.is_empty() {
                    parts.push(text_part(pdf.heading));
                }
                parts.push(ContentPart::File {
                    file: FileData {
                        filename: pdf.title.unwrap_or_else(|| "document.pdf".to_owned()),
                        file_data: format!("data:{media_type};base64,{data}"),
                    },
                });
            }
            Media::Url(_) => {
                return Err(invalid(if cx.profile.pdf {
                    "documents given by URL cannot be sent to this backend; attach the file's \
                     data instead"
                } else {
                    NO_PDF
                }));
            }
        },
    }
    Ok(())
}

fn media_url(media: Media) -> String {
    match media {
        Media::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Media::Url(url) => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::parameters;
    use crate::provider::{PRESETS, preset};
    use crate::translate::signature;
    use serde_json::Value;
    use serde_json::json;

    fn profile(name: &str) -> ChatProfile {
        preset(name)
            .map(|p| p.profile)
            .unwrap_or(ChatProfile::COMPATIBLE)
    }

    fn translate(
        input: &Value,
        model: &str,
        profile: &ChatProfile,
    ) -> Result<ChatRequest, ApiError> {
        let req = MessagesRequest::from_slice(input.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("test input does not parse: {e}"));
        to_chat(&req, model, profile)
    }

    /// Translates `input` for `model` on `profile` and compares the body with `expected`.
    #[track_caller]
    fn check(input: Value, model: &str, profile: &ChatProfile, expected: Value) -> ChatRequest {
        let chat = translate(&input, model, profile).unwrap_or_else(|e| panic!("{e}"));
        let body: Value = serde_json::from_slice(&chat.to_bytes()).unwrap();
        assert_eq!(
            body,
            expected,
            "\nactual:\n{}\n",
            serde_json::to_string_pretty(&body).unwrap()
        );
        chat
    }

    /// A tool-call-only assistant turn: `content: null` for hosted presets that document it,
    /// `""` for local servers (llama-cpp-python's server rejects `null` with a 500), per the
    /// profile's data. Text, when there is some, is sent as it is on both.
    #[test]
    fn tool_call_only_content_follows_the_profile() {
        let input = |text: &str| {
            let mut content = vec![
                json!({"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}),
            ];
            if !text.is_empty() {
                content.insert(0, json!({"type": "text", "text": text}));
            }
            json!({"model": "m", "max_tokens": 10, "messages": [
                {"role": "user", "content": "list"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a.txt"}]}
            ]})
        };
        let assistant = |p: &ChatProfile, text: &str| {
            let chat = translate(&input(text), "m", p).unwrap();
            serde_json::to_value(&chat.body).unwrap()["messages"][1].clone()
        };
        for preset in PRESETS
            .iter()
            .filter(|p| p.dialect == crate::provider::Dialect::OpenAiChat)
        {
            let got = assistant(&preset.profile, "");
            let want = if preset.server.is_some() {
                json!("")
            } else {
                Value::Null
            };
            assert_eq!(got["content"], want, "{}", preset.name);
            assert_eq!(got["tool_calls"][0]["function"]["name"], "Bash");
            assert_eq!(
                assistant(&preset.profile, "Listing.")["content"],
                "Listing."
            );
        }
        assert_eq!(
            profile("llamacpp").tool_call_content,
            ToolCallContent::Empty
        );
        assert_eq!(profile("openai").tool_call_content, ToolCallContent::Null);
    }

    #[track_caller]
    fn check_err(input: Value, profile: &ChatProfile, needle: &str) {
        let err = translate(&input, "m", profile).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(err.status(), 400);
        assert!(err.message.contains(needle), "{}", err.message);
    }

    fn bash_tool() -> Value {
        json!({"name": "Bash", "description": "Run a command",
               "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                                "required": ["command"]}})
    }

    fn bash_chat_tool() -> Value {
        json!({"type": "function", "function": {"name": "Bash", "description": "Run a command",
               "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                              "required": ["command"]}}})
    }

    #[test]
    fn claude_code_2_1_197_on_a_local_server() {
        let input = json!({
            "model": "ollama/qwen3",
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=1;"},
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be helpful.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [
                {"role": "user", "content": "list files"},
                {"role": "system", "content": "Today is Monday."}
            ],
            "tools": [{
                "name": "Read", "description": "Read a file",
                "input_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "path": {"type": "string", "format": "uri"},
                        "limit": {"type": "integer", "exclusiveMinimum": 0},
                        "mode": {"anyOf": [{"const": "a"}, {"type": "null"}]}
                    },
                    "required": ["path"]
                }
            }],
            "metadata": {"user_id": "{\"device_id\":\"x\"}"},
            "max_tokens": 32000,
            "thinking": {"type": "adaptive"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "high"},
            "stream": true
        });
        let chat = check(
            input,
            "qwen3",
            &ChatProfile::COMPATIBLE,
            json!({
                "model": "qwen3",
                "messages": [
                    {"role": "system", "content": "You are Claude Code.\n\nBe helpful.\n\nToday is Monday."},
                    {"role": "user", "content": "list files"}
                ],
                "max_tokens": 32000,
                "stream": true,
                "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {
                    "name": "Read", "description": "Read a file",
                    "parameters": {
                        "type": "object", "additionalProperties": false,
                        "properties": {
                            "path": {"type": "string", "format": "uri"},
                            "limit": {"type": "integer", "exclusiveMinimum": 0},
                            "mode": {"anyOf": [{"const": "a"}, {"type": "null"}]}
                        },
                        "required": ["path"]
                    }
                }}]
            }),
        );
        assert_eq!(
            chat.dropped,
            [
                "context_management",
                "metadata",
                "system x-anthropic-billing-header line",
                "text.cache_control",
                "thinking/effort (the backend takes no reasoning_effort)"
            ]
        );
        assert!(chat.is_stream());
    }

    #[test]
    fn claude_code_2_1_197_on_openai() {
        let input = json!({
            "model": "openai/gpt-5-mini",
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
                {"role": "system", "content": "Mind the tests."},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "go"}
            ],
            "tools": [bash_tool()],
            "max_tokens": 64000, "temperature": 1, "stop_sequences": ["END"],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"},
            "stream": true
        });
        let chat = check(
            input,
            "gpt-5-mini",
            &profile("openai"),
            json!({
                "model": "gpt-5-mini",
                "messages": [
                    {"role": "system", "content": "You are Claude Code."},
                    {"role": "user", "content": "hi"},
                    {"role": "system", "content": "Mind the tests."},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": "go"}
                ],
                "max_completion_tokens": 64000,
                "stream": true,
                "stream_options": {"include_usage": true},
                "tools": [bash_chat_tool()],
                "reasoning_effort": "high"
            }),
        );
        assert!(chat.dropped.iter().any(|d| d.starts_with("temperature")));
        assert!(chat.dropped.iter().any(|d| d.starts_with("stop_sequences")));
    }

    #[test]
    fn claude_code_2_1_332_deferred_tools_and_list_content() {
        let input = json!({
            "model": "m",
            "system": "sys",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "fix the bug"}
                ]},
                {"role": "system", "content": [
                    {"type": "text", "text": "Deferred tools: WebFetch, NotebookEdit"}
                ]}
            ],
            "tools": [
                bash_tool(),
                {"name": "ToolSearch", "description": "Find tools",
                 "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                  "type": "object", "properties": {"query": {"type": "string"}}}},
                {"name": "DeferredToolPlaceholder", "description": "Never call this",
                 "input_schema": {"type": "object", "properties": {}}, "defer_loading": true}
            ],
            "max_tokens": 32000,
            "thinking": {"type": "adaptive", "display": "omitted"},
            "stream": false
        });
        let chat = check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "sys\n\nDeferred tools: WebFetch, NotebookEdit"},
                    {"role": "user", "content": "<system-reminder>ctx</system-reminder>\n\nfix the bug"}
                ],
                "max_tokens": 32000,
                "stream": false,
                "tools": [
                    bash_chat_tool(),
                    {"type": "function", "function": {"name": "ToolSearch", "description": "Find tools",
                     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
                ]
            }),
        );
        assert!(
            chat.dropped
                .contains(&"tool DeferredToolPlaceholder (defer_loading)".to_owned())
        );
    }

    #[test]
    fn deferred_tool_is_offered_once_loaded_by_tool_search() {
        let input = json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "fetch it"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {"query": "fetch"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                    "content": [{"type": "tool_reference", "tool_name": "WebFetch"}]}]}
            ],
            "tools": [
                {"name": "WebFetch", "input_schema": {"type": "object"}, "defer_loading": true},
                {"name": "NotebookEdit", "input_schema": {"type": "object"}, "defer_loading": true}
            ]
        });
        let chat = check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({
                "model": "m",
                "messages": [
                    {"role": "user", "content": "fetch it"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function",
                        "function": {"name": "ToolSearch", "arguments": "{\"query\":\"fetch\"}"}}]},
                    {"role": "tool", "tool_call_id": "t1", "content": "Tool WebFetch is now available to call."}
                ],
                "tools": [{"type": "function", "function": {"name": "WebFetch",
                    "parameters": {"type": "object", "properties": {}}}}]
            }),
        );
        assert!(
            chat.dropped
                .contains(&"tool NotebookEdit (defer_loading)".to_owned())
        );
    }

    #[test]
    fn parallel_tool_round_trip_keeps_all_text_and_order() {
        let input = json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "check both"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_A", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "functions.Read:1", "name": "Read", "input": {}},
                    {"type": "text", "text": "Both started."}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "functions.Read:1", "content": "file body"},
                    {"type": "tool_result", "tool_use_id": "toolu_A", "is_error": true,
                     "content": [{"type": "text", "text": "ls: denied"}], "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "and now?"}
                ]},
                {"role": "assistant", "content": "Done."}
            ]
        });
        let chat = check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({
                "model": "m",
                "messages": [
                    {"role": "user", "content": "check both"},
                    {"role": "assistant", "content": "Checking.\n\nBoth started.", "tool_calls": [
                        {"id": "toolu_A", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                        {"id": "functions_Read_1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "functions_Read_1", "content": "file body"},
                    {"role": "tool", "tool_call_id": "toolu_A", "content": "Error: ls: denied"},
                    {"role": "user", "content": "and now?"},
                    {"role": "assistant", "content": "Done."}
                ]
            }),
        );
        assert!(
            chat.dropped
                .contains(&"tool_result.cache_control".to_owned())
        );
    }

    #[test]
    fn images_in_tool_results_follow_in_one_user_message() {
        let input = json!({
            "model": "m",
            "messages": [
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "a", "name": "Read", "input": {"path": "x.png"}},
                    {"type": "tool_use", "id": "b", "name": "Bash", "input": {"command": "true"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
                    ]},
                    {"type": "tool_result", "tool_use_id": "b", "content": ""},
                    {"type": "text", "text": "what is in it?"},
                    {"type": "image", "source": {"type": "url", "url": "https://e.x/y.jpg"}}
                ]}
            ]
        });
        check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({
                "model": "m",
                "messages": [
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "a", "type": "function", "function": {"name": "Read", "arguments": "{\"path\":\"x.png\"}"}},
                        {"id": "b", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"true\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "a", "content": "(the result's attachments follow in the next user message)"},
                    {"role": "tool", "tool_call_id": "b", "content": "(no output)"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "Attachments returned by tool call a (Read):"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                        {"type": "text", "text": "what is in it?"},
                        {"type": "image_url", "image_url": {"url": "https://e.x/y.jpg"}}
                    ]}
                ]
            }),
        );
    }

    fn pdf_request() -> Value {
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "document", "title": "spec.pdf",
             "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"}},
            {"type": "text", "text": "summarise"}
        ]}]})
    }

    #[test]
    fn pdf_is_a_file_part_where_supported_and_a_400_elsewhere() {
        check(
            pdf_request(),
            "gpt-4.1",
            &profile("openai"),
            json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Document: spec.pdf"},
                {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0"}},
                {"type": "text", "text": "summarise"}
            ]}]}),
        );
        check_err(
            pdf_request(),
            &ChatProfile::COMPATIBLE,
            "cannot read PDF documents",
        );
        let in_result = json!({"model": "m", "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "r", "name": "Read", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "r", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"}}
            ]}]}
        ]});
        check_err(in_result, &profile("deepseek"), "cannot read PDF documents");
    }

    #[test]
    fn text_documents_become_text() {
        let input = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "document", "title": "notes", "context": "from the wiki",
             "source": {"type": "text", "media_type": "text/plain", "data": "alpha"}},
            {"type": "document", "source": {"type": "content", "content": [
                {"type": "text", "text": "beta"}, {"type": "text", "text": " "}]}},
            {"type": "text", "text": "compare"}
        ]}]});
        check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({"model": "m", "messages": [{"role": "user",
                "content": "Document: notes\n\nfrom the wiki\n\nalpha\n\nbeta\n\ncompare"}]}),
        );
    }

    #[test]
    fn files_api_references_are_a_clear_400() {
        let input = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}]});
        check_err(input, &profile("openai"), "file_id");
    }

    fn signed_thinking(text: &str) -> Value {
        json!({"type": "thinking", "thinking": text, "signature": signature::sign(text)})
    }

    #[test]
    fn deepseek_gets_its_reasoning_back() {
        let input = json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                signed_thinking("The user greets me."),
                {"type": "text", "text": "Hello!"}
            ]},
            {"role": "user", "content": "run ls"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "from Claude", "signature": "EqQBCkYIBxgCKkB"},
                {"type": "redacted_thinking", "data": "abc"},
                {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls"}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "a.txt"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "edited", "signature": signature::sign("original")},
                {"type": "text", "text": "One file."}
            ]}
        ]});
        let chat = check(
            input.clone(),
            "deepseek-chat",
            &profile("deepseek"),
            json!({"model": "deepseek-chat", "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello!", "reasoning_content": "The user greets me."},
                {"role": "user", "content": "run ls"},
                {"role": "assistant", "content": null, "reasoning_content": "", "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "a.txt"},
                {"role": "assistant", "content": "One file.", "reasoning_content": ""}
            ]}),
        );
        assert!(
            chat.dropped
                .contains(&"thinking block (signature not ours)".to_owned())
        );
        assert!(
            chat.dropped
                .contains(&"redacted_thinking block in an assistant turn".to_owned())
        );

        // Backends without the echo never see reasoning, not even as text.
        let chat = translate(&input, "m", &ChatProfile::COMPATIBLE).unwrap();
        let body = String::from_utf8(chat.to_bytes().to_vec()).unwrap();
        assert!(
            !body.contains("greets") && !body.contains("reasoning_content"),
            "{body}"
        );
    }

    #[test]
    fn thinking_budget_and_effort_map_to_reasoning_effort() {
        let xai = profile("xai");
        for (thinking, effort, expected) in [
            (
                json!({"type": "enabled", "budget_tokens": 2048}),
                None,
                Some("low"),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 10000}),
                None,
                Some("medium"),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 32000}),
                None,
                Some("high"),
            ),
            (json!({"type": "adaptive"}), Some("low"), Some("low")),
            (json!({"type": "adaptive"}), Some("max"), Some("high")),
            (json!({"type": "adaptive"}), None, None),
            (json!({"type": "disabled"}), Some("high"), None),
            (Value::Null, Some("medium"), Some("medium")),
        ] {
            let mut input = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            if !thinking.is_null() {
                input["thinking"] = thinking.clone();
            }
            if let Some(effort) = effort {
                input["output_config"] = json!({"effort": effort});
            }
            let chat = translate(&input, "grok-3-mini", &xai).unwrap();
            let got = serde_json::to_value(chat.body.reasoning_effort).unwrap();
            assert_eq!(got, json!(expected), "{thinking} {effort:?}");
        }
        // OpenAI's non-reasoning models take no reasoning_effort.
        let input = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                           "thinking": {"type": "enabled", "budget_tokens": 2048}, "temperature": 0.2});
        let chat = translate(&input, "gpt-4.1", &profile("openai")).unwrap();
        assert_eq!(chat.body.reasoning_effort, None);
        assert_eq!(chat.body.temperature, Some(0.2));
    }

    #[test]
    fn long_mcp_tool_names_are_shortened_everywhere_and_map_back() {
        let long = format!(
            "mcp__{}__search_issues",
            "github-enterprise-server".repeat(3)
        );
        let input = json!({"model": "m",
            "messages": [
                {"role": "user", "content": "find it"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": long, "input": {"q": "bug"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "#1"}]}
            ],
            "tools": [{"name": long, "description": "Search", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
            "tool_choice": {"type": "tool", "name": long}
        });
        let chat = translate(&input, "m", &ChatProfile::COMPATIBLE).unwrap();
        let short = &chat.body.tools.as_ref().unwrap()[0].function.name;
        assert!(short.len() <= 64 && *short != long, "{short}");
        assert_eq!(chat.tool_names.original(short), long);
        let ChatMessage::Assistant(assistant) = &chat.body.messages[1] else {
            panic!("assistant expected")
        };
        assert_eq!(&assistant.tool_calls[0].function.name, short);
        assert_eq!(
            chat.body.tool_choice,
            Some(ChatToolChoice::Function(short.clone()))
        );
    }

    #[test]
    fn tool_choice_variants() {
        for (choice, expected_choice, parallel) in [
            (json!({"type": "auto"}), json!("auto"), None),
            (
                json!({"type": "any", "disable_parallel_tool_use": true}),
                json!("required"),
                Some(false),
            ),
            (
                json!({"type": "tool", "name": "Bash"}),
                json!({"type": "function", "function": {"name": "Bash"}}),
                None,
            ),
            (json!({"type": "none"}), json!("none"), None),
        ] {
            let input = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                               "tools": [bash_tool()], "tool_choice": choice});
            let mut expected = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                      "tools": [bash_chat_tool()], "tool_choice": expected_choice});
            if let Some(p) = parallel {
                expected["parallel_tool_calls"] = json!(p);
            }
            check(input, "m", &ChatProfile::COMPATIBLE, expected);
        }
        // A choice naming a tool that is not sent is dropped rather than rejected upstream.
        let input = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                           "tools": [bash_tool()], "tool_choice": {"type": "tool", "name": "Gone"}});
        let chat = translate(&input, "m", &ChatProfile::COMPATIBLE).unwrap();
        assert_eq!(chat.body.tool_choice, None);
    }

    #[test]
    fn server_tools_are_dropped_and_no_tools_means_no_choice() {
        let input = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}});
        let chat = check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        );
        assert_eq!(
            chat.dropped,
            [
                "tool web_search (server tool web_search_20250305)",
                "tool_choice (no tools sent)"
            ]
        );
    }

    #[test]
    fn empty_text_is_never_sent() {
        let input = json!({"model": "m", "system": [{"type": "text", "text": " "}], "messages": [
            {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "  \n"}, {"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": ""}, {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": " "}]}, {"type": "text", "text": " "}]},
            {"role": "assistant", "content": [{"type": "text", "text": "\n"}]},
            {"role": "user", "content": "next"}
        ]});
        let chat = check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({"model": "m", "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "(no output)"},
                {"role": "user", "content": "next"}
            ]}),
        );
        assert!(chat.dropped.contains(&"empty text block".to_owned()));
    }

    #[test]
    fn sampling_limits_and_dropped_fields() {
        let input = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 0, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
            "stop_sequences": ["a", "", "b", "c", "d", "e"], "service_tier": "auto",
            "container": "c1", "cache_control": {"type": "ephemeral"}, "stream": true});
        let chat = check(
            input,
            "llama",
            &ChatProfile {
                stream_usage: false,
                ..ChatProfile::COMPATIBLE
            },
            json!({"model": "llama", "messages": [{"role": "user", "content": "x"}],
                   "max_tokens": 1, "temperature": 0.5, "top_p": 0.9,
                   "stop": ["a", "b", "c", "d"], "stream": true}),
        );
        assert_eq!(
            chat.dropped,
            [
                "cache_control",
                "container",
                "service_tier",
                "top_k",
                "stop_sequences beyond the first 4 (1 more)"
            ]
        );
    }

    #[test]
    fn system_turn_between_a_call_and_its_result_waits_for_the_result() {
        let input = json!({"model": "m", "system": "s", "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
            {"role": "system", "content": "Tools changed."},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}
        ]});
        check(
            input,
            "m",
            &profile("openrouter"),
            json!({"model": "m", "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "ok"},
                {"role": "system", "content": "Tools changed."}
            ]}),
        );
    }

    #[test]
    fn broken_tool_sequences_are_repaired() {
        let input = json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "orphan", "content": "late"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "a", "name": "Bash", "input": {}},
                {"type": "tool_use", "id": "b", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "b", "content": "B"}]},
            {"role": "user", "content": "and?"}
        ]});
        check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({"model": "m", "messages": [
                {"role": "user", "content": "Result of tool call orphan:\nlate"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "Bash", "arguments": "{}"}},
                    {"id": "b", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "b", "content": "B"},
                {"role": "tool", "tool_call_id": "a", "content": MISSING_RESULT},
                {"role": "user", "content": "and?"}
            ]}),
        );
    }

    #[test]
    fn billing_header_line_is_stripped_from_a_string_system_prompt() {
        let input = json!({"model": "m",
            "system": "x-anthropic-billing-header: cc_version=1;\nYou are Claude Code.",
            "messages": [{"role": "user", "content": "x"}]});
        check(
            input,
            "m",
            &ChatProfile::COMPATIBLE,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "You are Claude Code."},
                {"role": "user", "content": "x"}
            ]}),
        );
    }

    #[test]
    fn schemas_without_properties_get_them() {
        assert_eq!(
            parameters(None),
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            parameters(Some(&json!({"type": "object", "$schema": "x"}))),
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(
            parameters(Some(&json!({"properties": {"a": {}}}))),
            json!({"type": "object", "properties": {"a": {}}})
        );
    }

    #[test]
    fn empty_conversation_is_a_400() {
        check_err(
            json!({"model": "m", "messages": [{"role": "user", "content": []}]}),
            &ChatProfile::COMPATIBLE,
            "at least one",
        );
    }

    #[test]
    fn the_claude_code_fixture_translates_on_every_preset() {
        let fixture = include_str!("../../../tests/fixtures/requests/claude-code-2.1.197.json");
        let req = MessagesRequest::from_slice(fixture.as_bytes()).unwrap();
        for preset in PRESETS {
            let chat = to_chat(&req, "gpt-5-mini", &preset.profile).unwrap();
            let body: Value = serde_json::from_slice(&chat.to_bytes()).unwrap();
            assert_eq!(body["tools"].as_array().map(Vec::len), Some(24), "{preset}");
            let text = body.to_string();
            assert!(!text.contains("$schema") && !text.contains("billing-header"));
            assert!(!has_null(&body), "{preset}: a null was sent");
            let systems = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["role"] == "system")
                .count();
            let expected = if preset.profile.single_leading_system {
                1
            } else {
                2
            };
            assert_eq!(systems, expected, "{preset}");
            assert_eq!(body["messages"][0]["role"], "system");
        }
    }

    /// The real first requests of Claude Code 2.1.197 and 2.1.332 (captured offline).
    #[test]
    fn real_claude_code_requests_translate_on_every_preset() {
        let fixtures = [
            (
                include_str!("../../../tests/fixtures/claude-code/2.1.197-first-request.json"),
                24,
            ),
            (
                include_str!("../../../tests/fixtures/claude-code/2.1.332-first-request.json"),
                11,
            ),
        ];
        for (fixture, tools) in fixtures {
            let req = MessagesRequest::from_slice(fixture.as_bytes()).unwrap();
            for preset in PRESETS {
                let chat = to_chat(&req, "gpt-5-mini", &preset.profile).unwrap();
                let body: Value = serde_json::from_slice(&chat.to_bytes()).unwrap();
                assert_eq!(
                    body["tools"].as_array().map(Vec::len),
                    Some(tools),
                    "{preset}"
                );
                assert!(!has_null(&body), "{preset}: a null was sent");
                let text = body.to_string();
                assert!(
                    !text.contains("billing-header") && !text.contains("DeferredToolPlaceholder")
                );
                let messages = body["messages"].as_array().unwrap();
                assert_eq!(messages[0]["role"], "system");
                assert!(
                    messages.iter().all(|m| m["content"].is_string()),
                    "{preset}"
                );
                let roles: Vec<_> = messages
                    .iter()
                    .map(|m| m["role"].as_str().unwrap())
                    .collect();
                if preset.profile.single_leading_system {
                    assert_eq!(roles, ["system", "user"], "{preset}");
                } else {
                    assert_eq!(roles, ["system", "user", "system"], "{preset}");
                }
                for dropped in ["context_management", "metadata", "text.cache_control"] {
                    assert!(
                        chat.dropped.iter().any(|d| d == dropped),
                        "{preset}: {dropped}"
                    );
                }
            }
        }
    }

    fn has_null(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(items) => items.iter().any(has_null),
            Value::Object(map) => map.values().any(has_null),
            _ => false,
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                prop_oneof![
                    Just("text"),
                    Just("image"),
                    Just("document"),
                    Just("tool_use"),
                    Just("tool_result"),
                    Just("thinking"),
                    Just("user"),
                    Just("assistant"),
                    Just("system"),
                    Just("base64"),
                    Just("application/pdf"),
                    Just("tool"),
                    Just(""),
                    Just(" "),
                    Just("custom"),
                    Just("tool_reference"),
                    Just("content")
                ]
                .prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::vec(
                        (
                            prop_oneof![
                                Just("type".to_owned()),
                                Just("text".to_owned()),
                                Just("content".to_owned()),
                                Just("source".to_owned()),
                                Just("id".to_owned()),
                                Just("tool_use_id".to_owned()),
                                Just("name".to_owned()),
                                Just("input".to_owned()),
                                Just("role".to_owned()),
                                Just("media_type".to_owned()),
                                Just("data".to_owned()),
                                Just("is_error".to_owned()),
                                Just("defer_loading".to_owned()),
                                Just("tool_name".to_owned()),
                                "[a-z_]{1,6}"
                            ],
                            inner
                        ),
                        0..6
                    )
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn request() -> impl Strategy<Value = Value> {
            (
                prop::collection::vec((0..3usize, json_value()), 0..6),
                prop::option::of(json_value()),
                prop::option::of(prop::collection::vec(json_value(), 0..4)),
                prop::option::of(json_value()),
                prop::option::of(json_value()),
            )
                .prop_map(|(messages, system, tools, choice, thinking)| {
                    let roles = ["user", "assistant", "system"];
                    let messages: Vec<Value> = messages
                        .into_iter()
                        .map(|(r, content)| json!({"role": roles[r], "content": content}))
                        .collect();
                    let mut req = json!({"model": "m", "messages": messages, "max_tokens": 5});
                    if let Some(s) = system {
                        req["system"] = s;
                    }
                    if let Some(t) = tools {
                        req["tools"] = Value::from(t);
                    }
                    if let Some(c) = choice {
                        req["tool_choice"] = c;
                    }
                    if let Some(t) = thinking {
                        req["thinking"] = t;
                    }
                    req
                })
        }

        fn run_all_profiles(bytes: &[u8]) {
            if let Ok(req) = MessagesRequest::from_slice(bytes) {
                let _ = crate::translate::tokens::estimate_request_tokens(&req);
                for preset in PRESETS {
                    if let Ok(chat) = to_chat(&req, "gpt-5", &preset.profile) {
                        let _ = chat.to_bytes();
                    }
                }
            }
        }

        proptest! {
            #[test]
            fn arbitrary_json_never_panics(value in json_value()) {
                run_all_profiles(value.to_string().as_bytes());
            }

            #[test]
            fn arbitrary_requests_never_panic(req in request()) {
                run_all_profiles(req.to_string().as_bytes());
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                run_all_profiles(&bytes);
            }
        }
    }
}

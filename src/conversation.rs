//! The dialect-neutral conversation: Claude Code's [`MessagesRequest`] normalised once, so
//! that each upstream dialect only has to encode it.
//!
//! [`Conversation::from_request`] applies every rule that does not depend on the backend:
//!
//! - the top-level `system` becomes [`Conversation::system`], without the leading
//!   `x-anthropic-billing-header:` line Claude Code changes on every request (it would
//!   defeat every backend's prefix cache);
//! - consecutive turns of the same role are merged (as Anthropic merges them);
//!   mid-conversation `role:"system"` turns become [`Item::System`];
//! - empty and whitespace-only text is dropped;
//! - **the tool sequence is repaired**: every [`AssistantPart::ToolCall`] is followed, right
//!   after its assistant item, by exactly one [`Item::ToolResult`] with the same id (in the
//!   order the results came; calls left unanswered get [`MISSING_RESULT`]), before any other
//!   item; system turns that arrived between a call and its results move after the
//!   results; a result without a call becomes user text. Ids are sanitised to
//!   `^[a-zA-Z0-9_-]+$` on both sides;
//! - tools: server tools and tools with `defer_loading: true` are not offered, unless a
//!   deferred tool was already loaded by a `tool_reference` in a tool result (Anthropic's
//!   tool search); duplicate names are dropped; `input_schema` is given as an object schema
//!   with `properties` and no `$schema`;
//! - tool results: `tool_reference` blocks become "Tool X is now available to call.",
//!   `search_result` blocks their title, source and text; text documents become text;
//! - thinking blocks are kept with their decoded [`Signature`] (each dialect decides what it
//!   may send back); `redacted_thinking` and unknown blocks are dropped;
//! - images and documents given as Anthropic Files API references are refused (no backend
//!   anyclaude translates to can read them);
//! - everything not carried is listed once in [`Conversation::dropped`] (the server logs it).
//!
//! Left to the dialect: name shortening, where system text may go, whether PDFs are
//! accepted, how `is_error` and empty results are phrased, reasoning settings.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::anthropic::request::{
    BlockRef, Content, ContentBlock, CustomTool, DocumentBlock, MessagesRequest, Role, Source,
    Thinking, Tool, ToolChoice as RequestToolChoice, ToolResultBlock, push_paragraph,
};
use crate::anthropic::{ApiError, ErrorKind};
use crate::dialect::signature::Signature;
use crate::translate::tool_names::sanitize_id;

/// What a tool call without a result in the history is answered with.
pub const MISSING_RESULT: &str = "(no result was recorded for this tool call)";

/// What a tool result with no content is sent as.
pub const EMPTY_RESULT: &str = "(no output)";

/// The text a tool result is sent as: its own text, or a placeholder when it has none
/// (pointing at the attachments that follow, when it has some), prefixed `Error: ` when the
/// tool failed. Dialects whose tool results carry only text use this.
pub fn result_text(text: String, has_attachments: bool, is_error: bool) -> String {
    let mut text = text;
    if text.is_empty() && has_attachments {
        text.push_str("(the result's attachments follow in the next user message)");
    }
    if is_error {
        let detail = if text.is_empty() {
            "(no details)"
        } else {
            &text
        };
        format!("Error: {detail}")
    } else if text.is_empty() {
        EMPTY_RESULT.to_owned()
    } else {
        text
    }
}

/// A request normalised for any dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The top-level system prompt (paragraphs joined), `""` when none.
    pub system: String,
    /// The conversation, oldest first.
    pub items: Vec<Item>,
    /// The tools to offer, in order.
    pub tools: Vec<ToolSpec>,
    /// How the model must use them (`None` when no tools are offered).
    pub tool_choice: Option<ToolChoice>,
    /// Whether more than one tool call per turn is allowed.
    pub parallel_tool_calls: bool,
    /// The output limit.
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling.
    pub top_k: Option<u64>,
    /// Non-empty stop sequences, as sent.
    pub stop_sequences: Vec<String>,
    /// The thinking settings as Claude Code sent them.
    pub thinking: Option<Thinking>,
    /// `output_config.effort` (`low` … `max`).
    pub effort: Option<String>,
    /// `stream` as sent (absent, `false` or `true`).
    pub stream: Option<bool>,
    /// Everything not carried, once each, in first-seen order.
    pub dropped: Vec<String>,
}

/// One item of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A mid-conversation system instruction.
    System(String),
    /// A user message (never empty).
    User(Vec<Part>),
    /// An assistant message (never empty).
    Assistant(Vec<AssistantPart>),
    /// The result of the tool call `call_id`, always right after the assistant item that
    /// made the call (or after another result of that item).
    ToolResult(ToolResult),
}

/// User-side content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text (never blank).
    Text(String),
    /// An image.
    Image(Media),
    /// A PDF document (text documents are [`Part::Text`]).
    Pdf(Pdf),
}

/// Where an image or a PDF's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// Inline, base64.
    Base64 {
        /// e.g. `image/png`.
        media_type: String,
        /// The base64 data.
        data: String,
    },
    /// A URL.
    Url(String),
}

/// A PDF document.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdf {
    /// The bytes.
    pub source: Media,
    /// The title, when given and not blank.
    pub title: Option<String>,
    /// "Document: title" and the context, as text to put before it (`""` when none).
    pub heading: String,
}

/// Assistant-side content.
#[derive(Debug, Clone, PartialEq)]
pub enum AssistantPart {
    /// Answer text (never blank).
    Text(String),
    /// Earlier reasoning, with its decoded signature.
    Thinking {
        /// The reasoning text.
        text: String,
        /// Whose it is (see [`Signature`]).
        signature: Signature,
    },
    /// A tool call.
    ToolCall(ToolCall),
}

/// A tool call from an earlier turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The call id, sanitised.
    pub id: String,
    /// The tool's name as Claude Code knows it.
    pub name: String,
    /// The arguments (a JSON object; `{}` when none).
    pub input: Value,
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call it answers (sanitised).
    pub call_id: String,
    /// The name of the tool that was called.
    pub name: String,
    /// What it returned (may be empty).
    pub content: Vec<Part>,
    /// Whether the tool failed.
    pub is_error: bool,
}

impl ToolResult {
    /// The result's text parts joined as paragraphs.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for part in &self.content {
            if let Part::Text(t) = part {
                push_paragraph(&mut text, t);
            }
        }
        text
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The name as Claude Code knows it.
    pub name: String,
    /// The description, when not blank.
    pub description: Option<Description>,
    /// An object JSON schema with `properties`, without `$schema`.
    pub parameters: Parameters,
}

/// A tool's parameter schema as [`parameters`] normalises it, shared between the requests
/// that send the same tool list (see [`crate::anthropic::request::Tools`]) and written out
/// as JSON once for all of them: Claude Code resends tens of KB of schemas every turn.
pub type Parameters = Shared<Value>;

/// A tool's description, shared and written out once like [`Parameters`] (Claude Code's
/// tool descriptions are most of its tool list's bytes).
pub type Description = Shared<String>;

/// A value shared between requests, with its JSON written on first use and kept.
pub struct Shared<T>(Arc<(T, OnceLock<Box<RawValue>>)>);

impl<T: Serialize> Shared<T> {
    /// The value as JSON, written on first use.
    pub fn json(&self) -> &RawValue {
        self.0.1.get_or_init(|| {
            // Writing a `Value` or a string has no failure path.
            serde_json::value::to_raw_value(&self.0.0).unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Shared<T> {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Shared<T> {
        Shared(Arc::new((value, OnceLock::new())))
    }
}

impl From<&str> for Description {
    fn from(text: &str) -> Description {
        Shared::from(text.to_owned())
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.0
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Shared<T>) -> bool {
        self.0.0 == other.0.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.0.fmt(f)
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

/// How the model must use the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must call some tool.
    Any,
    /// No tool calls.
    None,
    /// The model must call this (offered) tool.
    Tool(String),
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

    fn extras(&mut self, owner: &str, extra: &Map<String, Value>) {
        for key in extra.keys() {
            self.add(format!("{owner}.{key}"));
        }
    }

    /// The text of a plain string or a `text` block (listing the block's dropped fields).
    fn text_of<'b>(&mut self, block: BlockRef<'b>) -> Option<&'b str> {
        if let BlockRef::Block(ContentBlock::Text(t)) = block {
            self.extras("text", &t.extra);
        }
        let text = block.as_text()?;
        if text.trim().is_empty() {
            self.add("empty text block");
        }
        Some(text)
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequest, message)
}

impl Conversation {
    /// Normalises Claude Code's request. Errors are 400s for content no backend can take
    /// (Files API references) or a request with no non-empty message.
    pub fn from_request(req: &MessagesRequest) -> Result<Conversation, ApiError> {
        let mut dropped = Dropped::default();
        for key in req.extra.keys() {
            dropped.add(key);
        }
        if req.metadata.is_some() {
            dropped.add("metadata");
        }
        if let Some(config) = &req.output_config {
            for key in config.extra.keys() {
                dropped.add(format!("output_config.{key}"));
            }
        }
        let tools = tools(&mut dropped, req);
        let (tool_choice, parallel_tool_calls) = tool_choice(&mut dropped, req, &tools);
        let system = req
            .system
            .as_ref()
            .map(|s| system_text(&mut dropped, s))
            .unwrap_or_default();
        let items = items(&mut dropped, req)?;
        if items.is_empty() && system.is_empty() {
            return Err(invalid(
                "messages: at least one non-empty message is required",
            ));
        }
        Ok(Conversation {
            system,
            items,
            tools,
            tool_choice,
            parallel_tool_calls,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.top_k,
            stop_sequences: req
                .stop_sequences
                .iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            thinking: req.thinking.clone(),
            effort: req.output_config.as_ref().and_then(|c| c.effort.clone()),
            stream: req.stream,
            dropped: dropped.0,
        })
    }

    /// Whether Claude Code asked for thinking (`enabled` or `adaptive`).
    pub fn thinking_requested(&self) -> bool {
        matches!(
            self.thinking,
            Some(Thinking::Enabled { .. } | Thinking::Adaptive { .. })
        )
    }

    /// The name of the tool a call id belongs to, looking back through the conversation.
    pub fn tool_name_of(&self, call_id: &str) -> Option<&str> {
        self.items.iter().rev().find_map(|item| match item {
            Item::Assistant(parts) => parts.iter().find_map(|p| match p {
                AssistantPart::ToolCall(c) if c.id == call_id => Some(c.name.as_str()),
                _ => None,
            }),
            _ => None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Tools

fn tools(dropped: &mut Dropped, req: &MessagesRequest) -> Vec<ToolSpec> {
    let Some(tools) = req.tools.as_ref() else {
        return Vec::new();
    };
    let loaded = loaded_tool_names(req);
    // Normalised once per tool list, then shared by every request that sends it.
    struct SharedSpecs(Vec<Option<(Option<Description>, Parameters)>>);
    let shared = tools.derived(|tools| {
        SharedSpecs(
            tools
                .iter()
                .map(|tool| match tool {
                    Tool::Custom(custom) => Some((
                        description(custom),
                        Parameters::from(parameters(custom.input_schema.as_ref())),
                    )),
                    Tool::Server(_) => None,
                })
                .collect(),
        )
    });
    let mut out: Vec<ToolSpec> = Vec::with_capacity(tools.len());
    for (tool, shared) in tools.iter().zip(&shared.0) {
        match tool {
            Tool::Server(server) => dropped.add(format!(
                "tool {} (server tool {})",
                server.name.as_deref().unwrap_or("?"),
                server.kind
            )),
            Tool::Custom(custom)
                if custom.defer_loading == Some(true)
                    && !loaded.iter().any(|n| *n == custom.name) =>
            {
                dropped.add(format!("tool {} (defer_loading)", custom.name));
            }
            Tool::Custom(custom) => {
                if out.iter().any(|t| t.name == custom.name) {
                    dropped.add(format!("tool {} (duplicate name)", custom.name));
                } else {
                    let (description, parameters) = shared.clone().unwrap_or_else(|| {
                        (
                            description(custom),
                            Parameters::from(parameters(custom.input_schema.as_ref())),
                        )
                    });
                    dropped.extras("tool", &custom.extra);
                    out.push(ToolSpec {
                        name: custom.name.clone(),
                        description,
                        parameters,
                    });
                }
            }
        }
    }
    out
}

/// A tool's description, when not blank.
fn description(tool: &CustomTool) -> Option<Description> {
    tool.description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(Description::from)
}

/// An object schema with `properties` (LM Studio rejects one without), top-level `$schema`
/// removed.
pub fn parameters(schema: Option<&Value>) -> Value {
    let mut map = match schema {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    map.remove("$schema");
    let is_object = match map.get("type") {
        None => {
            map.insert("type".into(), Value::from("object"));
            true
        }
        Some(t) => t == "object",
    };
    if is_object && !matches!(map.get("properties"), Some(Value::Object(_))) {
        map.insert("properties".into(), Value::Object(Map::new()));
    }
    Value::Object(map)
}

/// Names of deferred tools already loaded by a `tool_reference` block in a tool result.
pub fn loaded_tool_names(req: &MessagesRequest) -> Vec<&str> {
    let mut names = Vec::new();
    for message in &req.messages {
        let Content::Blocks(blocks) = &message.content else {
            continue;
        };
        for block in blocks {
            let ContentBlock::ToolResult(ToolResultBlock {
                content: Some(Content::Blocks(inner)),
                ..
            }) = block
            else {
                continue;
            };
            names.extend(inner.iter().filter_map(tool_reference));
        }
    }
    names
}

fn tool_reference(block: &ContentBlock) -> Option<&str> {
    match block {
        ContentBlock::Other(v)
            if v.get("type").and_then(Value::as_str) == Some("tool_reference") =>
        {
            v.get("tool_name").and_then(Value::as_str)
        }
        _ => None,
    }
}

fn tool_choice(
    dropped: &mut Dropped,
    req: &MessagesRequest,
    tools: &[ToolSpec],
) -> (Option<ToolChoice>, bool) {
    let parallel = !req
        .tool_choice
        .as_ref()
        .is_some_and(RequestToolChoice::disable_parallel_tool_use);
    if tools.is_empty() {
        if req.tool_choice.is_some() {
            dropped.add("tool_choice (no tools sent)");
        }
        return (None, parallel);
    }
    let choice = match req.tool_choice.as_ref() {
        None => None,
        Some(RequestToolChoice::Auto { .. }) => Some(ToolChoice::Auto),
        Some(RequestToolChoice::Any { .. }) => Some(ToolChoice::Any),
        Some(RequestToolChoice::None) => Some(ToolChoice::None),
        Some(RequestToolChoice::Tool { name, .. }) => {
            if tools.iter().any(|t| t.name == *name) {
                Some(ToolChoice::Tool(name.clone()))
            } else {
                dropped.add(format!("tool_choice {name} (tool not sent)"));
                None
            }
        }
        Some(RequestToolChoice::Other(_)) => {
            dropped.add("tool_choice (unknown type)");
            None
        }
    };
    (choice, parallel)
}

// ---------------------------------------------------------------------------------------
// Messages

/// The item list being built, with the tool-sequence repair state.
struct Items {
    items: Vec<Item>,
    /// Calls of the last assistant item still waiting for results: (id, name).
    pending: Vec<(String, String)>,
    /// System turns that arrived between a tool call and its results.
    deferred_system: Vec<String>,
}

impl Items {
    fn push_system(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        if self.pending.is_empty() {
            self.items.push(Item::System(text));
        } else {
            self.deferred_system.push(text);
        }
    }

    /// Answers calls left without a result, then lets deferred system turns through.
    fn close_tool_turn(&mut self) {
        for (call_id, name) in self.pending.drain(..) {
            self.items.push(Item::ToolResult(ToolResult {
                call_id,
                name,
                content: vec![Part::Text(MISSING_RESULT.to_owned())],
                is_error: false,
            }));
        }
        for text in self.deferred_system.drain(..) {
            self.items.push(Item::System(text));
        }
    }

    /// Appends user parts, merging into a directly preceding user item.
    fn push_user(&mut self, parts: Vec<Part>) {
        if parts.is_empty() {
            return;
        }
        if let Some(Item::User(prev)) = self.items.last_mut() {
            prev.extend(parts);
        } else {
            self.items.push(Item::User(parts));
        }
    }
}

fn items(dropped: &mut Dropped, req: &MessagesRequest) -> Result<Vec<Item>, ApiError> {
    let mut out = Items {
        items: Vec::with_capacity(req.messages.len()),
        pending: Vec::new(),
        deferred_system: Vec::new(),
    };
    let mut i = 0;
    while i < req.messages.len() {
        let role = req.messages[i].role;
        let start = i;
        while i < req.messages.len() && req.messages[i].role == role {
            dropped.extras("message", &req.messages[i].extra);
            i += 1;
        }
        let turn = req.messages[start..i]
            .iter()
            .flat_map(|m| m.content.blocks());
        match role {
            Role::System => {
                let mut text = String::new();
                for block in turn {
                    match (dropped.text_of(block), block) {
                        (Some(t), _) => push_paragraph(&mut text, t),
                        (None, BlockRef::Block(b)) => {
                            dropped.add(format!("{} block in a system turn", b.type_name()))
                        }
                        (None, BlockRef::Text(_)) => {}
                    }
                }
                out.push_system(text);
            }
            Role::Assistant => assistant_turn(dropped, &mut out, turn),
            Role::User => user_turn(dropped, &mut out, turn)?,
        }
    }
    out.close_tool_turn();
    Ok(out.items)
}

/// The text of the top-level `system`, without the per-request billing-header line.
fn system_text(dropped: &mut Dropped, system: &Content) -> String {
    let mut text = String::new();
    for block in system.blocks() {
        match (dropped.text_of(block), block) {
            (Some(t), _) => {
                let kept = strip_billing_header(t);
                if kept.len() != t.len() {
                    dropped.add("system x-anthropic-billing-header line");
                }
                push_paragraph(&mut text, kept);
            }
            (None, BlockRef::Block(b)) => {
                dropped.add(format!("{} block in system", b.type_name()));
            }
            (None, BlockRef::Text(_)) => {}
        }
    }
    text
}

/// `text` without a leading `x-anthropic-billing-header:` line.
pub fn strip_billing_header(text: &str) -> &str {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("x-anthropic-billing-header:") {
        return text;
    }
    trimmed.split_once('\n').map_or("", |(_, rest)| rest)
}

fn assistant_turn<'a>(
    dropped: &mut Dropped,
    out: &mut Items,
    turn: impl Iterator<Item = BlockRef<'a>>,
) {
    out.close_tool_turn();
    let mut parts = Vec::new();
    for block in turn {
        if let Some(t) = dropped.text_of(block) {
            if !t.trim().is_empty() {
                parts.push(AssistantPart::Text(t.to_owned()));
            }
            continue;
        }
        let BlockRef::Block(block) = block else {
            continue;
        };
        match block {
            ContentBlock::ToolUse(call) => {
                dropped.extras("tool_use", &call.extra);
                let id = sanitize_id(&call.id, 0);
                out.pending.push((id.clone(), call.name.clone()));
                parts.push(AssistantPart::ToolCall(ToolCall {
                    id,
                    name: call.name.clone(),
                    input: match &call.input {
                        Value::Null => Value::Object(Map::new()),
                        input => input.clone(),
                    },
                }));
            }
            ContentBlock::Thinking(t) => parts.push(AssistantPart::Thinking {
                signature: Signature::decode(&t.signature, &t.thinking),
                text: t.thinking.clone(),
            }),
            other => dropped.add(format!("{} block in an assistant turn", other.type_name())),
        }
    }
    if !parts.is_empty() {
        out.items.push(Item::Assistant(parts));
    }
}

fn user_turn<'a>(
    dropped: &mut Dropped,
    out: &mut Items,
    turn: impl Iterator<Item = BlockRef<'a>>,
) -> Result<(), ApiError> {
    let mut rest: Vec<Part> = Vec::new();
    let mut answered: Vec<Item> = Vec::new();
    for block in turn {
        if let Some(t) = dropped.text_of(block) {
            if !t.trim().is_empty() {
                rest.push(Part::Text(t.to_owned()));
            }
            continue;
        }
        let BlockRef::Block(block) = block else {
            continue;
        };
        match block {
            ContentBlock::Image(image) => {
                dropped.extras("image", &image.extra);
                if let Some(media) = image_media(dropped, &image.source)? {
                    rest.push(Part::Image(media));
                }
            }
            ContentBlock::Document(doc) => document_parts(dropped, doc, &mut rest)?,
            ContentBlock::ToolResult(result) => {
                dropped.extras("tool_result", &result.extra);
                let id = sanitize_id(&result.tool_use_id, 0);
                let content = tool_result_content(dropped, result)?;
                match out.pending.iter().position(|(p, _)| *p == id) {
                    Some(index) => {
                        let (call_id, name) = out.pending.remove(index);
                        answered.push(Item::ToolResult(ToolResult {
                            call_id,
                            name,
                            content,
                            is_error: result.is_error == Some(true),
                        }));
                    }
                    None => {
                        dropped.add("tool_result without a matching tool call (sent as user text)");
                        let orphan = ToolResult {
                            call_id: id.clone(),
                            name: String::new(),
                            content,
                            is_error: result.is_error == Some(true),
                        };
                        let attachments: Vec<Part> = orphan
                            .content
                            .iter()
                            .filter(|p| !matches!(p, Part::Text(_)))
                            .cloned()
                            .collect();
                        let text =
                            result_text(orphan.text(), !attachments.is_empty(), orphan.is_error);
                        rest.push(Part::Text(format!("Result of tool call {id}:\n{text}")));
                        rest.extend(attachments);
                    }
                }
            }
            other => dropped.add(format!("{} block in a user turn", other.type_name())),
        }
    }
    out.items.extend(answered);
    out.close_tool_turn();
    out.push_user(rest);
    Ok(())
}

/// A tool result's content: text, images and PDFs, in order.
fn tool_result_content(
    dropped: &mut Dropped,
    result: &ToolResultBlock,
) -> Result<Vec<Part>, ApiError> {
    let mut parts = Vec::new();
    for block in result.content.iter().flat_map(Content::blocks) {
        if let Some(t) = dropped.text_of(block) {
            if !t.trim().is_empty() {
                parts.push(Part::Text(t.to_owned()));
            }
            continue;
        }
        let BlockRef::Block(block) = block else {
            continue;
        };
        match block {
            ContentBlock::Image(image) => {
                if let Some(media) = image_media(dropped, &image.source)? {
                    parts.push(Part::Image(media));
                }
            }
            ContentBlock::Document(doc) => document_parts(dropped, doc, &mut parts)?,
            other => {
                if let Some(name) = tool_reference(other) {
                    parts.push(Part::Text(format!("Tool {name} is now available to call.")));
                } else if let Some(found) = search_result_text(other) {
                    parts.push(Part::Text(found));
                } else {
                    dropped.add(format!("{} block in a tool result", other.type_name()));
                }
            }
        }
    }
    Ok(parts)
}

/// The text of a `search_result` block: title, source and content text.
fn search_result_text(block: &ContentBlock) -> Option<String> {
    let ContentBlock::Other(v) = block else {
        return None;
    };
    if v.get("type").and_then(Value::as_str) != Some("search_result") {
        return None;
    }
    let mut text = String::new();
    let title = v.get("title").and_then(Value::as_str).unwrap_or("");
    let source = v.get("source").and_then(Value::as_str).unwrap_or("");
    push_paragraph(&mut text, format!("{title} {source}").trim());
    for item in v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = item.get("text").and_then(Value::as_str) {
            push_paragraph(&mut text, t);
        }
    }
    Some(text)
}

fn image_media(dropped: &mut Dropped, source: &Source) -> Result<Option<Media>, ApiError> {
    match source {
        Source::Base64 { media_type, data } => Ok(Some(Media::Base64 {
            media_type: media_type.clone(),
            data: data.clone(),
        })),
        Source::Url { url } => Ok(Some(Media::Url(url.clone()))),
        Source::File { .. } => Err(invalid(
            "images given as Anthropic Files API references (file_id) cannot be sent to \
             this backend; attach the image data instead",
        )),
        Source::Text { .. } | Source::Content { .. } | Source::Other(_) => {
            dropped.add("image with an unsupported source");
            Ok(None)
        }
    }
}

/// The parts a `document` block becomes: text for plain-text and inline-content sources,
/// [`Part::Pdf`] for a PDF (whether the backend reads PDFs is the dialect's to decide).
fn document_parts(
    dropped: &mut Dropped,
    doc: &DocumentBlock,
    parts: &mut Vec<Part>,
) -> Result<(), ApiError> {
    dropped.extras("document", &doc.extra);
    let mut heading = String::new();
    if let Some(title) = &doc.title {
        push_paragraph(&mut heading, &format!("Document: {title}"));
    }
    if let Some(context) = &doc.context {
        push_paragraph(&mut heading, context);
    }
    let title = doc
        .title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned);
    match &doc.source {
        Source::Text { data, .. } => {
            push_paragraph(&mut heading, data);
            if !heading.trim().is_empty() {
                parts.push(Part::Text(heading));
            }
        }
        Source::Content { content } => {
            if !heading.trim().is_empty() {
                parts.push(Part::Text(heading));
            }
            for block in content.blocks() {
                match (dropped.text_of(block), block) {
                    (Some(t), _) if !t.trim().is_empty() => parts.push(Part::Text(t.to_owned())),
                    (Some(_), _) | (None, BlockRef::Text(_)) => {}
                    (None, BlockRef::Block(ContentBlock::Image(image))) => {
                        if let Some(media) = image_media(dropped, &image.source)? {
                            parts.push(Part::Image(media));
                        }
                    }
                    (None, BlockRef::Block(b)) => {
                        dropped.add(format!("{} block in a document", b.type_name()))
                    }
                }
            }
        }
        Source::Base64 { media_type, data } if media_type == "application/pdf" => {
            parts.push(Part::Pdf(Pdf {
                source: Media::Base64 {
                    media_type: media_type.clone(),
                    data: data.clone(),
                },
                title,
                heading,
            }));
        }
        Source::Url { url } => parts.push(Part::Pdf(Pdf {
            source: Media::Url(url.clone()),
            title,
            heading,
        })),
        Source::File { .. } => {
            return Err(invalid(
                "documents given as Anthropic Files API references (file_id) cannot be sent \
                 to this backend; attach the file's data instead",
            ));
        }
        Source::Base64 { media_type, .. } => {
            dropped.add(format!("document with media type {media_type}"));
        }
        Source::Other(_) => dropped.add("document with an unsupported source"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(body: Value) -> Conversation {
        let req: MessagesRequest = serde_json::from_value(body).unwrap();
        Conversation::from_request(&req).unwrap()
    }

    #[test]
    fn a_repeated_tool_list_shares_its_normalised_schemas() {
        let first: MessagesRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "Bash", "input_schema": {"$schema": "x", "properties": {"c": {"type": "string"}}}}]
        }))
        .unwrap();
        // The next turn: more conversation, the same tool list (shared, as parsing the same
        // bytes gives).
        let mut next = first.clone();
        next.messages.push(first.messages[0].clone());
        let (a, b) = (
            Conversation::from_request(&first).unwrap(),
            Conversation::from_request(&next).unwrap(),
        );
        assert!(Arc::ptr_eq(
            &a.tools[0].parameters.0,
            &b.tools[0].parameters.0
        ));
        let expected = json!({"type": "object", "properties": {"c": {"type": "string"}}});
        assert_eq!(*b.tools[0].parameters, expected);
        // Written out once, as the value itself would be.
        assert_eq!(b.tools[0].parameters.json().get(), expected.to_string());
        assert_eq!(
            serde_json::to_value(&b.tools[0].parameters).unwrap(),
            expected
        );
    }

    #[test]
    fn billing_line_roles_and_system_turns() {
        let c = conv(json!({
            "model": "m", "max_tokens": 10,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc=1\nBe brief."}],
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "b"}]},
                {"role": "system", "content": "mid"},
                {"role": "assistant", "content": "ok"}
            ]
        }));
        assert_eq!(c.system, "Be brief.");
        assert_eq!(
            c.items,
            vec![
                Item::User(vec![Part::Text("a".into()), Part::Text("b".into())]),
                Item::System("mid".into()),
                Item::Assistant(vec![AssistantPart::Text("ok".into())]),
            ]
        );
        assert!(
            c.dropped
                .contains(&"system x-anthropic-billing-header line".to_owned())
        );
        assert!(c.dropped.contains(&"empty text block".to_owned()));
    }

    #[test]
    fn the_tool_sequence_is_repaired() {
        let c = conv(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "t", "signature": Signature::ours("t")},
                    {"type": "tool_use", "id": "call.1", "name": "Bash", "input": {"c": 1}},
                    {"type": "tool_use", "id": "call_2", "name": "Read"}]},
                {"role": "system", "content": "between"},
                {"role": "user", "content": [
                    {"type": "text", "text": "and"},
                    {"type": "tool_result", "tool_use_id": "call_1", "is_error": true,
                     "content": [{"type": "tool_reference", "tool_name": "Grep"}]},
                    {"type": "tool_result", "tool_use_id": "nope", "content": "orphan"}]}
            ]
        }));
        let Item::Assistant(parts) = &c.items[1] else {
            panic!("{:?}", c.items)
        };
        assert_eq!(
            parts[0],
            AssistantPart::Thinking {
                text: "t".into(),
                signature: Signature::Ours { valid: true }
            }
        );
        assert!(matches!(&parts[1], AssistantPart::ToolCall(c) if c.id == "call_1"));
        assert!(matches!(&parts[2], AssistantPart::ToolCall(c) if c.input == json!({})));
        assert_eq!(
            c.items[2],
            Item::ToolResult(ToolResult {
                call_id: "call_1".into(),
                name: "Bash".into(),
                content: vec![Part::Text("Tool Grep is now available to call.".into())],
                is_error: true,
            })
        );
        assert_eq!(
            c.items[3],
            Item::ToolResult(ToolResult {
                call_id: "call_2".into(),
                name: "Read".into(),
                content: vec![Part::Text(MISSING_RESULT.into())],
                is_error: false,
            })
        );
        assert_eq!(c.items[4], Item::System("between".into()));
        assert_eq!(
            c.items[5],
            Item::User(vec![
                Part::Text("and".into()),
                Part::Text("Result of tool call nope:\norphan".into())
            ])
        );
        assert_eq!(c.tool_name_of("call_2"), Some("Read"));
    }

    #[test]
    fn deferred_tools_and_choices() {
        let c = conv(json!({
            "model": "m",
            "tools": [
                {"name": "Bash", "input_schema": {"$schema": "x", "type": "object"}},
                {"name": "Late", "defer_loading": true, "input_schema": {}},
                {"name": "Loaded", "defer_loading": true, "input_schema": {}},
                {"type": "web_search_20250305", "name": "web_search"},
                {"name": "Bash", "input_schema": {}}
            ],
            "tool_choice": {"type": "tool", "name": "Late", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x",
                    "content": [{"type": "tool_reference", "tool_name": "Loaded"}]}]}
            ]
        }));
        let names: Vec<&str> = c.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Bash", "Loaded"]);
        assert_eq!(
            *c.tools[0].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(c.tool_choice, None);
        assert!(!c.parallel_tool_calls);
        assert!(c.dropped.contains(&"tool Late (defer_loading)".to_owned()));
        assert!(
            c.dropped
                .contains(&"tool_choice Late (tool not sent)".to_owned())
        );
    }

    #[test]
    fn files_api_references_are_refused_and_pdfs_kept() {
        let req: MessagesRequest = serde_json::from_value(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]
        }))
        .unwrap();
        assert_eq!(
            Conversation::from_request(&req).unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
        let c = conv(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "document", "title": "T", "source":
                    {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}]}]
        }));
        assert!(
            matches!(&c.items[0], Item::User(p) if matches!(&p[0], Part::Pdf(pdf) if pdf.title.as_deref() == Some("T")))
        );
    }
}

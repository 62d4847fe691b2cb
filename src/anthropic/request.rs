//! Inbound wire types of an Anthropic Messages request (`POST /v1/messages`) and of a
//! `count_tokens` request (the same shape without `max_tokens` and `stream`).
//!
//! The types are lenient and forward-compatible: the fields anyclaude uses are
//! typed, everything else is kept in an `extra` map so translation can list what it drops.
//! Tagged unions (content blocks, tools, `tool_choice`, `thinking`, sources) are parsed in two
//! steps: a known `type` is parsed strictly, so a malformed known block is an error, while an
//! unknown `type` is kept whole as a raw [`Value`]. Claude Code's own quirks are accepted:
//! `"role":"system"` turns inside `messages`, with string or block content.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A Messages (or `count_tokens`) request body.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    /// The model as Claude Code named it, e.g. `openai/gpt-5-mini`.
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// The system prompt: a string or text blocks.
    pub system: Option<Content>,
    /// The output limit; absent on `count_tokens`. `0` means a cache pre-warm.
    pub max_tokens: Option<u64>,
    /// Strings that end generation.
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling (no OpenAI equivalent).
    pub top_k: Option<u64>,
    /// Whether the answer is streamed as SSE.
    pub stream: Option<bool>,
    /// Tools the model may call, shared with earlier requests that sent the same list.
    pub tools: Option<Tools>,
    /// How the model must use the tools.
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking settings.
    pub thinking: Option<Thinking>,
    /// `{effort?, format?}`.
    pub output_config: Option<OutputConfig>,
    /// `{user_id?}`; never forwarded.
    pub metadata: Option<Value>,
    /// Every other top-level field (`context_management`, `cache_control`, `service_tier`,
    /// `container`, future ones), kept so they can be listed when dropped.
    pub extra: Map<String, Value>,
}

/// Read field by field rather than derived with `#[serde(flatten)]` for `extra`: a flattened
/// struct first copies the whole body into serde's generic buffer and only then reads each
/// field from it, and `tools` must see the raw JSON to be looked up in [`Tools`]' cache.
impl<'de> Deserialize<'de> for MessagesRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RequestVisitor;

        impl<'de> Visitor<'de> for RequestVisitor {
            type Value = MessagesRequest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Messages request object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessagesRequest, A::Error> {
                /// Reads the next value into `slot`, refusing a second one.
                fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                    map: &mut A,
                    slot: &mut Option<T>,
                    name: &'static str,
                ) -> Result<(), A::Error> {
                    if slot.is_some() {
                        return Err(de::Error::duplicate_field(name));
                    }
                    *slot = Some(map.next_value()?);
                    Ok(())
                }
                let mut model: Option<String> = None;
                let mut messages: Option<Vec<Message>> = None;
                let mut system: Option<Option<Content>> = None;
                let mut max_tokens: Option<Option<u64>> = None;
                let mut stop_sequences: Option<Option<Vec<String>>> = None;
                let mut temperature: Option<Option<f64>> = None;
                let mut top_p: Option<Option<f64>> = None;
                let mut top_k: Option<Option<u64>> = None;
                let mut stream: Option<Option<bool>> = None;
                let mut tools: Option<Option<Tools>> = None;
                let mut tool_choice: Option<Option<ToolChoice>> = None;
                let mut thinking: Option<Option<Thinking>> = None;
                let mut output_config: Option<Option<OutputConfig>> = None;
                let mut metadata: Option<Option<Value>> = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "model" => once(&mut map, &mut model, "model")?,
                        "messages" => once(&mut map, &mut messages, "messages")?,
                        "system" => once(&mut map, &mut system, "system")?,
                        "max_tokens" => once(&mut map, &mut max_tokens, "max_tokens")?,
                        "stop_sequences" => once(&mut map, &mut stop_sequences, "stop_sequences")?,
                        "temperature" => once(&mut map, &mut temperature, "temperature")?,
                        "top_p" => once(&mut map, &mut top_p, "top_p")?,
                        "top_k" => once(&mut map, &mut top_k, "top_k")?,
                        "stream" => once(&mut map, &mut stream, "stream")?,
                        "tools" => once(&mut map, &mut tools, "tools")?,
                        "tool_choice" => once(&mut map, &mut tool_choice, "tool_choice")?,
                        "thinking" => once(&mut map, &mut thinking, "thinking")?,
                        "output_config" => once(&mut map, &mut output_config, "output_config")?,
                        "metadata" => once(&mut map, &mut metadata, "metadata")?,
                        _ => {
                            extra.insert(key, map.next_value()?);
                        }
                    }
                }
                Ok(MessagesRequest {
                    model: model.ok_or_else(|| de::Error::missing_field("model"))?,
                    messages: messages.ok_or_else(|| de::Error::missing_field("messages"))?,
                    system: system.flatten(),
                    max_tokens: max_tokens.flatten(),
                    stop_sequences: stop_sequences.flatten(),
                    temperature: temperature.flatten(),
                    top_p: top_p.flatten(),
                    top_k: top_k.flatten(),
                    stream: stream.flatten(),
                    tools: tools.flatten(),
                    tool_choice: tool_choice.flatten(),
                    thinking: thinking.flatten(),
                    output_config: output_config.flatten(),
                    metadata: metadata.flatten(),
                    extra,
                })
            }
        }

        d.deserialize_map(RequestVisitor)
    }
}

impl MessagesRequest {
    /// Parses a request body. The error carries serde's line and column for a 400.
    pub fn from_slice(body: &[u8]) -> Result<MessagesRequest, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Whether the client asked for a streamed answer.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the client asked for thinking (`enabled` or `adaptive`).
    pub fn thinking_requested(&self) -> bool {
        matches!(
            self.thinking,
            Some(Thinking::Enabled { .. } | Thinking::Adaptive { .. })
        )
    }

    /// The requested effort (`output_config.effort`), if any.
    pub fn effort(&self) -> Option<&str> {
        self.output_config.as_ref()?.effort.as_deref()
    }

    /// The names of top-level fields anyclaude has no typed field for.
    pub fn unknown_fields(&self) -> impl Iterator<Item = &str> {
        self.extra.keys().map(String::as_str)
    }

    /// The custom (client-side) tools, in order.
    pub fn custom_tools(&self) -> impl Iterator<Item = &CustomTool> {
        self.tools
            .iter()
            .flat_map(|t| t.iter())
            .filter_map(|t| match t {
                Tool::Custom(c) => Some(c),
                Tool::Server(_) => None,
            })
    }
}

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user, including tool results.
    User,
    /// The model, including tool calls and thinking.
    Assistant,
    /// A mid-conversation system instruction (beta `mid-conversation-system-*`).
    System,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: Content,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Content that is either a plain string or a list of blocks (`null` reads as no blocks).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A plain string.
    Text(String),
    /// Content blocks, in order.
    Blocks(Vec<ContentBlock>),
}

impl Content {
    /// The blocks, with a plain string seen as one text block.
    pub fn blocks(&self) -> ContentBlocks<'_> {
        match self {
            Content::Text(text) => ContentBlocks::Text(Some(text)),
            Content::Blocks(blocks) => ContentBlocks::Blocks(blocks.iter()),
        }
    }

    /// All text of the string or of the `text` blocks, joined with blank lines; empty and
    /// whitespace-only parts are skipped.
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for text in self.blocks().filter_map(BlockRef::as_text) {
            push_paragraph(&mut out, text);
        }
        out
    }
}

/// Appends `text` to `out` after a blank line, unless it is empty or whitespace only.
pub(crate) fn push_paragraph(out: &mut String, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(text);
}

/// Iterator over a [`Content`]'s blocks, see [`Content::blocks`].
#[derive(Debug, Clone)]
pub enum ContentBlocks<'a> {
    /// A plain string, not yet yielded.
    Text(Option<&'a str>),
    /// The remaining blocks.
    Blocks(std::slice::Iter<'a, ContentBlock>),
}

/// One block as seen through [`Content::blocks`]: a plain string appears as text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlockRef<'a> {
    /// A plain string content.
    Text(&'a str),
    /// A block (including `text` blocks).
    Block(&'a ContentBlock),
}

impl<'a> BlockRef<'a> {
    /// The text of a plain string or of a `text` block.
    pub fn as_text(self) -> Option<&'a str> {
        match self {
            BlockRef::Text(text) => Some(text),
            BlockRef::Block(ContentBlock::Text(t)) => Some(&t.text),
            BlockRef::Block(_) => None,
        }
    }
}

impl<'a> Iterator for ContentBlocks<'a> {
    type Item = BlockRef<'a>;

    fn next(&mut self) -> Option<BlockRef<'a>> {
        match self {
            ContentBlocks::Text(text) => text.take().map(BlockRef::Text),
            ContentBlocks::Blocks(iter) => iter.next().map(BlockRef::Block),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::Blocks(Vec::new()))
            }

            fn visit_none<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::Blocks(Vec::new()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(Content::Blocks(blocks))
            }
        }

        d.deserialize_any(ContentVisitor)
    }
}

/// Parses `value` as `T` when its `type` is one of `known`; otherwise hands it back whole.
/// A malformed known value is an error naming `what` and the type.
fn two_step<T, E>(
    value: Value,
    known: &[&str],
    what: &str,
    parse: fn(Value) -> Result<T, serde_json::Error>,
) -> Result<Result<T, Value>, E>
where
    E: de::Error,
{
    let tag = match value.get("type") {
        Some(Value::String(tag)) if known.contains(&tag.as_str()) => tag.clone(),
        _ => return Ok(Err(value)),
    };
    parse(value)
        .map(Ok)
        .map_err(|e| E::custom(format_args!("invalid `{tag}` {what}: {e}")))
}

/// A `text` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TextBlock {
    /// The text.
    pub text: String,
    /// `cache_control`, `citations` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `image` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageBlock {
    /// Where the image is.
    pub source: Source,
    /// `cache_control` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `document` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DocumentBlock {
    /// Where the document is.
    pub source: Source,
    /// The document's title.
    #[serde(default)]
    pub title: Option<String>,
    /// Context about the document.
    #[serde(default)]
    pub context: Option<String>,
    /// `citations`, `cache_control` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `tool_use` block: a call the model made.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToolUseBlock {
    /// The call id (`toolu_…`).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object.
    #[serde(default)]
    pub input: Value,
    /// `caller`, `cache_control` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `tool_result` block: the outcome of a call, in a user turn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToolResultBlock {
    /// The id of the `tool_use` this answers.
    pub tool_use_id: String,
    /// The result: a string or blocks (text, image, document, `tool_reference`, …).
    #[serde(default)]
    pub content: Option<Content>,
    /// Whether the tool failed.
    #[serde(default)]
    pub is_error: Option<bool>,
    /// `cache_control` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `thinking` block from an earlier assistant turn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ThinkingBlock {
    /// The reasoning text.
    #[serde(default)]
    pub thinking: String,
    /// Anthropic's opaque signature, or one of anyclaude's (see `dialect::signature`).
    #[serde(default)]
    pub signature: String,
}

/// A `redacted_thinking` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RedactedThinkingBlock {
    /// Opaque encrypted reasoning.
    #[serde(default)]
    pub data: String,
}

/// A content block of a message, a system prompt or a tool result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Text.
    Text(TextBlock),
    /// An image.
    Image(ImageBlock),
    /// A document (PDF, plain text or inline content).
    Document(DocumentBlock),
    /// A tool call.
    ToolUse(ToolUseBlock),
    /// A tool's result.
    ToolResult(ToolResultBlock),
    /// Earlier reasoning.
    Thinking(ThinkingBlock),
    /// Earlier encrypted reasoning.
    RedactedThinking(RedactedThinkingBlock),
    /// A block of a type anyclaude does not know (`server_tool_use`, `search_result`,
    /// `tool_reference`, …), kept whole.
    #[serde(skip)]
    Other(Value),
}

const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
];

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let parsed = two_step(
            value,
            BLOCK_TYPES,
            "content block",
            ContentBlock::deserialize,
        )?;
        Ok(parsed.unwrap_or_else(ContentBlock::Other))
    }
}

impl ContentBlock {
    /// The block's `type` as sent.
    pub fn type_name(&self) -> &str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::Image(_) => "image",
            ContentBlock::Document(_) => "document",
            ContentBlock::ToolUse(_) => "tool_use",
            ContentBlock::ToolResult(_) => "tool_result",
            ContentBlock::Thinking(_) => "thinking",
            ContentBlock::RedactedThinking(_) => "redacted_thinking",
            ContentBlock::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or("?"),
        }
    }
}

/// Where an image's or a document's bytes are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// Inline base64 data.
    Base64 {
        /// e.g. `image/png`, `application/pdf`.
        media_type: String,
        /// The base64 data.
        data: String,
    },
    /// A URL.
    Url {
        /// The URL.
        url: String,
    },
    /// Plain text (documents).
    Text {
        /// Usually `text/plain`.
        #[serde(default)]
        media_type: Option<String>,
        /// The text.
        data: String,
    },
    /// Inline content blocks (documents).
    Content {
        /// The content.
        content: Content,
    },
    /// A file uploaded to Anthropic's Files API.
    File {
        /// The file id.
        file_id: String,
    },
    /// A source of a type anyclaude does not know, kept whole.
    #[serde(skip)]
    Other(Value),
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let known = &["base64", "url", "text", "content", "file"];
        let parsed = two_step(value, known, "source", Source::deserialize)?;
        Ok(parsed.unwrap_or_else(Source::Other))
    }
}

/// A request's `tools`, shared between requests that send the same array byte for byte.
///
/// Claude Code sends the same tool list (two dozen tools, ~78 KB of descriptions and
/// schemas) on every turn of a session. Parsing it into [`Value`]s was the largest single
/// cost of a request, so the array's raw JSON is looked up among the last
/// [`TOOL_LISTS_KEPT`] lists parsed: an identical array (compared byte for byte, not by a
/// hash) gets the list parsed before, anything else is parsed afresh and replaces the least
/// recently used. Work derived from a list alone (its token counts) is kept with it.
#[derive(Clone)]
pub struct Tools(Arc<ToolList>);

/// How many distinct tool lists are kept: the main conversation's, a subagent's or two, and
/// a background request's, each a few hundred KB at most once parsed.
pub const TOOL_LISTS_KEPT: usize = 4;

struct ToolList {
    /// The array as sent (empty for a list built in code, which is never shared).
    raw: Box<str>,
    tools: Vec<Tool>,
    /// What later steps derived from the list alone, one value per type (see
    /// [`Tools::derived`]).
    derived: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl Tools {
    /// The tools in `raw` (a JSON array), parsed or shared with a recent identical array.
    pub fn from_raw(raw: Box<RawValue>) -> Result<Tools, serde_json::Error> {
        static RECENT: LazyLock<Mutex<RecentToolLists>> =
            LazyLock::new(|| Mutex::new(RecentToolLists::default()));
        Tools::shared_in(&RECENT, raw)
    }

    /// [`Tools::from_raw`] with the recent lists kept in `recent`.
    fn shared_in(
        recent: &Mutex<RecentToolLists>,
        raw: Box<RawValue>,
    ) -> Result<Tools, serde_json::Error> {
        // A panic elsewhere while the lock was held leaves lists that are still valid.
        let lock = || recent.lock().unwrap_or_else(PoisonError::into_inner);
        let text = raw.get();
        if let Some(list) = lock().take(text) {
            return Ok(Tools(list));
        }
        let tools: Vec<Tool> = serde_json::from_str(text)?;
        let list = Arc::new(ToolList {
            raw: raw.into(),
            tools,
            derived: Mutex::default(),
        });
        lock().put(Arc::clone(&list));
        Ok(Tools(list))
    }

    /// What `make` derives from the tools alone (their token counts, their schemas
    /// normalised and written out), made on the first call for this list and kept with it
    /// for every later request that sends the same list. One value per type `T`.
    pub fn derived<T: Any + Send + Sync>(&self, make: impl FnOnce(&[Tool]) -> T) -> Arc<T> {
        // A panic elsewhere while the lock was held leaves values that are still valid.
        let mut derived = self
            .0
            .derived
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = derived
            .iter()
            .find_map(|value| Arc::clone(value).downcast::<T>().ok())
        {
            return found;
        }
        let made = Arc::new(make(&self.0.tools));
        derived.push(Arc::clone(&made) as Arc<dyn Any + Send + Sync>);
        made
    }

    /// Whether both are the same shared list (not merely equal).
    pub fn is_shared_with(&self, other: &Tools) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Tools {
    type Target = [Tool];

    fn deref(&self) -> &[Tool] {
        &self.0.tools
    }
}

impl From<Vec<Tool>> for Tools {
    fn from(tools: Vec<Tool>) -> Tools {
        Tools(Arc::new(ToolList {
            raw: Box::default(),
            tools,
            derived: Mutex::default(),
        }))
    }
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.tools.fmt(f)
    }
}

impl PartialEq for Tools {
    fn eq(&self, other: &Tools) -> bool {
        self.0.tools == other.0.tools
    }
}

impl<'de> Deserialize<'de> for Tools {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Tools::from_raw(Box::<RawValue>::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// The last tool lists parsed, most recently used first.
#[derive(Default)]
struct RecentToolLists(VecDeque<Arc<ToolList>>);

impl RecentToolLists {
    /// The list parsed from exactly `raw`, moved to the front.
    fn take(&mut self, raw: &str) -> Option<Arc<ToolList>> {
        let at = self.0.iter().position(|list| *list.raw == *raw)?;
        let list = self.0.remove(at)?;
        self.0.push_front(Arc::clone(&list));
        Some(list)
    }

    /// Keeps `list` first, forgetting the least recently used beyond [`TOOL_LISTS_KEPT`].
    fn put(&mut self, list: Arc<ToolList>) {
        self.0.truncate(TOOL_LISTS_KEPT - 1);
        self.0.push_front(list);
    }
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    /// A client-side tool Claude Code runs (no `type`, or `type: "custom"`).
    Custom(CustomTool),
    /// A server tool Anthropic runs (`web_search_20250305`, …), kept whole.
    Server(ServerTool),
}

/// A client-side tool: name, description and JSON Schema of its input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CustomTool {
    /// The tool's name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON Schema of its input.
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// Not loaded until discovered through tool search (Anthropic's tool search).
    #[serde(default)]
    pub defer_loading: Option<bool>,
    /// `cache_control`, `strict`, `input_examples`, … and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A server tool: its versioned `type`, its name, and the rest of its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTool {
    /// e.g. `web_search_20250305`.
    pub kind: String,
    /// e.g. `web_search`.
    pub name: Option<String>,
    /// The whole definition.
    pub raw: Value,
}

impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let kind = match value.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(kind)) if kind == "custom" => None,
            Some(Value::String(kind)) => Some(kind.clone()),
            Some(_) => return Err(de::Error::custom("invalid tool: `type` must be a string")),
        };
        match kind {
            None => {
                let mut value = value;
                if let Value::Object(map) = &mut value {
                    map.remove("type");
                }
                CustomTool::deserialize(value)
                    .map(Tool::Custom)
                    .map_err(|e| de::Error::custom(format_args!("invalid tool: {e}")))
            }
            Some(kind) => Ok(Tool::Server(ServerTool {
                kind,
                name: value.get("name").and_then(Value::as_str).map(str::to_owned),
                raw: value,
            })),
        }
    }
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// Ask for at most one tool call.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        /// Ask for at most one tool call.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call this tool.
    Tool {
        /// The tool.
        name: String,
        /// Ask for at most one tool call.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool calls.
    None,
    /// A choice of a type anyclaude does not know, kept whole.
    #[serde(skip)]
    Other(Value),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let known = &["auto", "any", "tool", "none"];
        let parsed = two_step(value, known, "tool_choice", ToolChoice::deserialize)?;
        Ok(parsed.unwrap_or_else(ToolChoice::Other))
    }
}

impl ToolChoice {
    /// Whether parallel tool calls were turned off.
    pub fn disable_parallel_tool_use(&self) -> bool {
        match self {
            ToolChoice::Auto {
                disable_parallel_tool_use,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use,
                ..
            } => *disable_parallel_tool_use == Some(true),
            ToolChoice::None | ToolChoice::Other(_) => false,
        }
    }
}

/// `thinking`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    /// Thinking with a token budget.
    Enabled {
        /// Tokens the model may spend thinking.
        #[serde(default)]
        budget_tokens: Option<u64>,
        /// `summarized` or `omitted`.
        #[serde(default)]
        display: Option<String>,
    },
    /// The model decides how much to think (effort from `output_config.effort`).
    Adaptive {
        /// `summarized` or `omitted`.
        #[serde(default)]
        display: Option<String>,
    },
    /// No thinking.
    Disabled,
    /// A setting of a type anyclaude does not know, kept whole.
    #[serde(skip)]
    Other(Value),
}

impl<'de> Deserialize<'de> for Thinking {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let known = &["enabled", "adaptive", "disabled"];
        let parsed = two_step(value, known, "thinking", Thinking::deserialize)?;
        Ok(parsed.unwrap_or_else(Thinking::Other))
    }
}

/// `output_config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutputConfig {
    /// `low`, `medium`, `high`, `xhigh` or `max`.
    #[serde(default)]
    pub effort: Option<String>,
    /// `format` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<MessagesRequest, serde_json::Error> {
        MessagesRequest::from_slice(v.to_string().as_bytes())
    }

    #[test]
    fn minimal_request_and_unknown_fields() {
        let req = parse(json!({
            "model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
            "context_management": {"edits": []}, "service_tier": "auto"
        }))
        .unwrap();
        assert_eq!(req.model, "m");
        assert_eq!(req.max_tokens, Some(10));
        let mut unknown: Vec<_> = req.unknown_fields().collect();
        unknown.sort_unstable();
        assert_eq!(unknown, ["context_management", "service_tier"]);
        assert_eq!(req.messages[0].content, Content::Text("hi".into()));
    }

    #[test]
    fn system_role_turns_with_list_content() {
        let req = parse(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "text", "text": "be brief"}]}
            ]
        }))
        .unwrap();
        assert_eq!(req.messages[1].role, Role::System);
        assert_eq!(req.messages[1].content.joined_text(), "be brief");
    }

    #[test]
    fn unknown_blocks_are_kept_raw_and_known_ones_strict() {
        let req = parse(json!({
            "model": "m",
            "messages": [{"role": "assistant", "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
            ]}]
        }))
        .unwrap();
        let Content::Blocks(blocks) = &req.messages[0].content else {
            panic!("blocks expected")
        };
        assert_eq!(blocks[0].type_name(), "server_tool_use");
        assert!(matches!(&blocks[0], ContentBlock::Other(_)));
        let ContentBlock::Text(t) = &blocks[1] else {
            panic!("text expected")
        };
        assert!(t.extra.contains_key("cache_control"));

        let err = MessagesRequest::from_slice(
            br#"{"model":"m","messages":[{"role":"user","content":[
{"type":"tool_use","name":"Bash"}]}]}"#,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("invalid `tool_use` content block"), "{msg}");
        assert!(msg.contains("missing field `id`"), "{msg}");
        assert_eq!(err.line(), 2, "{msg}");
    }

    #[test]
    fn tools_custom_and_server() {
        let req = parse(json!({
            "model": "m", "messages": [],
            "tools": [
                {"name": "Bash", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
                {"type": "custom", "name": "X", "input_schema": {}, "defer_loading": true},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
            ],
            "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": true},
            "thinking": {"type": "adaptive", "display": "omitted"},
            "output_config": {"effort": "high"}
        }))
        .unwrap();
        let tools = req.tools.as_ref().unwrap();
        assert!(matches!(&tools[0], Tool::Custom(c) if c.name == "Bash"));
        assert!(matches!(&tools[1], Tool::Custom(c) if c.defer_loading == Some(true)));
        assert!(
            matches!(&tools[2], Tool::Server(s) if s.kind == "web_search_20250305" && s.name.as_deref() == Some("web_search"))
        );
        assert!(
            req.tool_choice
                .as_ref()
                .unwrap()
                .disable_parallel_tool_use()
        );
        assert!(req.thinking_requested());
        assert_eq!(req.effort(), Some("high"));
        assert_eq!(req.custom_tools().count(), 2);
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    const TOOLS: &str = r#"[{"name":"Bash","description":"Runs a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}},{"name":"Read","input_schema":{"type":"object"}}]"#;

    #[test]
    fn the_same_tool_array_is_parsed_once_and_shared() {
        let recent = Mutex::default();
        let first = Tools::shared_in(&recent, raw(TOOLS)).unwrap();
        let again = Tools::shared_in(&recent, raw(TOOLS)).unwrap();
        assert!(again.is_shared_with(&first));
        assert_eq!(again, first);
        assert!(matches!(&again[0], Tool::Custom(c) if c.name == "Bash"));
        // Work derived from the list is done once for both, once per type.
        let mut calls = 0;
        let names = |tools: &[Tool]| {
            calls += 1;
            tools.len()
        };
        assert_eq!(*first.derived(names), 2);
        let names = |_: &[Tool]| -> usize { unreachable!("derived again") };
        assert_eq!(*again.derived(names), 2);
        assert_eq!(calls, 1, "derived once per list, not per request");
        assert_eq!(*again.derived(|_| "another type"), "another type");
    }

    #[test]
    fn a_tool_array_one_byte_different_is_parsed_afresh() {
        let recent = Mutex::default();
        let first = Tools::shared_in(&recent, raw(TOOLS)).unwrap();
        // Same length, one byte changed, in a schema.
        let changed = TOOLS.replace(r#""type":"string""#, r#""type":"strinG""#);
        assert_eq!(changed.len(), TOOLS.len());
        let other = Tools::shared_in(&recent, raw(&changed)).unwrap();
        assert!(!other.is_shared_with(&first));
        let Tool::Custom(bash) = &other[0] else {
            panic!("custom tool expected")
        };
        let schema = bash.input_schema.as_ref().unwrap();
        assert_eq!(schema["properties"]["command"]["type"], "strinG");
        // Whitespace is a byte too: equal JSON written differently is not shared, but
        // parses to the same tools.
        let spaced = Tools::shared_in(&recent, raw(&TOOLS.replacen(',', ", ", 1))).unwrap();
        assert!(!spaced.is_shared_with(&first));
        assert_eq!(spaced, first);
    }

    #[test]
    fn at_most_a_few_tool_arrays_are_kept() {
        let recent = Mutex::default();
        let lists: Vec<String> = (0..=TOOL_LISTS_KEPT)
            .map(|i| format!(r#"[{{"name":"T{i}"}}]"#))
            .collect();
        let parsed: Vec<Tools> = lists
            .iter()
            .map(|l| Tools::shared_in(&recent, raw(l)).unwrap())
            .collect();
        assert_eq!(recent.lock().unwrap().0.len(), TOOL_LISTS_KEPT);
        // The oldest was forgotten; the most recent ones are still shared.
        let oldest = Tools::shared_in(&recent, raw(&lists[0])).unwrap();
        assert!(!oldest.is_shared_with(&parsed[0]));
        let newest = Tools::shared_in(&recent, raw(&lists[TOOL_LISTS_KEPT])).unwrap();
        assert!(newest.is_shared_with(&parsed[TOOL_LISTS_KEPT]));
        assert_eq!(recent.lock().unwrap().0.len(), TOOL_LISTS_KEPT);
        // Using a list keeps it: after touching lists[2], parsing two new ones evicts the
        // others first.
        let touched = Tools::shared_in(&recent, raw(&lists[2])).unwrap();
        for i in 0..2 {
            Tools::shared_in(&recent, raw(&format!(r#"[{{"name":"N{i}"}}]"#))).unwrap();
        }
        assert!(
            Tools::shared_in(&recent, raw(&lists[2]))
                .unwrap()
                .is_shared_with(&touched)
        );
    }

    #[test]
    fn a_request_shares_its_tools_with_the_previous_turn() {
        let body = |text: &str| {
            format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"{text}"}}],"tools":{TOOLS}}}"#
            )
        };
        let first = MessagesRequest::from_slice(body("one").as_bytes()).unwrap();
        let second = MessagesRequest::from_slice(body("two").as_bytes()).unwrap();
        let (a, b) = (first.tools.unwrap(), second.tools.unwrap());
        // Other tests parse tool lists at the same time, so the shared cache may have
        // dropped this one in between; either way the tools are the same.
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn duplicate_and_missing_fields_are_errors() {
        let dup =
            MessagesRequest::from_slice(br#"{"model":"a","model":"b","messages":[]}"#).unwrap_err();
        assert!(dup.to_string().contains("duplicate field `model`"), "{dup}");
        let missing = MessagesRequest::from_slice(br#"{"model":"a"}"#).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `messages`"),
            "{missing}"
        );
        let null = MessagesRequest::from_slice(
            br#"{"model":"a","messages":[],"tools":null,"system":null,"stream":null}"#,
        )
        .unwrap();
        assert!(null.tools.is_none() && null.system.is_none() && null.stream.is_none());
        let bad_tool = MessagesRequest::from_slice(
            br#"{"model":"a","messages":[],"tools":[{"description":"x"}]}"#,
        )
        .unwrap_err();
        assert!(
            bad_tool.to_string().contains("missing field `name`"),
            "{bad_tool}"
        );
    }

    #[test]
    fn unknown_tagged_values_are_kept() {
        let req = parse(json!({
            "model": "m", "messages": [],
            "tool_choice": {"type": "allowed_tools"},
            "thinking": {"type": "turbo"}
        }))
        .unwrap();
        assert!(matches!(req.tool_choice, Some(ToolChoice::Other(_))));
        assert!(matches!(req.thinking, Some(Thinking::Other(_))));
    }

    #[test]
    fn bad_role_and_bad_content_are_errors() {
        assert!(
            parse(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]})).is_err()
        );
        assert!(
            parse(json!({"model": "m", "messages": [{"role": "user", "content": 3}]})).is_err()
        );
        assert!(
            parse(json!({"model": "m", "messages": [{"role": "user", "content": [3]}]})).is_ok()
        );
    }
}

//! Wire types of the OpenAI Responses API (`POST /responses`): the request anyclaude sends,
//! and the stream events and whole response object it reads back.
//!
//! Strict on what we send: optional fields are skipped when unset, so no `null` goes out,
//! and the conversation is always sent whole (`store: false`, no `previous_response_id`).
//! Lenient on what we read: unknown fields are ignored, unknown event and item types are
//! kept as their `type` string for the decoder to skip, `null` stands for absent, and token
//! counts may arrive as floats or strings. What a value *means* is decided by the decoder.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::conversation::{Description, Parameters};

// ---------------------------------------------------------------------------------------
// The request.
// ---------------------------------------------------------------------------------------

/// A Responses request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponsesRequest {
    /// The upstream model id.
    pub model: String,
    /// The system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// The whole conversation, as items.
    pub input: Vec<InputItem>,
    /// Callable functions (flat: no `function` wrapper).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FunctionTool>,
    /// How the model must use the tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// `false` asks for at most one tool call per turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output limit, reasoning included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// How hard the model thinks and whether it summarises its reasoning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    /// Sampling temperature (not for reasoning models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling (not for reasoning models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Always `false`: the conversation travels whole in every request, nothing is kept
    /// upstream.
    pub store: bool,
    /// Extra output wanted, e.g. `reasoning.encrypted_content` so reasoning can be sent
    /// back on the next turn without `store`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Whether to stream.
    pub stream: bool,
}

/// What `include` asks for to carry reasoning across stateless turns.
pub const INCLUDE_ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// `reasoning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasoningConfig {
    /// `minimal`, `low`, `medium` or `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    /// `auto` asks for reasoning summaries (shown as thinking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryMode>,
}

/// `reasoning.effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    /// `minimal`.
    Minimal,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

/// `reasoning.summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryMode {
    /// The model picks the level of detail.
    Auto,
    /// Short.
    Concise,
    /// Long.
    Detailed,
}

/// `{"type":"function","name":…,"description":…,"parameters":…,"strict":false}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionTool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The name the model calls it by (at most 64 characters).
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// The JSON Schema of its arguments (written out once per tool list).
    pub parameters: Parameters,
    /// Always `false`: strict mode would need every schema rewritten.
    pub strict: bool,
}

impl FunctionTool {
    /// A non-strict function tool.
    pub fn new(name: String, description: Option<Description>, parameters: Parameters) -> Self {
        FunctionTool {
            kind: "function",
            name,
            description,
            parameters,
            strict: false,
        }
    }
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `"none"`, `"auto"` or `"required"`.
    Mode(ToolChoiceMode),
    /// `{"type":"function","name":…}`.
    Function {
        /// Always `"function"`.
        #[serde(rename = "type")]
        kind: &'static str,
        /// The function that must be called.
        name: String,
    },
}

impl ToolChoice {
    /// `{"type":"function","name":name}`.
    pub fn function(name: String) -> Self {
        ToolChoice::Function {
            kind: "function",
            name,
        }
    }
}

/// The string forms of `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// No tool calls.
    None,
    /// The model decides.
    Auto,
    /// At least one tool call.
    Required,
}

/// One item of `input`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputItem {
    /// A turn of text, images and files.
    Message {
        /// Who said it.
        role: Role,
        /// Its parts: `input_*` for user and developer turns, `output_text` for the
        /// assistant's.
        content: Vec<ContentPart>,
    },
    /// A call the model made earlier.
    FunctionCall {
        /// The id its result refers to.
        call_id: String,
        /// The function's name.
        name: String,
        /// The arguments, as JSON text.
        arguments: String,
    },
    /// The result of a call.
    FunctionCallOutput {
        /// The call's `call_id`.
        call_id: String,
        /// Text, or parts when the result holds images or files.
        output: FunctionOutput,
    },
    /// Reasoning the model did earlier, sent back whole so it can go on from it.
    Reasoning {
        /// What the model showed of it.
        summary: Vec<SummaryText>,
        /// The reasoning itself, encrypted by the provider.
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

/// A message's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person.
    User,
    /// The model.
    Assistant,
    /// Instructions in the middle of the conversation.
    Developer,
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text in a user or developer message.
    InputText {
        /// The text.
        text: String,
    },
    /// An image: a URL or a `data:` URL.
    InputImage {
        /// Where it is.
        image_url: String,
        /// Always `auto`.
        detail: &'static str,
    },
    /// A file (a PDF): inline as a `data:` URL, or at a URL.
    InputFile {
        /// Its name (with inline data).
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        /// `data:<media type>;base64,<data>`.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
        /// Where it is.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
    },
    /// Text the assistant wrote earlier.
    OutputText {
        /// The text.
        text: String,
    },
}

impl ContentPart {
    /// An image part.
    pub fn image(image_url: String) -> Self {
        ContentPart::InputImage {
            image_url,
            detail: "auto",
        }
    }
}

/// `function_call_output.output`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FunctionOutput {
    /// Text only.
    Text(String),
    /// Text, images and files.
    Parts(Vec<ContentPart>),
}

/// `{"type":"summary_text","text":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryText {
    /// Always `summary_text`.
    #[serde(rename = "type", default = "summary_text")]
    pub kind: String,
    /// The text.
    #[serde(default, deserialize_with = "null_default")]
    pub text: String,
}

fn summary_text() -> String {
    "summary_text".to_owned()
}

impl SummaryText {
    /// A summary part.
    pub fn new(text: String) -> Self {
        SummaryText {
            kind: summary_text(),
            text,
        }
    }
}

// ---------------------------------------------------------------------------------------
// What comes back.
// ---------------------------------------------------------------------------------------

/// Treats `null` like a missing field.
fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// A count that is an integer, a float, a numeric string or `null`; anything else counts
/// as absent rather than failing the event.
fn lenient_count<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(de)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A string, or any other JSON value as its text (arguments sent as an object); `null` is
/// absent.
fn lenient_string<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(de)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// One event of a Responses stream: `data: {"type":…, …}`. Every event type shares this
/// flat shape; which fields are set depends on `type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StreamEvent {
    /// `response.output_text.delta`, `response.completed`, `error`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The response as it stands (`response.created`, `.completed`, `.incomplete`,
    /// `.failed`).
    #[serde(default)]
    pub response: Option<ResponseObject>,
    /// The output item (`response.output_item.added` / `.done`).
    #[serde(default)]
    pub item: Option<OutputItem>,
    /// The item's position in `output`.
    #[serde(default, deserialize_with = "lenient_count")]
    pub output_index: Option<u64>,
    /// The item an increment belongs to (`msg_…`, `fc_…`, `rs_…`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub item_id: Option<String>,
    /// Which content part (`response.output_text.*`, `response.reasoning_text.*`).
    #[serde(default, deserialize_with = "lenient_count")]
    pub content_index: Option<u64>,
    /// Which reasoning summary part (`response.reasoning_summary_*`).
    #[serde(default, deserialize_with = "lenient_count")]
    pub summary_index: Option<u64>,
    /// The increment (`*.delta`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub delta: Option<String>,
    /// A call's whole arguments (`response.function_call_arguments.done`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub arguments: Option<String>,
    /// A finished text (`*.done`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub text: Option<String>,
    /// A finished refusal (`response.refusal.done`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub refusal: Option<String>,
    /// `error` events: the code (`rate_limit_exceeded`, …).
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `error` events: the message.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
    /// `error` events: the parameter at fault.
    #[serde(default, deserialize_with = "lenient_string")]
    pub param: Option<String>,
    /// `error` events as some servers send them: the error nested as `{"error":{…}}`.
    #[serde(default)]
    pub error: Option<Value>,
    /// The event's position in the stream.
    #[serde(default, deserialize_with = "lenient_count")]
    pub sequence_number: Option<u64>,
}

/// The response object: whole in a non-streamed answer, and in the stream's first and last
/// events.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponseObject {
    /// `resp_…`.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// `completed`, `incomplete`, `failed`, `in_progress`, `cancelled`, `queued`.
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// The model that answered.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// Why it is `incomplete`.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// Why it `failed`.
    #[serde(default)]
    pub error: Option<Value>,
    /// What the model produced, in order.
    #[serde(default, deserialize_with = "null_default")]
    pub output: Vec<OutputItem>,
    /// Token counts (absent until the end).
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub reason: Option<String>,
}

/// One item of `output`. Which fields are set depends on `type`: `message` (`content`),
/// `function_call` (`call_id`, `name`, `arguments`), `reasoning` (`summary`,
/// `encrypted_content`, sometimes `content`), or a type anyclaude does not translate.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OutputItem {
    /// `message`, `function_call`, `reasoning`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `msg_…`, `fc_…`, `rs_…`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// `in_progress`, `completed`, `incomplete`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// A message's parts.
    #[serde(default, deserialize_with = "null_default")]
    pub content: Vec<OutputContent>,
    /// A call's id, which its result must name (`call_…`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub call_id: Option<String>,
    /// A call's function.
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// A call's arguments as JSON text (empty when the call is announced).
    #[serde(default, deserialize_with = "lenient_string")]
    pub arguments: Option<String>,
    /// Reasoning: what the model showed of it.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: Vec<SummaryText>,
    /// Reasoning: the whole of it, encrypted (asked for with `include`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub encrypted_content: Option<String>,
}

/// One part of an output message (or of a reasoning item's raw `content`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OutputContent {
    /// `output_text`, `refusal` or `reasoning_text`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `output_text` and `reasoning_text`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub text: Option<String>,
    /// `refusal`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub refusal: Option<String>,
}

/// `usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ResponseUsage {
    /// All input tokens, cached ones included.
    #[serde(default, deserialize_with = "lenient_count")]
    pub input_tokens: Option<u64>,
    /// Cache details of the input.
    #[serde(default)]
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Generated tokens, reasoning included.
    #[serde(default, deserialize_with = "lenient_count")]
    pub output_tokens: Option<u64>,
    /// Reasoning details of the output.
    #[serde(default)]
    pub output_tokens_details: Option<OutputTokensDetails>,
    /// input + output.
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_tokens: Option<u64>,
}

impl ResponseUsage {
    /// Input tokens read from the provider's prompt cache.
    pub fn cached_tokens(&self) -> u64 {
        self.input_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
    }

    /// Output tokens spent on reasoning (already part of `output_tokens`).
    pub fn reasoning_tokens(&self) -> u64 {
        self.output_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
    }
}

/// `usage.input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct InputTokensDetails {
    /// Input tokens read from a cache.
    #[serde(default, deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct OutputTokensDetails {
    /// Output tokens spent on reasoning.
    #[serde(default, deserialize_with = "lenient_count")]
    pub reasoning_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_serialises_in_the_documented_shape() {
        let req = ResponsesRequest {
            model: "gpt-5".into(),
            instructions: Some("Be brief.".into()),
            input: vec![
                InputItem::Message {
                    role: Role::User,
                    content: vec![
                        ContentPart::InputText { text: "hi".into() },
                        ContentPart::image("data:image/png;base64,AAAA".into()),
                    ],
                },
                InputItem::Reasoning {
                    summary: vec![SummaryText::new("thought".into())],
                    encrypted_content: Some("gAAAA".into()),
                },
                InputItem::Message {
                    role: Role::Assistant,
                    content: vec![ContentPart::OutputText { text: "ok".into() }],
                },
                InputItem::FunctionCall {
                    call_id: "call_1".into(),
                    name: "Bash".into(),
                    arguments: "{\"command\":\"ls\"}".into(),
                },
                InputItem::FunctionCallOutput {
                    call_id: "call_1".into(),
                    output: FunctionOutput::Text("a\nb".into()),
                },
            ],
            tools: vec![FunctionTool::new(
                "Bash".into(),
                Some("Run".into()),
                json!({"type": "object"}).into(),
            )],
            tool_choice: Some(ToolChoice::function("Bash".into())),
            parallel_tool_calls: None,
            max_output_tokens: Some(1000),
            reasoning: Some(ReasoningConfig {
                effort: Some(Effort::High),
                summary: Some(SummaryMode::Auto),
            }),
            temperature: None,
            top_p: None,
            store: false,
            include: vec![INCLUDE_ENCRYPTED_REASONING.into()],
            stream: true,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "model": "gpt-5",
                "instructions": "Be brief.",
                "input": [
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_text", "text": "hi"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}]},
                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thought"}], "encrypted_content": "gAAAA"},
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
                    {"type": "function_call", "call_id": "call_1", "name": "Bash", "arguments": "{\"command\":\"ls\"}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "a\nb"},
                ],
                "tools": [{"type": "function", "name": "Bash", "description": "Run", "parameters": {"type": "object"}, "strict": false}],
                "tool_choice": {"type": "function", "name": "Bash"},
                "max_output_tokens": 1000,
                "reasoning": {"effort": "high", "summary": "auto"},
                "store": false,
                "include": ["reasoning.encrypted_content"],
                "stream": true,
            })
        );
        assert_eq!(
            serde_json::to_value(ToolChoice::Mode(ToolChoiceMode::Required)).unwrap(),
            json!("required")
        );
    }

    #[test]
    fn events_read_leniently() {
        let ev: StreamEvent = serde_json::from_str(
            r#"{"type":"response.output_item.added","sequence_number":3,"output_index":1,
                "item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"Bash","arguments":"","status":"in_progress"},
                "future_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(ev.kind, "response.output_item.added");
        assert_eq!(ev.output_index, Some(1));
        let item = ev.item.unwrap();
        assert_eq!(
            (item.id.as_deref(), item.call_id.as_deref()),
            (Some("fc_1"), Some("call_1"))
        );
        let usage: ResponseUsage = serde_json::from_value(json!({
            "input_tokens": 120.0, "input_tokens_details": {"cached_tokens": "100"},
            "output_tokens": 30, "output_tokens_details": null, "total_tokens": 150
        }))
        .unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.cached_tokens(),
                usage.reasoning_tokens()
            ),
            (Some(120), 100, 0)
        );
        // Arguments sent as an object are kept as JSON text; nulls are absent.
        let item: OutputItem = serde_json::from_value(json!({
            "type": "function_call", "arguments": {"a": 1}, "summary": null, "content": null, "name": null
        }))
        .unwrap();
        assert_eq!(item.arguments.as_deref(), Some("{\"a\":1}"));
        assert_eq!(item.name, None);
    }
}

//! Outbound wire types of an OpenAI Chat Completions request (`POST /chat/completions`).
//!
//! Strict on what we send: every optional field is skipped when unset, so no `null` ever
//! goes out, with one deliberate exception: an assistant message that only calls tools has
//! `"content": null` where OpenAI's documented form is wanted (the request encoder sends
//! `""` instead to servers that validate `content` as a string).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::conversation::{Description, Parameters};

/// A Chat Completions request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatCompletionRequest {
    /// The upstream model id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Output limit, for backends that take `max_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Output limit including reasoning, for OpenAI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Up to four stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Whether to stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Callable functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ChatTool>>,
    /// How the model must use the tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ChatToolChoice>,
    /// `false` asks for at most one tool call per turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// How hard a reasoning model thinks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamOptions {
    /// Ask for a final chunk carrying `usage`.
    pub include_usage: bool,
}

/// `reasoning_effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    /// Instructions.
    System {
        /// Always a plain string: many local servers reject arrays here.
        content: String,
    },
    /// The user.
    User {
        /// A string, or parts when there is an image or file.
        content: UserContent,
    },
    /// The model.
    Assistant(AssistantMessage),
    /// A tool's result.
    Tool {
        /// The call this answers.
        tool_call_id: String,
        /// The result text.
        content: String,
    },
}

/// An assistant message: text, tool calls and (for some backends) earlier reasoning.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssistantMessage {
    /// The text; `None` only when there are tool calls (serialised as `null`).
    pub content: Option<String>,
    /// The calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Earlier reasoning, echoed back (DeepSeek).
    pub reasoning_content: Option<String>,
}

impl Serialize for AssistantMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = 1
            + usize::from(!self.tool_calls.is_empty())
            + usize::from(self.reasoning_content.is_some());
        let mut st = s.serialize_struct("AssistantMessage", fields)?;
        match &self.content {
            Some(text) => st.serialize_field("content", text)?,
            // `null` is what OpenAI wants on a tool-call-only message; without tool calls an
            // empty string is the safe choice.
            None if !self.tool_calls.is_empty() => st.serialize_field("content", &Value::Null)?,
            None => st.serialize_field("content", "")?,
        }
        if !self.tool_calls.is_empty() {
            st.serialize_field("tool_calls", &self.tool_calls)?;
        }
        if let Some(reasoning) = &self.reasoning_content {
            st.serialize_field("reasoning_content", reasoning)?;
        }
        st.end()
    }
}

/// A user message's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum UserContent {
    /// Text only, flattened to a string.
    Text(String),
    /// Text, image and file parts.
    Parts(Vec<ContentPart>),
}

/// A part of a user message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL or `data:` URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
    /// A file (PDF) inline.
    File {
        /// The file.
        file: FileData,
    },
}

/// `image_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageUrl {
    /// `https://…` or `data:<media type>;base64,<data>`.
    pub url: String,
}

/// `file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileData {
    /// A file name (OpenAI requires one with inline data).
    pub filename: String,
    /// `data:application/pdf;base64,<data>`.
    pub file_data: String,
}

/// A call in an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The call id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: FunctionType,
    /// The function and its arguments.
    pub function: FunctionCall,
}

/// The constant `"function"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum FunctionType {
    /// `function`.
    #[default]
    #[serde(rename = "function")]
    Function,
}

/// `function` of a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionCall {
    /// The function's (upstream) name.
    pub name: String,
    /// The arguments as a JSON string.
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatTool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: FunctionType,
    /// The function.
    pub function: FunctionDef,
}

/// `function` of a tool definition (no `strict`: Claude Code's schemas are not strict-mode
/// schemas).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDef {
    /// The (upstream) name.
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// The JSON Schema of its arguments (written out once per tool list).
    pub parameters: Parameters,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatToolChoice {
    /// `"auto"`.
    Auto,
    /// `"required"`.
    Required,
    /// `"none"`.
    None,
    /// `{"type":"function","function":{"name":…}}`.
    Function(String),
}

impl Serialize for ChatToolChoice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChatToolChoice::Auto => s.serialize_str("auto"),
            ChatToolChoice::Required => s.serialize_str("required"),
            ChatToolChoice::None => s.serialize_str("none"),
            ChatToolChoice::Function(name) => serde_json::json!({
                "type": "function",
                "function": { "name": name },
            })
            .serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_nulls_but_tool_call_content() {
        let req = ChatCompletionRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::System {
                    content: "s".into(),
                },
                ChatMessage::Assistant(AssistantMessage {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        kind: FunctionType::Function,
                        function: FunctionCall {
                            name: "Bash".into(),
                            arguments: "{}".into(),
                        },
                    }],
                    reasoning_content: None,
                }),
                ChatMessage::Tool {
                    tool_call_id: "c1".into(),
                    content: "ok".into(),
                },
            ],
            max_tokens: None,
            max_completion_tokens: Some(5),
            temperature: None,
            top_p: None,
            stop: None,
            stream: None,
            stream_options: None,
            tools: None,
            tool_choice: Some(ChatToolChoice::Function("Bash".into())),
            parallel_tool_calls: None,
            reasoning_effort: Some(ReasoningEffort::High),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "ok"}
                ],
                "max_completion_tokens": 5,
                "tool_choice": {"type": "function", "function": {"name": "Bash"}},
                "reasoning_effort": "high"
            })
        );
    }
}

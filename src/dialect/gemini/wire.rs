//! Gemini's `generateContent` / `streamGenerateContent?alt=sse` wire types (REST, camelCase),
//! as anyclaude sends and reads them. Pure data: no translation lives here.
//!
//! Faithful to what the API sends, not to a wish list:
//! - a `Part` is one of text, `inlineData`, `fileData`, `functionCall`, `functionResponse`
//!   (plus kinds anyclaude never asks for, such as executable code), and may carry
//!   `thought: true` (a reasoning summary, only with `includeThoughts`) and a
//!   `thoughtSignature` (opaque base64 state the model needs back on the same part);
//! - a `functionCall` arrives whole, `args` an object; `id` is often absent;
//! - in a stream, each `data:` line is a complete [`GenerateContentResponse`]: text is
//!   incremental, several calls may come in one chunk, `finishReason` is on the last
//!   candidate chunk, and `usageMetadata` may come on every chunk (the last one counts);
//! - errors are `{"error":{"code","message","status","details"}}` (also inside a stream, and
//!   as a one-element array when a non-SSE stream fails).
//!
//! Every response field is optional and unknown fields are ignored, so a newer API version
//! adding fields never breaks a session.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The request body of `generateContent` and `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// The conversation, alternating `user` and `model` turns.
    pub contents: Vec<Content>,
    /// The system prompt (its role is ignored by the API and not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// The tools: anyclaude sends one entry holding every function declaration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model may call them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling, limits and thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

/// Who wrote a turn. Gemini knows only these two; function responses go in `user` turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person (and tool results).
    User,
    /// The model.
    Model,
}

/// One turn: a role and its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// Absent in `systemInstruction` and in some streamed chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The parts, in order.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part of a turn. Exactly one data field is set (`text`, `inline_data`, `file_data`,
/// `function_call` or `function_response`); `thought` and `thought_signature` are metadata
/// on it. Kept as a struct of options, as the API's `oneof` is, so that a part of a kind
/// anyclaude does not know still parses (and is then skipped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text (incremental in a stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inline bytes: an image or a PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// A file by URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A call the model makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// A call's result, sent back in a `user` turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// `true` on a reasoning summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// The model's opaque state for this part (base64), to be sent back on the same part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Part {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }

    /// Whether this part is a reasoning summary.
    pub fn is_thought(&self) -> bool {
        self.thought == Some(true)
    }
}

/// Inline bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// e.g. `image/png`, `application/pdf`.
    pub mime_type: String,
    /// Base64.
    pub data: String,
}

/// A file by URI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// The MIME type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Where the file is.
    pub file_uri: String,
}

/// A function call, whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    /// Often absent on the Developer API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The declared function's name.
    #[serde(default)]
    pub name: String,
    /// The arguments, a JSON object (absent for a call without arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// A function call's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    /// The call's id, when the call had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name (required: Gemini matches results by name).
    pub name: String,
    /// A JSON object: anyclaude sends `{"output": …}` or `{"error": …}`.
    pub response: Value,
}

/// One entry of `tools`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// One function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// Starts with a letter or `_`; `[a-zA-Z0-9_.:-]`.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Its arguments, in Gemini's OpenAPI subset (see `schema`); absent when it takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// The calling mode.
    pub function_calling_config: FunctionCallingConfig,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub mode: CallingMode,
    /// With `ANY`: the only functions it may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// The function-calling mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallingMode {
    /// The model decides (Anthropic `auto`).
    #[default]
    Auto,
    /// It must call one (Anthropic `any`, or `tool` with `allowedFunctionNames`).
    Any,
    /// It may not call any (Anthropic `none`).
    None,
}

/// `generationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// The output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

/// `generationConfig.thinkingConfig`. Gemini 2.5 takes a token budget (0 = off, -1 =
/// automatic), Gemini 3 a level; a request sets one or the other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Whether reasoning summaries (`thought: true` parts) are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    /// Tokens the model may think for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// `MINIMAL`, `LOW`, `MEDIUM` or `HIGH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
}

/// Gemini 3's thinking levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThinkingLevel {
    /// Barely.
    Minimal,
    /// A little.
    Low,
    /// Some.
    Medium,
    /// A lot.
    High,
}

/// One answer (whole) or one chunk of a streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// anyclaude asks for one candidate and reads only the first.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Set when the prompt itself was blocked (then there are no candidates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts so far (cumulative; the last chunk's are final).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The response's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

/// One candidate answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Its content (in a stream: this chunk's new parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why it stopped; on the last chunk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// A human-readable reason, sent with some finish reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_message: Option<String>,
    /// Which candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// `promptFeedback`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// `SAFETY`, `OTHER`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `IMAGE_SAFETY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
    /// A human-readable reason, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason_message: Option<String>,
}

/// `usageMetadata`. `promptTokenCount` includes the cached tokens; thinking tokens are
/// counted apart from `candidatesTokenCount`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// The whole prompt, cached part included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    /// The part of the prompt read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    /// The answer, thinking excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    /// The thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    /// Tool-use prompt tokens (server-side tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
    /// Everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
}

/// Why a candidate stopped, as Gemini names it. Names anyclaude does not know are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end (also when the model called functions).
    Stop,
    /// The output limit.
    MaxTokens,
    /// A safety filter.
    Safety,
    /// Recitation of training data.
    Recitation,
    /// An unsupported language.
    Language,
    /// A blocklisted term.
    Blocklist,
    /// Prohibited content.
    ProhibitedContent,
    /// Sensitive personal information.
    Spii,
    /// The model produced a call that does not parse.
    MalformedFunctionCall,
    /// An image was blocked (`IMAGE_SAFETY`, `IMAGE_PROHIBITED_CONTENT`, …).
    Image(String),
    /// A call to a function that was not offered.
    UnexpectedToolCall,
    /// More calls than allowed.
    TooManyToolCalls,
    /// `OTHER`, `FINISH_REASON_UNSPECIFIED` or a name added later.
    Other(String),
}

impl FinishReason {
    /// Parses the wire name.
    pub fn parse(raw: &str) -> FinishReason {
        match raw {
            "STOP" => FinishReason::Stop,
            "MAX_TOKENS" => FinishReason::MaxTokens,
            "SAFETY" => FinishReason::Safety,
            "RECITATION" => FinishReason::Recitation,
            "LANGUAGE" => FinishReason::Language,
            "BLOCKLIST" => FinishReason::Blocklist,
            "PROHIBITED_CONTENT" => FinishReason::ProhibitedContent,
            "SPII" => FinishReason::Spii,
            "MALFORMED_FUNCTION_CALL" => FinishReason::MalformedFunctionCall,
            "UNEXPECTED_TOOL_CALL" => FinishReason::UnexpectedToolCall,
            "TOO_MANY_TOOL_CALLS" => FinishReason::TooManyToolCalls,
            other if other.starts_with("IMAGE_") => FinishReason::Image(other.to_owned()),
            other => FinishReason::Other(other.to_owned()),
        }
    }

    /// Whether a content policy stopped the answer (Anthropic `refusal`).
    pub fn is_policy(&self) -> bool {
        matches!(
            self,
            FinishReason::Safety
                | FinishReason::Recitation
                | FinishReason::Blocklist
                | FinishReason::ProhibitedContent
                | FinishReason::Spii
                | FinishReason::Image(_)
        )
    }
}

/// An error body: `{"error":{…}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// The error itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The HTTP status, e.g. 429.
    #[serde(default)]
    pub code: Option<u16>,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
    /// The canonical status, e.g. `RESOURCE_EXHAUSTED`.
    #[serde(default)]
    pub status: Option<String>,
    /// Structured details (`RetryInfo`, `ErrorInfo`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

impl ErrorBody {
    /// Parses an error body: an object, or the one-element array a failed non-SSE stream
    /// sends. `None` when it is neither.
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
        // Parsed through `Value`: serde would also read a struct from an array.
        let value: Value = serde_json::from_slice(body).ok()?;
        let one = match value {
            Value::Array(items) => items.into_iter().next()?,
            other => other,
        };
        one.get("error")?.as_object()?;
        serde_json::from_value(one).ok()
    }

    /// The retry delay from a `google.rpc.RetryInfo` detail (`"retryDelay": "12s"`), in whole
    /// seconds rounded up.
    pub fn retry_delay_secs(&self) -> Option<u64> {
        self.error.details.iter().find_map(|d| {
            let delay = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
            let secs: f64 = delay.parse().ok()?;
            (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_streamed_chunk_parses_with_calls_thoughts_and_usage() {
        let chunk = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Planning.", "thought": true},
                {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "Read", "args": {"file_path": "/a"}}}
            ]}, "finishReason": "STOP", "index": 0, "safetyRatings": []}],
            "usageMetadata": {"promptTokenCount": 120, "cachedContentTokenCount": 100,
                "candidatesTokenCount": 20, "thoughtsTokenCount": 7, "totalTokenCount": 147,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}]},
            "modelVersion": "gemini-2.5-pro", "responseId": "abc"
        });
        let r: GenerateContentResponse = serde_json::from_value(chunk).unwrap();
        let parts = &r.candidates[0].content.as_ref().unwrap().parts;
        assert!(parts[0].is_thought());
        assert_eq!(parts[1].function_call.as_ref().unwrap().name, "Bash");
        assert_eq!(parts[1].thought_signature.as_deref(), Some("c2ln"));
        assert_eq!(parts[2].function_call.as_ref().unwrap().id, None);
        assert_eq!(
            FinishReason::parse(r.candidates[0].finish_reason.as_deref().unwrap()),
            FinishReason::Stop
        );
        let u = r.usage_metadata.unwrap();
        assert_eq!(u.cached_content_token_count, Some(100));
        assert_eq!(u.thoughts_token_count, Some(7));
    }

    #[test]
    fn a_request_serialises_in_camel_case_without_empty_fields() {
        let req = GenerateContentRequest {
            contents: vec![Content {
                role: Some(Role::User),
                parts: vec![Part::text("hi")],
            }],
            system_instruction: Some(Content {
                role: None,
                parts: vec![Part::text("be brief")],
            }),
            tools: vec![Tool {
                function_declarations: vec![FunctionDeclaration {
                    name: "Bash".into(),
                    description: String::new(),
                    parameters: None,
                }],
            }],
            tool_config: Some(ToolConfig {
                function_calling_config: FunctionCallingConfig {
                    mode: CallingMode::Any,
                    allowed_function_names: vec!["Bash".into()],
                },
            }),
            generation_config: Some(GenerationConfig {
                max_output_tokens: Some(100),
                thinking_config: Some(ThinkingConfig {
                    include_thoughts: Some(true),
                    thinking_budget: Some(-1),
                    thinking_level: None,
                }),
                ..GenerationConfig::default()
            }),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "systemInstruction": {"parts": [{"text": "be brief"}]},
                "tools": [{"functionDeclarations": [{"name": "Bash"}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Bash"]}},
                "generationConfig": {"maxOutputTokens": 100,
                    "thinkingConfig": {"includeThoughts": true, "thinkingBudget": -1}}
            })
        );
    }

    #[test]
    fn finish_reasons_and_policies() {
        for (raw, policy) in [
            ("SAFETY", true),
            ("RECITATION", true),
            ("PROHIBITED_CONTENT", true),
            ("BLOCKLIST", true),
            ("SPII", true),
            ("IMAGE_SAFETY", true),
            ("STOP", false),
            ("MAX_TOKENS", false),
            ("MALFORMED_FUNCTION_CALL", false),
            ("OTHER", false),
            ("SOMETHING_NEW", false),
        ] {
            assert_eq!(FinishReason::parse(raw).is_policy(), policy, "{raw}");
        }
        assert_eq!(
            FinishReason::parse("SOMETHING_NEW"),
            FinishReason::Other("SOMETHING_NEW".into())
        );
    }

    #[test]
    fn error_bodies_as_object_or_array_with_retry_info() {
        let body = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12.5s"}]}}"#;
        let e = ErrorBody::parse(body).unwrap();
        assert_eq!(e.error.code, Some(429));
        assert_eq!(e.error.status.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(e.retry_delay_secs(), Some(13));
        let arr = br#"[{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]"#;
        assert_eq!(ErrorBody::parse(arr).unwrap().error.code, Some(503));
        assert!(ErrorBody::parse(b"<html>bad gateway</html>").is_none());
    }
}

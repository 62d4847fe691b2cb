//! The dialect-neutral [`Conversation`] → a Gemini `GenerateContentRequest`. Pure.
//!
//! - **System**: the top-level prompt → `systemInstruction`. Gemini has no system turn
//!   mid-conversation, so a later system item is a user text part (`System: …`) where it
//!   stood.
//! - **Turns**: user items → `user` contents, assistant items → `model` contents; consecutive
//!   contents of one role are merged (Gemini wants them alternating). Text → `text`; a
//!   base64 image or PDF → `inlineData`; one given by URL → `fileData` (with a MIME type
//!   guessed from the URL, which Gemini requires); a PDF's heading goes before it as text.
//! - **Tool calls** → `functionCall {id, name, args}`; results → `functionResponse {id,
//!   name, response}` in a `user` content, `response` being `{"output": text}` or
//!   `{"error": text}` (`is_error`), images of a result following as `inlineData` parts.
//!   Gemini matches results by **name**, which the conversation resolves from the call;
//!   ids anyclaude synthesised for calls Gemini sent without one are not sent back.
//!   Tool names longer than Gemini takes are shortened (and mapped back by the decoder).
//! - **Thinking blocks** carry Gemini's `thoughtSignature` back to the part it came with,
//!   read from their tagged envelope (see [`super::stream`]): [`TAG_NEXT`] → on the next
//!   part of the turn (an empty text part when none follows), [`TAG_THOUGHT`] → the thought summary itself, as a `thought: true` part. Thinking
//!   signed by anyone else (our own signature, another provider, Anthropic) is not sent:
//!   Gemini cannot read it. A `model` content with function calls but no signature on any of
//!   them (a turn from another backend, or from a model that does not think) gets the
//!   documented placeholder `skip_thought_signature_validator` on its first call, which
//!   Gemini 3 otherwise rejects with "Function call is missing a thought_signature".
//! - **Tools** → one `functionDeclarations` entry each, parameters through
//!   [`super::schema::function_parameters`]; `tool_choice` → `toolConfig`
//!   (`auto` → `AUTO`, `any` → `ANY`, `tool` → `ANY` + `allowedFunctionNames`, `none` →
//!   `NONE`). Gemini has no switch for parallel calls.
//! - **Generation**: `max_tokens` → `maxOutputTokens`, `temperature`, `top_p`, `top_k`,
//!   `stop_sequences` (Gemini takes at most 5). Thinking requested (enabled or adaptive), on
//!   a model that thinks (Gemini 2.5 and later; 2.0 and Gemma reject the setting) →
//!   `thinkingConfig.includeThoughts` plus, on Gemini 3 models, a `thinkingLevel` from the
//!   effort (`low` → `LOW`, `medium` → `MEDIUM`, higher → `HIGH`), otherwise a
//!   `thinkingBudget`: the requested `budget_tokens` (capped at the 32768 Gemini 2.5 Pro
//!   takes, 24576 on other models), or -1 (the model decides) for adaptive.

use serde_json::{Map, Value, json};

use crate::anthropic::request::Thinking;
use crate::conversation::{
    AssistantPart, Conversation, Item, Media, Part as ConvPart, ToolChoice, ToolResult,
};
use crate::translate::tool_names::ToolNames;

use super::schema::function_parameters;
use super::stream::{SYNTHETIC_ID_PREFIX, TAG_NEXT, TAG_THOUGHT};
use super::wire::{
    Blob, CallingMode, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerationConfig, Part, Role, ThinkingConfig,
    ThinkingLevel, Tool, ToolConfig,
};

/// The documented stand-in for a function call's missing `thoughtSignature`.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Most stop sequences Gemini takes.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// A request ready to send, and what its answer's decoding needs.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The body.
    pub body: GenerateContentRequest,
    /// The tool names shortened for this request.
    pub tool_names: ToolNames,
}

/// Encodes `conv` for the Gemini model `model`.
pub fn encode(conv: &Conversation, model: &str) -> Encoded {
    let mut tool_names = ToolNames::default();
    let mut contents = Contents::default();
    let mut pending_images: Vec<Part> = Vec::new();
    for item in &conv.items {
        if !matches!(item, Item::ToolResult(_)) && !pending_images.is_empty() {
            contents.push(Role::User, std::mem::take(&mut pending_images));
        }
        match item {
            Item::System(text) => {
                contents.push(Role::User, vec![Part::text(format!("System: {text}"))]);
            }
            Item::User(parts) => {
                let parts = parts.iter().flat_map(user_part).collect();
                contents.push(Role::User, parts);
            }
            Item::Assistant(parts) => {
                contents.push(Role::Model, model_parts(parts, &mut tool_names));
            }
            Item::ToolResult(result) => {
                let (response, images) = function_response(result, &mut tool_names);
                contents.push(Role::User, vec![response]);
                pending_images.extend(images);
            }
        }
    }
    if !pending_images.is_empty() {
        contents.push(Role::User, pending_images);
    }
    let mut contents = contents.0;
    for content in &mut contents {
        if content.role == Some(Role::Model) {
            placeholder_signature(content);
        }
    }

    let declarations: Vec<FunctionDeclaration> = conv
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: tool_names.upstream_name(&t.name),
            description: t.description.as_deref().cloned().unwrap_or_default(),
            parameters: function_parameters(&t.parameters),
        })
        .collect();
    let tool_config = if declarations.is_empty() {
        None
    } else {
        conv.tool_choice.as_ref().map(|choice| {
            let (mode, allowed) = match choice {
                ToolChoice::Auto => (CallingMode::Auto, Vec::new()),
                ToolChoice::Any => (CallingMode::Any, Vec::new()),
                ToolChoice::None => (CallingMode::None, Vec::new()),
                ToolChoice::Tool(name) => (CallingMode::Any, vec![tool_names.upstream_name(name)]),
            };
            ToolConfig {
                function_calling_config: FunctionCallingConfig {
                    mode,
                    allowed_function_names: allowed,
                },
            }
        })
    };
    let tools = if declarations.is_empty() {
        Vec::new()
    } else {
        vec![Tool {
            function_declarations: declarations,
        }]
    };

    let generation_config = GenerationConfig {
        max_output_tokens: conv.max_tokens,
        temperature: conv.temperature,
        top_p: conv.top_p,
        top_k: conv.top_k,
        stop_sequences: conv
            .stop_sequences
            .iter()
            .take(MAX_STOP_SEQUENCES)
            .cloned()
            .collect(),
        thinking_config: thinking_config(conv, model),
    };
    let system_instruction = (!conv.system.is_empty()).then(|| Content {
        role: None,
        parts: vec![Part::text(conv.system.clone())],
    });
    Encoded {
        body: GenerateContentRequest {
            contents,
            system_instruction,
            tools,
            tool_config,
            generation_config: Some(generation_config),
        },
        tool_names,
    }
}

/// Contents being built, merging consecutive contents of one role.
#[derive(Default)]
struct Contents(Vec<Content>);

impl Contents {
    fn push(&mut self, role: Role, parts: Vec<Part>) {
        if parts.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => self.0.push(Content {
                role: Some(role),
                parts,
            }),
        }
    }
}

/// The `(major, minor)` version in a Gemini model name (`gemini-2.5-pro` → `(2, 5)`,
/// `gemini-3-flash` → `(3, 0)`); `None` for aliases such as `gemini-flash-latest`.
fn gemini_version(model: &str) -> Option<(u32, u32)> {
    let name = model.rsplit('/').next().unwrap_or(model);
    let rest = name.strip_prefix("gemini-")?;
    let version = rest.split('-').next()?;
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether a model is Gemini 3 or later (thinking by level, not budget).
fn thinks_by_level(model: &str) -> bool {
    gemini_version(model).is_some_and(|v| v >= (3, 0))
}

/// Whether a model takes `thinkingConfig`: Gemini 2.5 and later, and the `-latest` aliases
/// (which point at those); not Gemini 1.x/2.0 or Gemma, which reject it.
fn thinks(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    if !name.starts_with("gemini-") {
        return false;
    }
    gemini_version(model).is_none_or(|v| v >= (2, 5))
}

fn thinking_config(conv: &Conversation, model: &str) -> Option<ThinkingConfig> {
    if !conv.thinking_requested() || !thinks(model) {
        return None;
    }
    if thinks_by_level(model) {
        let level = match conv.effort.as_deref() {
            Some("low") => ThinkingLevel::Low,
            Some("medium") => ThinkingLevel::Medium,
            _ => ThinkingLevel::High,
        };
        return Some(ThinkingConfig {
            include_thoughts: Some(true),
            thinking_budget: None,
            thinking_level: Some(level),
        });
    }
    let cap: u64 = if model.contains("pro") {
        32_768
    } else {
        24_576
    };
    let budget = match &conv.thinking {
        Some(Thinking::Enabled {
            budget_tokens: Some(b),
            ..
        }) => (*b).min(cap) as i64,
        _ => -1,
    };
    Some(ThinkingConfig {
        include_thoughts: Some(true),
        thinking_budget: Some(budget),
        thinking_level: None,
    })
}

/// A MIME type for a file given by URL, from its extension.
fn mime_from_url(url: &str, fallback: &str) -> String {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        _ => fallback,
    }
    .to_owned()
}

fn media_part(media: &Media, fallback_mime: &str) -> Part {
    match media {
        Media::Base64 { media_type, data } => Part {
            inline_data: Some(Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            ..Part::default()
        },
        Media::Url(url) => Part {
            file_data: Some(FileData {
                mime_type: Some(mime_from_url(url, fallback_mime)),
                file_uri: url.clone(),
            }),
            ..Part::default()
        },
    }
}

fn user_part(part: &ConvPart) -> Vec<Part> {
    match part {
        ConvPart::Text(text) => vec![Part::text(text.clone())],
        ConvPart::Image(media) => vec![media_part(media, "image/jpeg")],
        ConvPart::Pdf(pdf) => {
            let mut out = Vec::new();
            if !pdf.heading.is_empty() {
                out.push(Part::text(pdf.heading.clone()));
            }
            out.push(media_part(&pdf.source, "application/pdf"));
            out
        }
    }
}

/// The id to send for a call id, `None` for the ones anyclaude made up.
fn upstream_id(id: &str) -> Option<String> {
    (!id.starts_with(SYNTHETIC_ID_PREFIX) && !id.is_empty()).then(|| id.to_owned())
}

fn model_parts(parts: &[AssistantPart], tool_names: &mut ToolNames) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    // A signature waiting for the next part.
    let mut next_signature: Option<String> = None;
    for part in parts {
        let mut part = match part {
            AssistantPart::Thinking { text, signature } => {
                if let Some(data) = signature.provider_data(TAG_NEXT) {
                    next_signature = Some(data.to_owned());
                } else if let Some(data) = signature.provider_data(TAG_THOUGHT) {
                    out.push(Part {
                        text: Some(text.clone()),
                        thought: Some(true),
                        thought_signature: Some(data.to_owned()),
                        ..Part::default()
                    });
                }
                continue;
            }
            AssistantPart::Text(text) => Part::text(text.clone()),
            AssistantPart::ToolCall(call) => Part {
                function_call: Some(FunctionCall {
                    id: upstream_id(&call.id),
                    name: tool_names.upstream_name(&call.name),
                    args: Some(match &call.input {
                        Value::Object(_) => call.input.clone(),
                        _ => Value::Object(Map::new()),
                    }),
                }),
                ..Part::default()
            },
        };
        if let Some(sig) = next_signature.take() {
            part.thought_signature = Some(sig);
        }
        out.push(part);
    }
    if let Some(sig) = next_signature {
        out.push(Part {
            text: Some(String::new()),
            thought_signature: Some(sig),
            ..Part::default()
        });
    }
    out
}

/// Gives the first function call of a model content the placeholder signature when none of
/// its calls has one.
fn placeholder_signature(content: &mut Content) {
    let calls = || content.parts.iter().filter(|p| p.function_call.is_some());
    if calls().next().is_none() || calls().any(|p| p.thought_signature.is_some()) {
        return;
    }
    if let Some(first) = content.parts.iter_mut().find(|p| p.function_call.is_some()) {
        first.thought_signature = Some(SKIP_SIGNATURE.to_owned());
    }
}

/// A tool result → its `functionResponse` part, and the images it held.
fn function_response(result: &ToolResult, tool_names: &mut ToolNames) -> (Part, Vec<Part>) {
    let text = result.text();
    let images: Vec<Part> = result
        .content
        .iter()
        .filter(|p| !matches!(p, ConvPart::Text(_)))
        .flat_map(user_part)
        .collect();
    let key = if result.is_error { "error" } else { "output" };
    let response = json!({ key: text });
    let part = Part {
        function_response: Some(FunctionResponse {
            id: upstream_id(&result.call_id),
            name: tool_names.upstream_name(&result.name),
            response,
        }),
        ..Part::default()
    };
    (part, images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::request::MessagesRequest;
    use crate::dialect::signature::Signature;

    fn conv(body: Value) -> Conversation {
        let req = MessagesRequest::from_slice(body.to_string().as_bytes()).unwrap();
        Conversation::from_request(&req).unwrap()
    }

    fn encoded(body: Value, model: &str) -> Value {
        serde_json::to_value(encode(&conv(body), model).body).unwrap()
    }

    #[test]
    fn a_tool_round_trip_with_signatures_ids_and_images() {
        let sig_next = Signature::provider(TAG_NEXT, "c2lnLWNhbGw=").encode();
        let sig_last = Signature::provider(TAG_NEXT, "c2lnLXRleHQ=").encode();
        let ours = Signature::ours("private reasoning");
        let body = json!({
            "model": "gemini/gemini-2.5-pro", "max_tokens": 1000,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;\nYou are Claude Code."}],
            "tools": [{"name": "Bash", "description": "Run", "input_schema": {"$schema": "x", "type": "object",
                "properties": {"command": {"type": "string"}}, "required": ["command"], "additionalProperties": false}},
                {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}],
            "tool_choice": {"type": "tool", "name": "Bash"},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "private reasoning", "signature": ours},
                    {"type": "text", "text": "Running both."},
                    {"type": "thinking", "thinking": "", "signature": sig_next},
                    {"type": "tool_use", "id": "toolu_gemini_0123456789ab_0", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "call-from-gemini", "name": "Read", "input": {"file_path": "/a"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_gemini_0123456789ab_0", "content": "a.txt"},
                    {"type": "tool_result", "tool_use_id": "call-from-gemini", "is_error": true,
                     "content": [{"type": "text", "text": "no such file"},
                                 {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Done."},
                    {"type": "thinking", "thinking": "", "signature": sig_last}]},
                {"role": "user", "content": "thanks"}
            ]
        });
        let out = encoded(body, "gemini-2.5-pro");
        assert_eq!(
            out["systemInstruction"],
            json!({"parts": [{"text": "You are Claude Code."}]})
        );
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}]},
                {"role": "model", "parts": [
                    {"text": "Running both."},
                    {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "c2lnLWNhbGw="},
                    {"functionCall": {"id": "call-from-gemini", "name": "Read", "args": {"file_path": "/a"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "Bash", "response": {"output": "a.txt"}}},
                    {"functionResponse": {"id": "call-from-gemini", "name": "Read", "response": {"error": "no such file"}}},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}]},
                {"role": "model", "parts": [{"text": "Done."}, {"text": "", "thoughtSignature": "c2lnLXRleHQ="}]},
                {"role": "user", "parts": [{"text": "thanks"}]}
            ])
        );
        assert_eq!(
            out["tools"][0]["functionDeclarations"][0],
            json!({"name": "Bash", "description": "Run", "parameters": {"type": "object",
                "properties": {"command": {"type": "string"}}, "required": ["command"]}})
        );
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Bash"]}})
        );
        assert_eq!(out["generationConfig"], json!({"maxOutputTokens": 1000}));
    }

    #[test]
    fn calls_without_a_signature_get_the_placeholder_and_foreign_thinking_is_dropped() {
        let body = json!({
            "model": "gemini/gemini-3-pro-preview", "max_tokens": 100,
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
            "tools": [{"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "from Anthropic", "signature": "EqQBCkYIBxgCKkBreal"},
                    {"type": "thinking", "thinking": "from OpenAI", "signature": Signature::provider("responses@openai", "gAAAA").encode()},
                    {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "a"}},
                    {"type": "tool_use", "id": "call_2", "name": "Bash", "input": {"command": "b"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "A"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "B"}]}
            ]
        });
        let out = encoded(body, "gemini-3-pro-preview");
        assert_eq!(
            out["contents"][1]["parts"],
            json!([
                {"functionCall": {"id": "call_1", "name": "Bash", "args": {"command": "a"}}, "thoughtSignature": SKIP_SIGNATURE},
                {"functionCall": {"id": "call_2", "name": "Bash", "args": {"command": "b"}}}
            ])
        );
        assert_eq!(
            out["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingLevel": "MEDIUM"})
        );
    }

    #[test]
    fn thought_summaries_with_their_own_signature_go_back_as_thought_parts() {
        let sig = Signature::provider(TAG_THOUGHT, "dGhvdWdodA==").encode();
        let body = json!({
            "model": "gemini/gemini-2.5-flash", "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Considering.", "signature": sig},
                    {"type": "text", "text": "A."}]},
                {"role": "user", "content": "more"}
            ]
        });
        let out = encoded(body, "gemini-2.5-flash");
        assert_eq!(
            out["contents"][1]["parts"],
            json!([{"text": "Considering.", "thought": true, "thoughtSignature": "dGhvdWdodA=="}, {"text": "A."}])
        );
    }

    #[test]
    fn thinking_budgets_stop_sequences_and_system_turns() {
        let body = json!({
            "model": "gemini/gemini-2.5-flash", "max_tokens": 32000, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
            "thinking": {"type": "enabled", "budget_tokens": 31999},
            "stop_sequences": ["a", "b", "c", "d", "e", "f"],
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "again"}
            ]
        });
        let out = encoded(body, "gemini-2.5-flash");
        assert_eq!(
            out["generationConfig"],
            json!({"maxOutputTokens": 32000, "temperature": 0.5, "topP": 0.9, "topK": 40,
                   "stopSequences": ["a", "b", "c", "d", "e"],
                   "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 24576}})
        );
        assert_eq!(
            out["contents"],
            json!([{"role": "user", "parts": [{"text": "q"}, {"text": "System: Be terse."}, {"text": "again"}]}])
        );
        assert!(thinks_by_level("gemini-3-flash"));
        assert!(thinks_by_level("gemini-3.1-pro-preview"));
        assert!(!thinks_by_level("gemini-2.5-pro"));
        assert!(!thinks_by_level("gemma-3-27b-it"));
        assert!(thinks("gemini-2.5-flash-lite") && thinks("gemini-flash-latest"));
        assert!(thinks("gemini-3-pro-preview"));
        assert!(!thinks("gemini-2.0-flash") && !thinks("gemma-3-27b-it"));
    }

    #[test]
    fn pdfs_and_images_by_url() {
        let body = json!({
            "model": "gemini/gemini-2.5-flash", "max_tokens": 100,
            "messages": [{"role": "user", "content": [
                {"type": "document", "title": "Spec", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.webp?size=2"}},
                {"type": "document", "source": {"type": "url", "url": "https://example.invalid/doc"}},
                {"type": "text", "text": "compare"}
            ]}]
        });
        let parts = &encoded(body, "gemini-2.5-flash")["contents"][0]["parts"];
        let parts = parts.as_array().unwrap();
        assert!(
            parts[0]["text"].as_str().unwrap().contains("Spec"),
            "{parts:?}"
        );
        assert_eq!(
            parts[1],
            json!({"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}})
        );
        assert_eq!(
            parts[2],
            json!({"fileData": {"mimeType": "image/webp", "fileUri": "https://example.invalid/cat.webp?size=2"}})
        );
        assert_eq!(parts.last().unwrap(), &json!({"text": "compare"}));
        assert!(
            parts
                .iter()
                .any(|p| p["fileData"]["mimeType"] == "application/pdf")
        );
    }

    #[test]
    fn every_pinned_claude_code_first_request_encodes() {
        for path in [
            "tests/fixtures/claude-code/2.1.197-first-request.json",
            "tests/fixtures/claude-code/2.1.332-first-request.json",
            "tests/fixtures/requests/claude-code-2.1.197.json",
        ] {
            let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            let req = MessagesRequest::from_slice(&std::fs::read(full).unwrap()).unwrap();
            let conv = Conversation::from_request(&req).unwrap();
            let out = encode(&conv, "gemini-2.5-pro");
            let decls = &out.body.tools[0].function_declarations;
            assert_eq!(decls.len(), conv.tools.len(), "{path}");
            for d in decls {
                if let Some(p) = &d.parameters {
                    super::super::schema::check_subset(p, &d.name).unwrap();
                }
            }
            let thinking = out.body.generation_config.unwrap().thinking_config.unwrap();
            assert_eq!(thinking.thinking_budget, Some(-1), "{path}: adaptive");
        }
    }
}

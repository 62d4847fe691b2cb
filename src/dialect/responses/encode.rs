//! The Responses request for a normalised [`Conversation`]. Pure.
//!
//! Owned here: how each part of the conversation is sent.
//!
//! - The system prompt becomes `instructions`; a system turn in the middle of the
//!   conversation becomes a `developer` message where it stands.
//! - User text, images (base64 as a `data:` URL, or a URL) and PDFs (`input_file`, inline or
//!   by URL, after their heading) become one `message` item per turn.
//! - An assistant turn becomes, in its order: `reasoning` items, `message` items of its text
//!   (`output_text`), and `function_call` items (`call_id` = the tool-use id, arguments as
//!   JSON text). A thinking block goes back as a `reasoning` item only when its signature is
//!   an envelope of this provider's encrypted reasoning (its summary as `summary_text`);
//!   any other thinking (ours, another provider's, Anthropic's) is not sent.
//! - A tool result becomes a `function_call_output` with the same `call_id`: its text, or
//!   its text, images and PDFs as parts. A failed call's output starts with `Error:`; an
//!   empty one says `(no output)`.
//! - Tools are flat `function` tools (`strict: false`) with names over 64 characters
//!   shortened ([`ToolNames`]); `tool_choice` `auto`/`any`/`none`/a tool →
//!   `auto`/`required`/`none`/`{type:function,name}`; `parallel_tool_calls: false` only
//!   when Claude Code disabled parallel use.
//! - Reasoning models (see [`is_reasoning_model`]): `reasoning.effort` from the thinking
//!   budget (`enabled`) or `output_config.effort` (`adaptive`, or no thinking setting),
//!   none when thinking is disabled; `reasoning.summary: auto` when Claude Code asked for
//!   thinking it displays (not for `display: "omitted"`); always
//!   `include: ["reasoning.encrypted_content"]` so the reasoning can go back next turn.
//!   `temperature` and `top_p` are not sent to them.
//! - Always `store: false`: the whole conversation travels in every request and nothing is
//!   kept upstream. `max_output_tokens` is `max_tokens`, at least 16 (the API's minimum).
//! - Not carried (and listed in `dropped`): stop sequences (the API has none), `top_k`.

use crate::anthropic::error::ApiError;
use crate::anthropic::request::{Thinking, push_paragraph};
use crate::conversation::{
    AssistantPart, Conversation, Item, Media, Part, Pdf, ToolChoice as NeutralChoice, ToolResult,
};
use crate::translate::tool_names::ToolNames;

use super::wire::{
    ContentPart, Effort, FunctionOutput, FunctionTool, INCLUDE_ENCRYPTED_REASONING, InputItem,
    ReasoningConfig, ResponsesRequest, Role, SummaryMode, SummaryText, ToolChoice, ToolChoiceMode,
};

/// The smallest `max_output_tokens` the API accepts.
pub const MIN_OUTPUT_TOKENS: u64 = 16;

/// What a result that returned nothing is sent as.
pub const EMPTY_RESULT: &str = "(no output)";

/// The request, and what reading its answer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// The request body.
    pub body: ResponsesRequest,
    /// The tool names shortened for it.
    pub tool_names: ToolNames,
    /// What was not sent.
    pub dropped: Vec<String>,
}

/// Whether an OpenAI model id names a reasoning model (the `o` series and the gpt-5 family
/// but its chat models): it takes `reasoning`, returns encrypted reasoning, and rejects
/// `temperature` and `top_p`.
pub fn is_reasoning_model(model: &str) -> bool {
    let id = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let o_series = id.starts_with('o') && id[1..].starts_with(|c: char| c.is_ascii_digit());
    (o_series || id.starts_with("gpt-5") || id.starts_with("codex"))
        && !id.starts_with("gpt-5-chat")
}

/// Encodes `conv` for `model`; `signature_tag` names the envelopes of this provider's
/// encrypted reasoning (see [`crate::dialect::signature::Signature`]).
pub fn encode(conv: &Conversation, model: &str, signature_tag: &str) -> Result<Encoded, ApiError> {
    let reasoning_model = is_reasoning_model(model);
    let mut cx = Cx {
        names: ToolNames::default(),
        dropped: conv.dropped.clone(),
        tag: signature_tag,
        reasoning_model,
    };
    let tools: Vec<FunctionTool> = conv
        .tools
        .iter()
        .map(|t| {
            FunctionTool::new(
                cx.names.upstream_name(&t.name),
                t.description.clone(),
                t.parameters.clone(),
            )
        })
        .collect();
    let tool_choice = if tools.is_empty() {
        None
    } else {
        conv.tool_choice.as_ref().map(|choice| match choice {
            NeutralChoice::Auto => ToolChoice::Mode(ToolChoiceMode::Auto),
            NeutralChoice::Any => ToolChoice::Mode(ToolChoiceMode::Required),
            NeutralChoice::None => ToolChoice::Mode(ToolChoiceMode::None),
            NeutralChoice::Tool(name) => ToolChoice::function(cx.names.upstream_name(name)),
        })
    };
    let parallel_tool_calls = (!tools.is_empty() && !conv.parallel_tool_calls).then_some(false);

    let mut input = Vec::with_capacity(conv.items.len() + 1);
    for item in &conv.items {
        match item {
            Item::System(text) => input.push(InputItem::Message {
                role: Role::Developer,
                content: vec![ContentPart::InputText { text: text.clone() }],
            }),
            Item::User(parts) => {
                let content = user_parts(parts);
                if !content.is_empty() {
                    input.push(InputItem::Message {
                        role: Role::User,
                        content,
                    });
                }
            }
            Item::Assistant(parts) => assistant_items(&mut cx, parts, &mut input),
            Item::ToolResult(result) => input.push(tool_output(result)),
        }
    }

    let (reasoning, include) = if reasoning_model {
        let summary = wants_summary(conv.thinking.as_ref()).then_some(SummaryMode::Auto);
        let effort = effort(&mut cx, conv);
        let config =
            (effort.is_some() || summary.is_some()).then_some(ReasoningConfig { effort, summary });
        (config, vec![INCLUDE_ENCRYPTED_REASONING.to_owned()])
    } else {
        if conv.thinking_requested() {
            cx.drop("thinking (the model does not reason)");
        }
        (None, Vec::new())
    };
    let (temperature, top_p) = if reasoning_model {
        for (present, name) in [
            (conv.temperature.is_some(), "temperature"),
            (conv.top_p.is_some(), "top_p"),
        ] {
            if present {
                cx.drop(format!("{name} (not accepted by reasoning models)"));
            }
        }
        (None, None)
    } else {
        (conv.temperature, conv.top_p)
    };
    if conv.top_k.is_some() {
        cx.drop("top_k");
    }
    if !conv.stop_sequences.is_empty() {
        cx.drop("stop_sequences (the Responses API has none)");
    }

    Ok(Encoded {
        body: ResponsesRequest {
            model: model.to_owned(),
            instructions: (!conv.system.is_empty()).then(|| conv.system.clone()),
            input,
            tools,
            tool_choice,
            parallel_tool_calls,
            max_output_tokens: conv.max_tokens.map(|n| n.max(MIN_OUTPUT_TOKENS)),
            reasoning,
            temperature,
            top_p,
            store: false,
            include,
            stream: conv.stream.unwrap_or(false),
        },
        tool_names: cx.names,
        dropped: cx.dropped,
    })
}

struct Cx<'a> {
    names: ToolNames,
    dropped: Vec<String>,
    tag: &'a str,
    reasoning_model: bool,
}

impl Cx<'_> {
    fn drop(&mut self, what: impl Into<String>) {
        let what = what.into();
        if !self.dropped.contains(&what) {
            self.dropped.push(what);
        }
    }
}

/// Whether to ask for reasoning summaries: when Claude Code asked for thinking it shows.
fn wants_summary(thinking: Option<&Thinking>) -> bool {
    match thinking {
        Some(Thinking::Enabled { display, .. } | Thinking::Adaptive { display }) => {
            display.as_deref() != Some("omitted")
        }
        _ => false,
    }
}

/// `reasoning.effort`: from the budget of `enabled` thinking, otherwise from
/// `output_config.effort`; none when thinking is disabled (the model's default applies).
fn effort(cx: &mut Cx<'_>, conv: &Conversation) -> Option<Effort> {
    match &conv.thinking {
        Some(Thinking::Enabled { budget_tokens, .. }) => Some(match budget_tokens {
            Some(b) if *b < 4_096 => Effort::Low,
            Some(b) if *b < 16_384 => Effort::Medium,
            Some(_) => Effort::High,
            None => Effort::Medium,
        }),
        Some(Thinking::Disabled) => None,
        _ => {
            let effort = conv.effort.as_deref()?;
            let mapped = match effort {
                "minimal" => Some(Effort::Minimal),
                "low" => Some(Effort::Low),
                "medium" => Some(Effort::Medium),
                "high" | "xhigh" | "max" => Some(Effort::High),
                _ => None,
            };
            if mapped.is_none() {
                cx.drop(format!("output_config.effort {effort:?} (unknown)"));
            }
            mapped
        }
    }
}

fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

fn image(media: &Media) -> ContentPart {
    ContentPart::image(match media {
        Media::Base64 { media_type, data } => data_url(media_type, data),
        Media::Url(url) => url.clone(),
    })
}

fn pdf(doc: &Pdf) -> ContentPart {
    match &doc.source {
        Media::Base64 { media_type, data } => ContentPart::InputFile {
            filename: Some(
                doc.title
                    .as_deref()
                    .map(|t| {
                        if t.to_ascii_lowercase().ends_with(".pdf") {
                            t.to_owned()
                        } else {
                            format!("{t}.pdf")
                        }
                    })
                    .unwrap_or_else(|| "document.pdf".to_owned()),
            ),
            file_data: Some(data_url(media_type, data)),
            file_url: None,
        },
        Media::Url(url) => ContentPart::InputFile {
            filename: None,
            file_data: None,
            file_url: Some(url.clone()),
        },
    }
}

fn user_parts(parts: &[Part]) -> Vec<ContentPart> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Part::Text(text) => out.push(ContentPart::InputText { text: text.clone() }),
            Part::Image(media) => out.push(image(media)),
            Part::Pdf(doc) => {
                if !doc.heading.is_empty() {
                    out.push(ContentPart::InputText {
                        text: doc.heading.clone(),
                    });
                }
                out.push(pdf(doc));
            }
        }
    }
    out
}

fn assistant_items(cx: &mut Cx<'_>, parts: &[AssistantPart], input: &mut Vec<InputItem>) {
    let mut text = String::new();
    let flush = |text: &mut String, input: &mut Vec<InputItem>| {
        if !text.is_empty() {
            input.push(InputItem::Message {
                role: Role::Assistant,
                content: vec![ContentPart::OutputText {
                    text: std::mem::take(text),
                }],
            });
        }
    };
    for part in parts {
        match part {
            AssistantPart::Text(t) => push_paragraph(&mut text, t),
            AssistantPart::Thinking {
                text: thought,
                signature,
            } => match signature.provider_data(cx.tag) {
                Some(encrypted) if cx.reasoning_model => {
                    flush(&mut text, input);
                    let summary = if thought.is_empty() {
                        Vec::new()
                    } else {
                        vec![SummaryText::new(thought.clone())]
                    };
                    input.push(InputItem::Reasoning {
                        summary,
                        encrypted_content: Some(encrypted.to_owned()),
                    });
                }
                Some(_) => cx.drop("earlier reasoning (the model does not reason)"),
                None => cx.drop("thinking not made by this provider (not sent back)"),
            },
            AssistantPart::ToolCall(call) => {
                flush(&mut text, input);
                input.push(InputItem::FunctionCall {
                    call_id: call.id.clone(),
                    name: cx.names.upstream_name(&call.name),
                    arguments: call.input.to_string(),
                });
            }
        }
    }
    flush(&mut text, input);
}

fn tool_output(result: &ToolResult) -> InputItem {
    let mut text = result.text();
    if result.is_error {
        text = format!(
            "Error: {}",
            if text.is_empty() {
                "(no details)"
            } else {
                &text
            }
        );
    }
    let files: Vec<ContentPart> = result
        .content
        .iter()
        .filter_map(|part| match part {
            Part::Text(_) => None,
            Part::Image(media) => Some(image(media)),
            Part::Pdf(doc) => Some(pdf(doc)),
        })
        .collect();
    let output = if files.is_empty() {
        if text.is_empty() {
            text.push_str(EMPTY_RESULT);
        }
        FunctionOutput::Text(text)
    } else {
        let mut parts = Vec::with_capacity(files.len() + 1);
        if !text.is_empty() {
            parts.push(ContentPart::InputText { text });
        }
        parts.extend(files);
        FunctionOutput::Parts(parts)
    };
    InputItem::FunctionCallOutput {
        call_id: result.call_id.clone(),
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::request::MessagesRequest;
    use crate::dialect::signature::Signature;
    use serde_json::{Value, json};

    const TAG: &str = "responses@openai";

    fn encode_json(req: Value, model: &str) -> (Value, Encoded) {
        let parsed: MessagesRequest = serde_json::from_value(req).unwrap();
        let conv = Conversation::from_request(&parsed).unwrap();
        let encoded = encode(&conv, model, TAG).unwrap();
        (serde_json::to_value(&encoded.body).unwrap(), encoded)
    }

    #[test]
    fn a_tool_round_trip_with_reasoning() {
        let envelope = Signature::provider(TAG, "gAAAA-encrypted").encode();
        let foreign = Signature::provider("responses@azure", "other").encode();
        let long =
            "mcp__github__create_pull_request_review_comment_with_suggestion_and_thread_resolution";
        let req = json!({
            "model": "openai/gpt-5", "max_tokens": 32000, "stream": true,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1\nYou are Claude Code."}],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "temperature": 1, "stop_sequences": ["END"],
            "tools": [
                {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
                {"name": long, "input_schema": {"type": "object", "properties": {}}}
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "list files"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "I should run ls", "signature": envelope},
                    {"type": "thinking", "thinking": "elsewhere", "signature": foreign},
                    {"type": "text", "text": "Running it."},
                    {"type": "tool_use", "id": "call_abc", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "call_def", "name": long, "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_abc", "content": "a.txt\nb.txt"},
                    {"type": "tool_result", "tool_use_id": "call_def", "is_error": true, "content": [
                        {"type": "text", "text": "denied"},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}]},
                    {"type": "text", "text": "thanks"}
                ]},
                {"role": "system", "content": "Be brief."}
            ]
        });
        let (body, encoded) = encode_json(req, "gpt-5");
        let short = encoded.body.tools[1].name.clone();
        assert!(short.len() <= 64 && short != long);
        assert_eq!(encoded.tool_names.original(&short), long);
        assert_eq!(
            body,
            json!({
                "model": "gpt-5",
                "instructions": "You are Claude Code.",
                "input": [
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_text", "text": "list files"},
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"}]},
                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "I should run ls"}], "encrypted_content": "gAAAA-encrypted"},
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running it."}]},
                    {"type": "function_call", "call_id": "call_abc", "name": "Bash", "arguments": "{\"command\":\"ls\"}"},
                    {"type": "function_call", "call_id": "call_def", "name": short, "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_abc", "output": "a.txt\nb.txt"},
                    {"type": "function_call_output", "call_id": "call_def", "output": [
                        {"type": "input_text", "text": "Error: denied"},
                        {"type": "input_image", "image_url": "https://example.com/x.png", "detail": "auto"}]},
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
                    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]}
                ],
                "tools": [
                    {"type": "function", "name": "Bash", "description": "Run a command",
                     "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}, "strict": false},
                    {"type": "function", "name": short, "parameters": {"type": "object", "properties": {}}, "strict": false}
                ],
                "max_output_tokens": 32000,
                "reasoning": {"effort": "high", "summary": "auto"},
                "store": false,
                "include": ["reasoning.encrypted_content"],
                "stream": true
            })
        );
        for what in [
            "thinking not made by this provider (not sent back)",
            "temperature (not accepted by reasoning models)",
            "stop_sequences (the Responses API has none)",
        ] {
            assert!(
                encoded.dropped.iter().any(|d| d == what),
                "{what}: {:?}",
                encoded.dropped
            );
        }
    }

    #[test]
    fn settings_per_model_and_thinking() {
        let base = |extra: Value| {
            let mut req = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]});
            req.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            req
        };
        // A model that does not reason: sampling kept, no reasoning, no include.
        let (body, encoded) = encode_json(
            base(
                json!({"temperature": 0.5, "thinking": {"type": "enabled", "budget_tokens": 2000}}),
            ),
            "gpt-4.1",
        );
        assert_eq!(body["temperature"], 0.5);
        assert!(body.get("reasoning").is_none() && body.get("include").is_none());
        assert_eq!(body["max_output_tokens"], 16, "raised to the API's minimum");
        assert_eq!(body["stream"], false);
        assert!(
            encoded
                .dropped
                .iter()
                .any(|d| d.contains("does not reason"))
        );
        // Budgets map to efforts; omitted display asks for no summary; disabled sends none.
        for (thinking, want) in [
            (
                json!({"type": "enabled", "budget_tokens": 2000}),
                json!({"effort": "low", "summary": "auto"}),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 10000}),
                json!({"effort": "medium", "summary": "auto"}),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 31999}),
                json!({"effort": "high", "summary": "auto"}),
            ),
            (
                json!({"type": "adaptive", "display": "omitted"}),
                json!({"effort": "low"}),
            ),
        ] {
            let (body, _) = encode_json(
                base(json!({"thinking": thinking, "output_config": {"effort": "low"}})),
                "o3",
            );
            assert_eq!(body["reasoning"], want, "{thinking}");
            assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
        }
        let (body, _) = encode_json(
            base(json!({"thinking": {"type": "disabled"}})),
            "gpt-5-codex",
        );
        assert!(body.get("reasoning").is_none());
        // tool_choice any/tool/none and disabled parallel use.
        let tools = json!([{"name": "Bash", "input_schema": {"type": "object", "properties": {}}}]);
        for (choice, want) in [
            (
                json!({"type": "any", "disable_parallel_tool_use": true}),
                json!("required"),
            ),
            (
                json!({"type": "tool", "name": "Bash"}),
                json!({"type": "function", "name": "Bash"}),
            ),
            (json!({"type": "none"}), json!("none")),
        ] {
            let (body, _) = encode_json(
                base(json!({"tools": tools, "tool_choice": choice})),
                "gpt-5",
            );
            assert_eq!(body["tool_choice"], want);
        }
        let (body, _) = encode_json(
            base(
                json!({"tools": tools, "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}}),
            ),
            "gpt-5",
        );
        assert_eq!(body["parallel_tool_calls"], false);
    }

    #[test]
    fn pdfs_and_reasoning_for_a_model_that_does_not_reason() {
        let envelope = Signature::provider(TAG, "enc").encode();
        let req = json!({"model": "m", "max_tokens": 100, "messages": [
            {"role": "user", "content": [{"type": "document", "title": "Spec", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}},
                                         {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": envelope}, {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "go on"}
        ]});
        let (body, _) = encode_json(req, "gpt-4o");
        let content = &body["input"][0]["content"];
        assert_eq!(
            content[0],
            json!({"type": "input_text", "text": "Document: Spec"})
        );
        assert_eq!(
            content[1],
            json!({"type": "input_file", "filename": "Spec.pdf", "file_data": "data:application/pdf;base64,JVBER"})
        );
        assert_eq!(
            content[2],
            json!({"type": "input_file", "file_url": "https://example.com/a.pdf"})
        );
        // No reasoning item for a model that cannot take it.
        assert_eq!(body["input"][1]["type"], "message");
        assert_eq!(body["input"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn reasoning_model_names() {
        for yes in [
            "gpt-5",
            "gpt-5-codex",
            "gpt-5.1-codex-max",
            "gpt-5-mini",
            "o1",
            "o3-pro",
            "o4-mini",
            "codex-mini-latest",
            "openai/gpt-5",
        ] {
            assert!(is_reasoning_model(yes), "{yes}");
        }
        for no in [
            "gpt-5-chat-latest",
            "gpt-4.1",
            "gpt-4o",
            "omni-moderation",
            "o",
            "ollama",
        ] {
            assert!(!is_reasoning_model(no), "{no}");
        }
    }
}

//! The pass-through's outbound body: Claude Code's request as sent, with the model
//! replaced and only what the upstream would reject taken out, following the preset's
//! [`MessagesProfile`] (Anthropic itself takes everything; the Anthropic-compatible hosts a
//! documented subset).
//!
//! Whatever the upstream, a conversation that crossed backends (`/model` mid-session) is
//! made acceptable here:
//! - thinking and `redacted_thinking` blocks are sent only to the backend that made them:
//!   Anthropic gets its own (signatures that are not anyclaude's); a host gets those wrapped
//!   in its own `messages@<host>` envelope, unwrapped. Every other one (anyclaude's own
//!   signature, another provider's envelope, another host's, Anthropic's on a host) is
//!   dropped: the backend would reject the signature.
//! - a message left empty by that is dropped (the Messages API merges the neighbours);
//! - when thinking is on and the last assistant turn of an unfinished tool loop lost its
//!   leading thinking block, thinking is turned off for this request (the API requires that
//!   turn to start with one);
//! - tool ids that do not match `^[a-zA-Z0-9_-]+$` (another backend's) are rewritten, the
//!   same way in `tool_use.id` and `tool_result.tool_use_id`.

use serde_json::{Map, Value, json};

use crate::anthropic::{ApiError, ErrorKind};
use crate::dialect::signature::Signature;
use crate::provider::MessagesProfile;
use crate::translate::tool_names::{fnv1a, sanitize_id};

/// The body for the upstream, and what was left out (for the debug log).
pub fn outbound_body(
    raw: &[u8],
    model: &str,
    profile: &MessagesProfile,
) -> Result<(Vec<u8>, Vec<String>), ApiError> {
    let mut body: Map<String, Value> = serde_json::from_slice(raw)
        .map_err(|e| ApiError::new(ErrorKind::InvalidRequest, format!("invalid JSON: {e}")))?;
    let mut dropped = Vec::new();
    body.insert("model".into(), Value::String(model.to_owned()));
    for field in profile.drop_fields {
        if body.remove(*field).is_some() {
            dropped.push(format!("field {field}"));
        }
    }
    if let Some(keys) = profile.output_config_keys
        && let Some(config) = body.get_mut("output_config").and_then(Value::as_object_mut)
    {
        config.retain(|k, _| {
            let keep = keys.contains(&k.as_str());
            if !keep {
                dropped.push(format!("output_config.{k}"));
            }
            keep
        });
        if config.is_empty() {
            body.remove("output_config");
        }
    }
    if let Some(types) = profile.thinking_types
        && let Some(kind) = body
            .get("thinking")
            .map(|t| t["type"].as_str().unwrap_or("").to_owned())
        && !types.contains(&kind.as_str())
    {
        // Adaptive thinking (the model decides how much) is, for a host, thinking with a
        // budget: half the output limit, at least the API's minimum of 1024 tokens.
        let max_tokens = body.get("max_tokens").and_then(Value::as_u64).unwrap_or(0);
        if kind == "adaptive" && types.contains(&"enabled") && max_tokens > 2048 {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": (max_tokens / 2).min(32_000)}),
            );
        } else {
            dropped.push(format!("thinking of type {kind:?}"));
            body.remove("thinking");
        }
    }
    if profile.custom_tools_only
        && let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut)
    {
        tools.retain(|t| {
            let custom = matches!(t.get("type").and_then(Value::as_str), None | Some("custom"));
            if !custom {
                dropped.push(format!("server tool {}", t["type"].as_str().unwrap_or("?")));
            }
            custom
        });
        if tools.is_empty() {
            body.remove("tools");
            body.remove("tool_choice");
        }
    }
    if profile.strip_cache_control {
        let mut any = false;
        for key in ["system", "tools"] {
            if let Some(list) = body.get_mut(key).and_then(Value::as_array_mut) {
                for item in list {
                    any |= strip_cache_control(item);
                }
            }
        }
        if let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) {
            for message in messages {
                if let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) {
                    for block in blocks {
                        any |= strip_cache_control(block);
                        if let Some(inner) = block.get_mut("content").and_then(Value::as_array_mut)
                        {
                            for b in inner {
                                any |= strip_cache_control(b);
                            }
                        }
                    }
                }
            }
        }
        if any {
            dropped.push("cache_control".into());
        }
    }
    if let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) {
        for message in messages.iter_mut() {
            if let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) {
                filter_blocks(blocks, profile, &mut dropped);
            }
        }
        let before = messages.len();
        messages.retain(|m| {
            m.get("content")
                .and_then(Value::as_array)
                .is_none_or(|c| !c.is_empty())
        });
        if messages.len() < before {
            dropped.push(format!("{} emptied message(s)", before - messages.len()));
        }
        if !profile.system_turns {
            merge_system_turns(messages, &mut dropped);
        }
        if thinking_on(&body) && open_tool_turn_lacks_thinking(&body) {
            body.remove("thinking");
            dropped.push("thinking (the open tool turn has no thinking of this backend)".into());
        }
    }
    let bytes =
        serde_json::to_vec(&body).map_err(|e| ApiError::new(ErrorKind::Api, e.to_string()))?;
    Ok((bytes, dropped))
}

/// `role: "system"` turns become user text in a `<system-reminder>`, and neighbouring
/// turns of one role are merged into one.
fn merge_system_turns(messages: &mut Vec<Value>, dropped: &mut Vec<String>) {
    let blocks_of = |content: &Value| -> Vec<Value> {
        match content {
            Value::String(text) => vec![json!({"type": "text", "text": text})],
            Value::Array(blocks) => blocks.clone(),
            _ => Vec::new(),
        }
    };
    let mut merged: Vec<Value> = Vec::with_capacity(messages.len());
    for mut message in std::mem::take(messages) {
        if message["role"] == "system" {
            let text: Vec<String> = blocks_of(&message["content"])
                .iter()
                .filter_map(|b| b["text"].as_str().map(str::to_owned))
                .collect();
            dropped.push("system turn (sent as a user reminder)".into());
            message = json!({"role": "user", "content": [{"type": "text",
                "text": format!("<system-reminder>\n{}\n</system-reminder>", text.join("\n"))}]});
        }
        match merged.last_mut() {
            Some(last) if last["role"] == message["role"] => {
                let mut blocks = blocks_of(&last["content"]);
                blocks.extend(blocks_of(&message["content"]));
                last["content"] = Value::Array(blocks);
            }
            _ => merged.push(message),
        }
    }
    *messages = merged;
}

/// Removes a block's own `cache_control`; whether there was one.
fn strip_cache_control(block: &mut Value) -> bool {
    block
        .as_object_mut()
        .is_some_and(|b| b.remove("cache_control").is_some())
}

/// Filters and rewrites one message's blocks (see the module documentation).
fn filter_blocks(blocks: &mut Vec<Value>, profile: &MessagesProfile, dropped: &mut Vec<String>) {
    let host = profile.signature_tag;
    blocks.retain_mut(|block| {
        let kind = block["type"].as_str().unwrap_or("").to_owned();
        match kind.as_str() {
            "thinking" | "redacted_thinking" => {
                let field = if kind == "thinking" {
                    "signature"
                } else {
                    "data"
                };
                let text = block["thinking"].as_str().unwrap_or("");
                let signature = Signature::decode(block[field].as_str().unwrap_or(""), text);
                let keep = match host {
                    None => !signature.is_anyclaudes(),
                    Some(tag) => {
                        if let Some(data) = signature.provider_data(tag) {
                            block[field] = Value::String(data.to_owned());
                            true
                        } else {
                            false
                        }
                    }
                };
                if !keep {
                    dropped.push(format!("{kind} block of another backend"));
                }
                keep
            }
            "server_tool_use"
            | "web_search_tool_result"
            | "web_fetch_tool_result"
            | "code_execution_tool_result"
            | "bash_code_execution_tool_result"
            | "text_editor_code_execution_tool_result"
            | "mcp_tool_use"
            | "mcp_tool_result"
            | "container_upload"
                if profile.custom_tools_only =>
            {
                dropped.push(format!("{kind} block"));
                false
            }
            "tool_use" => {
                rewrite_id(block, "id");
                true
            }
            "tool_result" => {
                rewrite_id(block, "tool_use_id");
                if let Some(inner) = block.get_mut("content").and_then(Value::as_array_mut) {
                    for b in inner.iter_mut() {
                        replace_unsupported(b, profile, dropped);
                    }
                }
                true
            }
            _ => {
                replace_unsupported(block, profile, dropped);
                true
            }
        }
    });
}

/// An image, document or search result the host does not take becomes a short note.
fn replace_unsupported(block: &mut Value, profile: &MessagesProfile, dropped: &mut Vec<String>) {
    let what = match block["type"].as_str() {
        Some("image") if !profile.images => "an image",
        Some("document") if !profile.documents => "a document",
        Some("search_result") if !profile.documents => "a search result",
        _ => return,
    };
    dropped.push(format!("{what} (replaced by a note)"));
    *block = json!({
        "type": "text",
        "text": format!("[{what} was attached here; this model cannot read it]"),
    });
}

/// A tool id valid for the Messages API (`^[a-zA-Z0-9_-]+$`): kept when it is, else
/// sanitised with a hash of the original (distinct ids stay distinct).
pub(crate) fn rewrite_id(block: &mut Value, field: &str) {
    let Some(id) = block.get(field).and_then(Value::as_str) else {
        return;
    };
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return;
    }
    let hash = fnv1a(id.as_bytes());
    let fixed = format!("{}_{:08x}", sanitize_id(id, hash), hash & 0xffff_ffff);
    block[field] = Value::String(fixed);
}

fn thinking_on(body: &Map<String, Value>) -> bool {
    matches!(
        body.get("thinking").and_then(|t| t["type"].as_str()),
        Some("enabled" | "adaptive")
    )
}

/// Whether the conversation ends inside a tool loop (the last assistant turn has tool
/// calls and only tool results follow it) whose assistant turn does not start with a
/// thinking block.
fn open_tool_turn_lacks_thinking(body: &Map<String, Value>) -> bool {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return false;
    };
    let Some(last_assistant) = messages.iter().rposition(|m| m["role"] == "assistant") else {
        return false;
    };
    let blocks = |m: &Value| m["content"].as_array().cloned().unwrap_or_default();
    let turn = blocks(&messages[last_assistant]);
    let has_calls = turn.iter().any(|b| b["type"] == "tool_use");
    let only_results_follow = messages[last_assistant + 1..].iter().all(|m| {
        m["role"] == "user"
            && blocks(m).iter().all(|b| b["type"] == "tool_result")
            && !blocks(m).is_empty()
    });
    let starts_with_thinking = matches!(
        turn.first().and_then(|b| b["type"].as_str()),
        Some("thinking" | "redacted_thinking")
    );
    has_calls && only_results_follow && !starts_with_thinking
}

/// The `anthropic-beta` value to send: all of it (`None` in the profile), or only the
/// listed values; `None` when nothing remains.
pub fn betas(sent: &str, profile: &MessagesProfile) -> Option<String> {
    match profile.betas {
        None => Some(sent.to_owned()),
        Some(allowed) => {
            let kept: Vec<&str> = sent
                .split(',')
                .map(str::trim)
                .filter(|b| allowed.contains(b))
                .collect();
            (!kept.is_empty()).then(|| kept.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::preset;

    fn out(raw: &Value, profile: &MessagesProfile) -> (Value, Vec<String>) {
        let (bytes, dropped) =
            outbound_body(raw.to_string().as_bytes(), "host-model", profile).unwrap();
        (serde_json::from_slice(&bytes).unwrap(), dropped)
    }

    fn types(message: &Value) -> Vec<&str> {
        message["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect()
    }

    fn mixed_history() -> Value {
        json!({
            "model": "x/y", "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "mine", "signature": Signature::ours("mine")},
                    {"type": "thinking", "thinking": "gem", "signature":
                        Signature::provider("gemini", "c2ln").encode()},
                    {"type": "thinking", "thinking": "kimi", "signature":
                        Signature::provider("messages@kimi", "kimi-sig").encode()},
                    {"type": "redacted_thinking", "data":
                        Signature::provider("messages@kimi", "kimi-red").encode()},
                    {"type": "thinking", "thinking": "real", "signature": "EqQBCkYIBx"},
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
                    {"type": "text", "text": "answer"}]},
                {"role": "user", "content": "next"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "alone", "signature": Signature::ours("alone")}]},
                {"role": "user", "content": "again"}
            ]
        })
    }

    #[test]
    fn anthropic_gets_only_its_own_thinking() {
        let (body, dropped) = out(&mixed_history(), &MessagesProfile::ANTHROPIC);
        assert_eq!(body["model"], "host-model");
        assert_eq!(
            types(&body["messages"][1]),
            ["thinking", "redacted_thinking", "text"]
        );
        assert_eq!(body["messages"][1]["content"][0]["signature"], "EqQBCkYIBx");
        assert_eq!(body["messages"][1]["content"][1]["data"], "EmwKAhgBEgy");
        // The assistant turn of nothing but our thinking is gone; the users' turns merge.
        assert_eq!(body["messages"].as_array().unwrap().len(), 4);
        assert_eq!(body["messages"][3]["content"], "again");
        assert!(dropped.iter().any(|d| d.contains("emptied")), "{dropped:?}");
    }

    #[test]
    fn a_host_gets_only_its_own_thinking_unwrapped() {
        let kimi = preset("kimi").unwrap().messages;
        let (body, _) = out(&mixed_history(), &kimi);
        assert_eq!(
            types(&body["messages"][1]),
            ["thinking", "redacted_thinking", "text"]
        );
        assert_eq!(body["messages"][1]["content"][0]["signature"], "kimi-sig");
        assert_eq!(body["messages"][1]["content"][1]["data"], "kimi-red");
        let zai = preset("zai").unwrap().messages;
        let (body, _) = out(&mixed_history(), &zai);
        assert_eq!(
            types(&body["messages"][1]),
            ["text"],
            "nothing of Kimi's to GLM"
        );
    }

    #[test]
    fn host_profiles_take_out_what_the_host_rejects() {
        let raw = json!({
            "model": "x/y", "max_tokens": 100, "stream": true,
            "metadata": {"user_id": "u"},
            "context_management": {"edits": []},
            "output_config": {"effort": "high", "format": {"type": "json"}},
            "thinking": {"type": "adaptive"},
            "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "scope": "global"}}],
            "tools": [
                {"name": "Bash", "input_schema": {"type": "object", "properties": {"cache_control": {"type": "string"}}},
                 "cache_control": {"type": "ephemeral"}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}]}]
        });
        let deepseek = preset("deepseek-anthropic").unwrap().messages;
        let (body, dropped) = out(&raw, &deepseek);
        assert_eq!(body["output_config"], json!({"effort": "high"}));
        assert_eq!(body["metadata"], json!({"user_id": "u"}));
        assert!(body.get("context_management").is_none());
        assert!(
            body.get("thinking").is_none(),
            "adaptive with too small an output limit for a budget"
        );
        assert!(body["system"][0].get("cache_control").is_none());
        assert_eq!(body["tools"].as_array().unwrap().len(), 1);
        assert!(body["tools"][0].get("cache_control").is_none());
        assert_eq!(
            body["tools"][0]["input_schema"]["properties"]["cache_control"],
            json!({"type": "string"}),
            "a property named cache_control is the tool's own"
        );
        assert_eq!(types(&body["messages"][0]), ["text", "text", "text"]);
        assert!(body["messages"][0].to_string().contains("an image"));
        assert!(!dropped.is_empty());

        let kimi = preset("kimi").unwrap().messages;
        let (body, _) = out(&raw, &kimi);
        assert!(body.get("output_config").is_none() && body.get("metadata").is_none());
        assert_eq!(types(&body["messages"][0]), ["text", "image", "text"]);

        let (body, dropped) = out(&raw, &MessagesProfile::ANTHROPIC);
        let mut expected = raw.clone();
        expected["model"] = json!("host-model");
        assert_eq!(body, expected, "Anthropic gets everything");
        assert!(dropped.is_empty());
    }

    #[test]
    fn a_host_gets_system_turns_as_user_reminders_and_adaptive_thinking_as_enabled() {
        let raw = json!({
            "model": "x/y", "max_tokens": 32000, "thinking": {"type": "adaptive", "display": "updates"},
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "system", "content": "be brief"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": [{"type": "text", "text": "again"}]},
                {"role": "system", "content": [{"type": "text", "text": "late"}]}]
        });
        let kimi = preset("kimi").unwrap().messages;
        let (body, _) = out(&raw, &kimi);
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 16000})
        );
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(
            body["messages"][0]["content"],
            json!([{"type": "text", "text": "hi"},
                   {"type": "text", "text": "<system-reminder>\nbe brief\n</system-reminder>"}])
        );
        assert_eq!(types(&body["messages"][2]), ["text", "text"]);
        let (body, _) = out(&raw, &MessagesProfile::ANTHROPIC);
        assert_eq!(
            body["messages"], raw["messages"],
            "Anthropic takes system turns"
        );
        assert_eq!(body["thinking"], raw["thinking"]);
    }

    #[test]
    fn foreign_tool_ids_are_rewritten_consistently() {
        let raw = json!({
            "model": "x/y", "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {}},
                    {"type": "tool_use", "id": "functions_Bash_0", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "functions.Bash:0", "content": "a"},
                    {"type": "tool_result", "tool_use_id": "functions_Bash_0", "content": "b"}]}]
        });
        let (body, _) = out(&raw, &MessagesProfile::ANTHROPIC);
        let call = body["messages"][1]["content"][0]["id"].as_str().unwrap();
        assert!(call.starts_with("functions_Bash_0_"), "{call}");
        assert_eq!(body["messages"][2]["content"][0]["tool_use_id"], call);
        assert_eq!(body["messages"][1]["content"][1]["id"], "functions_Bash_0");
        assert_eq!(
            body["messages"][2]["content"][1]["tool_use_id"],
            "functions_Bash_0"
        );
    }

    #[test]
    fn thinking_is_turned_off_when_the_open_tool_turn_lost_its_thinking() {
        let raw = |sig: String| {
            json!({
                "model": "x/y", "max_tokens": 100, "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "t", "signature": sig},
                        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a"}]}]
            })
        };
        let (body, _) = out(&raw(Signature::ours("t")), &MessagesProfile::ANTHROPIC);
        assert!(body.get("thinking").is_none());
        assert_eq!(types(&body["messages"][1]), ["tool_use"]);
        let (body, _) = out(&raw("EqQBreal".into()), &MessagesProfile::ANTHROPIC);
        assert_eq!(
            body["thinking"]["type"], "enabled",
            "its own thinking stays"
        );
    }

    #[test]
    fn beta_values_follow_the_profile() {
        let sent = "claude-code-20250219,interleaved-thinking-2025-05-14";
        assert_eq!(
            betas(sent, &MessagesProfile::ANTHROPIC).as_deref(),
            Some(sent)
        );
        assert_eq!(betas(sent, &MessagesProfile::HOST), None);
        let some = MessagesProfile {
            betas: Some(&["interleaved-thinking-2025-05-14"]),
            ..MessagesProfile::HOST
        };
        assert_eq!(
            betas(sent, &some).as_deref(),
            Some("interleaved-thinking-2025-05-14")
        );
    }
}

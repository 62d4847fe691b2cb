//! The Anthropic-compatible hosts (`kimi/`, `zai/`, `minimax/`, `deepseek-anthropic/`) and
//! `anthropic/` over real sockets, against scripted Messages upstreams that reject what the
//! real servers reject: a thinking signature they did not issue, a tool id outside
//! `^[a-zA-Z0-9_-]+$`, a final tool turn without its thinking while thinking is on, and —
//! for a host — the fields, beta header, server tools, cache scopes, thinking types and
//! images it does not take. Every stream read back is checked against the writer's rules.
//! Also here: a session that moves between every dialect with `/model`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use anyclaude::anthropic::stream::{Delta, Event};
use anyclaude::anthropic::writer::check_events;
use anyclaude::dialect::signature::Signature;

use crate::gemini::blocks;
use crate::harness::event;
use crate::harness::{Ev, TOKEN, TestProxy, parse_sse, test_timeouts};
use crate::scripted::{Received, Reply, Step, Upstream};

/// Streams a request and checks the writer's rules on every event read back; Anthropic's
/// own signatures (which only Anthropic can verify) count as a provider's state.
pub async fn stream_events(proxy: &TestProxy, body: &Value) -> Vec<Ev> {
    let resp = proxy.messages(body).await;
    assert_eq!(resp.status(), 200, "{body}");
    let events = parse_sse(&resp.text().await.unwrap());
    check(&events);
    events
}

/// The writer's rules on a pass-through stream read back.
pub fn check(events: &[Ev]) {
    let typed: Vec<Event> = events
        .iter()
        .map(|e| match event(e) {
            Event::BlockDelta {
                index,
                delta: Delta::Signature(s),
            } if Signature::decode(&s, "") == Signature::Foreign => Event::BlockDelta {
                index,
                delta: Delta::Signature(Signature::provider("anthropic", &s).encode()),
            },
            other => other,
        })
        .collect();
    check_events(&typed, true).unwrap_or_else(|e| panic!("{e}: {events:#?}"));
}

/// What a scripted Messages server accepts.
#[derive(Clone, Debug)]
pub struct Strict {
    /// Its name in error messages.
    pub name: &'static str,
    /// The thinking signatures (and redacted data) it issued: any other is rejected.
    pub issued: Vec<String>,
    /// Top-level fields it takes (`None`: any, as Anthropic).
    pub fields: Option<&'static [&'static str]>,
    /// Whether it takes image blocks.
    pub images: bool,
}

const HOST_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "stream",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
];

const DEEPSEEK_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "stream",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "output_config",
];

impl Strict {
    /// Anthropic itself.
    pub fn anthropic(issued: &[&str]) -> Strict {
        Strict {
            name: "anthropic",
            issued: issued.iter().map(|s| (*s).to_owned()).collect(),
            fields: None,
            images: true,
        }
    }

    /// A host taking the documented subset.
    pub fn host(name: &'static str, issued: &[&str], images: bool) -> Strict {
        Strict {
            name,
            issued: issued.iter().map(|s| (*s).to_owned()).collect(),
            fields: Some(HOST_FIELDS),
            images,
        }
    }

    /// DeepSeek, which also takes `output_config` (its effort).
    pub fn deepseek(issued: &[&str]) -> Strict {
        Strict {
            fields: Some(DEEPSEEK_FIELDS),
            ..Strict::host("deepseek", issued, false)
        }
    }

    /// Why the request would get a 400, if it would.
    pub fn check(&self, r: &Received) -> Result<(), String> {
        let body = r.json();
        let host = self.fields.is_some();
        if let Some(fields) = self.fields {
            for key in body.as_object().unwrap().keys() {
                if !fields.contains(&key.as_str()) {
                    return Err(format!("{key}: Extra inputs are not permitted"));
                }
            }
            if r.header("anthropic-beta").is_some() {
                return Err("unsupported anthropic-beta".into());
            }
            if let Some(kind) = body["thinking"]["type"].as_str()
                && !["enabled", "disabled"].contains(&kind)
            {
                return Err(format!("thinking.type: unknown variant {kind}"));
            }
            if let Some(thinking) = body.get("thinking").and_then(Value::as_object)
                && let Some(key) = thinking
                    .keys()
                    .find(|k| *k != "type" && *k != "budget_tokens")
            {
                return Err(format!("thinking.{key}: Extra inputs are not permitted"));
            }
            for m in body["messages"].as_array().into_iter().flatten() {
                if m["role"] != "user" && m["role"] != "assistant" {
                    return Err(format!("messages: role {} is not supported", m["role"]));
                }
            }
            for tool in body["tools"].as_array().into_iter().flatten() {
                if tool.get("type").is_some_and(|t| t != "custom") {
                    return Err(format!("tools: unsupported tool type {}", tool["type"]));
                }
            }
        }
        // The hosts take no cache_control (their caching is automatic); Anthropic takes it.
        let cache_ok = |b: &Value| !host || b.get("cache_control").is_none();
        for b in body["system"].as_array().into_iter().flatten() {
            if !cache_ok(b) {
                return Err("system.cache_control: not supported".into());
            }
        }
        let id_ok = |id: &str| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        for (i, m) in messages.iter().enumerate() {
            for b in m["content"].as_array().into_iter().flatten() {
                if !cache_ok(b) {
                    return Err(format!("messages.{i}.cache_control: not supported"));
                }
                match b["type"].as_str().unwrap_or("") {
                    "thinking" => {
                        let sig = b["signature"].as_str().unwrap_or("");
                        if !self.issued.iter().any(|s| s == sig) {
                            return Err(format!(
                                "messages.{i}: Invalid `signature` in `thinking` block: {sig}"
                            ));
                        }
                    }
                    "redacted_thinking" => {
                        let data = b["data"].as_str().unwrap_or("");
                        if !self.issued.iter().any(|s| s == data) {
                            return Err(format!(
                                "messages.{i}: Invalid `data` in `redacted_thinking`"
                            ));
                        }
                    }
                    "tool_use" if !id_ok(b["id"].as_str().unwrap_or("")) => {
                        return Err(format!(
                            "messages.{i}.content.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                        ));
                    }
                    "tool_result" if !id_ok(b["tool_use_id"].as_str().unwrap_or("")) => {
                        return Err(format!(
                            "messages.{i}.content.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                        ));
                    }
                    "image" if !self.images => {
                        return Err(format!("messages.{i}: image input is not supported"));
                    }
                    _ => {}
                }
            }
        }
        // Thinking on: the last assistant turn of an open tool loop must start with thinking.
        if matches!(
            body["thinking"]["type"].as_str(),
            Some("enabled" | "adaptive")
        ) && let Some(last) = messages.iter().rposition(|m| m["role"] == "assistant")
        {
            let turn = messages[last]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let open = messages[last + 1..].iter().all(|m| {
                m["content"]
                    .as_array()
                    .is_some_and(|c| c.iter().all(|b| b["type"] == "tool_result"))
            });
            if open
                && turn.iter().any(|b| b["type"] == "tool_use")
                && !matches!(
                    turn.first().and_then(|b| b["type"].as_str()),
                    Some("thinking" | "redacted_thinking")
                )
            {
                return Err(format!(
                    "messages.{last}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block",
                    turn.first().and_then(|b| b["type"].as_str()).unwrap_or("?")
                ));
            }
        }
        Ok(())
    }
}

/// A scripted Messages upstream: a request `strict` would reject gets Anthropic's 400;
/// every other gets the next reply of the script.
pub async fn strict_upstream(strict: Strict, script: Vec<Reply>) -> Upstream {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    Upstream::with_handler(move |r| match strict.check(r) {
        Err(message) => Reply::error(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error",
                   "message": format!("{}: {message}", strict.name)}}),
        ),
        Ok(()) => script
            .lock()
            .unwrap()
            .pop_front()
            .expect("a reply scripted for every accepted request"),
    })
    .await
}

/// An Anthropic-shaped stream of these content blocks (`thinking` with an optional
/// `signature`, `text`, `tool_use` with `id`, `name`, `input`), as `model`.
pub fn messages_stream(model: &str, content: &[Value]) -> Vec<String> {
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut out = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_host_1", "type": "message", "role": "assistant",
               "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
               "usage": {"input_tokens": 21, "output_tokens": 1}}}),
    )];
    for (index, b) in content.iter().enumerate() {
        let delta = |d: Value| {
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": d}),
            )
        };
        match b["type"].as_str().unwrap() {
            "thinking" => {
                out.push(ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                ));
                out.push(delta(
                    json!({"type": "thinking_delta", "thinking": b["thinking"]}),
                ));
                if let Some(sig) = b.get("signature") {
                    out.push(delta(json!({"type": "signature_delta", "signature": sig})));
                }
            }
            "text" => {
                out.push(ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}),
                ));
                out.push(delta(json!({"type": "text_delta", "text": b["text"]})));
            }
            "tool_use" => {
                out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}})));
                out.push(delta(
                    json!({"type": "input_json_delta", "partial_json": b["input"].to_string()}),
                ));
            }
            other => panic!("block {other}"),
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let stop = if content.iter().any(|b| b["type"] == "tool_use") {
        "tool_use"
    } else {
        "end_turn"
    };
    out.push(ev(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 9}}),
    ));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    out
}

fn host_env(
    var: &'static str,
    upstream: &Upstream,
    key_var: &'static str,
) -> Vec<(&'static str, String)> {
    vec![(var, upstream.url()), (key_var, "host-key".into())]
}

/// What Claude Code sends: its fields, a web-search server tool, cache scopes.
fn claude_code_request(model: &str) -> Value {
    json!({
        "model": model, "max_tokens": 4096, "stream": true,
        "metadata": {"user_id": "user_abc_account__session_1"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "scope": "global"}}],
        "tools": [
            {"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
             "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}],
    })
}

async fn send_stream(proxy: &TestProxy, body: &Value) -> reqwest::Response {
    proxy
        .client
        .post(proxy.url("/v1/messages?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
        )
        .header("authorization", "Bearer claude-code-credential")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_host_gets_a_filtered_request_with_its_model_and_answers_as_the_client_model() {
    let upstream = strict_upstream(
        Strict::host("kimi", &[], true),
        vec![Reply::sse(messages_stream(
            "kimi-k2-thinking",
            &[json!({"type": "text", "text": "hello from Kimi"})],
        ))],
    )
    .await;
    let proxy = TestProxy::start(
        &host_env("KIMI_BASE_URL", &upstream, "MOONSHOT_API_KEY"),
        None,
        test_timeouts(),
    )
    .await;
    let resp = send_stream(&proxy, &claude_code_request("kimi/kimi-k2-thinking")).await;
    assert_eq!(resp.status(), 200, "{:?}", upstream.received());
    let events = parse_sse(&resp.text().await.unwrap());
    check(&events);
    assert_eq!(events[0].data["message"]["model"], "kimi/kimi-k2-thinking");
    assert_eq!(
        blocks(&events),
        [json!({"type": "text", "text": "hello from Kimi"})]
    );

    let sent = &upstream.received()[0];
    assert_eq!(sent.uri, "/v1/messages?beta=true");
    assert_eq!(sent.header("authorization"), Some("Bearer host-key"));
    assert_eq!(sent.header("x-api-key"), None);
    assert_eq!(sent.header("anthropic-beta"), None);
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(!format!("{:?}", sent.headers).contains(TOKEN));
    assert!(!format!("{:?}", sent.headers).contains("claude-code-credential"));
    let body = sent.json();
    assert_eq!(body["model"], "kimi-k2-thinking");
    for gone in ["context_management", "output_config", "metadata"] {
        assert!(body.get(gone).is_none(), "{gone} sent: {body}");
    }
    assert_eq!(body["thinking"]["type"], "enabled");
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    assert!(!body.to_string().contains("cache_control"), "{body}");
    proxy.settled(1).await;
    let snap = proxy.proxy.metrics().snapshot();
    assert_eq!(snap.recent[0].outcome, anyclaude::metrics::Outcome::Ok);
    assert_eq!(snap.recent[0].output_tokens, 9);
    proxy.stop().await;
}

#[tokio::test]
async fn a_hosts_thinking_and_tool_call_round_trip_with_its_own_signature() {
    // MiniMax signs its thinking; the second turn must carry it back as it was.
    let upstream = strict_upstream(
        Strict::host("minimax", &["mm-sig-1", ""], false),
        vec![
            Reply::sse(messages_stream(
                "MiniMax-M2",
                &[
                    json!({"type": "thinking", "thinking": "I should list.", "signature": "mm-sig-1"}),
                    json!({"type": "tool_use", "id": "call_function_ab12_1", "name": "Bash", "input": {"command": "ls"}}),
                ],
            )),
            // Unsigned thinking (as some hosts send it), then the answer.
            Reply::sse(messages_stream(
                "MiniMax-M2",
                &[
                    json!({"type": "thinking", "thinking": "Done."}),
                    json!({"type": "text", "text": "a.txt is there"}),
                ],
            )),
            Reply::sse(messages_stream(
                "MiniMax-M2",
                &[json!({"type": "text", "text": "ok"})],
            )),
        ],
    )
    .await;
    let proxy = TestProxy::start(
        &host_env("MINIMAX_BASE_URL", &upstream, "MINIMAX_API_KEY"),
        None,
        test_timeouts(),
    )
    .await;
    let mut body = claude_code_request("minimax/MiniMax-M2");
    let turn1 = blocks(&stream_events(&proxy, &body).await);
    assert_eq!(
        turn1[0]["signature"], "anyclaude-s1.messages@minimax.mm-sig-1",
        "the host's signature travels wrapped"
    );
    assert_eq!(turn1[1]["id"], "call_function_ab12_1");
    body["messages"] = json!([
        body["messages"][0],
        {"role": "assistant", "content": turn1},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_function_ab12_1", "content": "a.txt"}]},
    ]);
    let turn2 = blocks(&stream_events(&proxy, &body).await);
    assert_eq!(
        turn2[0]["signature"], "anyclaude-s1.messages@minimax.",
        "an unsigned thinking block is stamped as the host's"
    );
    let sent = upstream.received()[1].json();
    assert_eq!(sent["messages"][1]["content"][0]["signature"], "mm-sig-1");
    assert_eq!(
        sent["messages"][1]["content"][0]["thinking"],
        "I should list."
    );

    let mut messages = body["messages"].as_array().unwrap().clone();
    messages.push(json!({"role": "assistant", "content": turn2}));
    messages.push(json!({"role": "user", "content": [{"type": "text", "text": "and this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}));
    body["messages"] = json!(messages);
    let turn3 = blocks(&stream_events(&proxy, &body).await);
    assert_eq!(turn3, [json!({"type": "text", "text": "ok"})]);
    let sent = upstream.received()[2].json();
    assert_eq!(sent["messages"][3]["content"][0]["signature"], "");
    assert_eq!(
        sent["messages"][4]["content"][1]["type"], "text",
        "image → note"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_hosts_errors_before_and_in_the_middle_of_a_stream() {
    let partial: Vec<Step> =
        messages_stream("glm-4.6", &[json!({"type": "text", "text": "partial"})])[..3]
            .iter()
            .map(|c| Step::Send(c.clone().into()))
            .chain([Step::Reset])
            .collect();
    let upstream = strict_upstream(
        Strict::host("zai", &[], true),
        vec![
            Reply::Full {
                status: 429,
                headers: vec![("retry-after", "3".into()), ("content-type", "application/json".into())],
                // Not Anthropic's shape: the message still reaches Claude Code.
                body: json!({"error": {"code": "1302", "message": "High concurrency usage of this API"}})
                    .to_string()
                    .into(),
            },
            Reply::steps(partial),
        ],
    )
    .await;
    let proxy = TestProxy::start(
        &host_env("ZAI_BASE_URL", &upstream, "ZAI_API_KEY"),
        None,
        test_timeouts(),
    )
    .await;
    let body = claude_code_request("zai/glm-4.6");
    let resp = send_stream(&proxy, &body).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "rate_limit_error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("High concurrency"),
        "{err}"
    );

    // A 400 from the host itself (what it rejects) is passed on as it is.
    let mut bad = body.clone();
    bad["messages"] = json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
        {"type": "redacted_thinking", "data": "anyclaude-s1.messages@zai.not-issued"}, {"type": "text", "text": "t"}]}]);
    let resp = send_stream(&proxy, &bad).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("zai: "),
        "{err}"
    );

    let resp = send_stream(&proxy, &body).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    check(&events);
    let last: &Ev = events.last().unwrap();
    assert_eq!(last.name, "error", "{events:#?}");
    assert_eq!(events[0].data["message"]["model"], "zai/glm-4.6");
    proxy.stop().await;
}

#[tokio::test]
async fn a_hosts_whole_answer_has_the_client_model_and_wrapped_signatures() {
    let upstream = strict_upstream(
        Strict::deepseek(&["ds-sig"]),
        vec![Reply::json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "deepseek-reasoner",
            "content": [{"type": "thinking", "thinking": "hm", "signature": "ds-sig"},
                        {"type": "text", "text": "whole"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 5, "output_tokens": 2}}))],
    )
    .await;
    let proxy = TestProxy::start(
        &host_env("DEEPSEEK_ANTHROPIC_BASE_URL", &upstream, "DEEPSEEK_API_KEY"),
        None,
        test_timeouts(),
    )
    .await;
    let mut body = claude_code_request("deepseek-anthropic/deepseek-reasoner");
    body["stream"] = json!(false);
    let resp = send_stream(&proxy, &body).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["model"], "deepseek-anthropic/deepseek-reasoner");
    assert_eq!(
        answer["content"][0]["signature"],
        "anyclaude-s1.messages@deepseek.ds-sig"
    );
    let sent = &upstream.received()[0];
    assert_eq!(sent.header("x-api-key"), Some("host-key"));
    assert_eq!(sent.header("authorization"), None);
    let sent = sent.json();
    assert_eq!(sent["model"], "deepseek-reasoner");
    assert_eq!(
        sent["output_config"],
        json!({"effort": "medium"}),
        "effort only"
    );
    assert_eq!(sent["metadata"]["user_id"], "user_abc_account__session_1");
    proxy.stop().await;
}

/// `/model` moving one session through every dialect: OpenAI (Chat) → Anthropic → Kimi →
/// Anthropic → Gemini → Z.ai → OpenAI. Each backend is strict about what is not its own
/// (the Messages servers reject foreign signatures and tool ids with a 400) and each turn
/// must be answered.
#[tokio::test]
async fn a_session_moving_through_every_dialect_is_never_rejected() {
    use crate::{chat_script, gemini_script};
    let chat = Upstream::start(vec![
        Reply::sse(
            std::iter::once(chat_script::chunk(
                json!({"reasoning_content": "OpenAI reasoning"}),
                None,
            ))
            .chain(chat_script::tool_calls(
                &[("call_1", "Bash", json!({"command": "ls"}))],
                4,
            ))
            .collect::<Vec<_>>(),
        ),
        Reply::sse(chat_script::text(&["back on OpenAI"])),
    ])
    .await;
    let anthropic = strict_upstream(
        Strict::anthropic(&["EqQBAnthropicSig1", "EqQBAnthropicSig2"]),
        vec![
            Reply::sse(messages_stream("claude-x", &[
                json!({"type": "thinking", "thinking": "Claude thinks.", "signature": "EqQBAnthropicSig1"}),
                json!({"type": "tool_use", "id": "toolu_01Anthropic", "name": "Bash", "input": {"command": "pwd"}}),
            ])),
            Reply::sse(messages_stream("claude-x", &[
                json!({"type": "thinking", "thinking": "Claude again.", "signature": "EqQBAnthropicSig2"}),
                json!({"type": "tool_use", "id": "toolu_02Anthropic", "name": "Bash", "input": {"command": "id"}}),
            ])),
        ],
    )
    .await;
    let kimi = strict_upstream(
        Strict::host("kimi", &["kimi-sig"], true),
        vec![Reply::sse(messages_stream("kimi-k2", &[
            json!({"type": "thinking", "thinking": "Kimi thinks.", "signature": "kimi-sig"}),
            // Kimi's own id style, which Anthropic's pattern rejects.
            json!({"type": "tool_use", "id": "functions.Bash:2", "name": "Bash", "input": {"command": "date"}}),
        ]))],
    )
    .await;
    let gemini = Upstream::start(vec![Reply::sse(gemini_script::thinking_then_call(
        &["Gemini thinks."],
        "Bash",
        json!({"command": "uname"}),
        "R2VtaW5pU3RhdGU=",
    ))])
    .await;
    let zai = strict_upstream(
        Strict::host("zai", &[], true),
        vec![Reply::sse(messages_stream("glm-4.6", &[
            json!({"type": "thinking", "thinking": "GLM thinks."}),
            json!({"type": "tool_use", "id": "call_glm_1", "name": "Bash", "input": {"command": "whoami"}}),
        ]))],
    )
    .await;
    let env = vec![
        ("OPENAI_BASE_URL", format!("{}/v1", chat.url())),
        ("OPENAI_API_KEY", "sk-test".into()),
        ("ANTHROPIC_API_URL", anthropic.url()),
        ("ANTHROPIC_API_KEY", "sk-ant".into()),
        ("KIMI_BASE_URL", kimi.url()),
        ("MOONSHOT_API_KEY", "kimi-key".into()),
        ("GEMINI_BASE_URL", format!("{}/v1beta", gemini.url())),
        ("GEMINI_API_KEY", "gm".into()),
        ("ZAI_BASE_URL", zai.url()),
        ("ZAI_API_KEY", "zai-key".into()),
    ];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;

    let body = claude_code_request("openai/gpt-test");
    let mut messages = vec![body["messages"][0].clone()];
    let results = ["a.txt", "/home", "uid=1", "Mon", "Linux", "me"];
    let turn = |model: &str, assistant: Vec<Value>, step: usize, messages: &mut Vec<Value>| {
        let id = assistant
            .iter()
            .rev()
            .find(|b| b["type"] == "tool_use")
            .expect("a call")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        messages.push(json!({"role": "assistant", "content": assistant}));
        messages.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": results[step]}]}));
        let mut b = body.clone();
        b["model"] = json!(model);
        b["messages"] = json!(messages);
        b
    };
    let t1 = blocks(&stream_events(&proxy, &body).await);
    let b = turn("anthropic/claude-x", t1, 0, &mut messages);
    let t2 = blocks(&stream_events(&proxy, &b).await);
    assert_eq!(
        t2[0]["signature"], "EqQBAnthropicSig1",
        "Anthropic's own, unwrapped"
    );
    let sent = anthropic.received()[0].json();
    assert!(!sent.to_string().contains("anyclaude-"), "{sent}");
    assert!(
        sent.get("thinking").is_none(),
        "the open tool turn lost OpenAI's thinking"
    );

    let b = turn("kimi/kimi-k2", t2, 1, &mut messages);
    let t3 = blocks(&stream_events(&proxy, &b).await);
    assert_eq!(t3[0]["signature"], "anyclaude-s1.messages@kimi.kimi-sig");
    let id = t3[1]["id"].as_str().unwrap();
    assert!(
        id.starts_with("functions_Bash_2_"),
        "a host's id made valid: {id}"
    );
    let sent = kimi.received()[0].json();
    assert!(!sent.to_string().contains("EqQBAnthropicSig1"), "{sent}");

    let b = turn("anthropic/claude-x", t3, 2, &mut messages);
    let t4 = blocks(&stream_events(&proxy, &b).await);
    let sent = anthropic.received()[1].json();
    let text = sent.to_string();
    assert!(
        !text.contains("kimi-sig") && !text.contains("functions.Bash"),
        "{text}"
    );
    assert!(
        text.contains("EqQBAnthropicSig1"),
        "Anthropic's own thinking goes back"
    );

    let b = turn("gemini/gemini-test", t4, 3, &mut messages);
    let t5 = blocks(&stream_events(&proxy, &b).await);
    let sent = String::from_utf8_lossy(&gemini.received()[0].body).into_owned();
    assert!(
        !sent.contains("EqQB") && !sent.contains("kimi-sig"),
        "{sent}"
    );

    let b = turn("zai/glm-4.6", t5, 4, &mut messages);
    let t6 = blocks(&stream_events(&proxy, &b).await);
    assert_eq!(t6[0]["signature"], "anyclaude-s1.messages@zai.");
    let sent = zai.received()[0].json().to_string();
    assert!(
        !sent.contains("R2VtaW5pU3RhdGU") && !sent.contains("anyclaude-"),
        "{sent}"
    );

    let b = turn("openai/gpt-test", t6, 5, &mut messages);
    let t7 = blocks(&stream_events(&proxy, &b).await);
    assert_eq!(t7, [json!({"type": "text", "text": "back on OpenAI"})]);
    let sent = String::from_utf8_lossy(&chat.received()[1].body).into_owned();
    for foreign in ["EqQB", "kimi-sig", "R2VtaW5pU3RhdGU", "anyclaude-s1"] {
        assert!(!sent.contains(foreign), "{foreign} sent to OpenAI: {sent}");
    }
    for result in results {
        assert!(
            sent.contains(result),
            "every call's result reached OpenAI: {result}"
        );
    }
    proxy.stop().await;
}

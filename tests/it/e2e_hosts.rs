//! End to end with the real, pinned Claude Code on an Anthropic-compatible host
//! (`kimi/…`) and across dialects: `anyclaude -p … --model …` with a fresh HOME against
//! scripted upstreams that reject (400) what the real servers reject — so every request the
//! real client sends must come through the host's filtering and the signature rules. On
//! every pinned version: a plain answer, a tool round trip that really runs the tool and
//! carries the host's own thinking signature back, and one session that starts on
//! `openai/…` (thinking and a tool call) and continues (`--continue`) on `anthropic/…`,
//! then on `kimi/…`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::chat_script;
use crate::claude::{self, Claude, Run, dirs};
use crate::hosts::{Strict, messages_stream};
use crate::scripted::{Received, Reply, Upstream};

async fn anyclaude(
    claude: &Claude,
    env: &[(&str, String)],
    project: &Path,
    home: &Path,
    model: &str,
    prompt: &str,
    extra: &[&str],
) -> Run {
    let dirs = (home, project);
    claude::print(
        claude,
        dirs,
        env,
        model,
        prompt,
        extra,
        Duration::from_secs(120),
    )
    .await
}

/// Whether a Messages request offers `tool` (Claude Code's main agent request).
fn offers(req: &Value, tool: &str) -> bool {
    req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["name"] == tool || t["function"]["name"] == tool)
}

/// These content blocks as the request asks for them: streamed, or one whole message.
fn messages_reply(req: &Value, model: &str, content: &[Value]) -> Reply {
    if req["stream"] == true {
        Reply::sse(messages_stream(model, content))
    } else {
        let stop = if content.iter().any(|b| b["type"] == "tool_use") {
            "tool_use"
        } else {
            "end_turn"
        };
        Reply::json(
            json!({"id": "msg_e2e", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 3}}),
        )
    }
}

/// A strict Messages upstream: a request `strict` rejects gets Anthropic's 400 (and is
/// recorded in `rejected`); every other is answered by `answer`.
async fn strict(
    strict: Strict,
    rejected: Arc<Mutex<Vec<String>>>,
    answer: impl Fn(&Value) -> Reply + Send + Sync + 'static,
) -> Upstream {
    Upstream::with_handler(move |r: &Received| match strict.check(r) {
        Err(message) => {
            rejected.lock().unwrap().push(message.clone());
            Reply::error(
                400,
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
            )
        }
        Ok(()) => answer(&r.json()),
    })
    .await
}

fn kimi_env(upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("KIMI_BASE_URL", upstream.url()),
        ("MOONSHOT_API_KEY", "kimi-e2e-key".into()),
    ]
}

/// Every request reached the host's Messages URL with its Bearer key and nothing of
/// Claude Code's credentials or ours.
fn every_request_is_the_hosts(upstream: &Upstream, version: &str) {
    for r in upstream.received() {
        assert!(r.uri.starts_with("/v1/messages"), "{version}: {}", r.uri);
        assert_eq!(r.header("authorization"), Some("Bearer kimi-e2e-key"));
        assert_eq!(r.header("x-api-key"), None);
        assert_eq!(r.header("x-anyclaude-token"), None);
        assert_eq!(r.header("anthropic-beta"), None, "{version}");
        assert!(
            r.json()["model"] == "kimi-e2e",
            "{version}: {}",
            r.json()["model"]
        );
    }
}

async fn host_plain_answer(claude: &Claude) {
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let upstream = strict(Strict::host("kimi", &[], true), rejected.clone(), |req| {
        messages_reply(
            req,
            "kimi-e2e",
            &[json!({"type": "text", "text": "Hello from Kimi"})],
        )
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(
        claude,
        &kimi_env(&upstream),
        &project,
        &home,
        "kimi/kimi-e2e",
        "say hello",
        &[],
    )
    .await;
    let result = run.result(&claude.version);
    assert_eq!(
        result["is_error"], false,
        "{}: {result}; rejected: {:?}",
        claude.version, rejected
    );
    assert_eq!(result["result"], "Hello from Kimi", "{}", claude.version);
    assert!(rejected.lock().unwrap().is_empty(), "{rejected:?}");
    let init = run.lines.iter().find(|l| l["subtype"] == "init");
    if let Some(init) = init {
        assert_eq!(init["model"], "kimi/kimi-e2e", "{}", claude.version);
    }
    every_request_is_the_hosts(&upstream, &claude.version);
    eprintln!(
        "{}: host plain answer, {} upstream requests",
        claude.version,
        upstream.received().len()
    );
}

async fn host_tool_round_trip(claude: &Claude) {
    let (_root, home, project) = dirs(claude);
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Value::Null));
    let seen_by_handler = seen.clone();
    let upstream = strict(
        Strict::host("kimi", &["kimi-e2e-sig"], true),
        rejected.clone(),
        move |req| {
            if !offers(req, "Bash") {
                return messages_reply(req, "kimi-e2e", &[json!({"type": "text", "text": "ok"})]);
            }
            let messages = req["messages"].as_array().unwrap();
            let last = messages.last().unwrap();
            let results: Vec<&Value> = last["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|b| b["type"] == "tool_result")
                .collect();
            if results.is_empty() {
                return messages_reply(
                    req,
                    "kimi-e2e",
                    &[
                        json!({"type": "thinking", "thinking": "I will run it.", "signature": "kimi-e2e-sig"}),
                        json!({"type": "tool_use", "id": "functions.Bash:0", "name": "Bash",
                               "input": {"command": "echo from-kimi > k.txt && cat k.txt", "description": "write k.txt"}}),
                    ],
                );
            }
            *seen_by_handler.lock().unwrap() = req["messages"].clone();
            let call_turn = &messages[messages.len() - 2]["content"];
            let signed = call_turn[0]["signature"] == "kimi-e2e-sig";
            let paired = call_turn
                .as_array()
                .into_iter()
                .flatten()
                .any(|b| b["type"] == "tool_use" && b["id"] == results[0]["tool_use_id"]);
            let verdict = if signed && paired && results[0].to_string().contains("from-kimi") {
                "Tool ran: from-kimi"
            } else {
                "Tool result or signature missing"
            };
            messages_reply(req, "kimi-e2e", &[json!({"type": "text", "text": verdict})])
        },
    )
    .await;
    let run = anyclaude(
        claude,
        &kimi_env(&upstream),
        &project,
        &home,
        "kimi/kimi-e2e",
        "write k.txt",
        &["--allowedTools", "Bash"],
    )
    .await;
    let result = run.result(&claude.version);
    assert_eq!(
        result["result"],
        "Tool ran: from-kimi",
        "{}: {result}; rejected {:?}; seen {:#}",
        claude.version,
        rejected.lock().unwrap(),
        seen.lock().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(project.join("k.txt")).unwrap(),
        "from-kimi\n"
    );
    assert!(rejected.lock().unwrap().is_empty(), "{rejected:?}");
    every_request_is_the_hosts(&upstream, &claude.version);
}

/// Turn 1 on OpenAI (reasoning, a Bash call, then an answer); turn 2, `--continue`d on
/// Anthropic, whose scripted server rejects anyclaude's signatures and invalid ids; turn 3
/// `--continue`d on Kimi, which rejects Anthropic's signature and what a host does not take.
async fn session_switching_dialects(claude: &Claude) {
    let (_root, home, project) = dirs(claude);
    let chat = Upstream::with_handler(|r: &Received| {
        let req = r.json();
        let text = |t: &str| {
            if req["stream"] == true {
                Reply::sse(chat_script::text(&[t]))
            } else {
                Reply::json(json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-e2e",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}))
            }
        };
        if !offers(&req, "Bash") || req["stream"] != true {
            return text("ok");
        }
        let last = req["messages"].as_array().unwrap().last().unwrap().clone();
        if last["role"] == "tool" {
            return text("OpenAI saw from-openai");
        }
        Reply::sse(
            std::iter::once(chat_script::chunk(
                json!({"role": "assistant", "reasoning_content": "Let me run a command."}),
                None,
            ))
            .chain(chat_script::tool_calls(
                &[(
                    "call_e2e_1",
                    "Bash",
                    json!({"command": "echo from-openai", "description": "echo"}),
                )],
                8,
            ))
            .collect::<Vec<_>>(),
        )
    })
    .await;
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_handler = seen.clone();
    let anthropic = strict(
        Strict::anthropic(&["EqQBe2eAnthropic"]),
        rejected.clone(),
        move |req| {
            if offers(req, "Bash") {
                seen_by_handler.lock().unwrap().push(req.clone());
            }
            messages_reply(
                req,
                "claude-e2e",
                &[
                    json!({"type": "thinking", "thinking": "Claude reflects.", "signature": "EqQBe2eAnthropic"}),
                    json!({"type": "text", "text": "Anthropic continues"}),
                ],
            )
        },
    )
    .await;
    let kimi_seen = Arc::new(Mutex::new(Vec::new()));
    let kimi_seen_by_handler = kimi_seen.clone();
    let kimi = strict(
        Strict::host("kimi", &[], true),
        rejected.clone(),
        move |req| {
            if offers(req, "Bash") {
                kimi_seen_by_handler.lock().unwrap().push(req.clone());
            }
            messages_reply(
                req,
                "kimi-e2e",
                &[json!({"type": "text", "text": "Kimi continues"})],
            )
        },
    )
    .await;
    let env = vec![
        ("OPENAI_BASE_URL", format!("{}/v1", chat.url())),
        ("OPENAI_API_KEY", "sk-e2e".into()),
        ("ANTHROPIC_API_URL", anthropic.url()),
        ("ANTHROPIC_API_KEY", "sk-ant-e2e".into()),
        ("KIMI_BASE_URL", kimi.url()),
        ("MOONSHOT_API_KEY", "kimi-e2e-key".into()),
    ];
    let first = anyclaude(
        claude,
        &env,
        &project,
        &home,
        "openai/gpt-e2e",
        "run echo",
        &["--allowedTools", "Bash"],
    )
    .await;
    let result = first.result(&claude.version);
    assert_eq!(
        result["result"], "OpenAI saw from-openai",
        "{}: {result}",
        claude.version
    );

    let second = anyclaude(
        claude,
        &env,
        &project,
        &home,
        "anthropic/claude-e2e",
        "and now?",
        &["--continue"],
    )
    .await;
    let result = second.result(&claude.version);
    assert_eq!(
        result["result"],
        "Anthropic continues",
        "{}: {result}; rejected {:?}",
        claude.version,
        rejected.lock().unwrap()
    );
    assert!(rejected.lock().unwrap().is_empty(), "{rejected:?}");
    let seen = seen.lock().unwrap().clone();
    let main = seen
        .iter()
        .find(|r| r.to_string().contains("and now?"))
        .unwrap_or_else(|| panic!("{}: no main request on Anthropic: {seen:?}", claude.version));
    let text = main["messages"].to_string();
    assert!(
        text.contains("call_e2e_1"),
        "{}: turn 1's call went up: {text}",
        claude.version
    );
    assert!(
        text.contains("from-openai"),
        "{}: its result went up",
        claude.version
    );
    assert!(
        !text.contains("anyclaude-"),
        "{}: no signature of ours: {text}",
        claude.version
    );
    assert!(
        !text.contains("Let me run a command."),
        "{}: no OpenAI thinking",
        claude.version
    );
    let third = anyclaude(
        claude,
        &env,
        &project,
        &home,
        "kimi/kimi-e2e",
        "and on Kimi?",
        &["--continue"],
    )
    .await;
    let result = third.result(&claude.version);
    assert_eq!(
        result["result"],
        "Kimi continues",
        "{}: {result}; rejected {:?}",
        claude.version,
        rejected.lock().unwrap()
    );
    assert!(rejected.lock().unwrap().is_empty(), "{rejected:?}");
    let kimi_seen = kimi_seen.lock().unwrap().clone();
    let on_kimi = kimi_seen
        .iter()
        .find(|r| r.to_string().contains("and on Kimi?"))
        .unwrap_or_else(|| panic!("{}: no main request on Kimi", claude.version));
    let text = on_kimi["messages"].to_string();
    assert!(
        text.contains("from-openai") && text.contains("Anthropic continues"),
        "{}: {text}",
        claude.version
    );
    assert!(
        !text.contains("EqQBe2eAnthropic") && !text.contains("anyclaude-"),
        "{}: {text}",
        claude.version
    );
    let shape: Vec<String> = main["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let kinds: Vec<&str> = m["content"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| b["type"].as_str().unwrap_or("?"))
                .collect();
            format!("{}:{}", m["role"].as_str().unwrap_or("?"), kinds.join("+"))
        })
        .collect();
    eprintln!(
        "{}: session OpenAI → Anthropic → Kimi: Anthropic got {shape:?}, thinking {}; Kimi got {} messages, thinking {}",
        claude.version,
        main["thinking"],
        on_kimi["messages"].as_array().map_or(0, Vec::len),
        on_kimi["thinking"]
    );
}

#[tokio::test]
async fn e2e_host_plain_answer() {
    for claude in claude::pinned("e2e_host_plain_answer") {
        host_plain_answer(&claude).await;
        claude::record("e2e_host_plain_answer", &claude);
    }
}

#[tokio::test]
async fn e2e_host_tool_round_trip() {
    for claude in claude::pinned("e2e_host_tool_round_trip") {
        host_tool_round_trip(&claude).await;
        claude::record("e2e_host_tool_round_trip", &claude);
    }
}

#[tokio::test]
async fn e2e_session_switching_openai_anthropic_kimi() {
    for claude in claude::pinned("e2e_session_switching_openai_anthropic_kimi") {
        session_switching_dialects(&claude).await;
        claude::record("e2e_session_switching_openai_anthropic_kimi", &claude);
    }
}

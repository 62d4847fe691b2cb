//! End to end with the real, pinned Claude Code: `anyclaude -p … --model openai/…` with a
//! fresh HOME against a scripted OpenAI-compatible upstream, on every pinned version, plus
//! one interactive session in a terminal (tmux) as a person uses it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::chat_script;
use crate::claude::{self, Claude, Run, dirs};
use crate::scripted::{Received, Reply, Step, Upstream};

const MODEL: &str = "openai/gpt-e2e";

/// Whether a Chat request is Claude Code's main agent request (it offers the Bash tool).
fn offers(req: &Value, tool: &str) -> bool {
    req["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == tool))
}

/// The content of the last message, as text.
fn last_message(req: &Value) -> (String, String) {
    let last = req["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    let role = last["role"].as_str().unwrap_or("").to_owned();
    let content = match &last["content"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (role, content)
}

/// A text answer as the request asks for it: streamed, or (Claude Code's non-streaming
/// fallback, which 2.0.x also takes after a 429) one whole `chat.completion`.
fn text_reply(r: &Received, pieces: &[&str]) -> Reply {
    if r.json()["stream"] == true {
        Reply::sse(chat_script::text(pieces))
    } else {
        Reply::json(chat_script::completion(&pieces.concat()))
    }
}

async fn anyclaude(
    claude: &Claude,
    upstream: &Upstream,
    project: &Path,
    home: &Path,
    prompt: &str,
    extra: &[&str],
) -> Run {
    let env = [
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-e2e-key".to_owned()),
    ];
    let dirs = (home, project);
    claude::print(
        claude,
        dirs,
        &env,
        MODEL,
        prompt,
        extra,
        Duration::from_secs(120),
    )
    .await
}

fn no_secret_leaked(upstream: &Upstream) {
    for r in upstream.received() {
        assert_eq!(
            r.header("authorization"),
            Some("Bearer sk-e2e-key"),
            "{}",
            r.uri
        );
        assert_eq!(r.header("x-anyclaude-token"), None);
        assert_eq!(r.header("x-api-key"), None);
        assert_eq!(r.uri, "/v1/chat/completions");
    }
}

async fn plain_answer(claude: &Claude) {
    let upstream = Upstream::with_handler(|r: &Received| {
        text_reply(r, &["Hello ", "from the ", "scripted upstream"])
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(claude, &upstream, &project, &home, "say hello", &[]).await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(
        result["result"], "Hello from the scripted upstream",
        "{}",
        claude.version
    );
    assert!(run.out.status.success());
    // Every request carried Claude Code's own model name through to the backend's.
    for r in upstream.received() {
        assert_eq!(r.json()["model"], "gpt-e2e");
        let messages = r.json()["messages"].clone();
        assert_eq!(messages[0]["role"], "system", "{messages}");
    }
    no_secret_leaked(&upstream);
}

async fn parallel_tool_round_trip(claude: &Claude) {
    let (_root, home, project) = dirs(claude);
    let two = project.join("two.txt");
    let two_path = two.to_string_lossy().into_owned();
    let seen_results = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = seen_results.clone();
    let upstream = Upstream::with_handler(move |r: &Received| {
        let req = r.json();
        if !offers(&req, "Bash") {
            return text_reply(r, &["ok"]);
        }
        let (role, content) = last_message(&req);
        if role == "tool" || content.contains("tool_result") {
            let tool_msgs: Vec<String> = req["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["role"] == "tool")
                .map(|m| m["content"].to_string())
                .collect();
            *seen.lock().unwrap() = tool_msgs.clone();
            let joined = tool_msgs.join(" ");
            // Both results came back, each right after the assistant's calls, Bash's with
            // the command's output.
            let verdict = if tool_msgs.len() == 2 && joined.contains("one-from-bash") {
                "Both tools ran: one-from-bash"
            } else {
                "Tool results missing"
            };
            return text_reply(r, &[verdict]);
        }
        Reply::sse(chat_script::tool_calls(
            &[
                ("call_bash_1", "Bash", json!({"command": "echo one-from-bash > one.txt && cat one.txt", "description": "Write one.txt"})),
                ("call_write_2", "Write", json!({"file_path": two_path, "content": "two-from-write\n"})),
            ],
            7,
        ))
    })
    .await;
    let run = anyclaude(
        claude,
        &upstream,
        &project,
        &home,
        "write the files",
        &["--allowedTools", "Bash", "Write"],
    )
    .await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(
        std::fs::read_to_string(project.join("one.txt")).unwrap(),
        "one-from-bash\n",
        "{}",
        claude.version
    );
    assert_eq!(
        std::fs::read_to_string(&two).unwrap(),
        "two-from-write\n",
        "{}",
        claude.version
    );
    assert_eq!(
        result["result"],
        "Both tools ran: one-from-bash",
        "{}: {:?}",
        claude.version,
        seen_results.lock().unwrap()
    );
    // The assistant message Claude Code recorded holds both calls, whole.
    let uses: Vec<&Value> = run
        .lines
        .iter()
        .filter(|l| l["type"] == "assistant")
        .flat_map(|l| l["message"]["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_use")
        .collect();
    assert_eq!(uses.len(), 2, "{}: {uses:?}", claude.version);
    assert_eq!(uses[0]["name"], "Bash");
    assert_eq!(
        uses[0]["input"]["command"],
        "echo one-from-bash > one.txt && cat one.txt"
    );
    assert_eq!(uses[1]["name"], "Write");
    assert_eq!(uses[1]["input"]["content"], "two-from-write\n");
    no_secret_leaked(&upstream);
}

async fn thinking_then_text(claude: &Claude) {
    let upstream = Upstream::with_handler(|r: &Received| {
        if offers(&r.json(), "Bash") {
            Reply::sse(chat_script::thinking_then_text(
                &["Let me ", "think about it."],
                &["The answer ", "is 42."],
            ))
        } else {
            text_reply(r, &["ok"])
        }
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(
        claude,
        &upstream,
        &project,
        &home,
        "what is the answer",
        &[],
    )
    .await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(result["result"], "The answer is 42.", "{}", claude.version);
    let text = String::from_utf8_lossy(&run.out.stdout);
    assert!(
        !text.contains("\"text\":\"Let me think"),
        "thinking never shows as text"
    );
}

async fn rate_limited_then_success(claude: &Claude) {
    let count = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = count.clone();
    let upstream = Upstream::with_handler(move |r: &Received| {
        seen.fetch_add(1, Ordering::SeqCst);
        // The first main request (the one offering Bash) is rate limited, once.
        if offers(&r.json(), "Bash") && !limited.swap(true, Ordering::SeqCst) {
            Reply::Full {
                status: 429,
                headers: vec![("retry-after", "0".into()), ("content-type", "application/json".into())],
                body: json!({"error": {"message": "Rate limit reached for gpt-e2e", "type": "requests", "code": "rate_limit_exceeded"}}).to_string().into(),
            }
        } else {
            text_reply(r, &["after ", "the retry"])
        }
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(claude, &upstream, &project, &home, "say something", &[]).await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(result["result"], "after the retry", "{}", claude.version);
    let main: Vec<Value> = upstream
        .received()
        .iter()
        .filter(|r| offers(&r.json(), "Bash"))
        .map(|r| r.json()["stream"].clone())
        .collect();
    assert!(main.len() >= 2, "{}: {main:?}", claude.version);
    eprintln!(
        "{}: after one 429, the main request was sent again as (its stream flag): {main:?}",
        claude.version
    );
}

/// A stream that fails mid-answer ends with its `event: error` inside the open block (for
/// Claude Code 2.0.x: its body aborted with the block open), which makes Claude Code retry
/// the request without streaming instead of keeping the truncated text as a complete
/// answer; here the retry succeeds, and every version shows the whole answer.
async fn mid_stream_failure(claude: &Claude) {
    let upstream = Upstream::with_handler(|req| {
        if req.json()["stream"] != true {
            return Reply::json(json!({
                "id": "chatcmpl-retry", "object": "chat.completion", "created": 1,
                "model": "gpt-e2e",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "the whole answer"}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3}
            }));
        }
        let mut steps: Vec<Step> = chat_script::text(&["partial ", "answer"])[..3]
            .iter()
            .map(|c| Step::Send(c.clone().into()))
            .collect();
        steps.push(Step::Send(
            "data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n"
                .into(),
        ));
        Reply::steps(steps)
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let started = std::time::Instant::now();
    let run = anyclaude(claude, &upstream, &project, &home, "say something", &[]).await;
    let result = run.result(&claude.version);
    assert!(started.elapsed() < Duration::from_secs(100));
    assert_ne!(
        result["result"], "partial answer",
        "{}: a failure is never a truncated success",
        claude.version
    );
    let streams: Vec<Value> = upstream
        .received()
        .iter()
        .map(|r| r.json()["stream"].clone())
        .collect();
    eprintln!(
        "{}: mid-stream failure shown as {}; upstream requests (their stream flag): {streams:?}",
        claude.version, result["result"]
    );
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(result["result"], "the whole answer", "{}", claude.version);
    assert_eq!(
        streams.first(),
        Some(&json!(true)),
        "{}: streamed first",
        claude.version
    );
    assert!(
        streams.iter().any(|s| s != &json!(true)),
        "{}: then retried without streaming: {streams:?}",
        claude.version
    );
}

#[tokio::test]
async fn e2e_plain_answer() {
    for claude in claude::pinned("e2e_plain_answer") {
        plain_answer(&claude).await;
        claude::record("e2e_plain_answer", &claude);
    }
}

#[tokio::test]
async fn e2e_parallel_tool_round_trip() {
    for claude in claude::pinned("e2e_parallel_tool_round_trip") {
        parallel_tool_round_trip(&claude).await;
        claude::record("e2e_parallel_tool_round_trip", &claude);
    }
}

#[tokio::test]
async fn e2e_thinking_then_text() {
    for claude in claude::pinned("e2e_thinking_then_text") {
        thinking_then_text(&claude).await;
        claude::record("e2e_thinking_then_text", &claude);
    }
}

#[tokio::test]
async fn e2e_rate_limited_then_success() {
    for claude in claude::pinned("e2e_rate_limited_then_success") {
        rate_limited_then_success(&claude).await;
        claude::record("e2e_rate_limited_then_success", &claude);
    }
}

#[tokio::test]
async fn e2e_mid_stream_failure_is_retried_not_truncated() {
    for claude in claude::pinned("e2e_mid_stream_failure_is_retried_not_truncated") {
        mid_stream_failure(&claude).await;
        claude::record("e2e_mid_stream_failure_is_retried_not_truncated", &claude);
    }
}

//! End to end with the real, pinned Claude Code on the OpenAI Responses path:
//! `anyclaude -p … --model openai/gpt-5-codex` with a fresh HOME against a scripted upstream
//! that speaks the Responses protocol, on every pinned version. The cases: a plain answer,
//! a parallel tool round trip whose tools really run (and whose encrypted reasoning comes
//! back on the next request), thinking, a 429 then success, and a failure mid-stream —
//! recovered by Claude Code's retry without streaming, or shown as an error when that fails
//! too, on every pinned version (2.0.x because anyclaude aborts the failed stream for it).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::claude::{self, Claude, Run, dirs};
use crate::responses_script::{self, Stream, usage};
use crate::scripted::{Received, Reply, Step, Upstream};

const MODEL: &str = "openai/gpt-5-codex";
const ENCRYPTED: &str = "gAAAAABpKx1r-e2e+encrypted/reasoning==";

/// The pinned versions test `test` runs on (the matrix's one list), each recorded as run
/// for `scripts/test.sh`'s count; a case that then fails fails the suite.
fn pinned(test: &str) -> Vec<Claude> {
    let found = claude::pinned(test);
    for claude in &found {
        claude::record(test, claude);
    }
    found
}

/// Whether a Responses request is Claude Code's main agent request (it offers Bash).
fn offers(req: &Value, tool: &str) -> bool {
    req["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["name"] == tool))
}

/// The request's input items of `kind`.
fn items<'a>(req: &'a Value, kind: &str) -> Vec<&'a Value> {
    req["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == kind)
        .collect()
}

/// A text answer as the request asks for it: streamed, or (Claude Code's retry without
/// streaming) one whole response object.
fn text_reply(r: &Received, pieces: &[&str]) -> Reply {
    if r.json()["stream"] == true {
        Reply::sse(responses_script::text(pieces))
    } else {
        Reply::json(responses_script::whole(
            vec![
                json!({"type": "message", "id": "msg_whole", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": pieces.concat(), "annotations": []}]}),
            ],
            usage(100, 0, 5, 0),
        ))
    }
}

async fn anyclaude(
    claude: &Claude,
    upstream: &Upstream,
    dirs: (&Path, &Path),
    prompt: &str,
    extra_env: &[(&str, &str)],
    extra_args: &[&str],
) -> Run {
    let mut env = vec![
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-e2e-key".to_owned()),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let deadline = Duration::from_secs(150);
    claude::print(claude, dirs, &env, MODEL, prompt, extra_args, deadline).await
}

/// Every request went to the Responses endpoint with the key, statelessly, and nothing of
/// Claude Code's own credentials went upstream.
fn every_request_is_a_responses_request(upstream: &Upstream, claude: &Claude) {
    let received = upstream.received();
    assert!(!received.is_empty(), "{}", claude.version);
    for r in received {
        assert_eq!(r.uri, "/v1/responses", "{}", claude.version);
        assert_eq!(r.header("authorization"), Some("Bearer sk-e2e-key"));
        assert_eq!(r.header("x-anyclaude-token"), None);
        assert_eq!(r.header("x-api-key"), None);
        let body = r.json();
        assert_eq!(body["model"], "gpt-5-codex", "{}", claude.version);
        assert_eq!(body["store"], false, "{}", claude.version);
        assert!(body.get("messages").is_none(), "{}", claude.version);
    }
}

async fn plain_answer(claude: &Claude) {
    let upstream = Upstream::with_handler(|r: &Received| {
        text_reply(r, &["Hello ", "from the ", "Responses API"])
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(claude, &upstream, (&home, &project), "say hello", &[], &[]).await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(
        result["result"], "Hello from the Responses API",
        "{}",
        claude.version
    );
    assert!(run.out.status.success());
    every_request_is_a_responses_request(&upstream, claude);
    let main = upstream
        .received()
        .into_iter()
        .find(|r| offers(&r.json(), "Bash"))
        .expect("the main request");
    let body = main.json();
    assert!(
        body["instructions"].as_str().is_some_and(|s| !s.is_empty()),
        "{}: the system prompt goes in instructions",
        claude.version
    );
    assert_eq!(
        body["include"],
        json!(["reasoning.encrypted_content"]),
        "{}",
        claude.version
    );
    eprintln!(
        "{}: plain answer; main request: {} input items, {} tools, reasoning {}",
        claude.version,
        body["input"].as_array().map_or(0, Vec::len),
        body["tools"].as_array().map_or(0, Vec::len),
        body["reasoning"]
    );
}

async fn parallel_tool_round_trip(claude: &Claude) {
    let (_root, home, project) = dirs(claude);
    let two = project.join("two.txt");
    let two_path = two.to_string_lossy().into_owned();
    let upstream = Upstream::with_handler(move |r: &Received| {
        let req = r.json();
        if !offers(&req, "Bash") {
            return text_reply(r, &["ok"]);
        }
        let outputs = items(&req, "function_call_output");
        if !outputs.is_empty() {
            let joined: String = outputs.iter().map(|o| o["output"].to_string()).collect();
            let calls = items(&req, "function_call");
            // Both results came back after both calls, Bash's with the command's output,
            // and the reasoning of the turn that made the calls came back whole.
            let reasoning_back = items(&req, "reasoning")
                .iter()
                .any(|i| i["encrypted_content"] == ENCRYPTED);
            let verdict = if outputs.len() == 2
                && calls.len() == 2
                && joined.contains("one-from-bash")
                && reasoning_back
            {
                "Both tools ran: one-from-bash"
            } else {
                "Tool results or reasoning missing"
            };
            return text_reply(r, &[verdict]);
        }
        if r.json()["stream"] != true {
            return text_reply(r, &["asked for a whole answer"]);
        }
        Reply::sse(
            Stream::new()
                .reasoning(0, "rs_e2e", &["I will write ", "both files."], ENCRYPTED)
                .calls(
                    1,
                    &[
                        ("call_bash_1", "Bash", json!({"command": "echo one-from-bash > one.txt && cat one.txt", "description": "Write one.txt"})),
                        ("call_write_2", "Write", json!({"file_path": two_path, "content": "two-from-write\n"})),
                    ],
                    7,
                )
                .completed(usage(3000, 1024, 120, 64)),
        )
    })
    .await;
    let run = anyclaude(
        claude,
        &upstream,
        (&home, &project),
        "write the files",
        &[],
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
    let followup = upstream
        .received()
        .into_iter()
        .map(|r| r.json())
        .find(|req| !items(req, "function_call_output").is_empty());
    assert_eq!(
        result["result"], "Both tools ran: one-from-bash",
        "{}: the follow-up request was {followup:?}",
        claude.version
    );
    // The assistant message Claude Code recorded holds the thinking and both calls, whole.
    let content: Vec<&Value> = run
        .lines
        .iter()
        .filter(|l| l["type"] == "assistant")
        .flat_map(|l| l["message"]["content"].as_array().into_iter().flatten())
        .collect();
    let uses: Vec<&&Value> = content.iter().filter(|b| b["type"] == "tool_use").collect();
    assert_eq!(uses.len(), 2, "{}: {content:?}", claude.version);
    assert_eq!(uses[0]["name"], "Bash");
    assert_eq!(uses[0]["id"], "call_bash_1");
    assert_eq!(uses[1]["name"], "Write");
    assert_eq!(uses[1]["input"]["content"], "two-from-write\n");
    let followup = followup.unwrap();
    assert_eq!(
        items(&followup, "function_call_output")
            .iter()
            .map(|o| o["call_id"].clone())
            .collect::<Vec<_>>(),
        [json!("call_bash_1"), json!("call_write_2")],
        "{}",
        claude.version
    );
    eprintln!(
        "{}: tool round trip; the follow-up carried {} reasoning item(s), {} call(s), {} output(s)",
        claude.version,
        items(&followup, "reasoning").len(),
        items(&followup, "function_call").len(),
        items(&followup, "function_call_output").len()
    );
    every_request_is_a_responses_request(&upstream, claude);
}

async fn thinking_then_text(claude: &Claude) {
    let upstream = Upstream::with_handler(|r: &Received| {
        if offers(&r.json(), "Bash") && r.json()["stream"] == true {
            Reply::sse(responses_script::reasoning_then_text(
                &["Let me ", "think about it."],
                ENCRYPTED,
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
        (&home, &project),
        "what is the answer",
        &[],
        &[],
    )
    .await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(result["result"], "The answer is 42.", "{}", claude.version);
    let text = String::from_utf8_lossy(&run.out.stdout);
    assert!(
        !text.contains("\"text\":\"Let me think"),
        "{}: thinking never shows as text",
        claude.version
    );
    let thinking: Vec<&Value> = run
        .lines
        .iter()
        .filter(|l| l["type"] == "assistant")
        .flat_map(|l| l["message"]["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "thinking")
        .collect();
    eprintln!(
        "{}: thinking answer; Claude Code recorded {} thinking block(s): {:?}",
        claude.version,
        thinking.len(),
        thinking.iter().map(|b| &b["thinking"]).collect::<Vec<_>>()
    );
    every_request_is_a_responses_request(&upstream, claude);
}

async fn rate_limited_then_success(claude: &Claude) {
    let limited = Arc::new(AtomicBool::new(false));
    let upstream = Upstream::with_handler(move |r: &Received| {
        // The first main request (the one offering Bash) is rate limited, once.
        if offers(&r.json(), "Bash") && !limited.swap(true, Ordering::SeqCst) {
            Reply::Full {
                status: 429,
                headers: vec![("retry-after", "0".into()), ("content-type", "application/json".into())],
                body: json!({"error": {"message": "Rate limit reached for gpt-5-codex", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}).to_string().into(),
            }
        } else {
            text_reply(r, &["after ", "the retry"])
        }
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(
        claude,
        &upstream,
        (&home, &project),
        "say something",
        &[],
        &[],
    )
    .await;
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
    every_request_is_a_responses_request(&upstream, claude);
}

/// The main request's stream: some text, then `response.failed`.
fn failing_stream() -> Reply {
    let mut s = Stream::new();
    s.event("response.output_item.added", json!({"output_index": 0,
        "item": {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}}));
    for piece in ["partial ", "answer"] {
        s.event(
            "response.output_text.delta",
            json!({"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": piece}),
        );
    }
    let chunks = s.failed("server_error", "the model crashed");
    Reply::steps(chunks.into_iter().map(|c| Step::Send(c.into())).collect())
}

/// The main request's stream fails mid-answer; Claude Code retries without streaming.
/// `retry_ok` says whether that retry succeeds.
async fn mid_stream_failure(claude: &Claude, retry_ok: bool) -> (Run, Vec<Value>) {
    let upstream = Upstream::with_handler(move |r: &Received| {
        let req = r.json();
        if !offers(&req, "Bash") {
            return text_reply(r, &["ok"]);
        }
        if req["stream"] == true {
            return failing_stream();
        }
        if retry_ok {
            text_reply(r, &["the whole answer"])
        } else {
            Reply::json(json!({"id": "resp_failed", "object": "response", "status": "failed", "output": [],
                "error": {"code": "invalid_prompt", "message": "the model refused the whole prompt"}}))
        }
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let started = std::time::Instant::now();
    let run = anyclaude(
        claude,
        &upstream,
        (&home, &project),
        "say something",
        &[("CLAUDE_CODE_MAX_RETRIES", "1")],
        &[],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(140));
    let streams: Vec<Value> = upstream
        .received()
        .iter()
        .filter(|r| offers(&r.json(), "Bash"))
        .map(|r| r.json()["stream"].clone())
        .collect();
    let result = run.result(&claude.version).clone();
    eprintln!(
        "{}: mid-stream failure (retry {}) shown as is_error={} {}; main requests (their stream flag): {streams:?}",
        claude.version,
        if retry_ok { "succeeds" } else { "fails" },
        result["is_error"],
        result["result"]
    );
    assert_ne!(
        result["result"], "partial answer",
        "{}: a failure is never a truncated success",
        claude.version
    );
    assert_eq!(
        streams.first(),
        Some(&json!(true)),
        "{}: streamed first",
        claude.version
    );
    every_request_is_a_responses_request(&upstream, claude);
    (run, streams)
}

#[tokio::test]
async fn e2e_responses_plain_answer() {
    for claude in pinned("e2e_responses_plain_answer") {
        plain_answer(&claude).await;
    }
}

#[tokio::test]
async fn e2e_responses_parallel_tool_round_trip() {
    for claude in pinned("e2e_responses_parallel_tool_round_trip") {
        parallel_tool_round_trip(&claude).await;
    }
}

#[tokio::test]
async fn e2e_responses_thinking_then_text() {
    for claude in pinned("e2e_responses_thinking_then_text") {
        thinking_then_text(&claude).await;
    }
}

#[tokio::test]
async fn e2e_responses_rate_limited_then_success() {
    for claude in pinned("e2e_responses_rate_limited_then_success") {
        rate_limited_then_success(&claude).await;
    }
}

#[tokio::test]
async fn e2e_responses_mid_stream_failure_is_retried_not_truncated() {
    for claude in pinned("e2e_responses_mid_stream_failure_is_retried_not_truncated") {
        let (run, streams) = mid_stream_failure(&claude, true).await;
        let result = run.result(&claude.version);
        assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
        assert_eq!(result["result"], "the whole answer", "{}", claude.version);
        assert!(
            streams.iter().any(|s| s != &json!(true)),
            "{}: retried without streaming: {streams:?}",
            claude.version
        );
    }
}

#[tokio::test]
async fn e2e_responses_mid_stream_failure_is_shown_as_an_error() {
    for claude in pinned("e2e_responses_mid_stream_failure_is_shown_as_an_error") {
        let (run, _streams) = mid_stream_failure(&claude, false).await;
        let result = run.result(&claude.version);
        assert_eq!(result["is_error"], true, "{}: {result}", claude.version);
        assert_eq!(run.out.status.code(), Some(1), "{}", claude.version);
        let shown = result.to_string();
        assert!(
            shown.contains("refused the whole prompt")
                || shown.contains("the model crashed")
                || shown.contains("mid-response"),
            "{}: {shown}",
            claude.version
        );
    }
}

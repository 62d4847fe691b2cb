//! End to end with the real, pinned Claude Code on the Gemini dialect:
//! `anyclaude -p … --model gemini/…` with a fresh HOME against a scripted upstream that
//! speaks Gemini, on every pinned version: a plain answer, a parallel tool round trip that
//! really runs the tools (and sends Gemini's thought signature back on the call), thinking,
//! a 429 then success, and a mid-stream failure shown as an error.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::claude::{self, Claude, Run, dirs};
use crate::gemini_script::{self, chunk, usage};
use crate::scripted::{Received, Reply, Step, Upstream};

const MODEL: &str = "gemini/gemini-e2e";
const KEY: &str = "gm-e2e-key";

/// Whether a Gemini request is Claude Code's main agent request (it offers `tool`).
fn offers(req: &Value, tool: &str) -> bool {
    req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
        .any(|d| d["name"] == tool)
}

/// The prompt the mid-stream failure case sends.
const FAILING_PROMPT: &str = "say something";

/// Whether a request is the main one of the mid-stream failure case: it offers Bash and
/// carries the prompt (2.0.x also sends its agents a warm-up request offering Bash).
fn is_main(req: &Value) -> bool {
    offers(req, "Bash") && req["contents"].to_string().contains(FAILING_PROMPT)
}

/// The parts of the last content.
fn last_parts(req: &Value) -> Vec<Value> {
    req["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["parts"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// Whether Claude Code asked for a streamed answer (`:streamGenerateContent`) rather than
/// a whole one (`:generateContent`, its non-streaming fallback, which 2.0.x also takes after a
/// 429).
fn streamed(r: &Received) -> bool {
    r.uri.contains(":streamGenerateContent")
}

/// `parts` as the request asks for them: streamed as `chunks`, or as one whole response.
fn reply(r: &Received, chunks: Vec<String>, parts: Value) -> Reply {
    if streamed(r) {
        Reply::sse(chunks)
    } else {
        Reply::json(gemini_script::response(
            parts,
            Some("STOP"),
            usage(100, 5, 0, 0),
        ))
    }
}

/// A text answer as the request asks for it.
fn text_reply(r: &Received, pieces: &[&str]) -> Reply {
    reply(
        r,
        gemini_script::text(pieces),
        json!([{"text": pieces.concat()}]),
    )
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
        ("GEMINI_BASE_URL", format!("{}/v1beta", upstream.url())),
        ("GEMINI_API_KEY", KEY.to_owned()),
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

/// Every request went to the Gemini URL of the model, with the key in `x-goog-api-key` and
/// nothing else of ours.
fn every_request_is_gemini(upstream: &Upstream) {
    for r in upstream.received() {
        assert!(
            r.uri == "/v1beta/models/gemini-e2e:streamGenerateContent?alt=sse"
                || r.uri == "/v1beta/models/gemini-e2e:generateContent",
            "{}",
            r.uri
        );
        assert_eq!(r.header("x-goog-api-key"), Some(KEY), "{}", r.uri);
        assert_eq!(r.header("authorization"), None);
        assert_eq!(r.header("x-api-key"), None);
        assert_eq!(r.header("x-anyclaude-token"), None);
    }
}

async fn plain_answer(claude: &Claude) {
    let upstream = Upstream::with_handler(|r: &Received| {
        text_reply(r, &["Hello ", "from the ", "scripted Gemini"])
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let run = anyclaude(claude, &upstream, &project, &home, "say hello", &[]).await;
    let result = run.result(&claude.version);
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(
        result["result"], "Hello from the scripted Gemini",
        "{}",
        claude.version
    );
    assert!(run.out.status.success());
    let main = upstream
        .received()
        .iter()
        .map(Received::json)
        .find(|r| offers(r, "Bash"))
        .expect("the main request");
    assert!(
        main["systemInstruction"]["parts"][0]["text"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}: the system prompt went up",
        claude.version
    );
    every_request_is_gemini(&upstream);
    eprintln!(
        "{}: plain answer, {} upstream requests",
        claude.version,
        upstream.received().len()
    );
}

async fn parallel_tool_round_trip(claude: &Claude) {
    let (_root, home, project) = dirs(claude);
    let two = project.join("two.txt");
    let two_path = two.to_string_lossy().into_owned();
    let seen = Arc::new(Mutex::new(Value::Null));
    let seen_by_handler = seen.clone();
    let upstream = Upstream::with_handler(move |r: &Received| {
        let req = r.json();
        if !offers(&req, "Bash") {
            return text_reply(r, &["ok"]);
        }
        let parts = last_parts(&req);
        if parts.iter().any(|p| p.get("functionResponse").is_some()) {
            *seen_by_handler.lock().unwrap() = req["contents"].clone();
            let responses: Vec<&Value> = parts
                .iter()
                .filter_map(|p| p.get("functionResponse"))
                .collect();
            let joined = serde_json::to_string(&responses).unwrap();
            // The model turn before the results carries the signature on its first call.
            let contents = req["contents"].as_array().unwrap();
            let model = &contents[contents.len() - 2];
            let first_call = model["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p.get("functionCall").is_some());
            let signed = first_call.is_some_and(|p| p["thoughtSignature"] == "c2lnLWUyZS1jYWxs");
            let verdict = if responses.len() == 2
                && responses[0]["name"] == "Bash"
                && responses[1]["name"] == "Write"
                && joined.contains("one-from-bash")
                && signed
            {
                "Both tools ran: one-from-bash"
            } else {
                "Tool results missing"
            };
            return text_reply(r, &[verdict]);
        }
        let bash = json!({"command": "echo one-from-bash > one.txt && cat one.txt", "description": "Write one.txt"});
        let write = json!({"file_path": two_path, "content": "two-from-write\n"});
        reply(
            r,
            gemini_script::calls(
                &[("Bash", bash.clone()), ("Write", write.clone())],
                Some("c2lnLWUyZS1jYWxs"),
            ),
            json!([
                {"functionCall": {"name": "Bash", "args": bash}, "thoughtSignature": "c2lnLWUyZS1jYWxs"},
                {"functionCall": {"name": "Write", "args": write}}
            ]),
        )
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
        "{}: {:#}",
        claude.version,
        seen.lock().unwrap()
    );
    let uses: Vec<&Value> = run
        .lines
        .iter()
        .filter(|l| l["type"] == "assistant")
        .flat_map(|l| l["message"]["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_use")
        .collect();
    assert_eq!(uses.len(), 2, "{}: {uses:?}", claude.version);
    assert_eq!(uses[0]["name"], "Bash");
    assert_eq!(uses[1]["name"], "Write");
    every_request_is_gemini(&upstream);
}

async fn thinking_then_text(claude: &Claude) {
    let upstream = Upstream::with_handler(|r: &Received| {
        if offers(&r.json(), "Bash") {
            reply(
                r,
                gemini_script::thinking_then_text(
                    &["Let me ", "think about it."],
                    &["The answer ", "is 42."],
                    "c2lnLWUyZS10ZXh0",
                ),
                json!([{"text": "Let me think about it.", "thought": true},
                       {"text": "The answer is 42.", "thoughtSignature": "c2lnLWUyZS10ZXh0"}]),
            )
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
    let main = upstream
        .received()
        .iter()
        .map(Received::json)
        .find(|r| offers(r, "Bash"))
        .unwrap();
    eprintln!(
        "{}: thinking config sent {}",
        claude.version, main["generationConfig"]["thinkingConfig"]
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
                headers: vec![
                    ("retry-after", "0".into()),
                    ("content-type", "application/json".into()),
                ],
                body: gemini_script::error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Resource has been exhausted (e.g. check quota).",
                )
                .to_string()
                .into(),
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
    let main: Vec<String> = upstream
        .received()
        .iter()
        .filter(|r| offers(&r.json(), "Bash"))
        .map(|r| r.uri.clone())
        .collect();
    assert!(main.len() >= 2, "{}: {main:?}", claude.version);
    eprintln!(
        "{}: after one 429, the main request was sent again as: {main:?}",
        claude.version
    );
}

/// A stream that fails mid-answer ends with its `event: error` inside the open block (for
/// Claude Code 2.0.x: its body aborted with the block open), which makes Claude Code retry
/// without streaming (`:generateContent`) rather than keep the
/// truncated text: `retry` is what that retry gets. Returns the run and the URIs asked.
async fn mid_stream_failure_then(claude: &Claude, retry: Reply) -> (Run, Vec<String>) {
    let upstream = Upstream::with_handler(move |req| {
        // Only the main request fails; side requests (titles, 2.0.x's agent warm-ups) get a
        // normal answer.
        if !is_main(&req.json()) {
            return text_reply(req, &["ok"]);
        }
        if !streamed(req) {
            return retry.clone();
        }
        Reply::steps(vec![
            Step::Send(chunk(json!([{"text": "partial "}]), None, usage(50, 1, 0, 0)).into()),
            Step::Send(chunk(json!([{"text": "answer"}]), None, usage(50, 2, 0, 0)).into()),
            Step::Send(
                gemini_script::event(&gemini_script::error(500, "INTERNAL", "the model crashed"))
                    .into(),
            ),
        ])
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let started = std::time::Instant::now();
    let run = anyclaude(claude, &upstream, &project, &home, FAILING_PROMPT, &[]).await;
    assert!(started.elapsed() < Duration::from_secs(100));
    let uris: Vec<String> = upstream
        .received()
        .iter()
        .filter(|r| is_main(&r.json()))
        .map(|r| r.uri.clone())
        .collect();
    assert!(
        uris.first()
            .is_some_and(|u| u.contains(":streamGenerateContent")),
        "{}: streamed first: {uris:?}",
        claude.version
    );
    assert_ne!(
        run.result(&claude.version)["result"],
        "partial answer",
        "{}: a failure is never a truncated success",
        claude.version
    );
    (run, uris)
}

async fn mid_stream_failure(claude: &Claude) {
    // The retry succeeds: the whole answer, never the partial one.
    let whole = gemini_script::response(
        json!([{"text": "the whole answer"}]),
        Some("STOP"),
        usage(50, 3, 0, 0),
    );
    let (run, uris) = mid_stream_failure_then(claude, Reply::json(whole)).await;
    let result = run.result(&claude.version);
    eprintln!(
        "{}: mid-stream failure, retry succeeds: shown as {} (is_error {}); upstream requests: {uris:?}",
        claude.version, result["result"], result["is_error"]
    );
    // Retried without streaming, on every version: the whole answer.
    assert!(
        uris.iter().any(|u| u.contains(":generateContent")),
        "{}: retried without streaming: {uris:?}",
        claude.version
    );
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(result["result"], "the whole answer", "{}", claude.version);

    // The retry fails too (a 400, which nobody retries): the turn is shown as an error.
    let refused = Reply::error(
        400,
        gemini_script::error(400, "INVALID_ARGUMENT", "the model crashed again"),
    );
    let (run, uris) = mid_stream_failure_then(claude, refused).await;
    let result = run.result(&claude.version);
    eprintln!(
        "{}: mid-stream failure, retry fails: shown as {} ({}); upstream requests: {uris:?}",
        claude.version, result["result"], result["subtype"]
    );
    assert_eq!(result["is_error"], true, "{}: {result}", claude.version);
    assert_eq!(run.out.status.code(), Some(1), "{}", claude.version);
    let shown = result.to_string();
    assert!(
        shown.contains("the model crashed"),
        "{}: {shown}",
        claude.version
    );
}

#[tokio::test]
async fn e2e_gemini_plain_answer() {
    for claude in claude::pinned("e2e_gemini_plain_answer") {
        plain_answer(&claude).await;
        claude::record("e2e_gemini_plain_answer", &claude);
    }
}

#[tokio::test]
async fn e2e_gemini_parallel_tool_round_trip() {
    for claude in claude::pinned("e2e_gemini_parallel_tool_round_trip") {
        parallel_tool_round_trip(&claude).await;
        claude::record("e2e_gemini_parallel_tool_round_trip", &claude);
    }
}

#[tokio::test]
async fn e2e_gemini_thinking_then_text() {
    for claude in claude::pinned("e2e_gemini_thinking_then_text") {
        thinking_then_text(&claude).await;
        claude::record("e2e_gemini_thinking_then_text", &claude);
    }
}

#[tokio::test]
async fn e2e_gemini_rate_limited_then_success() {
    for claude in claude::pinned("e2e_gemini_rate_limited_then_success") {
        rate_limited_then_success(&claude).await;
        claude::record("e2e_gemini_rate_limited_then_success", &claude);
    }
}

#[tokio::test]
async fn e2e_gemini_mid_stream_failure_is_retried_or_shown_never_truncated() {
    for claude in
        claude::pinned("e2e_gemini_mid_stream_failure_is_retried_or_shown_never_truncated")
    {
        mid_stream_failure(&claude).await;
        claude::record(
            "e2e_gemini_mid_stream_failure_is_retried_or_shown_never_truncated",
            &claude,
        );
    }
}

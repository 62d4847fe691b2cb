//! End to end against a real local model server: the real, pinned Claude Code, through
//! anyclaude (`--model llamacpp/smollm2`), against llama-cpp-python's server running
//! SmolLM2-135M-Instruct (see [`crate::llama`]). The model is tiny: the tests assert on the
//! shape of what crosses and on the plumbing, never on the quality of an answer. To keep
//! their cost bounded they run small windows, Claude Code with a one-line system prompt and
//! few tools (but for the window case, which needs its real first request), and a low
//! output cap.
//!
//! Where a test needs something the real server cannot do on cue (a first reply that is a
//! tool call; llama.cpp's `/props`, which llama-cpp-python does not serve), a scripted
//! front answers that and forwards everything else to the real server unchanged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::chat_script;
use crate::claude::{self, Claude, Run, dirs};
use crate::llama::{LlamaServer, MODEL, Settings};
use crate::scripted::{Received, Reply, Step, Upstream};

/// A short system prompt and no tools: a request of a few hundred tokens.
const SMALL: &[&str] = &["--system-prompt", "You are terse. Answer in one sentence."];

/// Runs `anyclaude --model llamacpp/smollm2 -p <prompt>` with `LLAMACPP_BASE_URL` at
/// `base_url` (`…/v1`); returns the run and anyclaude's log (read before its HOME goes).
async fn anyclaude(claude: &Claude, base_url: &str, prompt: &str, extra: &[&str]) -> (Run, String) {
    let (_root, home, project) = dirs(claude);
    let env = [("LLAMACPP_BASE_URL", base_url.to_owned())];
    let run = claude::print(
        claude,
        (&home, &project),
        &env,
        MODEL,
        prompt,
        extra,
        Duration::from_secs(300),
    )
    .await;
    let log = log_of(&run);
    (run, log)
}

fn stderr(run: &Run) -> String {
    String::from_utf8_lossy(&run.out.stderr).into_owned()
}

/// Forwards `r` (a chat completion) to the real server as it came and answers with what it
/// said, whole; a body the server breaks off is passed on broken off (then reset).
fn forward(server_base: &str, r: &Received) -> Reply {
    let url = format!(
        "{server_base}{}",
        r.uri.strip_prefix("/v1").unwrap_or(&r.uri)
    );
    let body = r.body.clone();
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async move {
            anyclaude::upstream::install_tls_provider();
            let sent = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            // A server that drops the connection (llama-cpp-python may, for a request that
            // another one interrupts) is passed on as a dropped connection.
            let Ok(mut resp) = sent else {
                return Reply::steps(vec![Step::Reset]);
            };
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let mut got = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                    Ok(None) => {
                        return Reply::Full {
                            status,
                            headers: vec![("content-type", content_type)],
                            body: got.into(),
                        };
                    }
                    Err(_) => {
                        return Reply::steps(vec![Step::Send(got.into()), Step::Reset]);
                    }
                }
            }
        })
    })
}

async fn plain_answer(claude: &Claude, server: &LlamaServer) {
    let started = Instant::now();
    let (run, _) = anyclaude(
        claude,
        &server.base_url(),
        "Say hello.",
        &[SMALL, &["--tools", ""]].concat(),
    )
    .await;
    let result = answer_of(claude, &run);
    let text = result["result"].as_str().unwrap_or_default();
    assert!(
        !text.trim().is_empty(),
        "{}: an empty answer",
        claude.version
    );
    assert!(run.out.status.success());
    let err = stderr(&run);
    assert!(
        !err.contains("nothing listens"),
        "{}: {err}",
        claude.version
    );
    eprintln!(
        "{}: plain answer from the real server in {:?}: {text:?}",
        claude.version,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_local_plain_answer() {
    let Some(server) = on_every_version(
        "e2e_local_plain_answer",
        4096,
        false,
        async |claude, server| plain_answer(claude, server).await,
    )
    .await
    else {
        return;
    };
    assert!(
        !server.prompt_evals().is_empty(),
        "the real server evaluated the prompts:\n{}",
        server.log()
    );
}

/// Starts the real server (`n_ctx`, `interrupt`) and runs `case` against it on every pinned
/// Claude Code version, recording each; the server, for checks after, or `None` when the
/// server is not installed and the local tests are skipped.
async fn on_every_version(
    test: &str,
    n_ctx: u32,
    interrupt: bool,
    case: impl AsyncFn(&Claude, &LlamaServer),
) -> Option<LlamaServer> {
    let claudes = claude::pinned(test);
    let server = LlamaServer::start(test, Settings { n_ctx, interrupt }).await?;
    for claude in claudes {
        case(&claude, &server).await;
        claude::record(test, &claude);
    }
    Some(server)
}

/// Claude Code's result of `run`, which must be an answer, not an error (shown with the
/// tail of the run's log when it is).
fn answer_of<'a>(claude: &Claude, run: &'a Run) -> &'a Value {
    let result = run.result(&claude.version);
    assert_eq!(
        result["is_error"],
        false,
        "{}: {result}\n{}",
        claude.version,
        claude::log_tail(&stderr(run))
    );
    result
}

/// anyclaude's log of a run (its path is on stderr).
fn log_of(run: &Run) -> String {
    stderr(run)
        .lines()
        .find_map(|l| l.strip_prefix("anyclaude: log: "))
        .and_then(|path| std::fs::read_to_string(path.trim()).ok())
        .unwrap_or_default()
}

/// A window smaller than Claude Code's request: the error Claude Code shows names the
/// server's window, soon (a 400: not retried for minutes), and anyclaude's message, in its
/// log and wherever Claude Code shows the message as it is, names the setting that raises it.
async fn window_too_small(claude: &Claude, server: &LlamaServer, n_ctx: u32) {
    let started = Instant::now();
    // Claude Code's own system prompt (a few thousand tokens), without the tool schemas.
    let (run, log) = anyclaude(
        claude,
        &server.base_url(),
        "Say hello.",
        &["--tools", "", "--log-level", "1"],
    )
    .await;
    let elapsed = started.elapsed();
    let result = run.result(&claude.version);
    let shown = result["result"].as_str().unwrap_or_default();
    eprintln!(
        "{}: window too small, after {elapsed:?}, Claude Code showed: {shown}",
        claude.version
    );
    assert_eq!(result["is_error"], true, "{}: {result}", claude.version);
    if claude.version.starts_with("2.0.") {
        // 2.0.x shows its own words for a prompt that is too long, without the numbers.
        assert!(
            shown.starts_with("Prompt is too long"),
            "{}: {shown}",
            claude.version
        );
    } else {
        assert!(
            shown.contains(&n_ctx.to_string()),
            "{}: the message names the window: {shown}",
            claude.version
        );
    }
    assert!(
        log.contains(&format!("has a {n_ctx}-token window")) && log.contains("--n_ctx"),
        "{}: anyclaude's message names the window and --n_ctx:\n{log}",
        claude.version
    );
    // The server streams a 200 that ends without a word; anyclaude asks again unstreamed
    // and answers the 400 within seconds. (2.0.x then tries to compact, and waits for its
    // other requests on the one-slot server before it shows the error.)
    let overflow_answered_ms = log
        .lines()
        .filter(|l| l.contains("status=400") && l.contains("prompt is too long"))
        .filter_map(|l| {
            l.split("duration_ms=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .min();
    assert!(
        overflow_answered_ms.is_some_and(|ms| ms < 10_000),
        "{}: the overflow answered as a 400 within seconds ({overflow_answered_ms:?}):\n{log}",
        claude.version
    );
    // 2.0.x waits for its other requests (sub-agent warm-ups of the whole prompt) on the
    // one-slot server, minutes on a busy machine: its bound is the run's own.
    assert!(
        claude.version.starts_with("2.0.") || elapsed < Duration::from_secs(150),
        "{}: not retried for minutes",
        claude.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_local_window_too_small() {
    let n_ctx = 1024;
    on_every_version(
        "e2e_local_window_too_small",
        n_ctx,
        false,
        async |claude, server| window_too_small(claude, server, n_ctx).await,
    )
    .await;
}

/// The output limit the front's `/props` reports (`llama-server -n 256`).
const N_PREDICT: u64 = 256;

/// A front that serves llama.cpp's `GET /props` with the real server's window and forwards
/// the rest: anyclaude finds the window at start and tells Claude Code the window and an
/// output cap (here its floor, 1,024), which every version keeps to (uncapped they ask for
/// 32,000) while the answer fits. Measured: every version asks for 1,024 (2.0.77, 2.1.197
/// and 2.1.332, twice each at a load average of 8). An earlier run where 2.1.197 sent no
/// request within 300 s was not seen again; on a machine that slow the real server takes
/// 20 tokens a second, and a one-slot server's queue, not Claude Code, is what waits.
async fn window_told(claude: &Claude, server: &LlamaServer, n_ctx: u32) {
    let base = server.base_url();
    let front = Upstream::with_handler(move |r: &Received| {
        if r.uri == "/props" {
            return Reply::json(json!({
                "default_generation_settings": {"n_ctx": n_ctx, "params": {"n_predict": N_PREDICT}},
                "total_slots": 1
            }));
        }
        if r.uri == "/v1/chat/completions" {
            return forward(&base, r);
        }
        Reply::error(404, json!({"detail": "Not Found"}))
    })
    .await;
    let (run, log) = anyclaude(
        claude,
        &format!("{}/v1", front.url()),
        "Say hello.",
        &[SMALL, &["--tools", "", "--log-level", "1"]].concat(),
    )
    .await;
    let result = run.result(&claude.version);
    let err = stderr(&run);
    assert_eq!(
        result["is_error"], false,
        "{}: {result}\n{err}\n{log}",
        claude.version
    );
    assert!(
        !err.contains("warning"),
        "{}: a window that fits is not warned about: {err}",
        claude.version
    );
    // The server's 256 is below the smallest cap anyclaude tells (1,024).
    let cap = 1024;
    let asked: Vec<u64> = front
        .received()
        .iter()
        .filter(|r| r.uri == "/v1/chat/completions")
        .filter_map(|r| r.json()["max_tokens"].as_u64())
        .collect();
    eprintln!(
        "{}: window {n_ctx} told; max_tokens asked of the server: {asked:?}",
        claude.version
    );
    assert!(!asked.is_empty(), "{}", claude.version);
    assert!(
        asked.iter().all(|m| *m <= cap),
        "{}: every request keeps to the output cap {cap}: {asked:?}",
        claude.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_local_window_told() {
    // The smallest window 2.1.332 takes a request in once told it: it keeps the output cap
    // and 3,000 tokens free inside the window (at 4,096 it refuses every prompt).
    let n_ctx = 16384;
    on_every_version(
        "e2e_local_window_told",
        n_ctx,
        false,
        async |claude, server| window_told(claude, server, n_ctx).await,
    )
    .await;
}

/// Whether a Chat request offers `tool`.
fn offers(req: &Value, tool: &str) -> bool {
    req["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == tool))
}

/// A scripted first reply supplies the tool call; the real server takes the tool result.
/// On 2.0.77 the turn also waits for its Bash pre-flight (the command-prefix check, sent to
/// the small model, here the real server), and its sub-agents' warm-ups are answered by the
/// proxy: before both were told apart from background requests, the warm-ups (answered with
/// the scripted call, then continued on the real server) held the one slot and the
/// pre-flight waited behind them, 45–113 s, and the run took over 300 s; now under a minute.
async fn tool_round_trip(claude: &Claude, server: &LlamaServer) {
    let base = server.base_url();
    let forwarded = Arc::new(Mutex::new(Vec::<(Value, u16)>::new()));
    let seen = forwarded.clone();
    let front = Upstream::with_handler(move |r: &Received| {
        if r.uri == "/props" {
            return Reply::json(json!({
                "default_generation_settings": {"n_ctx": 16384, "params": {"n_predict": N_PREDICT}},
                "total_slots": 1
            }));
        }
        if r.uri != "/v1/chat/completions" {
            return Reply::error(404, json!({"detail": "Not Found"}));
        }
        let req = r.json();
        let has_result = req["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        if offers(&req, "Bash") && !has_result {
            return Reply::sse(chat_script::tool_calls(
                &[(
                    "call_local_1",
                    "Bash",
                    json!({"command": "echo local-tool-ok | tee out.txt", "description": "Write out.txt"}),
                )],
                16,
            ));
        }
        let reply = forward(&base, r);
        if let Reply::Full { status, .. } = &reply {
            seen.lock().unwrap().push((req, *status));
        }
        reply
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let env = [("LLAMACPP_BASE_URL", format!("{}/v1", front.url()))];
    let run = claude::print(
        claude,
        (&home, &project),
        &env,
        MODEL,
        "Run the command.",
        &[
            SMALL,
            &[
                "--tools",
                "Bash",
                "--allowedTools",
                "Bash",
                "--log-level",
                "1",
            ],
        ]
        .concat(),
        Duration::from_secs(300),
    )
    .await;
    answer_of(claude, &run);
    assert_eq!(
        std::fs::read_to_string(project.join("out.txt")).unwrap_or_default(),
        "local-tool-ok\n",
        "{}: the tool ran",
        claude.version
    );
    let forwarded = forwarded.lock().unwrap();
    let second = forwarded
        .iter()
        .find(|(req, _)| offers(req, "Bash"))
        .unwrap_or_else(|| {
            panic!(
                "{}: the tool result reached the real server",
                claude.version
            )
        });
    assert_eq!(second.1, 200, "{}: the real server took it", claude.version);
    let messages = second.0["messages"].as_array().unwrap();
    let call = messages
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .expect("the assistant's call goes back");
    assert_eq!(call["tool_calls"][0]["id"], "call_local_1");
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(tool["tool_call_id"], "call_local_1");
    assert!(
        tool["content"].to_string().contains("local-tool-ok"),
        "{}: {tool}",
        claude.version
    );
    let warmups = front
        .received()
        .iter()
        .filter(|r| r.uri == "/v1/chat/completions")
        .filter(|r| {
            let messages = r.json()["messages"].clone();
            messages
                .as_array()
                .and_then(|m| m.iter().find(|m| m["role"] == "user"))
                .is_some_and(|m| m["content"] == "Warmup")
        })
        .count();
    assert_eq!(warmups, 0, "{}: warm-ups stay in the proxy", claude.version);
    let answered = log_of(&run)
        .matches("warm-up answered by the proxy")
        .count();
    eprintln!(
        "{}: tool round trip through the real server; warm-ups answered by the proxy: {answered}",
        claude.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_local_tool_round_trip() {
    on_every_version(
        "e2e_local_tool_round_trip",
        16384,
        false,
        async |claude, server| tool_round_trip(claude, server).await,
    )
    .await;
}

/// Prompt tokens the real server evaluated (not reused from its cache) for each main-turn
/// request of a three-turn session (`-p`, then `--continue` twice), Claude Code's own system
/// prompt and tools, the output capped small. Prefix reuse is what makes a local model
/// usable in a long session: anyclaude's translation must keep the prompt's start the same
/// from turn to turn, so each later turn re-reads only what is new.
async fn prompt_cache_per_turn(
    claude: &Claude,
    server: &LlamaServer,
    extra_env: &[(&str, &str)],
) -> Vec<u64> {
    let (_root, home, project) = dirs(claude);
    let mut env = vec![
        ("LLAMACPP_BASE_URL", server.base_url()),
        ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "64".to_owned()),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let before = server.prompt_evals().len();
    for (turn, prompt) in ["Say hello.", "Say goodbye.", "Say thanks."]
        .iter()
        .enumerate()
    {
        let extra: &[&str] = if turn == 0 { &[] } else { &["--continue"] };
        let run = claude::print(
            claude,
            (&home, &project),
            &env,
            MODEL,
            prompt,
            extra,
            Duration::from_secs(400),
        )
        .await;
        let result = run.result(&claude.version);
        assert_eq!(
            result["is_error"],
            false,
            "{} turn {}: {result}\n{}",
            claude.version,
            turn + 1,
            claude::log_tail(&stderr(&run))
        );
    }
    server.prompt_evals()[before..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (three turns on each version, minutes on a loaded machine); run with --ignored"]
async fn e2e_local_prompt_cache_per_turn() {
    let test = "e2e_local_prompt_cache_per_turn";
    let claudes = claude::pinned(test);
    let settings = Settings {
        n_ctx: 16384,
        interrupt: false,
    };
    let Some(server) = LlamaServer::start(test, settings).await else {
        return;
    };
    for claude in claudes {
        let evals = prompt_cache_per_turn(&claude, &server, &[]).await;
        eprintln!(
            "{}: prompt tokens evaluated per request over three turns: {evals:?}",
            claude.version
        );
        let first = *evals.iter().max().unwrap();
        assert!(
            evals.iter().filter(|n| **n < first / 2).count() >= 2,
            "{}: later turns reuse the cached prefix: {evals:?}",
            claude.version
        );
        claude::record(test, &claude);
    }
}

/// Forwards `r` to the real server streaming, and once `after` chunks have come, sends the
/// server another request (a one-token completion) as a second client would: the real
/// server (its `--interrupt_requests` on, its default) cuts the running answer with a bare
/// `[DONE]` and no finish reason. Answers with what the server sent for `r`, as it sent it.
fn forward_interrupted(server_base: &str, r: &Received, after: usize) -> (Reply, String) {
    let url = format!(
        "{server_base}{}",
        r.uri.strip_prefix("/v1").unwrap_or(&r.uri)
    );
    let interrupt_url = url.clone();
    let body = r.body.clone();
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async move {
            anyclaude::upstream::install_tls_provider();
            let client = reqwest::Client::new();
            let mut resp = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the real server answers");
            let mut got = Vec::new();
            let mut chunks = 0;
            let mut interrupter = None;
            while let Ok(Some(chunk)) = resp.chunk().await {
                got.extend_from_slice(&chunk);
                chunks += 1;
                if chunks == after {
                    let client = client.clone();
                    let url = interrupt_url.clone();
                    interrupter = Some(tokio::spawn(async move {
                        let _ = client
                            .post(url)
                            .json(&json!({"model": "smollm2", "max_tokens": 1,
                                "messages": [{"role": "user", "content": "hi"}]}))
                            .send()
                            .await;
                    }));
                }
            }
            if let Some(interrupter) = interrupter {
                let _ = interrupter.await;
            }
            let text = String::from_utf8_lossy(&got).into_owned();
            (
                Reply::Full {
                    status: 200,
                    headers: vec![("content-type", "text/event-stream".to_owned())],
                    body: got.into(),
                },
                text,
            )
        })
    })
}

/// The word that marks the interrupted test's main turn.
const PROMPT_MARK: &str = "thirty";

/// An answer the real server cuts (another request arrived) is not shown as complete: the
/// first streamed answer ends with the server's bare `[DONE]`, anyclaude ends it as
/// incomplete (an error, never `end_turn`), Claude Code asks again, and what it shows is
/// the second, whole answer.
async fn interrupted_stream(claude: &Claude, server: &LlamaServer) {
    let base = server.base_url();
    let cut = Arc::new(Mutex::new(None::<String>));
    let seen = cut.clone();
    let front = Upstream::with_handler(move |r: &Received| {
        if r.uri == "/props" {
            return Reply::json(json!({
                "default_generation_settings": {"n_ctx": 16384, "params": {"n_predict": -1}},
                "total_slots": 1
            }));
        }
        if r.uri != "/v1/chat/completions" {
            return Reply::error(404, json!({"detail": "Not Found"}));
        }
        let main = r.json()["messages"].to_string().contains(PROMPT_MARK);
        let mut first = seen.lock().unwrap();
        if main && first.is_none() {
            let (reply, text) = forward_interrupted(&base, r, 6);
            *first = Some(text);
            return reply;
        }
        drop(first);
        forward(&base, r)
    })
    .await;
    // An answer of a few dozen tokens that ends by itself: long enough to be cut, short
    // enough for Claude Code's retry (2.1.x asks again without streaming) on a loaded
    // machine, where the real server writes ~3 tokens a second. The cap bounds it.
    let (_root, home, project) = dirs(claude);
    let env = [
        ("LLAMACPP_BASE_URL", format!("{}/v1", front.url())),
        ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "300".to_owned()),
    ];
    let run = claude::print(
        claude,
        (&home, &project),
        &env,
        MODEL,
        &format!("Count from one to {PROMPT_MARK} in words, one per line."),
        &[SMALL, &["--tools", "", "--log-level", "1"]].concat(),
        Duration::from_secs(300),
    )
    .await;
    let log = log_of(&run);
    let cut = cut
        .lock()
        .unwrap()
        .clone()
        .expect("the main turn was asked");
    assert!(
        cut.trim_end().ends_with("data: [DONE]") && !cut.contains("\"finish_reason\":\"stop\""),
        "{}: the real server cut the first answer:\n{cut}",
        claude.version
    );
    assert!(
        log.contains("the answer is incomplete"),
        "{}: anyclaude ended the cut answer as incomplete:\n{log}",
        claude.version
    );
    let asked = front
        .received()
        .iter()
        .filter(|r| r.uri == "/v1/chat/completions")
        .filter(|r| r.json()["messages"].to_string().contains(PROMPT_MARK))
        .count();
    assert!(
        asked >= 2,
        "{}: Claude Code asked again ({asked} requests)",
        claude.version
    );
    let result = answer_of(claude, &run);
    let shown = result["result"].as_str().unwrap_or_default();
    eprintln!(
        "{}: the real server cut the first answer; Claude Code asked {asked} times and showed {} characters",
        claude.version,
        shown.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_local_interrupted_stream() {
    on_every_version(
        "e2e_local_interrupted_stream",
        16384,
        true,
        async |claude, server| interrupted_stream(claude, server).await,
    )
    .await;
}

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
    // The smallest window Claude Code compacts in by itself: nothing is warned about.
    let n_ctx = SMALLEST_COMPACTING_N_CTX;
    on_every_version(
        "e2e_local_window_told",
        n_ctx,
        false,
        async |claude, server| window_told(claude, server, n_ctx).await,
    )
    .await;
}

/// The real server's window in the compaction test.
const COMPACTING_N_CTX: u32 = 18_432;

/// What Claude Code's first request takes on the real server in the compaction test (its
/// own short system prompt, no tools; SmolLM2's template renders no tool schemas anyway):
/// 1,554 tokens measured on 2.1.332, rounded up. anyclaude assumes 12,000 (tool schemas
/// rendered), by which this window is too small to compact in (it would turn compaction
/// off and warn): the test tells Claude Code the values anyclaude computes for this first
/// request instead ([`anyclaude::local_server::window_env_with`]), which beat anyclaude's
/// own as any variable the user sets does.
const FIRST_REQUEST: u64 = 2_048;

/// The smallest window in which anyclaude lets Claude Code compact, rounded up to a
/// multiple of 1,024: the window-told test runs at it and nothing is warned about.
const SMALLEST_COMPACTING_N_CTX: u32 = 28_672;

/// The most tokens the front lets the real server write per answer: the tiny model rambles
/// to whatever cap it is given, at a few tokens a second on a loaded machine.
const ANSWER_TOKENS: u64 = 24;

/// Roughly how many tokens (SmolLM2's tokenizer) each user turn of the compaction test
/// carries (~1.13 tokens a word of [`turn_text`]): with the first request, two turns pass
/// the compaction point (4,408 tokens), so 2.1.x compacts before its second turn and 2.0.x,
/// which counts only up to the last answer, before its third.
const TURN_TOKENS: u64 = 2_000;

/// A user turn of about [`TURN_TOKENS`] tokens: numbered notes of plain words, different
/// per turn (a fixed pseudo-random sequence), ending with a short request.
fn turn_text(turn: usize) -> String {
    const WORDS: &[&str] = &[
        "river", "mountain", "cloud", "garden", "window", "forest", "ocean", "silver", "candle",
        "market", "bridge", "lantern", "harbor", "meadow", "valley", "thunder", "pebble",
        "orchard", "velvet", "compass", "anchor", "blossom", "canyon", "desert", "ember", "falcon",
        "glacier", "horizon", "island", "jungle", "kettle", "lagoon", "marble", "nectar", "oasis",
        "prairie", "quartz", "reef", "saddle", "tundra", "umbrella", "violet", "willow", "yonder",
        "zephyr",
    ];
    let mut state = 0x9e37_79b9_u64.wrapping_mul(turn as u64 + 1);
    let mut text = format!("Part {turn} of my notes follows.\n\n");
    let words = (TURN_TOKENS * 100 / 113) as usize;
    for _ in 0..words {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        text.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
        text.push(' ');
    }
    text.push_str("\n\nReply with one short sentence.");
    text
}

/// What the front saw of one chat completion.
#[derive(Debug, Clone)]
struct Exchange {
    /// Which `claude -p` run (1-based) sent it.
    turn: usize,
    /// Whether it is Claude Code's compaction request (its instruction to write a detailed
    /// summary of the conversation is the last message).
    summary: bool,
    /// The real server's status.
    status: u16,
    /// The prompt tokens the real server counted.
    prompt_tokens: Option<u64>,
    /// The `max_tokens` Claude Code asked for.
    asked: Option<u64>,
}

/// The `prompt_tokens` a chat completion (whole or streamed) reports.
fn prompt_tokens_of(body: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(body);
    let at = text.rfind("\"prompt_tokens\":")?;
    text[at + "\"prompt_tokens\":".len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The window told makes Claude Code compact instead of failing: a conversation grows over
/// several `--continue` turns of ~2,000 tokens each (a short system prompt, no tools),
/// against the real server with an 18,432-token window that a `/props` front reports (with
/// `n_predict` 256, so the output cap is the floor, 1,024), each version told what
/// anyclaude computes for it ([`FIRST_REQUEST`]), and `DISABLE_AUTO_COMPACT=0` as a user
/// whose first request is that small would set it: every version compacts at
/// 18,432 − 1,024 − 13,000 = 4,408 tokens. Claude Code sends its compaction (summary)
/// request through anyclaude, the real server answers it, the next turn is answered, and no
/// request overflows the window or fails. The front lowers each request's `max_tokens` to
/// [`ANSWER_TOKENS`] and reports an answer so cut as finished: the tiny model would
/// otherwise write the whole cap, and Claude Code ask it to go on, for minutes a turn.
/// Measured figures (turns, tokens at compaction, time) are printed per version.
async fn compacts(claude: &Claude, server: &LlamaServer) {
    use anyclaude::local_server::{
        Window, compact_threshold_with, output_cap_with, window_env_with,
    };
    let started = Instant::now();
    let n_ctx = COMPACTING_N_CTX;
    let window = Window {
        tokens: n_ctx.into(),
        server_output_limit: Some(N_PREDICT),
        source: "/props".to_owned(),
    };
    let cap = output_cap_with(&window, FIRST_REQUEST);
    let compact_at = compact_threshold_with(n_ctx.into(), cap, FIRST_REQUEST)
        .expect("the test's window lets Claude Code compact");
    let told = window_env_with(Some(&claude.version), &window, FIRST_REQUEST);
    eprintln!("{}: told {told:?}", claude.version);
    let base = server.base_url();
    let turn_now = Arc::new(Mutex::new(1usize));
    let exchanges = Arc::new(Mutex::new(Vec::<Exchange>::new()));
    let (turn_seen, seen) = (turn_now.clone(), exchanges.clone());
    let front = Upstream::with_handler(move |r: &Received| {
        if r.uri == "/props" {
            return Reply::json(json!({
                "default_generation_settings": {"n_ctx": n_ctx, "params": {"n_predict": N_PREDICT}},
                "total_slots": 1
            }));
        }
        if r.uri != "/v1/chat/completions" {
            return Reply::error(404, json!({"detail": "Not Found"}));
        }
        let mut req = r.json();
        let summary = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .is_some_and(|m| m["content"].to_string().contains("detailed summary"));
        let asked = req["max_tokens"].as_u64();
        req["max_tokens"] = json!(asked.unwrap_or(ANSWER_TOKENS).min(ANSWER_TOKENS));
        let lowered = Received {
            uri: r.uri.clone(),
            headers: r.headers.clone(),
            body: req.to_string().into(),
        };
        let reply = forward(&base, &lowered);
        let Reply::Full {
            status,
            headers,
            body,
        } = reply
        else {
            seen.lock().unwrap().push(Exchange {
                turn: *turn_seen.lock().unwrap(),
                summary,
                status: 0,
                prompt_tokens: None,
                asked,
            });
            return reply;
        };
        seen.lock().unwrap().push(Exchange {
            turn: *turn_seen.lock().unwrap(),
            summary,
            status,
            prompt_tokens: prompt_tokens_of(&body),
            asked,
        });
        let finished = String::from_utf8_lossy(&body)
            .replace("\"finish_reason\":\"length\"", "\"finish_reason\":\"stop\"")
            .replace(
                "\"finish_reason\": \"length\"",
                "\"finish_reason\": \"stop\"",
            );
        Reply::Full {
            status,
            headers,
            body: finished.into_bytes().into(),
        }
    })
    .await;
    let (_root, home, project) = dirs(claude);
    let mut env = vec![("LLAMACPP_BASE_URL", format!("{}/v1", front.url()))];
    env.extend(told.iter().map(|(k, v)| (*k, v.clone())));
    // anyclaude, assuming a first request of 12,000 tokens, would turn compaction off for
    // this window; set by the user, the variable is left as it is.
    env.push(("DISABLE_AUTO_COMPACT", "0".to_owned()));
    // Enough turns for 2.0.x, whose count leaves out the new message (it compacts one turn
    // later than 2.1.x).
    let max_turns = 5;
    let mut answered_after_summary = false;
    let mut turns = 0;
    for turn in 1..=max_turns {
        *turn_now.lock().unwrap() = turn;
        turns = turn;
        let mut extra = [SMALL, &["--tools", "", "--log-level", "1"]].concat();
        if turn > 1 {
            extra.push("--continue");
        }
        let turn_started = Instant::now();
        let run = claude::print(
            claude,
            (&home, &project),
            &env,
            MODEL,
            &turn_text(turn),
            &extra,
            // The turn that compacts reads the whole conversation again (2.0.x, whose
            // summary request has a system prompt of its own): ~9,000 tokens, minutes on a
            // busy machine.
            Duration::from_secs(900),
        )
        .await;
        let result = answer_of(claude, &run);
        let shown = result["result"].as_str().unwrap_or_default().to_owned();
        let err = stderr(&run);
        assert!(
            !shown.contains("Prompt is too long"),
            "{} turn {turn}: {shown}\n{err}",
            claude.version
        );
        let summary_in = |t: usize| {
            exchanges
                .lock()
                .unwrap()
                .iter()
                .any(|x| x.turn == t && x.summary)
        };
        eprintln!(
            "{}: turn {turn} answered in {:?}{}, its input {} tokens",
            claude.version,
            turn_started.elapsed(),
            if summary_in(turn) {
                " (compacted first)"
            } else {
                ""
            },
            result["usage"]["input_tokens"]
        );
        if (1..=turn).any(summary_in) {
            answered_after_summary = true;
            break;
        }
    }
    let exchanges = exchanges.lock().unwrap().clone();
    let figures: Vec<String> = exchanges
        .iter()
        .map(|x| {
            format!(
                "t{}{}:{}:{:?}/{:?}",
                x.turn,
                if x.summary { "/summary" } else { "" },
                x.status,
                x.prompt_tokens,
                x.asked
            )
        })
        .collect();
    let summary = exchanges.iter().find(|x| x.summary).unwrap_or_else(|| {
        panic!(
            "{}: Claude Code sent no compaction request in {turns} turns past {compact_at} \
             tokens: {figures:?}",
            claude.version
        )
    });
    assert!(answered_after_summary, "{}", claude.version);
    assert!(
        summary.turn > 1,
        "{}: no compaction on the first turn: {figures:?}",
        claude.version
    );
    assert_eq!(
        summary.status, 200,
        "{}: the real server answered the summary request: {figures:?}",
        claude.version
    );
    assert!(
        exchanges.iter().all(|x| x.status == 200),
        "{}: every request answered: {figures:?}",
        claude.version
    );
    assert!(
        exchanges
            .iter()
            .skip_while(|x| !x.summary)
            .any(|x| !x.summary && x.status == 200),
        "{}: a turn answered by the real server after the compaction: {figures:?}",
        claude.version
    );
    // The summary request of 2.0.x asks for its own 20,000 tokens whatever the cap (the
    // server holds an answer to what is left of its window).
    assert!(
        exchanges
            .iter()
            .filter(|x| !x.summary || !claude.version.starts_with("2.0."))
            .all(|x| x.asked.is_some_and(|m| m <= cap)),
        "{}: every request keeps to the output cap told ({cap}): {figures:?}",
        claude.version
    );
    eprintln!(
        "{}: compacted on turn {} of {turns} (threshold {compact_at}; the summary request's \
         prompt {:?} tokens) in {:?}; requests: {figures:?}",
        claude.version,
        summary.turn,
        summary.prompt_tokens,
        started.elapsed()
    );
}

/// Measured on idle cores: 2.0.77 compacts before turn 4 (its summary request, with a system
/// prompt of its own, reads the conversation again: 174 s), 2.1.197 and 2.1.332 before turn
/// 3; 271, 92 and 120 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_local_compacts() {
    on_every_version(
        "e2e_local_compacts",
        COMPACTING_N_CTX,
        false,
        async |claude, server| compacts(claude, server).await,
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

//! How each pinned Claude Code treats the ways a stream can end, measured directly against a
//! scripted Anthropic server (no anyclaude): the ground truth for the ending anyclaude writes
//! when a backend fails mid-stream.
//!
//! Every case streams `message_start`, then (except one) a text block with a first delta,
//! then fails in its own way. Claude Code's main request (the one offering the Bash tool)
//! always gets that failing stream, however often it is retried; when Claude Code falls back
//! to a non-streaming request, that request either succeeds with a complete answer or fails
//! with a 500. Side requests (titles and the like) get a normal answer.
//!
//! What is asserted, on every pinned version, is the property anyclaude relies on: **when
//! the stream fails with a block still open (or an empty one opened for the purpose), the
//! user never sees a truncated answer presented as finished** — the turn ends as an error,
//! or as the complete answer of the non-streaming request, or (2.0.x, once more than one
//! text delta has arrived) with no answer at all: 2.0.x then ends the turn as
//! `error_during_execution` with exit 0 and does not retry. The endings with the block
//! closed first are measured and printed, not asserted: some versions show them as a
//! truncated success, which is why anyclaude does not end a failed stream that way.
//!
//! The second test drives the stricter property anyclaude promises through anyclaude: a Chat
//! backend that fails mid-answer (an error chunk after one text delta or after three, a
//! reset, silence past `--idle-timeout`, an error before any content), with Claude Code's
//! non-streaming retry succeeding or failing; on every pinned version the user sees the
//! complete answer when the retry succeeds and an error (`is_error`, a non-zero exit) when it
//! fails — never a truncated answer, never nothing. 2.0.x gets there only because anyclaude
//! aborts a failed stream for it instead of writing `event: error` (case (c2) above, versus
//! (b2)). Table in `target/tmp/stream-endings-anyclaude.md`.
//!
//! Claude Code is told to retry a failing request twice (`CLAUDE_CODE_MAX_RETRIES=2`) rather
//! than its default ten, to keep the run short; the counts in the table reflect that.
//!
//! The measured table is printed to stderr (`-- --nocapture`) and written to
//! `target/tmp/stream-endings.md`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::claude::{self, Claude};
use crate::scripted::{Received, Reply, Step, Upstream};

/// The text delta the stream gets to before it fails.
const PARTIAL: &str = "Starting then ";
/// The same start in three deltas (2.0.x treats more than one delta differently).
const MANY: [&str; 3] = ["Starting ", "then ", "more"];
/// The whole answer of a non-streaming request that succeeds.
const COMPLETE: &str = "The complete answer, sent whole.";

/// How the scripted stream ends after `message_start`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ending {
    /// (a) the text block closed, then `event: error`.
    ClosedThenError,
    /// (b) `event: error` with the text block still open.
    OpenThenError,
    /// (c) the connection reset with the text block open.
    OpenThenReset,
    /// (b2) like (b), after three text deltas instead of one.
    OpenManyThenError,
    /// (c2) like (c), after three text deltas instead of one.
    OpenManyThenReset,
    /// (d) the block closed, `event: error`, then a reset.
    ClosedErrorReset,
    /// (e) no block ever opened: `message_start`, then `event: error`.
    NoBlockThenError,
    /// (f) an empty text block opened and left open, then `event: error`.
    EmptyOpenThenError,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::ClosedThenError => "(a) block closed, then `event: error`",
            Ending::OpenThenError => "(b) `event: error`, block open",
            Ending::OpenThenReset => "(c) reset, block open",
            Ending::OpenManyThenError => "(b2) `event: error`, block open, 3 deltas",
            Ending::OpenManyThenReset => "(c2) reset, block open, 3 deltas",
            Ending::ClosedErrorReset => "(d) block closed, `event: error`, reset",
            Ending::NoBlockThenError => "(e) no block, then `event: error`",
            Ending::EmptyOpenThenError => "(f) empty text block open, then `event: error`",
        }
    }

    /// Whether the ending leaves a block open: the endings anyclaude writes.
    fn block_open(self) -> bool {
        matches!(
            self,
            Ending::OpenThenError
                | Ending::OpenThenReset
                | Ending::OpenManyThenError
                | Ending::OpenManyThenReset
                | Ending::EmptyOpenThenError
        )
    }
}

fn event(name: &str, data: Value) -> Step {
    Step::Send(format!("event: {name}\ndata: {data}\n\n").into())
}

fn message_start() -> Step {
    event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_scripted", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
    )
}

fn block_start() -> Step {
    event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    )
}

fn delta(text: &str) -> Step {
    event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
    )
}

fn block_stop() -> Step {
    event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    )
}

fn error_event() -> Step {
    event(
        "error",
        json!({"type": "error", "error": {"type": "api_error", "message": "the backend failed mid-stream"}}),
    )
}

/// The failing stream of the main request.
fn failing_stream(ending: Ending) -> Vec<Step> {
    let mut steps = vec![message_start()];
    let opened = [block_start(), delta(PARTIAL)];
    match ending {
        Ending::ClosedThenError => {
            steps.extend(opened);
            steps.extend([block_stop(), error_event()]);
        }
        Ending::OpenThenError => {
            steps.extend(opened);
            steps.push(error_event());
        }
        Ending::OpenThenReset => {
            steps.extend(opened);
            steps.push(Step::Reset);
        }
        Ending::ClosedErrorReset => {
            steps.extend(opened);
            steps.extend([block_stop(), error_event(), Step::Reset]);
        }
        Ending::OpenManyThenError | Ending::OpenManyThenReset => {
            steps.push(block_start());
            steps.extend(MANY.iter().map(|d| delta(d)));
            steps.push(if ending == Ending::OpenManyThenError {
                error_event()
            } else {
                Step::Reset
            });
        }
        Ending::NoBlockThenError => steps.push(error_event()),
        Ending::EmptyOpenThenError => steps.extend([block_start(), error_event()]),
    }
    steps
}

/// A whole, successful streamed answer (side requests).
fn complete_stream(text: &str) -> Vec<Step> {
    vec![
        message_start(),
        block_start(),
        delta(text),
        block_stop(),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

fn whole_message(text: &str) -> Value {
    json!({"id": "msg_whole", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 5}})
}

/// A 500 the client may retry at once.
pub fn server_error() -> Reply {
    Reply::Full {
        status: 500,
        headers: vec![
            ("content-type", "application/json".into()),
            ("retry-after", "0".into()),
        ],
        body: json!({"type": "error", "error": {"type": "api_error", "message": "the fallback failed too"}})
            .to_string()
            .into(),
    }
}

/// Claude Code's retries of a failing request, down from 10: 2.1.x backs off
/// exponentially (to ~38 s a try, whatever `retry-after` says), which would take minutes.
const MAX_RETRIES: &str = "2";

/// The prompt every case sends.
pub const PROMPT: &str = "say something about endings";

/// Whether a Messages request is Claude Code's main agent request: it offers Bash and
/// carries the prompt (2.0.x also sends its agents a "Warmup" request offering Bash).
pub fn is_main(req: &Value) -> bool {
    req["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["name"] == "Bash"))
        && req["messages"].to_string().contains(PROMPT)
}

/// What the user saw, and what Claude Code sent.
#[derive(Debug)]
pub struct Seen {
    /// The result line's `subtype` (`success`, `error_during_execution`, …).
    pub subtype: String,
    /// The result line's `is_error`.
    pub is_error: bool,
    /// The result line's text (or the error shown).
    pub result: String,
    /// The text of the assistant messages Claude Code printed.
    pub assistant_text: String,
    /// Main requests sent streaming.
    pub streamed: usize,
    /// Main requests sent without streaming (the fallback, and its retries).
    pub whole: usize,
    /// The exit code.
    pub exit: Option<i32>,
}

impl Seen {
    /// The property anyclaude relies on: an error, the complete answer, or (2.0.x after
    /// several deltas) no answer at all — never a truncated answer presented as finished.
    pub fn never_truncated_success(&self, complete: &str) -> bool {
        self.is_error || self.result == complete || self.no_answer()
    }

    /// The turn ended without an answer and without an error (2.0.x's
    /// `error_during_execution`, exit 0).
    pub fn no_answer(&self) -> bool {
        self.subtype == "error_during_execution" && self.result.is_empty()
    }

    /// What anyclaude promises on every version: the complete answer when Claude Code's
    /// retry succeeds, an error (`is_error`, a non-zero exit) when it fails.
    pub fn complete_or_error(&self, retry_ok: bool, complete: &str) -> bool {
        if retry_ok {
            !self.is_error && self.result == complete && self.exit == Some(0)
        } else {
            self.is_error && self.exit.is_some_and(|code| code != 0)
        }
    }

    /// Whether the user was told of a failure, or at least not shown a success.
    pub fn not_a_success(&self) -> bool {
        self.is_error || self.no_answer()
    }

    /// One table row's cells after the case's label.
    pub fn cells(&self) -> String {
        let shown: String = self.result.chars().take(70).collect();
        let outcome = if self.is_error {
            "error"
        } else if self.no_answer() {
            "**no answer, no error** (error_during_execution)"
        } else if self.result == COMPLETE {
            "success, complete"
        } else {
            "**success, truncated**"
        };
        let partial = self.assistant_text.contains(PARTIAL) || self.result.contains(PARTIAL);
        format!(
            "{outcome} | {shown:?} | {} | {} | {:?} | {} + {}",
            self.is_error,
            if partial { "yes" } else { "no" },
            self.exit,
            self.streamed,
            self.whole
        )
    }
}

/// Reads what a `-p --output-format stream-json` run shows.
pub fn seen_from(out: &std::process::Output, main: &[Received], version: &str) -> Seen {
    let lines = claude::json_lines(&out.stdout);
    let result = claude::result_line(&lines).unwrap_or_else(|| {
        panic!(
            "{version}: no result line; stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let assistant_text = lines
        .iter()
        .filter(|l| l["type"] == "assistant")
        .flat_map(|l| l["message"]["content"].as_array().into_iter().flatten())
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("");
    Seen {
        subtype: result["subtype"].as_str().unwrap_or("").to_owned(),
        is_error: result["is_error"] == true,
        result: result["result"].as_str().unwrap_or("").to_owned(),
        assistant_text,
        streamed: main.iter().filter(|r| r.json()["stream"] == true).count(),
        whole: main.iter().filter(|r| r.json()["stream"] != true).count(),
        exit: out.status.code(),
    }
}

/// Runs one case directly against a scripted Anthropic server.
async fn measure(claude: &Claude, ending: Ending, fallback_ok: bool) -> Seen {
    let main = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen_main = main.clone();
    let upstream = Upstream::with_handler(move |r: &Received| {
        let Some(req) = r.try_json() else {
            return Reply::json(json!({}));
        };
        let stream = req["stream"] == true;
        if !is_main(&req) {
            return if stream {
                Reply::steps(complete_stream("ok"))
            } else {
                Reply::json(whole_message("ok"))
            };
        }
        seen_main.lock().unwrap().push(r.clone());
        if stream {
            Reply::steps(failing_stream(ending))
        } else if fallback_ok {
            Reply::json(whole_message(COMPLETE))
        } else {
            server_error()
        }
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    let project = project.canonicalize().unwrap();
    claude::prepared_home(&home, &project, &claude.version);
    let mut cmd = tokio::process::Command::new(&claude.bin);
    cmd.env_clear()
        .envs(claude::base_env(&home))
        .env("ANTHROPIC_BASE_URL", upstream.url())
        .env("ANTHROPIC_AUTH_TOKEN", "scripted")
        .env("CLAUDE_CODE_MAX_RETRIES", MAX_RETRIES)
        .current_dir(&project)
        .args([
            "-p",
            PROMPT,
            "--model",
            "claude-sonnet-4-5",
            "--output-format",
            "stream-json",
            "--verbose",
        ]);
    let out = claude::run(cmd, Duration::from_secs(150)).await;
    let main = main.lock().unwrap().clone();
    seen_from(&out, &main, &claude.version)
}

#[tokio::test]
async fn e2e_stream_endings_direct() {
    const NAME: &str = "e2e_stream_endings_direct";
    let cases: Vec<(Ending, bool)> = [
        Ending::ClosedThenError,
        Ending::OpenThenError,
        Ending::OpenThenReset,
        Ending::OpenManyThenError,
        Ending::OpenManyThenReset,
        Ending::ClosedErrorReset,
        Ending::NoBlockThenError,
        Ending::EmptyOpenThenError,
    ]
    .into_iter()
    .flat_map(|e| [(e, true), (e, false)])
    .collect();
    let mut table = String::from(
        "| ending | fallback | version | user sees | result text | is_error | partial text shown | exit | main requests (streamed + whole) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut broken = Vec::new();
    for claude in claude::pinned(NAME) {
        for &(ending, fallback_ok) in &cases {
            let seen = measure(&claude, ending, fallback_ok).await;
            let fallback = if fallback_ok { "succeeds" } else { "500" };
            let row = format!(
                "| {} | {fallback} | {} | {} |",
                ending.label(),
                claude.version,
                seen.cells()
            );
            eprintln!("{row}");
            writeln!(table, "{row}").unwrap();
            if ending.block_open() && !seen.never_truncated_success(COMPLETE) {
                broken.push(format!("{row} {seen:?}"));
            }
            if ending.block_open() && !fallback_ok {
                assert!(
                    seen.not_a_success(),
                    "{}: {} with the fallback failing must be an error: {seen:?}",
                    claude.version,
                    ending.label()
                );
            }
        }
        claude::record(NAME, &claude);
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stream-endings.md");
    std::fs::write(&path, &table).unwrap();
    eprintln!("{table}\n(written to {})", path.display());
    assert!(
        broken.is_empty(),
        "an ending with a block open was shown as a truncated success:\n{}",
        broken.join("\n")
    );
}

/// How the scripted Chat backend fails mid-stream, behind anyclaude.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChatFault {
    /// An `{"error":…}` chunk after a text delta (anyclaude has a text block open).
    ErrorAfterText,
    /// The connection reset after a text delta.
    ResetAfterText,
    /// An `{"error":…}` chunk after three text deltas.
    ErrorAfterMoreText,
    /// An `{"error":…}` chunk before any content (no block open yet).
    ErrorBeforeContent,
    /// Silence after a text delta, longer than anyclaude's `--idle-timeout`.
    SilentAfterText,
}

impl ChatFault {
    fn label(self) -> &'static str {
        match self {
            ChatFault::ErrorAfterText => "error chunk after text",
            ChatFault::ResetAfterText => "reset after text",
            ChatFault::ErrorAfterMoreText => "error chunk after 3 text deltas",
            ChatFault::ErrorBeforeContent => "error chunk before any content",
            ChatFault::SilentAfterText => "silence after text (idle timeout)",
        }
    }
}

fn chat_failing_stream(fault: ChatFault) -> Vec<Step> {
    let text = crate::chat_script::text(&[PARTIAL]);
    let error = Step::Send(
        "data: {\"error\":{\"message\":\"the backend failed mid-stream\",\"type\":\"server_error\"}}\n\n"
            .into(),
    );
    let role = Step::Send(text[0].clone().into());
    let delta = Step::Send(text[1].clone().into());
    match fault {
        ChatFault::ErrorAfterText => vec![role, delta, error],
        ChatFault::ResetAfterText => vec![role, delta, Step::Reset],
        ChatFault::ErrorBeforeContent => vec![role, error],
        ChatFault::ErrorAfterMoreText => {
            let more = crate::chat_script::text(&MANY);
            let mut steps: Vec<Step> = more[..4]
                .iter()
                .map(|c| Step::Send(c.clone().into()))
                .collect();
            steps.push(error);
            steps
        }
        ChatFault::SilentAfterText => vec![role, delta, Step::Pause(Duration::from_secs(60))],
    }
}

/// A 503 the client may retry at once (anyclaude passes it on as a 529 with `retry-after`).
fn chat_unavailable() -> Reply {
    Reply::Full {
        status: 503,
        headers: vec![
            ("content-type", "application/json".into()),
            ("retry-after", "0".into()),
        ],
        body: json!({"error": {"message": "the fallback failed too", "type": "server_error"}})
            .to_string()
            .into(),
    }
}

/// Whether a Chat request is Claude Code's main request, as translated by anyclaude.
fn is_main_chat(req: &Value) -> bool {
    req["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == "Bash"))
        && req["messages"].to_string().contains(PROMPT)
}

/// anyclaude's idle timeout in these runs: short, so the silent backend is given up quickly.
const IDLE_TIMEOUT: &str = "3s";

/// Runs one case through anyclaude against a scripted Chat backend.
async fn measure_through_anyclaude(claude: &Claude, fault: ChatFault, fallback_ok: bool) -> Seen {
    let main = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen_main = main.clone();
    let upstream = Upstream::with_handler(move |r: &Received| {
        let Some(req) = r.try_json() else {
            return Reply::json(json!({}));
        };
        let stream = req["stream"] == true;
        if !is_main_chat(&req) {
            return if stream {
                Reply::sse(crate::chat_script::text(&["ok"]))
            } else {
                Reply::json(crate::chat_script::completion("ok"))
            };
        }
        seen_main.lock().unwrap().push(r.clone());
        if stream {
            Reply::steps(chat_failing_stream(fault))
        } else if fallback_ok {
            Reply::json(crate::chat_script::completion(COMPLETE))
        } else {
            chat_unavailable()
        }
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    let project = project.canonicalize().unwrap();
    claude::prepared_home(&home, &project, &claude.version);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anyclaude"));
    cmd.env_clear()
        .envs(claude::base_env(&home))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("OPENAI_BASE_URL", format!("{}/v1", upstream.url()))
        .env("OPENAI_API_KEY", "sk-e2e-key")
        .env("CLAUDE_CODE_MAX_RETRIES", MAX_RETRIES)
        .current_dir(&project)
        .arg("--claude")
        .arg(&claude.bin)
        .args(["--idle-timeout", IDLE_TIMEOUT])
        .args([
            "--model",
            "openai/gpt-e2e",
            "-p",
            PROMPT,
            "--output-format",
            "stream-json",
            "--verbose",
        ]);
    let out = claude::run(cmd, Duration::from_secs(150)).await;
    let main = main.lock().unwrap().clone();
    seen_from(&out, &main, &claude.version)
}

#[tokio::test]
async fn e2e_mid_stream_failure_through_anyclaude_is_never_a_truncated_success() {
    const NAME: &str = "e2e_mid_stream_failure_through_anyclaude_is_never_a_truncated_success";
    let cases: Vec<(ChatFault, bool)> = [
        ChatFault::ErrorAfterText,
        ChatFault::ResetAfterText,
        ChatFault::ErrorAfterMoreText,
        ChatFault::ErrorBeforeContent,
        ChatFault::SilentAfterText,
    ]
    .into_iter()
    .flat_map(|f| [(f, true), (f, false)])
    .collect();
    let mut table = String::from(
        "| backend fault | fallback | version | user sees | result text | is_error | partial text shown | exit | main requests (streamed + whole) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut broken = Vec::new();
    for claude in claude::pinned(NAME) {
        for &(fault, fallback_ok) in &cases {
            let seen = measure_through_anyclaude(&claude, fault, fallback_ok).await;
            let fallback = if fallback_ok { "succeeds" } else { "503" };
            let row = format!(
                "| {} | {fallback} | {} | {} |",
                fault.label(),
                claude.version,
                seen.cells()
            );
            eprintln!("{row}");
            writeln!(table, "{row}").unwrap();
            if !seen.complete_or_error(fallback_ok, COMPLETE) {
                broken.push(format!("{row} {seen:?}"));
            }
        }
        claude::record(NAME, &claude);
    }
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stream-endings-anyclaude.md");
    std::fs::write(&path, &table).unwrap();
    eprintln!("{table}\n(written to {})", path.display());
    assert!(
        broken.is_empty(),
        "a failed backend stream was not shown as the complete answer (retry succeeds) or an error (retry fails):\n{}",
        broken.join("\n")
    );
}

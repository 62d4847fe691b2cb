//! anyclaude's status line in the real Claude Code, in a terminal (a private tmux server):
//! read off the screen while an answer is awaited and streamed, and after it. Claude Code
//! gets the status line through `--settings` for the session only: the prepared HOME's
//! settings files stay as they were.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::chat_script;
use crate::claude::{self, Claude};
use crate::e2e_tty::{Tmux, env_exports, shell_quote};
use crate::scripted::{Reply, Step, Upstream};

/// The answer: its first token after `FIRST_TOKEN`, then a piece every `EVERY`.
const FIRST_TOKEN: Duration = Duration::from_millis(3000);
const EVERY: Duration = Duration::from_millis(250);
const PIECES: usize = 16;

fn slow_answer() -> Reply {
    let mut steps = vec![
        Step::Send(Bytes::from(chat_script::chunk(
            json!({"role": "assistant", "content": ""}),
            None,
        ))),
        Step::Pause(FIRST_TOKEN),
        Step::Send(Bytes::from(chat_script::chunk(
            json!({"content": "Streaming "}),
            None,
        ))),
    ];
    for i in 0..PIECES {
        steps.push(Step::Pause(EVERY));
        steps.push(Step::Send(Bytes::from(chat_script::chunk(
            json!({"content": format!("w{i} ")}),
            None,
        ))));
    }
    steps.push(Step::Send(Bytes::from(chat_script::chunk(
        json!({"content": "the end."}),
        Some("stop"),
    ))));
    steps.push(Step::Send(Bytes::from(chat_script::usage(
        3210,
        PIECES as u64 + 2,
        0,
    ))));
    steps.push(Step::Send(Bytes::from(chat_script::done())));
    Reply::steps(steps)
}

/// The status line on the screen (the line with its words, below the prompt).
fn status_lines(screen: &str) -> String {
    screen
        .lines()
        .filter(|l| {
            [
                "anyclaude: no answer yet",
                "⏳ waiting for",
                "answering · first token",
                "· first token",
                "⚠ ",
            ]
            .iter()
            .any(|w| l.contains(w))
                && !l.contains("isn't recognized")
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn status_line_on_screen(claude: &Claude) {
    let upstream = Upstream::with_handler(|_| slow_answer()).await;
    let (root, home, project) = claude::dirs(claude);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = root.path().join("run.sh");
    let env_lines = env_exports(&home);
    std::fs::write(
        &script,
        format!(
            "{env_lines}export XDG_STATE_HOME={state}\nexport OPENAI_BASE_URL=http://{addr}/v1\nexport OPENAI_API_KEY=sk-status\nexport TERM=xterm-256color\ncd {project}\n{bin} --claude {claude} --model openai/gpt-status --port {port}\nsleep 300\n",
            state = shell_quote(&home.join("state")),
            addr = upstream.addr,
            project = shell_quote(&project),
            bin = shell_quote(Path::new(env!("CARGO_BIN_EXE_anyclaude"))),
            claude = shell_quote(&claude.bin),
        ),
    )
    .unwrap();
    let tmux = Tmux::start(
        format!("anyclaude-status-{}-{port}", std::process::id()),
        140,
        &script,
    );
    let version = claude.version.clone();
    let (before, seen, after, tmux) = tokio::task::spawn_blocking(move || {
        let before = tmux.wait_for("status line at start", Duration::from_secs(60), |s| {
            s.contains("anyclaude: no answer yet")
        });
        tmux.cmd(&["send-keys", "-t", "t", "-l", "say hi"]);
        tmux.wait_for("typed prompt", Duration::from_secs(30), |s| {
            s.contains("say hi")
        });
        // Every status line seen from Enter until the answer is complete and the line shows
        // it, in order, each with what the answer looked like then.
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        let mut after = None;
        'enter: for _ in 0..4 {
            tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                let screen = tmux.screen();
                let phase = if screen.contains("the end.") {
                    "answer complete"
                } else if screen.contains("Streaming") {
                    "streaming"
                } else {
                    "waiting"
                };
                let line = status_lines(&screen);
                if seen.last().is_none_or(|(l, p)| *l != line || *p != phase) {
                    seen.push((line, phase));
                }
                if screen.contains("the end.") && screen.contains("openai/gpt-status · first token")
                {
                    after = Some(screen);
                    break 'enter;
                }
                if phase == "waiting"
                    && seen.len() == 1
                    && std::time::Instant::now() + Duration::from_secs(45) > deadline
                    && !screen.contains("waiting for")
                {
                    // 2.0.x under load can take the Enter as part of the paste: again.
                    continue 'enter;
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        }
        let after =
            after.unwrap_or_else(|| panic!("no status line after the answer:\n{}", tmux.screen()));
        (before, seen, after, tmux)
    })
    .await
    .unwrap();
    let progression: Vec<String> = seen
        .iter()
        .map(|(line, phase)| format!("[{phase}] {line}"))
        .collect();
    eprintln!(
        "--- {version}: at start\n{}\n--- {version}: from Enter to the end of the answer\n{}\n--- {version}: after the answer\n{}\n---",
        status_lines(&before),
        progression.join("\n"),
        status_lines(&after),
    );
    if !version.starts_with("2.0.") {
        assert!(
            seen.iter()
                .any(|(l, p)| *p == "waiting" && l.contains("waiting for openai/gpt-status")),
            "{version}: the wait for the first token shows: {progression:#?}"
        );
        assert!(
            seen.iter()
                .any(|(l, _)| l.contains("✎ openai/gpt-status answering · first token")),
            "{version}: the streaming answer shows: {progression:#?}"
        );
    }
    let line = after
        .lines()
        .find(|l| l.contains("openai/gpt-status · first token"))
        .unwrap();
    assert!(line.contains(" tok/s · "), "{version}: {line}");
    assert!(line.contains("tokens"), "{version}: {line}");
    // The user's settings files are untouched: ours came through --settings.
    assert!(!home.join(".claude/settings.json").exists());
    drop(tmux);
    drop(root);
}

#[tokio::test]
async fn e2e_status_line_in_a_terminal() {
    const NAME: &str = "e2e_status_line_in_a_terminal";
    if !claude::tool_present(NAME, "tmux", "apt-get install tmux") {
        return;
    }
    for claude in claude::pinned(NAME) {
        status_line_on_screen(&claude).await;
        claude::record(NAME, &claude);
    }
}

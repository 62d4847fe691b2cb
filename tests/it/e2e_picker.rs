//! The `/model` picker with the real Claude Code, as a person uses it (a private tmux
//! server): anyclaude started on one scripted provider (`openai`), a second scripted server
//! standing in for Ollama (each on a free loopback port, named by its preset's base-URL
//! variable). `/model` is opened and its list read off the screen; the Ollama model is
//! picked (from the list where the version discovers the proxy's models, typed as
//! `/model ollama/<model>` where it does not), a prompt is answered by that server, and
//! after quitting Claude Code's saved default is what it was before the session.
//!
//! Discovery per pinned version: 2.0.x has none; 2.1.197 skips it while
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` is set (anyclaude sets it for every provider
//! but Anthropic); later versions list what `GET /v1/models` offers. Set
//! `ANYCLAUDE_PICKER_CAPTURE=<dir>` to keep each version's picker screen there.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::chat_script;
use crate::claude::{self, Claude};
use crate::e2e_tty::{Tmux, env_exports, shell_quote};
use crate::scripted::{Reply, Upstream};

const SETTINGS_BEFORE: &str = "{\n  \"model\": \"opus\",\n  \"theme\": \"dark\"\n}\n";

/// Whether `version` lists the proxy's models in its picker when run by anyclaude.
fn discovers(version: &str) -> bool {
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    parts.as_slice() > [2, 1, 197].as_slice()
}

/// A scripted server answering as `who`: its model list, streamed and whole answers.
async fn server(who: &'static str, models: &[&str]) -> Upstream {
    let list = json!({
        "object": "list",
        "data": models.iter().map(|m| json!({"id": m, "object": "model"})).collect::<Vec<_>>(),
    });
    Upstream::with_handler(move |req| {
        if req.uri.ends_with("/models") {
            Reply::json(list.clone())
        } else if req.try_json().is_some_and(|b| b["stream"] == true) {
            Reply::sse(chat_script::text(&["answer from ", who]))
        } else {
            Reply::json(chat_script::completion(&format!("answer from {who}")))
        }
    })
    .await
}

/// The line of the picker the cursor is on.
fn selected(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with('❯') && l.contains(". "))
}

async fn pick_from_another_provider(claude: &Claude) {
    let openai = server("openai", &["gpt-tty"]).await;
    let ollama = server("ollama", &["qwen-picker"]).await;
    let (root, home, project) = claude::dirs(claude);
    let settings = home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, SETTINGS_BEFORE).unwrap();
    let exit_file = root.path().join("exit.txt");
    let script = root.path().join("run.sh");
    let env_lines = env_exports(&home);
    std::fs::write(
        &script,
        format!(
            "{env_lines}export XDG_STATE_HOME={state}\nexport OPENAI_BASE_URL={openai}/v1\nexport OPENAI_API_KEY=sk-picker\nexport OLLAMA_BASE_URL={ollama}/v1\nexport TERM=xterm-256color\ncd {project}\n{bin} --claude {claude} --model openai/gpt-tty\necho \"EXIT=$?\" > {exit}.part && mv {exit}.part {exit}\nsleep 300\n",
            state = shell_quote(&home.join("state")),
            openai = openai.url(),
            ollama = ollama.url(),
            project = shell_quote(&project),
            bin = shell_quote(Path::new(env!("CARGO_BIN_EXE_anyclaude"))),
            claude = shell_quote(&claude.bin),
            exit = shell_quote(&exit_file),
        ),
    )
    .unwrap();
    let tmux = Tmux::start(
        format!(
            "anyclaude-picker-{}-{}",
            std::process::id(),
            ollama.addr.port()
        ),
        120,
        &script,
    );
    let version = claude.version.clone();
    let ollama_url = format!("{}/v1", ollama.url());
    let settings_path = settings.clone();
    let (picker, tmux) = tokio::task::spawn_blocking(move || {
        let long = Duration::from_secs(60);
        tmux.wait_for("prompt", long, |s| {
            s.contains("shortcuts") || s.contains('❯') || s.contains("│ >")
        });
        // Typed text first, Enter once it shows (2.0.x takes keys arriving with the text
        // as a paste).
        let type_and_enter = |text: &str, done: &dyn Fn(&str) -> bool| {
            tmux.cmd(&["send-keys", "-t", "t", "-l", text]);
            tmux.wait_for("typed text", Duration::from_secs(30), |s| s.contains(text));
            for _ in 0..4 {
                tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
                if tmux.try_wait_for(Duration::from_secs(15), done).is_some() {
                    return;
                }
            }
            panic!("{version}: nothing came of {text:?}:\n{}", tmux.screen());
        };
        type_and_enter("/model", &|s| s.contains("Select model"));
        let picker = tmux.wait_for("the model list", long, |s| {
            s.contains("Select model") && s.contains("Default")
        });
        let listed = picker.contains("ollama/qwen-picker");
        if discovers(&version) {
            assert!(listed, "{version} lists the proxy's models:\n{picker}");
            assert!(
                picker.contains(&format!("Ollama at {ollama_url}")),
                "{version}:\n{picker}"
            );
            // Down to the Ollama model, then Enter (saved as the default).
            for _ in 0..12 {
                let screen = tmux.screen();
                if selected(&screen).is_some_and(|l| l.contains("ollama/qwen-picker")) {
                    break;
                }
                tmux.cmd(&["send-keys", "-t", "t", "Down"]);
                let _ = tmux.try_wait_for(Duration::from_secs(2), |s| s != screen);
            }
            let screen = tmux.screen();
            assert!(
                selected(&screen).is_some_and(|l| l.contains("ollama/qwen-picker")),
                "{version}: cannot reach the Ollama model:\n{screen}"
            );
            tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
        } else {
            assert!(!listed, "{version} was not expected to discover:\n{picker}");
            tmux.cmd(&["send-keys", "-t", "t", "Escape"]);
            tmux.wait_for("the picker closed", long, |s| !s.contains("Select model"));
            type_and_enter("/model ollama/qwen-picker", &|s| {
                s.contains("Set model to") || s.contains("Switch model?")
            });
        }
        // A version may ask to confirm a switch that re-reads the conversation.
        let set = tmux.wait_for("the switch", long, |s| {
            s.contains("Set model to") || s.contains("Switch model?")
        });
        if !set.contains("Set model to") {
            tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
            tmux.wait_for("the switch", long, |s| s.contains("Set model to"));
        }
        // Claude Code saved the pick as its default for new sessions.
        let saved = std::fs::read_to_string(&settings_path).unwrap();
        assert!(saved.contains("ollama/qwen-picker"), "{version}: {saved}");

        type_and_enter("say hi", &|s| s.contains("answer from ollama"));
        tmux.quit_claude(&exit_file);
        let exit = std::fs::read_to_string(&exit_file).unwrap();
        assert_eq!(exit.trim(), "EXIT=0", "{version}");
        (picker, tmux)
    })
    .await
    .unwrap();
    drop(tmux);

    // The answer came from the picked server, for the model picked.
    let picked: Vec<_> = ollama
        .received()
        .into_iter()
        .filter_map(|r| r.try_json())
        .filter(|b| b["stream"] == true)
        .collect();
    assert!(
        picked.iter().any(|b| b["model"] == "qwen-picker"),
        "{}: no streamed request reached the Ollama server",
        claude.version
    );
    // A plain claude starts with the default it had before the session (Claude Code's own
    // write may have moved the keys around).
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let before: serde_json::Value = serde_json::from_str(SETTINGS_BEFORE).unwrap();
    assert_eq!(after, before, "{}", claude.version);
    let screen: String = picker
        .lines()
        .skip_while(|l| !l.contains("Select model"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!(
        "--- /model picker, Claude Code {} ---\n{screen}\n",
        claude.version
    );
    if let Some(dir) = std::env::var_os("ANYCLAUDE_PICKER_CAPTURE") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            Path::new(&dir).join(format!("picker-{}.txt", claude.version)),
            &screen,
        );
    }
}

#[tokio::test]
async fn e2e_model_picker_switches_provider_and_keeps_claudes_default() {
    const NAME: &str = "e2e_model_picker_switches_provider_and_keeps_claudes_default";
    if !claude::tool_present(NAME, "tmux", "apt-get install tmux") {
        return;
    }
    for claude in claude::pinned(NAME) {
        pick_from_another_provider(&claude).await;
        claude::record(NAME, &claude);
    }
}

#[test]
fn versions_that_discover() {
    assert!(!discovers("2.0.77"));
    assert!(!discovers("2.1.197"));
    assert!(discovers("2.1.332"));
    assert!(discovers("2.2.0"));
}

//! The status line under Claude Code's prompt: whether anyclaude offers one this session,
//! the settings that give it to claude (`--settings <json>`, for this session only: no file
//! of the user's is written), and the `anyclaude status-line` command Claude Code runs on
//! every refresh.
//!
//! The command reads the running proxy's live state over loopback (`GET /status`), with the
//! per-run token from claude's own environment: the proxy's address is in
//! [`STATUS_URL_VAR`], the token in `ANTHROPIC_CUSTOM_HEADERS`, both set only in the
//! environment of the claude anyclaude started (and the commands it runs), so nothing else
//! can read the state. It prints one line, never a secret, and an empty line when the proxy
//! is gone or does not answer within [`FETCH_TIMEOUT`].
//!
//! Rendering ([`render`]) and the decision ([`decide`]) are pure.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::Env;
use crate::usage::{LastTurn, LiveSnapshot};

/// The subcommand Claude Code runs (checked against each pinned version's `--help`).
pub const COMMAND: &str = "status-line";

/// The variable holding the proxy's base URL in claude's environment.
pub const STATUS_URL_VAR: &str = "ANYCLAUDE_STATUS_URL";

/// The variable that turns the status line on or off (`1`/`0`, `on`/`off`,
/// `true`/`false`); `--status-line` and `--no-status-line` beat it.
pub const ENABLE_VAR: &str = "ANYCLAUDE_STATUS_LINE";

/// Longest the command waits for the proxy before printing an empty line.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(300);

/// Most of Claude Code's JSON on stdin that is read.
const MAX_STDIN: u64 = 256 * 1024;

/// Seconds between refreshes asked of Claude Code (2.1 and later; 2.0 refreshes on its own
/// events only and ignores the key).
pub const REFRESH_SECONDS: u64 = 1;

/// What Claude Code passes on stdin that the line uses (everything else is ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClaudeInput {
    /// The session's model.
    #[serde(default)]
    pub model: Option<InputModel>,
    /// Its idea of the context (2.0.77 and later).
    #[serde(default)]
    pub context_window: Option<InputWindow>,
}

/// `model` in Claude Code's status line input.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InputModel {
    /// The model id, as the session names it (`openai/gpt-5`).
    #[serde(default)]
    pub id: String,
}

/// `context_window` in Claude Code's status line input.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InputWindow {
    /// The last answer's usage, as anyclaude reported it to Claude Code.
    #[serde(default)]
    pub current_usage: Option<InputUsage>,
}

/// `context_window.current_usage`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct InputUsage {
    /// Input tokens not cached.
    #[serde(default)]
    pub input_tokens: u64,
    /// Input tokens written to a cache.
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from a cache.
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// `12345` → `12.3k`, `400000` → `400k`, `1000000` → `1M`.
pub fn compact(n: u64) -> String {
    if n < 1000 {
        n.to_string()
    } else if n < 10_000 {
        format!("{:.1}k", n as f64 / 1000.0)
    } else if n < 1_000_000 {
        format!("{}k", (n + 500) / 1000)
    } else {
        let m = n as f64 / 1_000_000.0;
        if (m - m.round()).abs() < 0.05 {
            format!("{}M", m.round())
        } else {
            format!("{m:.1}M")
        }
    }
}

fn seconds(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

/// The line for the live state `live` and Claude Code's input `input`.
pub fn render(live: &LiveSnapshot, input: &ClaudeInput) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(waiting) = &live.waiting {
        parts.push(format!(
            "⏳ waiting for {} {}",
            waiting.backend,
            seconds(waiting.waited_ms)
        ));
    }
    if let Some(answering) = &live.answering {
        parts.push(format!(
            "✎ {} answering · first token {}",
            answering.backend,
            seconds(answering.ttft_ms)
        ));
    }
    if let Some(notice) = &live.notice {
        match notice.retry_in_s {
            Some(s) if s > 0 => parts.push(format!("⚠ {}, retry in {s} s", notice.text)),
            _ => parts.push(format!("⚠ {}", notice.text)),
        }
    }
    let model = input.model.as_ref().map(|m| m.id.as_str()).unwrap_or("");
    let turn: Option<&LastTurn> = live.by_model.get(model).or(live.last.as_ref());
    match turn {
        // While an answer streams, the last turn's figures would read as this one's.
        Some(_) if live.answering.is_some() => {}
        Some(turn) => {
            if let Some(why) = &turn.fell_back {
                parts.push(format!("↪ {} (fallback; {why})", turn.backend));
            } else {
                parts.push(turn.backend.clone());
            }
            if let Some(ms) = turn.ttft_ms {
                parts.push(format!("first token {}", seconds(ms)));
            }
            if let Some(rate) = turn.tokens_per_s {
                parts.push(format!("{rate:.0} tok/s"));
            }
            let tilde = if turn.estimated { "~" } else { "" };
            let used = turn.context_tokens;
            parts.push(match turn.context_window {
                Some(window) if window > 0 => format!(
                    "{tilde}{} / {} tokens ({}%)",
                    compact(used),
                    compact(window),
                    used * 100 / window
                ),
                _ => format!("{tilde}{} tokens (window unknown)", compact(used)),
            });
        }
        None => {
            if let Some(usage) = input.context_window.as_ref().and_then(|w| w.current_usage) {
                let used = usage.input_tokens
                    + usage.cache_creation_input_tokens
                    + usage.cache_read_input_tokens
                    + usage.output_tokens;
                parts.push(format!("{} tokens (window unknown)", compact(used)));
            }
        }
    }
    if parts.is_empty() {
        "anyclaude: no answer yet".to_owned()
    } else {
        parts.join(" · ")
    }
}

/// The per-run token in a `ANTHROPIC_CUSTOM_HEADERS` value.
pub fn token_from_headers(headers: &str) -> Option<&str> {
    headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case(crate::supervise::env::TOKEN_HEADER)
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    })
}

/// Runs `anyclaude status-line`: prints the line (an empty one when the proxy cannot be
/// asked). Always succeeds: Claude Code shows nothing for a failing command anyway.
pub fn run(env: &dyn Env) -> std::process::ExitCode {
    let mut input = Vec::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let _ = stdin.lock().take(MAX_STDIN).read_to_end(&mut input);
    }
    let input: ClaudeInput = serde_json::from_slice(&input).unwrap_or_default();
    let line = match fetch(env) {
        Some(live) => render(&live, &input),
        None => String::new(),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    std::process::ExitCode::SUCCESS
}

/// The proxy's live state, or `None` when there is no proxy to ask (not under anyclaude,
/// gone, or not answering in time).
pub fn fetch(env: &dyn Env) -> Option<LiveSnapshot> {
    let base = env.non_empty(STATUS_URL_VAR)?;
    let headers = env.non_empty("ANTHROPIC_CUSTOM_HEADERS")?;
    let token = token_from_headers(&headers)?.to_owned();
    let authority = base
        .strip_prefix("http://")?
        .trim_end_matches('/')
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .ok()?;
    runtime.block_on(async move {
        tokio::time::timeout(FETCH_TIMEOUT, get_status(&authority, &token))
            .await
            .ok()?
    })
}

async fn get_status(authority: &str, token: &str) -> Option<LiveSnapshot> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let req = http::Request::get("/status")
        .header(http::header::HOST, authority)
        .header(crate::supervise::env::TOKEN_HEADER, token)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .ok()?;
    let resp = sender.send_request(req).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

/// Whether anyclaude offers its status line this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ours, given to claude through `--settings`.
    On,
    /// Turned off by `--no-status-line` or [`ENABLE_VAR`].
    Off,
    /// The user has their own (in this file, or `--settings`): theirs wins.
    Theirs(String),
}

/// `Some(true)` / `Some(false)` for a yes/no word, `None` otherwise.
pub fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Where Claude Code reads settings from, besides `--settings`: the user's, the project's
/// and the local project settings, and the managed settings.
pub fn settings_files(env: &dyn Env, cwd: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let user_dir = env
        .non_empty("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| env.non_empty("HOME").map(|h| Path::new(&h).join(".claude")));
    if let Some(dir) = user_dir {
        files.push(dir.join("settings.json"));
    }
    files.push(cwd.join(".claude/settings.json"));
    files.push(cwd.join(".claude/settings.local.json"));
    files.push(PathBuf::from("/etc/claude-code/managed-settings.json"));
    files
}

/// Whether a settings object gives a status line of its own (or turns every hook and
/// status line off).
fn has_status_line(settings: &serde_json::Value) -> bool {
    settings.get("statusLine").is_some_and(|v| !v.is_null())
        || settings.get("disableAllHooks") == Some(&serde_json::Value::Bool(true))
}

/// A `--settings` value: inline JSON, or a file (relative to `cwd`).
fn read_settings_arg(value: &str, cwd: &Path) -> Option<serde_json::Value> {
    let text = if value.trim_start().starts_with('{') {
        value.to_owned()
    } else {
        std::fs::read_to_string(cwd.join(value)).ok()?
    };
    serde_json::from_str(&text).ok()
}

/// The value of claude's last `--settings` among `claude_args`, with its index.
fn settings_arg(claude_args: &[OsString]) -> Option<(usize, String, bool)> {
    let mut found = None;
    let mut i = 0;
    while i < claude_args.len() {
        let text = claude_args[i].to_str().unwrap_or("");
        if text == "--" {
            break;
        }
        if text == "--settings" {
            if let Some(value) = claude_args.get(i + 1).and_then(|v| v.to_str()) {
                found = Some((i + 1, value.to_owned(), false));
            }
            i += 1;
        } else if let Some(value) = text.strip_prefix("--settings=") {
            found = Some((i, value.to_owned(), true));
        }
        i += 1;
    }
    found
}

/// Decides whether ours is on: `switch` is the flag (or, without one, the variable or
/// config key); the user's own status line wins either way.
pub fn decide(
    switch: Option<bool>,
    env: &dyn Env,
    cwd: &Path,
    claude_args: &[OsString],
) -> Decision {
    if switch == Some(false) {
        return Decision::Off;
    }
    if let Some((_, value, _)) = settings_arg(claude_args) {
        match read_settings_arg(&value, cwd) {
            Some(settings) if !has_status_line(&settings) => {}
            _ => return Decision::Theirs("--settings".to_owned()),
        }
    }
    for file in settings_files(env, cwd) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Ok(settings) = serde_json::from_str::<serde_json::Value>(&text)
            && has_status_line(&settings)
        {
            return Decision::Theirs(file.display().to_string());
        }
    }
    Decision::On
}

/// A shell word for `path` (Claude Code runs the status line command through a shell).
fn shell_word(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The settings that give claude our status line, run by the anyclaude at `program`.
pub fn settings(program: &Path) -> serde_json::Value {
    serde_json::json!({
        "statusLine": {
            "type": "command",
            "command": format!("{} {COMMAND}", shell_word(program)),
            "padding": 0,
            "refreshInterval": REFRESH_SECONDS,
        }
    })
}

/// claude's arguments with our settings added: merged into the user's own `--settings`
/// (which has no status line, or [`decide`] would have said so), or as a new `--settings`
/// first.
pub fn with_settings(
    mut claude_args: Vec<OsString>,
    ours: &serde_json::Value,
    cwd: &Path,
) -> Vec<OsString> {
    if let Some((index, value, inline)) = settings_arg(&claude_args)
        && let Some(mut theirs) = read_settings_arg(&value, cwd)
        && let (Some(map), Some(add)) = (theirs.as_object_mut(), ours.as_object())
    {
        for (k, v) in add {
            map.insert(k.clone(), v.clone());
        }
        let merged = theirs.to_string();
        claude_args[index] = if inline {
            OsString::from(format!("--settings={merged}"))
        } else {
            OsString::from(merged)
        };
        return claude_args;
    }
    let mut out = vec![
        OsString::from("--settings"),
        OsString::from(ours.to_string()),
    ];
    out.extend(claude_args);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::usage::{Notice, Waiting};

    fn turn(backend: &str) -> LastTurn {
        LastTurn {
            requested: "openai/gpt-x".into(),
            backend: backend.into(),
            ttft_ms: Some(1234),
            tokens_per_s: Some(48.4),
            context_tokens: 12_345,
            estimated: false,
            context_window: Some(400_000),
            fell_back: None,
        }
    }

    fn input(model: &str) -> ClaudeInput {
        serde_json::from_value(serde_json::json!({
            "session_id": "s", "model": {"id": model, "display_name": model},
            "context_window": {"current_usage": {"input_tokens": 100, "output_tokens": 5,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 50}}
        }))
        .unwrap()
    }

    #[test]
    fn lines() {
        let mut live = LiveSnapshot {
            last: Some(turn("openai/gpt-x")),
            ..LiveSnapshot::default()
        };
        assert_eq!(
            render(&live, &input("openai/gpt-x")),
            "openai/gpt-x · first token 1.2 s · 48 tok/s · 12k / 400k tokens (3%)"
        );
        live.waiting = Some(Waiting {
            backend: "openai/gpt-x".into(),
            waited_ms: 12_500,
        });
        live.notice = Some(Notice {
            text: "upstream 429".into(),
            retry_in_s: Some(3),
        });
        let line = render(&live, &input("openai/gpt-x"));
        assert!(
            line.starts_with("⏳ waiting for openai/gpt-x 12 s · ⚠ upstream 429, retry in 3 s · "),
            "{line}"
        );
        let mut fell = turn("groq/llama");
        fell.fell_back = Some("openai/gpt-x: upstream 529".into());
        fell.context_window = None;
        fell.estimated = true;
        let live = LiveSnapshot {
            last: Some(turn("other/model")),
            by_model: BTreeMap::from([("openai/gpt-x".to_owned(), fell)]),
            ..LiveSnapshot::default()
        };
        assert_eq!(
            render(&live, &input("openai/gpt-x")),
            "↪ groq/llama (fallback; openai/gpt-x: upstream 529) · first token 1.2 s · 48 tok/s · ~12k tokens (window unknown)"
        );
        // Nothing answered yet: Claude Code's own count, or a word.
        assert_eq!(
            render(&LiveSnapshot::default(), &input("m")),
            "155 tokens (window unknown)"
        );
        assert_eq!(
            render(&LiveSnapshot::default(), &ClaudeInput::default()),
            "anyclaude: no answer yet"
        );
        let streaming = LiveSnapshot {
            last: Some(turn("openai/gpt-x")),
            answering: Some(crate::usage::Answering {
                backend: "openai/gpt-x".into(),
                ttft_ms: 3200,
            }),
            ..LiveSnapshot::default()
        };
        assert_eq!(
            render(&streaming, &input("openai/gpt-x")),
            "✎ openai/gpt-x answering · first token 3.2 s"
        );
        let gone = LiveSnapshot {
            notice: Some(Notice {
                text: "local server not answering".into(),
                retry_in_s: None,
            }),
            ..LiveSnapshot::default()
        };
        assert_eq!(
            render(&gone, &ClaudeInput::default()),
            "⚠ local server not answering"
        );
    }

    #[test]
    fn the_config_file_key() {
        let source = include_str!("../examples/config.toml");
        let loaded =
            crate::registry::file::parse("/cfg/config.toml".into(), source.to_owned()).unwrap();
        assert_eq!(loaded.file.status_line, Some(true));
        let off =
            crate::registry::file::parse("/c.toml".into(), "status_line = false\n".into()).unwrap();
        assert_eq!(off.file.status_line, Some(false));
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1500), "1.5k");
        assert_eq!(compact(12_345), "12k");
        assert_eq!(compact(131_072), "131k");
        assert_eq!(compact(1_000_000), "1M");
        assert_eq!(compact(1_048_576), "1M");
        assert_eq!(compact(2_500_000), "2.5M");
    }

    #[test]
    fn the_token_comes_from_the_custom_headers() {
        assert_eq!(
            token_from_headers("X-A: 1\nx-anyclaude-token: abc\n"),
            Some("abc")
        );
        assert_eq!(token_from_headers("X-A: 1"), None);
    }

    #[test]
    fn without_a_proxy_there_is_nothing_to_fetch() {
        let env: HashMap<String, String> = HashMap::new();
        assert!(fetch(&env).is_none());
        // A port nothing listens on: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env: HashMap<String, String> = [
            (
                STATUS_URL_VAR.to_owned(),
                format!("http://127.0.0.1:{port}"),
            ),
            (
                "ANTHROPIC_CUSTOM_HEADERS".to_owned(),
                "x-anyclaude-token: t".to_owned(),
            ),
        ]
        .into();
        assert!(fetch(&env).is_none());
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn theirs_wins_and_ours_is_added_for_this_session_only() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let cwd = root.path().join("project");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::create_dir_all(cwd.join(".claude")).unwrap();
        let env: HashMap<String, String> =
            [("HOME".to_owned(), home.to_string_lossy().into_owned())].into();
        assert_eq!(decide(None, &env, &cwd, &[]), Decision::On);
        assert_eq!(decide(Some(true), &env, &cwd, &[]), Decision::On);
        assert_eq!(decide(Some(false), &env, &cwd, &[]), Decision::Off);
        // Their --settings without a status line: ours merges into it.
        let args = os(&["-c", "--settings", r#"{"theme":"light"}"#]);
        assert_eq!(decide(None, &env, &cwd, &args), Decision::On);
        let ours = settings(Path::new("/opt/any claude/anyclaude"));
        let merged = with_settings(args, &ours, &cwd);
        assert_eq!(merged.len(), 3);
        let value: serde_json::Value = serde_json::from_str(merged[2].to_str().unwrap()).unwrap();
        assert_eq!(value["theme"], "light");
        assert_eq!(
            value["statusLine"]["command"],
            "'/opt/any claude/anyclaude' status-line"
        );
        assert_eq!(value["statusLine"]["refreshInterval"], 1);
        let added = with_settings(os(&["-p", "hi"]), &ours, &cwd);
        assert_eq!(added[0], "--settings");
        assert_eq!(&added[2..], os(&["-p", "hi"]).as_slice());
        // Their own, in --settings or any settings file: theirs.
        let args = os(&[r#"--settings={"statusLine":{"type":"command","command":"x"}}"#]);
        assert_eq!(
            decide(None, &env, &cwd, &args),
            Decision::Theirs("--settings".into())
        );
        for file in [
            home.join(".claude/settings.json"),
            cwd.join(".claude/settings.json"),
            cwd.join(".claude/settings.local.json"),
        ] {
            std::fs::write(
                &file,
                r#"{"statusLine":{"type":"command","command":"mine"}}"#,
            )
            .unwrap();
            assert_eq!(
                decide(Some(true), &env, &cwd, &[]),
                Decision::Theirs(file.display().to_string())
            );
            std::fs::write(&file, "{}").unwrap();
        }
        assert_eq!(decide(None, &env, &cwd, &[]), Decision::On);
        let other = root.path().join("config");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("settings.json"), r#"{"disableAllHooks":true}"#).unwrap();
        let env: HashMap<String, String> = [(
            "CLAUDE_CONFIG_DIR".to_owned(),
            other.to_string_lossy().into_owned(),
        )]
        .into();
        assert!(matches!(decide(None, &env, &cwd, &[]), Decision::Theirs(_)));
        assert_eq!(parse_switch("Off"), Some(false));
        assert_eq!(parse_switch("1"), Some(true));
        assert_eq!(parse_switch("maybe"), None);
    }
}

//! Finds the pinned Claude Code versions the end-to-end tests drive (installed by
//! `scripts/install-claude.sh`) and runs them headless with a fresh HOME.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// One installed, pinned Claude Code.
#[derive(Debug, Clone)]
pub struct Claude {
    /// Its version, e.g. `2.1.332`.
    pub version: String,
    /// The `claude.exe` binary.
    pub bin: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every pinned version that is installed. When one is missing: in CI (`CI=true`) the test
/// fails, since CI must drive the real client; elsewhere it says why and returns fewer.
pub fn pinned() -> Vec<Claude> {
    let dir = std::env::var_os("ANYCLAUDE_TEST_CLAUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/claude-code"));
    let versions = std::fs::read_to_string(repo().join("scripts/claude-versions")).unwrap();
    let mut found = Vec::new();
    for version in versions.split_whitespace() {
        let bin = dir
            .join(version)
            .join("node_modules/@anthropic-ai/claude-code/bin/claude.exe");
        if bin.is_file() {
            found.push(Claude {
                version: version.to_owned(),
                bin,
            });
        } else if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "Claude Code {version} is not installed at {}; run scripts/install-claude.sh",
                bin.display()
            );
        } else {
            eprintln!(
                "Claude Code {version} is not installed at {}: its end-to-end cases did not run (scripts/install-claude.sh installs it)",
                bin.display()
            );
        }
    }
    found
}

/// A fresh HOME with first-run screens already passed for `project`.
pub fn prepared_home(home: &Path, project: &Path, version: &str) {
    let config = serde_json::json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": version,
        "theme": "dark",
        "projects": { project.to_string_lossy(): { "hasTrustDialogAccepted": true } },
    });
    std::fs::write(home.join(".claude.json"), config.to_string()).unwrap();
}

/// Environment every headless run gets, besides what the test sets.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), home.to_string_lossy().into_owned()),
        (
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into(),
        ),
        ("DISABLE_AUTOUPDATER".into(), "1".into()),
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
    ]
}

/// Runs a command to completion with a deadline, killing it (by its pid) when it overruns.
pub async fn run(mut cmd: tokio::process::Command, deadline: Duration) -> Output {
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    match tokio::time::timeout(deadline, child.wait_with_output()).await {
        Ok(out) => out.expect("wait"),
        Err(_) => panic!("command did not finish within {deadline:?}: {cmd:?}"),
    }
}

/// The stream-json lines Claude Code printed.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The final `result` line.
pub fn result_line(lines: &[serde_json::Value]) -> Option<&serde_json::Value> {
    lines.iter().rev().find(|l| l["type"] == "result")
}

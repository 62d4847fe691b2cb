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
    /// The program npm linked: `node_modules/.bin/claude`, a native binary for 2.1.x and
    /// the Node script `cli.js` (run through its `#!/usr/bin/env node` line) for 2.0.x.
    pub bin: PathBuf,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The opt-out: with `ANYCLAUDE_SKIP_E2E=1` an end-to-end test whose tools are missing passes
/// having run nothing, and says so on stderr (`cargo test -- --nocapture` shows it).
pub const SKIP_VAR: &str = "ANYCLAUDE_SKIP_E2E";

fn skipping() -> bool {
    std::env::var(SKIP_VAR).is_ok_and(|v| v == "1")
}

/// The pinned versions, in order: `scripts/claude-versions` is the one list.
pub fn versions() -> Vec<String> {
    std::fs::read_to_string(repo().join("scripts/claude-versions"))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Narrows the pinned versions a run drives to those listed (comma-separated), to iterate
/// on one version; unset, every pinned version runs.
pub const ONLY_VAR: &str = "ANYCLAUDE_TEST_CLAUDE_ONLY";

/// Every pinned version (or those [`ONLY_VAR`] lists). An end-to-end test never passes
/// having run nothing: when a version is not installed it fails, naming the command that
/// installs it, unless [`SKIP_VAR`]`=1` is set, in which case `test` says it was skipped and
/// runs no version.
pub fn pinned(test: &str) -> Vec<Claude> {
    let dir = std::env::var_os("ANYCLAUDE_TEST_CLAUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/claude-code"));
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let only = std::env::var(ONLY_VAR).unwrap_or_default();
    let wanted = |v: &str| only.is_empty() || only.split(',').any(|o| o.trim() == v);
    for version in versions().into_iter().filter(|v| wanted(v)) {
        let bin = dir.join(&version).join("node_modules/.bin/claude");
        if bin.is_file() {
            found.push(Claude { version, bin });
        } else {
            missing.push(format!("{version} (no {})", bin.display()));
        }
    }
    assert!(
        !found.is_empty() || !missing.is_empty(),
        "{test}: {ONLY_VAR}={only:?} names no pinned version (pinned: {})",
        versions().join(", ")
    );
    if missing.is_empty() {
        return found;
    }
    if skipping() {
        eprintln!(
            "SKIPPED {test}: Claude Code {} not installed and {SKIP_VAR}=1",
            missing.join(", ")
        );
        return Vec::new();
    }
    panic!(
        "{test} needs the pinned Claude Code; not installed: {}. Run scripts/test.sh \
         (or scripts/install-claude.sh, then set ANYCLAUDE_TEST_CLAUDE_DIR if you installed \
         elsewhere), or set {SKIP_VAR}=1 to skip the end-to-end tests",
        missing.join(", ")
    );
}

/// Whether a program the interactive test needs (tmux) is there; if not, the test fails
/// saying how to install it, unless [`SKIP_VAR`]`=1`, when it says it was skipped.
pub fn tool_present(test: &str, program: &str, install: &str) -> bool {
    if std::process::Command::new(program)
        .arg("-V")
        .output()
        .is_ok()
    {
        return true;
    }
    if skipping() {
        eprintln!("SKIPPED {test}: {program} is not installed and {SKIP_VAR}=1");
        return false;
    }
    panic!(
        "{test} needs {program}, which is not installed: {install} (scripts/test.sh does), \
         or set {SKIP_VAR}=1 to skip the end-to-end tests"
    );
}

/// Records that end-to-end case `case` ran to the end on `claude`: one line appended to the
/// file named by `ANYCLAUDE_E2E_RECORD` (scripts/test.sh sets it and sums it up per version).
pub fn record(case: &str, claude: &Claude) {
    let Some(path) = std::env::var_os("ANYCLAUDE_E2E_RECORD") else {
        return;
    };
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("the e2e record file opens");
    // One short write per line: appends from parallel tests do not interleave.
    file.write_all(format!("{}\t{case}\n", claude.version).as_bytes())
        .expect("the e2e record is written");
}

/// One headless run: what it printed, and its `stream-json` lines.
pub struct Run {
    /// The process's status and output.
    pub out: Output,
    /// Its stdout's JSON lines.
    pub lines: Vec<serde_json::Value>,
}

impl Run {
    /// The final `result` line; fails naming `version` and what was printed when there is
    /// none.
    pub fn result(&self, version: &str) -> &serde_json::Value {
        result_line(&self.lines).unwrap_or_else(|| {
            panic!(
                "{version}: no result line; stdout {} stderr {}",
                String::from_utf8_lossy(&self.out.stdout),
                String::from_utf8_lossy(&self.out.stderr)
            )
        })
    }
}

/// A temporary root holding a fresh HOME prepared for `claude` and a project folder:
/// `(root, home, project)`; both go when `root` is dropped.
pub fn dirs(claude: &Claude) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    let project = project.canonicalize().unwrap();
    prepared_home(&home, &project, &claude.version);
    (root, home, project)
}

/// Runs `anyclaude --claude <claude> --model <model> -p <prompt> --output-format
/// stream-json --verbose <extra>` in `project` with HOME `home`, the base environment plus
/// `env`, within `deadline`.
pub async fn print(
    claude: &Claude,
    (home, project): (&Path, &Path),
    env: &[(&str, String)],
    model: &str,
    prompt: &str,
    extra: &[&str],
    deadline: Duration,
) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anyclaude"));
    cmd.env_clear()
        .envs(base_env(home))
        .env("XDG_STATE_HOME", home.join("state"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(project)
        .arg("--claude")
        .arg(&claude.bin)
        .args([
            "--model",
            model,
            "-p",
            prompt,
            "--output-format",
            "stream-json",
            "--verbose",
        ])
        .args(extra);
    let out = run(cmd, deadline).await;
    let lines = json_lines(&out.stdout);
    Run { out, lines }
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

/// Environment every headless run gets, besides what the test sets: the local presets'
/// base URLs point at a loopback port nothing listens on, so that the proxy's model list
/// (which Claude Code asks for) never probes the real default ports.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    let local = crate::picker::local_env(&[])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v));
    local.chain(base_vars(home)).collect()
}

fn base_vars(home: &Path) -> Vec<(String, String)> {
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

/// Runs a command to completion with a deadline, killing it (by its pid) when it overruns
/// and then failing with what it had printed.
pub async fn run(mut cmd: tokio::process::Command, deadline: Duration) -> Output {
    use tokio::io::AsyncReadExt;
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf).await;
        buf
    });
    let err = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let status = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            // SIGTERM first: anyclaude forwards it to its claude child, which would
            // otherwise keep the pipes open; then SIGKILL if it is still there.
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
            let grace = Duration::from_secs(5);
            let out = tokio::time::timeout(grace, out)
                .await
                .ok()
                .and_then(Result::ok);
            let err = tokio::time::timeout(grace, err)
                .await
                .ok()
                .and_then(Result::ok);
            let (out, err) = (out.unwrap_or_default(), err.unwrap_or_default());
            let err = String::from_utf8_lossy(&err);
            panic!(
                "command did not finish within {deadline:?}: {cmd:?}\nstdout: {}\nstderr: {err}\n{}",
                String::from_utf8_lossy(&out),
                log_tail(&err)
            );
        }
    };
    Output {
        status,
        stdout: out.await.unwrap(),
        stderr: err.await.unwrap(),
    }
}

/// The end of the log anyclaude named on stderr (`anyclaude: log: PATH`), if any.
pub fn log_tail(stderr: &str) -> String {
    let Some(path) = stderr
        .lines()
        .find_map(|l| l.strip_prefix("anyclaude: log: "))
    else {
        return String::new();
    };
    let log = std::fs::read_to_string(path.trim()).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("anyclaude's log ({path}), last lines:\n{}", tail.join("\n"))
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

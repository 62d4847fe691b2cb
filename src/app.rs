//! Wires the pieces together for `main`: parse the command line, validate the
//! configuration, find claude, open the log, bind the port, serve the proxy, run and
//! supervise claude (or, with `--proxy-only`, wait for Ctrl-C), then shut the proxy down
//! and exit with claude's status.
//!
//! Invocations that never reach the model (`--version`, `mcp list`, ...: see
//! [`cli::pass_through`]) replace anyclaude with claude at once: no proxy, no log, no
//! warnings. `completions <SHELL>` and `man` print what clap renders and exit; `check` and
//! `models` report on the providers (see [`crate::check`]) and start no claude.
//!
//! With no model named and no provider key set, the local servers are probed before the
//! port is bound ([`crate::zero_config`]); a `/model` pick claude saved as its default is
//! put back after it exits ([`crate::claude_settings`]).
//!
//! Exit statuses: claude's own (or 128+N when it died of signal N); 2 for a usage or
//! configuration error (nothing started); 127 when claude cannot be found, 126 when it
//! cannot be executed; 1 for anything else. Everything anyclaude prints goes to stderr and
//! happens before claude starts or after it exits, except `--proxy-only`'s `export` lines
//! (stdout).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tokio_util::sync::CancellationToken;

use crate::cli::{self, Invocation, Parsed, Tool};
use crate::config::{self, Config, ConfigError, HumanDuration};
use crate::logging;
use crate::secrets::Scrubber;
use crate::server::{self, Proxy, ProxySettings};
use crate::supervise::{self, ChildSpec, Signals, SpawnError, env::Injection};

/// An upper bound on waiting for the proxy to drain after claude exits (the server has its
/// own, shorter grace period; this only guards against a hang).
const SERVE_DRAIN_BOUND: Duration = Duration::from_secs(10);

/// A claude that fails within this long of starting, or later without ever having asked
/// the model anything, most likely refused its arguments: Claude Code rejects an unknown
/// option in about half a second on an idle machine, and in over 10 s (2.0.x, on Node) on
/// a heavily loaded one. Only then, and only for an argument close to one of our options,
/// is the hint printed (claude's stderr is never read: it owns the terminal).
const QUICK_EXIT: Duration = Duration::from_secs(10);

/// The `--claude` program is a directory (exit status 126, as for anything that cannot
/// be executed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotAProgram(String);

/// Entry point: runs anyclaude with the process's arguments and environment.
pub fn main() -> ExitCode {
    crate::upstream::install_tls_provider();
    match cli::parse(std::env::args_os().skip(1)) {
        Parsed::Exit(err) => {
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
        Parsed::Run(invocation) => {
            if let Some(tool) = &invocation.args.command {
                if *tool == Tool::StatusLine {
                    return crate::status_line::run(&config::process_env());
                }
                return print_tool(tool);
            }
            match run(*invocation, config::process_env()) {
                Ok(code) => ExitCode::from(code),
                Err(err) => {
                    eprintln!("anyclaude: {err:#}");
                    tracing::error!(error = format!("{err:#}"), "exiting");
                    ExitCode::from(exit_status_for(&err))
                }
            }
        }
    }
}

/// Prints a completion script or the man page on stdout, or runs `check` or `models`.
fn print_tool(tool: &Tool) -> ExitCode {
    let mut text = Vec::new();
    match tool {
        Tool::Check {
            model,
            claude,
            config,
        } => {
            return crate::check::check(
                model.as_deref(),
                claude.as_ref(),
                config.as_ref(),
                config::process_env(),
            );
        }
        Tool::Models { provider, config } => {
            return crate::check::models(
                provider.as_deref(),
                config.as_ref(),
                config::process_env(),
            );
        }
        Tool::Completions { shell } => {
            clap_complete::generate(*shell, &mut cli::command(), "anyclaude", &mut text);
        }
        Tool::Man => {
            if let Err(err) = clap_mangen::Man::new(cli::command()).render(&mut text) {
                eprintln!("anyclaude: cannot render the man page: {err}");
                return ExitCode::from(1);
            }
        }
        Tool::StatusLine => return crate::status_line::run(&config::process_env()),
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("anyclaude: cannot write to stdout: {err}");
            ExitCode::from(1)
        }
    }
}

/// The exit status for an error that ended the run.
pub fn exit_status_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<ConfigError>() {
            return 2;
        }
        if cause.is::<NotAProgram>() {
            return 126;
        }
        if let Some(spawn) = cause.downcast_ref::<SpawnError>() {
            return spawn.exit_code();
        }
    }
    1
}

/// Runs anyclaude; returns the status to exit with.
pub fn run(invocation: Invocation, env: HashMap<String, String>) -> anyhow::Result<u8> {
    let Invocation {
        args,
        claude_args,
        misspelt,
    } = invocation;
    let mut config = Config::new(args, claude_args, &env)?;
    if config.pass_through {
        let program = find_claude(&config, &env)?;
        let err = std::process::Command::new(&program)
            .args(&config.claude_args)
            .exec();
        return Err(SpawnError::Io {
            path: program.display().to_string(),
            source: err,
        }
        .into());
    }
    // Everything that can fail cheaply fails before the port is bound or a child spawned.
    let program = if config.proxy_only {
        None
    } else {
        Some(find_claude(&config, &env)?)
    };
    let zero_config = zero_config(&mut config)?;
    {
        let mut err = std::io::stderr().lock();
        for warning in &config.warnings {
            let _ = writeln!(err, "anyclaude: warning: {warning}");
        }
    }
    let token = supervise::env::new_token()
        .map_err(|e| anyhow!("cannot get random bytes for the per-run token: {e}"))?;
    let log_path = open_log(
        &config,
        &env,
        Scrubber::from_env(&env, &token).with(config.registry.secrets()),
    )?;
    // Claude Code (which inherits it) and the proxy both need more than the common 1024.
    let open_files = server::raise_open_file_limit();

    let settings = ProxySettings {
        token: token.clone(),
        timeouts: config.timeouts,
        registry: Arc::clone(&config.registry),
        env: env.clone(),
        debug_level: config.log_level,
    };
    // Built before the port is bound: a client that cannot be set up ends the run cleanly.
    let proxy = Proxy::new(settings)?;
    proxy.set_fallbacks(config.fallbacks.clone());

    // One thread for the proxy and the supervisor: Claude Code's traffic is a handful of
    // streams, and on one thread a request and its events cost less CPU (no hand-offs
    // between workers), arrive sooner (+0.7–1.1 against +0.9–3.1 ms to the first event)
    // and hold less memory (no per-worker malloc arenas) than on two workers; measured in
    // BENCHMARKS.md (issue 13).
    let runtime = tokio::runtime::Builder::new_current_thread()
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

    // A local backend is checked before claude starts: whether it listens, and its window.
    let local = config.model.as_ref().and_then(|m| {
        // Zero-config start has just read the chosen server's model list.
        let listed = zero_config
            .as_ref()
            .filter(|found| found.choice.full == m.full)
            .map(|found| found.listed.as_slice());
        runtime.block_on(crate::local_server::start_check(
            &config.registry,
            &m.full,
            listed,
        ))
    });
    if let Some((route, check)) = &local {
        tracing::info!(listening = check.listening, window = ?check.window, "local backend checked");
        for warning in crate::local_server::start_warnings(route, check) {
            eprintln!("anyclaude: warning: {warning}");
            tracing::warn!("{warning}");
        }
    }
    // The window told to Claude Code: the config file's, the server's, or a well-known
    // hosted model's; the status line shows it too.
    let served = local.and_then(|(_, check)| check.window);
    let window = config.model.as_ref().and_then(|m| {
        if let Some(warning) =
            crate::local_server::config_window_warning(&config.registry, &m.full, served.as_ref())
        {
            eprintln!("anyclaude: warning: {warning}");
            tracing::warn!("{warning}");
        }
        let window =
            crate::local_server::chosen_window(&config.registry, &m.full, served.as_ref())?;
        let backend = config
            .registry
            .route(&m.full)
            .map(|r| r.full())
            .unwrap_or_else(|_| m.resolved.clone());
        let mut facts = proxy.metrics().facts(&backend).unwrap_or_default();
        facts.context_window.get_or_insert(window.tokens);
        proxy.metrics().set_facts([(backend, facts)].into());
        Some(window)
    });

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
        model = config.registry.default_model(),
        config_file = config.registry.file().map(|p| p.display().to_string()),
        request = %HumanDuration(t.request),
        idle = %HumanDuration(t.idle),
        keepalive = %HumanDuration(t.keepalive),
        drain = %HumanDuration(t.drain),
        connect = %HumanDuration(t.connect),
        proxy_only = config.proxy_only,
        open_files,
        "anyclaude starting"
    );
    if let Some(found) = &zero_config {
        eprintln!("{}", found.announcement());
    }
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
        // Claude Code must wait as long as the slowest provider may.
        request_timeout: config
            .registry
            .longest_request_timeout(config.timeouts.request),
        model: config.model.as_ref(),
        registry: &config.registry,
    };
    // A `/model` pick claude saves as its default is put back once it exits.
    let model_guard = program.as_ref().and_then(|_| {
        crate::claude_settings::ModelGuard::remember(&env, Arc::clone(&config.registry))
    });
    let mut child_env = supervise::env::child_env(&env, &inj);
    if let Some(found) = &zero_config
        && env
            .get(crate::zero_config::MODEL_VAR)
            .is_none_or(String::is_empty)
    {
        child_env.push((
            crate::zero_config::MODEL_VAR.to_owned(),
            found.choice.full.clone(),
        ));
    }
    let mode = match program {
        Some(program) => Mode::Supervise(
            ChildSpec {
                env: with_window(child_env, &env, Some(&program), window.as_ref()),
                program,
                args: status_line_args(&config, &env),
            },
            misspelt,
        ),
        None => Mode::ProxyOnly {
            exports: supervise::env::export_lines(&with_window(
                supervise::env::child_env(&HashMap::new(), &inj),
                &HashMap::new(),
                None,
                window.as_ref(),
            )),
            log_path,
        },
    };

    let result = runtime.block_on(serve_and_run(listener, Arc::clone(&proxy), mode, signals));
    runtime.shutdown_timeout(Duration::from_millis(500));
    if let Some(guard) = model_guard {
        match guard.restore() {
            Ok(Some(done)) => {
                tracing::info!("{done}");
                eprintln!("{done}");
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "cannot restore claude's default model");
                eprintln!("anyclaude: warning: cannot restore claude's default model: {err}");
            }
        }
    }

    if config.log_level >= 1 {
        let summary = proxy.summary_line();
        tracing::info!(summary = %summary, "usage");
        if summary.starts_with("anyclaude") {
            eprintln!("{summary}");
        } else if !summary.is_empty() {
            eprintln!("anyclaude: {summary}");
        }
    }
    result
}

/// claude's arguments, with anyclaude's status line added when it is on (see
/// [`crate::status_line::decide`]); said at log level 1.
fn status_line_args(config: &Config, env: &HashMap<String, String>) -> Vec<std::ffi::OsString> {
    use crate::status_line::{self, Decision};
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let decision = status_line::decide(config.status_line, env, &cwd, &config.claude_args);
    tracing::info!(decision = ?decision, "status line");
    match (decision, std::env::current_exe()) {
        (Decision::On, Ok(program)) => status_line::with_settings(
            config.claude_args.clone(),
            &status_line::settings(&program),
            &cwd,
        ),
        _ => config.claude_args.clone(),
    }
}

/// Zero-config start (see [`crate::zero_config`]): with no model named and no provider key
/// set, claude runs on the first local server that offers a model, or anyclaude stops here
/// (exit status 2) explaining how to choose one. `--proxy-only` serves whatever each request
/// names, as before.
fn zero_config(config: &mut Config) -> Result<Option<crate::zero_config::Found>, ConfigError> {
    if config.proxy_only || !crate::zero_config::applies(config.model.is_some(), &config.registry) {
        return Ok(None);
    }
    let found = crate::zero_config::detect(&config.registry)?;
    config
        .warnings
        .retain(|w| !w.starts_with("no --model given"));
    Arc::make_mut(&mut config.registry).set_default_model(Some(&found.choice.resolved));
    config.model = Some(found.choice.clone());
    Ok(Some(found))
}

/// claude's environment plus the variables that tell it a local backend's window (see
/// [`crate::local_server::window_env`]), unless the user set them.
fn with_window(
    mut vars: Vec<(String, String)>,
    user: &HashMap<String, String>,
    program: Option<&Path>,
    window: Option<&crate::local_server::Window>,
) -> Vec<(String, String)> {
    if let Some(window) = window {
        let told = crate::local_server::child_vars(user, program, window);
        tracing::info!(?told, "window told to Claude Code");
        vars.extend(told);
    }
    vars
}

/// What to do while the proxy serves.
enum Mode {
    /// Run claude and exit with its status; the arguments it got that look like misspelt
    /// options of ours are pointed out if it fails at once.
    Supervise(ChildSpec, Vec<(String, String)>),
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
    let metrics = proxy.metrics().clone();
    let server = tokio::spawn(server::serve(listener, proxy, shutdown.child_token()));

    let result = match mode {
        Mode::Supervise(spec, misspelt) => {
            let started = Instant::now();
            let result = supervise::run(spec, &mut signals)
                .await
                .map(supervise::exit::exit_code)
                .map_err(anyhow::Error::from);
            if let Ok(code) = result
                && code != 0
                && (started.elapsed() < QUICK_EXIT || !metrics.any_request())
            {
                for (given, ours) in &misspelt {
                    eprintln!("{}", misspelt_hint(given, ours));
                }
            }
            result
        }
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

/// What anyclaude says after claude refused, at once, an argument that looks like a
/// misspelt option of ours.
fn misspelt_hint(given: &str, ours: &str) -> String {
    format!(
        "anyclaude: claude stopped at once; if it refused {given}, that is no anyclaude \
         option either: did you mean {ours}?"
    )
}

/// Finds the claude program, saying so plainly when it names a directory.
fn find_claude(config: &Config, env: &HashMap<String, String>) -> anyhow::Result<PathBuf> {
    let given = Path::new(&config.claude);
    if config.claude.as_encoded_bytes().contains(&b'/') && given.is_dir() {
        let inside = given.join("claude");
        let fix = if inside.is_file() {
            format!("did you mean {}?", inside.display())
        } else {
            "point it at the claude program itself".to_owned()
        };
        return Err(NotAProgram(format!(
            "{} {} is a directory, not a program; {fix}",
            config.claude_from,
            given.display()
        ))
        .into());
    }
    let path = env.get("PATH").map(String::as_str);
    Ok(supervise::resolve(OsStr::new(&config.claude), path)?)
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

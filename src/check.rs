//! `anyclaude check` and `anyclaude models [provider]`: what anyclaude would run on, shown
//! without starting claude or changing anything.
//!
//! `check` prints claude's path and version, the config file used (or none), each provider with
//! its base URL, whether its key is set (never the key) and, for those it can reach
//! (local servers, hosted providers whose key is set), whether it answers and how fast;
//! then the chosen model (`--model`, else what zero-config start would pick), its context
//! window where a listing says, and whether it answers a one-token request sent through an
//! in-process proxy on a loopback port, exactly as Claude Code's requests go. Exit status 0
//! when that request is answered, 1 when it is not, 2 when no model can be chosen.
//!
//! `models` prints one `<provider>/<model>` per line: a provider's own list (`/models`), or
//! with no provider named, every local server's and every provider's whose key is set.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::cli::Args;
use crate::config::{Config, Timeouts};
use crate::discover::{self, ListError, RemoteModel};
use crate::registry::{Provider, Registry};
use crate::server::{self, Proxy, ProxySettings};

/// How long a hosted provider gets to list its models.
const HOSTED_DEADLINE: Duration = Duration::from_secs(10);

/// How long a local server gets to list its models (longer than at start: nothing waits).
const LOCAL_DEADLINE: Duration = Duration::from_secs(2);

/// How long the one-token request may take (a local server may load the model first).
const ANSWER_DEADLINE: Duration = Duration::from_secs(120);

/// How long `claude --version` may take.
const VERSION_DEADLINE: Duration = Duration::from_secs(20);

/// The configuration `check` and `models` look at: the command line's `--model`,
/// `--claude` and `--config`, the environment and the config file, validated as a run
/// would validate them.
fn load(
    model: Option<&str>,
    claude: Option<&OsString>,
    config: Option<&OsString>,
    env: &HashMap<String, String>,
) -> Result<Config, crate::config::ConfigError> {
    let args = Args {
        claude: claude.cloned(),
        config: config.cloned(),
        ..Args::default()
    };
    let claude_args = model
        .map(|m| vec![OsString::from("--model"), OsString::from(m)])
        .unwrap_or_default();
    Config::new(args, claude_args, env)
}

/// `anyclaude check`.
pub fn check(
    model: Option<&str>,
    claude: Option<&OsString>,
    config_file: Option<&OsString>,
    env: HashMap<String, String>,
) -> ExitCode {
    let config = match load(model, claude, config_file, &env) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("anyclaude: {err}");
            return ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        eprintln!("anyclaude: cannot start the async runtime");
        return ExitCode::from(1);
    };
    let (text, code) = runtime.block_on(check_report(&config, &env));
    print!("{text}");
    ExitCode::from(code)
}

/// What a provider's probe found.
struct ProviderState {
    provider: Arc<Provider>,
    /// The key variable and whether it is set; `None` for local servers.
    key: Option<(String, bool)>,
    /// Its models, when it was asked, and how long it took.
    probe: Option<(Result<Vec<RemoteModel>, ListError>, Duration)>,
}

async fn check_report(config: &Config, env: &HashMap<String, String>) -> (String, u8) {
    let registry = &config.registry;
    let mut out = String::new();
    let _ = writeln!(out, "anyclaude {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "claude:    {}", claude_line(config, env).await);
    let _ = writeln!(
        out,
        "config:    {}",
        registry
            .file()
            .map_or("none".to_owned(), |p| p.display().to_string())
    );

    let hosted = hosted_client();
    let local = discover::local_client(LOCAL_DEADLINE, true);
    let states = join_all(registry.providers().map(|provider| {
        let (hosted, local) = (&hosted, &local);
        async move { provider_state(registry, provider, hosted, local).await }
    }))
    .await;
    let _ = writeln!(out, "providers:");
    for state in &states {
        let _ = writeln!(out, "  {}", provider_line(state));
    }

    // The model: named, the config file's default, or what zero-config start would pick.
    let (full, resolved) = match (&config.model, registry.default_model()) {
        (Some(choice), _) => {
            let _ = writeln!(out, "model:     {}", choice.full);
            (choice.full.clone(), choice.resolved.clone())
        }
        (None, Some(default)) => {
            let _ = writeln!(
                out,
                "model:     {default} (the config file's default_model)"
            );
            (default.to_owned(), default.to_owned())
        }
        (None, None) if crate::zero_config::applies(false, registry) => {
            let reports: Vec<_> = states
                .iter()
                .filter(|s| s.provider.server.is_some())
                .filter_map(|s| {
                    let (models, took) = s.probe.clone()?;
                    Some(discover::LocalServerReport {
                        provider: Arc::clone(&s.provider),
                        base_url: s.provider.base_url.clone(),
                        models,
                        took,
                    })
                })
                .collect();
            match crate::zero_config::decide(&reports, Duration::ZERO) {
                Ok(found) => {
                    let _ = writeln!(
                        out,
                        "model:     {} (no model named: zero-config start would pick it)",
                        found.choice.full
                    );
                    (found.choice.full, found.choice.resolved)
                }
                Err(err) => {
                    let _ = writeln!(out, "model:     none\n{err}");
                    return (out, 2);
                }
            }
        }
        (None, None) => {
            let _ = writeln!(
                out,
                "model:     none: a provider key is set ({}), so name the model: anyclaude check --model <provider>/<model>",
                crate::zero_config::key_set(registry).unwrap_or_default()
            );
            return (out, 2);
        }
    };
    if full != resolved {
        let _ = writeln!(out, "  stands for: {resolved}");
    }
    let (provider_name, id) = resolved.split_once('/').unwrap_or(("", ""));
    let listed = states
        .iter()
        .find(|s| s.provider.name.eq_ignore_ascii_case(provider_name))
        .and_then(|s| s.probe.as_ref())
        .and_then(|(models, _)| models.as_ref().ok())
        .and_then(|models| models.iter().find(|m| m.id == id))
        .and_then(|m| m.context_window);
    // A local server is asked for the window it serves (llama.cpp's `/props`, …), from the
    // model list already read; the config file's beats it, a listing or a well-known hosted
    // model's documented window come after.
    let listed_models = states
        .iter()
        .find(|s| s.provider.name.eq_ignore_ascii_case(provider_name))
        .and_then(|s| s.probe.as_ref())
        .and_then(|(models, _)| models.as_ref().ok())
        .map(Vec::as_slice);
    let served = crate::local_server::start_check(registry, &resolved, listed_models)
        .await
        .and_then(|(_, check)| check.window);
    let window = match crate::local_server::chosen_window(registry, &resolved, served.as_ref()) {
        Some(w) => format!("{} tokens (from {})", w.tokens, w.source),
        None => listed.map_or("unknown (no listing says)".to_owned(), |w| {
            format!("{w} tokens (from the model list)")
        }),
    };
    let _ = writeln!(out, "  context window: {window}");
    match one_token(&resolved, config, env).await {
        Ok((took, text)) => {
            let _ = writeln!(
                out,
                "  one-token request: answered in {} ms ({text:?})",
                took.as_millis()
            );
            let _ = writeln!(out, "ok: {full} works");
            (out, 0)
        }
        Err(err) => {
            let _ = writeln!(out, "  one-token request: failed: {err}");
            let _ = writeln!(out, "not ok: {full} does not answer");
            (out, 1)
        }
    }
}

fn hosted_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("anyclaude/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

async fn claude_line(config: &Config, env: &HashMap<String, String>) -> String {
    let path = match crate::supervise::resolve(&config.claude, env.get("PATH").map(String::as_str))
    {
        Ok(path) => path,
        Err(err) => return format!("not found ({}): {err}", config.claude_from),
    };
    let run = tokio::process::Command::new(&path)
        .arg("--version")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let version = match tokio::time::timeout(VERSION_DEADLINE, run).await {
        Ok(Ok(out)) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
        Ok(Ok(out)) => format!("`--version` failed: {}", out.status),
        Ok(Err(err)) => format!("cannot run it: {err}"),
        Err(_) => format!("`--version` gave no answer within {VERSION_DEADLINE:?}"),
    };
    format!("{} ({version})", path.display())
}

async fn provider_state(
    registry: &Registry,
    provider: &Arc<Provider>,
    hosted: &reqwest::Client,
    local: &reqwest::Client,
) -> ProviderState {
    let key = provider
        .key_var
        .as_ref()
        .map(|var| (var.clone(), provider.key.is_some()));
    let worth_asking = match &key {
        None => true,
        Some((_, set)) => *set && !provider.base_url.is_empty(),
    };
    let probe = if worth_asking {
        let started = Instant::now();
        let (client, deadline) = if provider.server.is_some() {
            (local, LOCAL_DEADLINE)
        } else {
            (hosted, HOSTED_DEADLINE)
        };
        let result = discover::list_provider(client, registry, provider, deadline).await;
        Some((result, started.elapsed()))
    } else {
        None
    };
    ProviderState {
        provider: Arc::clone(provider),
        key,
        probe,
    }
}

fn provider_line(state: &ProviderState) -> String {
    let p = &state.provider;
    let url = if p.base_url.is_empty() {
        format!(
            "(no base URL: set {})",
            p.base_url_vars.first().map_or("it", String::as_str)
        )
    } else {
        p.base_url.clone()
    };
    let key = match &state.key {
        None if p.key.is_some() => "local, key set".to_owned(),
        None => "local, no key".to_owned(),
        Some((var, true)) => format!("key {var} set"),
        Some((var, false)) => format!("key {var} missing"),
    };
    let reach = match &state.probe {
        None => "not asked".to_owned(),
        Some((Ok(models), took)) => format!(
            "reachable, {} ms, {} model{}",
            took.as_millis(),
            models.len(),
            if models.len() == 1 { "" } else { "s" }
        ),
        Some((Err(ListError::Status { status, .. }), took)) => {
            format!(
                "reachable, {} ms, but HTTP {status} to its model list",
                took.as_millis()
            )
        }
        Some((Err(ListError::Shape(_)), took)) => {
            format!(
                "reachable, {} ms, but its model list is unreadable",
                took.as_millis()
            )
        }
        Some((Err(ListError::Unsupported(_)), _)) => "lists no models (ask its portal)".to_owned(),
        Some((Err(err), _)) => err.to_string(),
    };
    format!("{:<19} {url:<48} {key:<32} {reach}", p.name)
}

/// Sends a one-token request for `model` through an in-process proxy: `(time, text)`, or
/// the error Claude Code would have got.
async fn one_token(
    model: &str,
    config: &Config,
    env: &HashMap<String, String>,
) -> Result<(Duration, String), String> {
    let token = crate::supervise::env::new_token().map_err(|e| e.to_string())?;
    let timeouts = Timeouts {
        request: ANSWER_DEADLINE,
        ..config.timeouts
    };
    let mut registry = (*config.registry).clone();
    registry.set_default_model(Some(model));
    let proxy = Proxy::new(ProxySettings {
        token: token.clone(),
        timeouts,
        registry: Arc::new(registry),
        env: env.clone(),
        debug_level: 0,
    })
    .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server::serve(
        listener,
        Arc::clone(&proxy),
        shutdown.clone(),
    ));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let sent = client
        .post(format!("http://{addr}/v1/messages"))
        .header(crate::supervise::env::TOKEN_HEADER, &token)
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({
            "model": model,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "Say OK."}],
        }))
        .timeout(ANSWER_DEADLINE + Duration::from_secs(5))
        .send()
        .await;
    let result = match sent {
        Ok(resp) => {
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            if status.is_success() {
                let text = body["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<String>();
                Ok((started.elapsed(), text))
            } else {
                let message = body["error"]["message"].as_str().unwrap_or("no message");
                Err(format!("HTTP {}: {message}", status.as_u16()))
            }
        }
        Err(err) => Err(err.to_string()),
    };
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    result
}

/// `anyclaude models [provider]`.
pub fn models(
    provider_name: Option<&str>,
    config_file: Option<&OsString>,
    env: HashMap<String, String>,
) -> ExitCode {
    let config = match load(None, None, config_file, &env) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("anyclaude: {err}");
            return ExitCode::from(2);
        }
    };
    let registry = &config.registry;
    let providers: Vec<Arc<Provider>> = match provider_name {
        Some(name) => match registry.provider(name) {
            Some(p) => vec![Arc::clone(p)],
            None => {
                eprintln!(
                    "anyclaude: unknown provider {name:?}; known providers: {}",
                    registry.provider_names()
                );
                return ExitCode::from(2);
            }
        },
        None => {
            // Each local address once, and every hosted provider with a key.
            let local: Vec<_> = discover::local_targets(registry)
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            registry
                .providers()
                .filter(|p| {
                    if p.server.is_some() {
                        local.iter().any(|l| Arc::ptr_eq(l, p))
                    } else {
                        p.key.is_some()
                    }
                })
                .cloned()
                .collect()
        }
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("anyclaude: cannot start the async runtime");
        return ExitCode::from(1);
    };
    let hosted = hosted_client();
    let local = discover::local_client(LOCAL_DEADLINE, true);
    let results = runtime.block_on(join_all(providers.iter().map(|p| {
        let (client, deadline) = if p.server.is_some() {
            (&local, LOCAL_DEADLINE)
        } else {
            (&hosted, HOSTED_DEADLINE)
        };
        discover::list_provider(client, registry, p, deadline)
    })));
    let mut listed = 0;
    let mut failed = 0;
    let mut out = String::new();
    for (provider, result) in providers.iter().zip(results) {
        match result {
            Ok(models) => {
                for m in models {
                    listed += 1;
                    let _ = writeln!(out, "{}/{}", provider.name, m.id);
                }
            }
            // Asked for every local server, one that is not running is no news.
            Err(ListError::Unreachable(_))
                if provider_name.is_none() && provider.server.is_some() => {}
            Err(err) => {
                failed += 1;
                eprintln!(
                    "anyclaude: {} ({}): {err}",
                    provider.name, provider.base_url
                );
            }
        }
    }
    print!("{out}");
    if provider_name.is_some() {
        return ExitCode::from(u8::from(failed > 0));
    }
    if listed == 0 {
        eprintln!(
            "anyclaude: no models found: no local server answered and no provider key is set \
             (anyclaude models <provider> asks one provider)"
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

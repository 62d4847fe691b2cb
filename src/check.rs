//! `anyclaude check` and `anyclaude models [provider]`: what anyclaude would run on, shown
//! without starting claude or changing anything.
//!
//! `check` prints claude's path and version, the config file (none yet), each provider with
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

use crate::config::{ModelChoice, Timeouts};
use crate::discover::{self, ListError, RemoteModel};
use crate::provider::{self, Env, PRESETS, Preset};
use crate::server::{self, Proxy, ProxySettings};

/// How long a hosted provider gets to list its models.
const HOSTED_DEADLINE: Duration = Duration::from_secs(10);

/// How long a local server gets to list its models (longer than at start: nothing waits).
const LOCAL_DEADLINE: Duration = Duration::from_secs(2);

/// How long the one-token request may take (a local server may load the model first).
const ANSWER_DEADLINE: Duration = Duration::from_secs(120);

/// How long `claude --version` may take.
const VERSION_DEADLINE: Duration = Duration::from_secs(20);

/// `anyclaude check`.
pub fn check(
    model: Option<&str>,
    claude: Option<&OsString>,
    env: HashMap<String, String>,
) -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        eprintln!("anyclaude: cannot start the async runtime");
        return ExitCode::from(1);
    };
    let (text, code) = runtime.block_on(check_report(model, claude, &env));
    print!("{text}");
    ExitCode::from(code)
}

/// What a provider's probe found.
struct ProviderState {
    preset: &'static Preset,
    base_url: String,
    /// The key variable and whether it is set; `None` for local servers.
    key: Option<(&'static str, bool)>,
    /// Its models, when it was asked, and how long it took.
    probe: Option<(Result<Vec<RemoteModel>, ListError>, Duration)>,
}

async fn check_report(
    model: Option<&str>,
    claude: Option<&OsString>,
    env: &HashMap<String, String>,
) -> (String, u8) {
    let mut out = String::new();
    let _ = writeln!(out, "anyclaude {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "claude:    {}", claude_line(claude, env).await);
    let _ = writeln!(out, "config:    none");

    let hosted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("anyclaude/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default();
    let local = discover::local_client(LOCAL_DEADLINE, true);
    let states = join_all(PRESETS.iter().map(|preset| {
        let (hosted, local) = (&hosted, &local);
        async move { provider_state(preset, env, hosted, local).await }
    }))
    .await;
    let _ = writeln!(out, "providers:");
    for state in &states {
        let _ = writeln!(out, "  {}", provider_line(state));
    }

    // The model: named, or what zero-config start would pick.
    let choice = match model {
        Some(full) => match full.split_once('/') {
            Some((prefix, rest)) if !rest.is_empty() => match provider::preset(prefix) {
                Some(preset) => ModelChoice {
                    full: full.to_owned(),
                    preset: Some(preset),
                },
                None => {
                    let _ = writeln!(
                        out,
                        "model:     {full}: unknown provider {prefix:?} (providers: {})",
                        provider::preset_names()
                    );
                    return (out, 2);
                }
            },
            _ => {
                let _ = writeln!(
                    out,
                    "model:     {full} names no provider; write it as <provider>/<model>"
                );
                return (out, 2);
            }
        },
        None if crate::zero_config::applies(false, env) => {
            let reports: Vec<_> = states
                .iter()
                .filter(|s| s.preset.server.is_some())
                .filter_map(|s| {
                    let (models, took) = s.probe.clone()?;
                    Some(discover::LocalServerReport {
                        preset: s.preset,
                        base_url: s.base_url.clone(),
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
                    found.choice
                }
                Err(err) => {
                    let _ = writeln!(out, "model:     none\n{err}");
                    return (out, 2);
                }
            }
        }
        None => {
            let _ = writeln!(
                out,
                "model:     none: a provider key is set ({}), so name the model: anyclaude check --model <provider>/<model>",
                crate::zero_config::key_set(env).unwrap_or("")
            );
            return (out, 2);
        }
    };
    if model.is_some() {
        let _ = writeln!(out, "model:     {}", choice.full);
    }
    let (_, id) = choice.full.split_once('/').unwrap_or(("", ""));
    let window = states
        .iter()
        .find(|s| Some(s.preset) == choice.preset)
        .and_then(|s| s.probe.as_ref())
        .and_then(|(models, _)| models.as_ref().ok())
        .and_then(|models| models.iter().find(|m| m.id == id))
        .and_then(|m| m.context_window);
    let _ = writeln!(
        out,
        "  context window: {}",
        window.map_or("unknown (no listing says)".to_owned(), |w| format!(
            "{w} tokens"
        ))
    );
    match one_token(&choice.full, env).await {
        Ok((took, text)) => {
            let _ = writeln!(
                out,
                "  one-token request: answered in {} ms ({text:?})",
                took.as_millis()
            );
            let _ = writeln!(out, "ok: {} works", choice.full);
            (out, 0)
        }
        Err(err) => {
            let _ = writeln!(out, "  one-token request: failed: {err}");
            let _ = writeln!(out, "not ok: {} does not answer", choice.full);
            (out, 1)
        }
    }
}

async fn claude_line(claude: Option<&OsString>, env: &HashMap<String, String>) -> String {
    let (program, from) = match (claude, env.var("ANYCLAUDE_CLAUDE_PATH")) {
        (Some(path), _) => (path.clone(), "--claude"),
        (None, Some(path)) => (OsString::from(path), "ANYCLAUDE_CLAUDE_PATH"),
        (None, None) => (OsString::from("claude"), "PATH"),
    };
    let path = match crate::supervise::resolve(&program, env.var("PATH")) {
        Ok(path) => path,
        Err(err) => return format!("not found ({from}): {err}"),
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
    preset: &'static Preset,
    env: &HashMap<String, String>,
    hosted: &reqwest::Client,
    local: &reqwest::Client,
) -> ProviderState {
    let base_url = discover::base_url(preset, env);
    let key = preset.key_var.map(|var| {
        let set = std::iter::once(var)
            .chain(preset.key_fallback_vars.iter().copied())
            .any(|v| env.var(v).is_some());
        (var, set)
    });
    let reachable_to_ask = match key {
        None => true,
        Some((_, set)) => set && !base_url.is_empty(),
    };
    let probe = if reachable_to_ask {
        let started = Instant::now();
        let (client, deadline) = if preset.server.is_some() {
            (local, LOCAL_DEADLINE)
        } else {
            (hosted, HOSTED_DEADLINE)
        };
        let result = discover::list_provider(client, preset, env, deadline).await;
        Some((result, started.elapsed()))
    } else {
        None
    };
    ProviderState {
        preset,
        base_url,
        key,
        probe,
    }
}

fn provider_line(state: &ProviderState) -> String {
    let url = if state.base_url.is_empty() {
        "(no base URL: set ".to_owned()
            + state.preset.base_url_vars.first().copied().unwrap_or("it")
            + ")"
    } else {
        state.base_url.clone()
    };
    let key = match state.key {
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
    format!("{:<19} {url:<48} {key:<32} {reach}", state.preset.name)
}

/// Sends a one-token request for `model` through an in-process proxy: `(time, text)`, or
/// the error Claude Code would have got.
async fn one_token(
    model: &str,
    env: &HashMap<String, String>,
) -> Result<(Duration, String), String> {
    let token = crate::supervise::env::new_token().map_err(|e| e.to_string())?;
    let timeouts = Timeouts {
        request: ANSWER_DEADLINE,
        ..Timeouts::default()
    };
    let proxy = Proxy::new(ProxySettings {
        token: token.clone(),
        timeouts,
        default_model: Some(model.to_owned()),
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
pub fn models(provider_name: Option<&str>, env: HashMap<String, String>) -> ExitCode {
    let presets: Vec<&'static Preset> = match provider_name {
        Some(name) => match provider::preset(name) {
            Some(p) => vec![p],
            None => {
                eprintln!(
                    "anyclaude: unknown provider {name:?}; known providers: {}",
                    provider::preset_names()
                );
                return ExitCode::from(2);
            }
        },
        None => {
            // Each local address once, and every hosted provider whose key is set.
            let local: Vec<_> = discover::local_targets(&env)
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            PRESETS
                .iter()
                .filter(|p| {
                    if p.server.is_some() {
                        local.contains(p)
                    } else {
                        p.key_var
                            .into_iter()
                            .chain(p.key_fallback_vars.iter().copied())
                            .any(|v| env.var(v).is_some())
                    }
                })
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
    let hosted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let local = discover::local_client(LOCAL_DEADLINE, true);
    let results = runtime.block_on(join_all(presets.iter().map(|p| {
        let client = if p.server.is_some() { &local } else { &hosted };
        let deadline = if p.server.is_some() {
            LOCAL_DEADLINE
        } else {
            HOSTED_DEADLINE
        };
        discover::list_provider(client, p, &env, deadline)
    })));
    let mut listed = 0;
    let mut failed = 0;
    let mut out = String::new();
    for (preset, result) in presets.iter().zip(results) {
        match result {
            Ok(models) => {
                for m in models {
                    listed += 1;
                    let _ = writeln!(out, "{}/{}", preset.name, m.id);
                }
            }
            // Asked for every local server, one that is not running is no news.
            Err(ListError::Unreachable(_))
                if provider_name.is_none() && preset.server.is_some() => {}
            Err(err) => {
                failed += 1;
                let url = discover::base_url(preset, &env);
                eprintln!("anyclaude: {} ({url}): {err}", preset.name);
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

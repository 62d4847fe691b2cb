//! Validated settings (timeouts, addresses, levels, the chosen model) built from the
//! command line ([`crate::cli::Args`]) and the environment, read through the [`Env`] trait
//! so tests never touch the process environment.
//!
//! Everything here is pure: a bad value becomes a [`ConfigError`] (exit status 2, before
//! any port is bound or any child started); a risky one becomes a one-line warning in
//! [`Config::warnings`]. A flag beats its variable. Defaults shrink to fit values the user
//! gave (`--timeout 20s` alone gives an idle timeout of 20s, not an error); values the user
//! gave are checked against each other and refused, naming both, when they cannot work.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use crate::cli::Args;
use crate::registry::{self, Provider, Registry, RunKeyCommand, ShellKeyCommand};

/// The proxy's timeouts, validated so that they can all work together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for the upstream to start answering (its response headers).
    pub request: Duration,
    /// Longest silence between upstream bytes once the answer streams.
    pub idle: Duration,
    /// Longest time a stream may go without output Claude Code would see (text, reasoning,
    /// a tool call), however busy the upstream is with keep-alive comments, whitespace or
    /// empty chunks.
    pub progress: Duration,
    /// Interval between `ping` events while the upstream is silent.
    pub keepalive: Duration,
    /// How long a client that stopped reading is waited for.
    pub drain: Duration,
    /// Longest wait for a TCP (and TLS) connection to the upstream.
    pub connect: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request: Duration::from_secs(600),
            idle: Duration::from_secs(300),
            progress: Duration::from_secs(300),
            keepalive: Duration::from_secs(10),
            drain: Duration::from_secs(60),
            connect: Duration::from_secs(10),
        }
    }
}

/// How much longer than `--timeout` Claude Code's own `API_TIMEOUT_MS` is set, so that
/// ours fires first and the user reads our error rather than a generic client timeout.
pub const API_TIMEOUT_MARGIN: Duration = Duration::from_secs(30);

/// A request timeout shorter than this is warned about (local models can take longer to
/// load and start answering).
pub const SHORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A request timeout longer than this is warned about (a stalled upstream holds a turn
/// that long before the user sees an error).
pub const LONG_REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// Read access to environment variables. The process environment is snapshotted once
/// ([`process_env`]); tests pass a map.
pub trait Env {
    /// The value of `name`, if set (and valid UTF-8).
    fn var(&self, name: &str) -> Option<String>;

    /// The value of `name` if set and not empty.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A snapshot of the process environment (variables that are not UTF-8 are left out; the
/// child still inherits them).
pub fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// A configuration the user must fix; exit status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The model named by `--model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// As given: `openai/gpt-5-mini`, or an alias (`fast`), or a configured tier
    /// (`sonnet`).
    pub full: String,
    /// The `provider/model` it stands for (`full` itself unless it is an alias or a tier).
    pub resolved: String,
    /// The provider it goes to (always set once validated: a model without a provider is
    /// refused).
    pub provider: Option<Arc<Provider>>,
}

/// Everything anyclaude runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The proxy's timeouts.
    pub timeouts: Timeouts,
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0: a free one).
    pub port: u16,
    /// Serve only; start no child.
    pub proxy_only: bool,
    /// The Claude Code program: a path, or a name looked up on `PATH`.
    pub claude: OsString,
    /// Where [`Config::claude`] came from, for messages: `--claude`,
    /// `ANYCLAUDE_CLAUDE_PATH` or `the default`.
    pub claude_from: &'static str,
    /// 0–3.
    pub log_level: u8,
    /// Log here instead of a new file per run.
    pub log_file: Option<PathBuf>,
    /// The model from `--model`, if any.
    pub model: Option<ModelChoice>,
    /// The providers, models, aliases and tiers (presets, the config file, the
    /// environment), with the default model set (`--model` beats the file's).
    pub registry: Arc<Registry>,
    /// claude's arguments, in order.
    pub claude_args: Vec<OsString>,
    /// One line each, printed on stderr before claude starts.
    pub warnings: Vec<String>,
    /// anyclaude's status line: `Some(false)` off (`--no-status-line`,
    /// `ANYCLAUDE_STATUS_LINE=0`), `Some(true)` asked for, `None` the default (on unless the
    /// user has their own).
    pub status_line: Option<bool>,
    /// Fallback models per model (`ANYCLAUDE_FALLBACKS`), in order.
    pub fallbacks: HashMap<String, Vec<String>>,
    /// claude only prints something or manages its own settings (`--version`, `mcp list`,
    /// ...; see [`crate::cli::pass_through`]): run it as is, with no proxy, no log, no
    /// warnings and no `--model` check.
    pub pass_through: bool,
}

impl Config {
    /// Validates the command line against the environment and the config file (whose key
    /// commands run here, once).
    pub fn new(
        args: Args,
        claude_args: Vec<OsString>,
        env: &dyn Env,
    ) -> Result<Config, ConfigError> {
        Config::with_key_commands(args, claude_args, env, &ShellKeyCommand::default())
    }

    /// [`Config::new`], running key commands with `keys`.
    pub fn with_key_commands(
        args: Args,
        claude_args: Vec<OsString>,
        env: &dyn Env,
        keys: &dyn RunKeyCommand,
    ) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let timeouts = timeouts(&args, env, &mut warnings)?;

        let host = match &args.host {
            Some(h) => parse_host("--host", h)?,
            None => match env.non_empty("ANYCLAUDE_HOST") {
                Some(h) => parse_host("ANYCLAUDE_HOST", &h)?,
                None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
        };
        if !host.is_loopback() {
            warnings.push(format!(
                "listening on {host}, which is not a loopback address: other machines can \
                 reach the proxy (and the API keys behind it), guarded only by the per-run token"
            ));
        }
        let port = match args.port {
            Some(p) => p,
            None => match env.non_empty("ANYCLAUDE_PORT") {
                Some(p) => p.trim().parse().map_err(|_| {
                    ConfigError(format!("ANYCLAUDE_PORT={p}: not a port number (0-65535)"))
                })?,
                None => 0,
            },
        };
        let proxy_only = args.proxy_only
            || env
                .non_empty("PROXY_ONLY")
                .is_some_and(|v| truthy(&v) == Some(true));
        let (claude, claude_from) = match (&args.claude, env.non_empty("ANYCLAUDE_CLAUDE_PATH")) {
            (Some(path), _) => (path.clone(), "--claude"),
            (None, Some(path)) => (OsString::from(path), "ANYCLAUDE_CLAUDE_PATH"),
            (None, None) => (OsString::from("claude"), "the default"),
        };
        let log_level = match args.log_level {
            Some(l) => l,
            None => match env.non_empty("ANYCLAUDE_DEBUG") {
                Some(v) => parse_debug(&v)?,
                None => 0,
            },
        };
        let status_line = if args.no_status_line {
            Some(false)
        } else if args.status_line {
            Some(true)
        } else {
            match env.non_empty(crate::status_line::ENABLE_VAR) {
                Some(v) => Some(crate::status_line::parse_switch(&v).ok_or_else(|| {
                    ConfigError(format!(
                        "{}={v}: expected on or off (1/0, true/false)",
                        crate::status_line::ENABLE_VAR
                    ))
                })?),
                None => None,
            }
        };
        let pass_through = !proxy_only && crate::cli::pass_through(&claude_args);
        if pass_through {
            return Ok(Config {
                timeouts,
                host,
                port,
                proxy_only,
                claude,
                claude_from,
                log_level,
                log_file: args.log_file.map(PathBuf::from),
                model: None,
                registry: Arc::new(Registry::from_env(&HashMap::<String, String>::new())?),
                claude_args,
                warnings: Vec::new(),
                status_line,
                fallbacks: HashMap::new(),
                pass_through,
            });
        }

        let fallbacks = match env.non_empty(crate::server::fallback::FALLBACKS_VAR) {
            Some(v) => crate::server::fallback::parse_list(&v).map_err(ConfigError)?,
            None => HashMap::new(),
        };
        let file = registry::file::load(args.config.as_deref().map(std::path::Path::new), env)?;
        let mut registry = Registry::build(file.as_ref(), env, keys)?;
        // A flag beats the environment, which beats the file.
        let status_line = status_line.or(file.as_ref().and_then(|f| f.file.status_line));
        let model = match crate::cli::model_arg(&claude_args) {
            Some(full) => Some(model_choice(full, &registry)?),
            None => None,
        };
        if let Some(model) = &model {
            registry.set_default_model(Some(&model.resolved));
        }
        model_warnings(model.as_ref(), &registry, &mut warnings);
        provider_timeouts_fit(&registry, &timeouts)?;
        if proxy_only {
            let ignored = args_besides_model(&claude_args);
            if !ignored.is_empty() {
                warnings.push(format!(
                    "--proxy-only starts no claude; ignoring its arguments: {}",
                    ignored.join(" ")
                ));
            }
        } else {
            api_timeout_warning(env, &timeouts, &mut warnings);
        }

        Ok(Config {
            timeouts,
            host,
            port,
            proxy_only,
            claude,
            claude_from,
            log_level,
            log_file: args.log_file.map(PathBuf::from),
            model,
            registry: Arc::new(registry),
            claude_args,
            warnings,
            status_line,
            fallbacks,
            pass_through,
        })
    }
}

/// claude's arguments other than `--model X` / `--model=X`.
fn args_besides_model(claude_args: &[OsString]) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = claude_args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--model" {
            args.next();
        } else if !arg.starts_with("--model=") {
            out.push(arg.into_owned());
        }
    }
    out
}

/// Where a duration came from, for messages.
#[derive(Debug, Clone)]
enum Source {
    Flag(&'static str),
    Var(&'static str, String),
    /// A default; `true` when it was shortened to fit a value the user gave.
    Default(&'static str, bool),
}

#[derive(Debug, Clone)]
struct Setting {
    value: Duration,
    source: Source,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = HumanDuration(self.value);
        match &self.source {
            Source::Flag(name) => write!(f, "{name} {v}"),
            Source::Var(name, raw) if raw.trim() == v.to_string() => write!(f, "{name}={raw}"),
            Source::Var(name, raw) => write!(f, "{name}={raw} ({v})"),
            Source::Default(name, false) => write!(f, "{name} {v} (the default)"),
            Source::Default(name, true) => write!(f, "{name} {v} (the default, shortened to fit)"),
        }
    }
}

fn timeouts(
    args: &Args,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> Result<Timeouts, ConfigError> {
    let defaults = Timeouts::default();
    let flag = |name: &'static str, raw: &Option<String>| -> Result<Option<Setting>, ConfigError> {
        raw.as_deref()
            .map(|raw| {
                Ok(Setting {
                    value: parse_flag_duration(name, raw)?,
                    source: Source::Flag(name),
                })
            })
            .transpose()
    };

    let request = match flag("--timeout", &args.timeout)? {
        Some(s) => s,
        None => match env.non_empty("ANYCLAUDE_REQUEST_TIMEOUT") {
            Some(raw) => Setting {
                value: parse_env_duration_ms("ANYCLAUDE_REQUEST_TIMEOUT", &raw)?,
                source: Source::Var("ANYCLAUDE_REQUEST_TIMEOUT", raw),
            },
            None => Setting {
                value: defaults.request,
                source: Source::Default("--timeout", false),
            },
        },
    };
    // A default never exceeds what the values given allow.
    let fitted = |name: &'static str, default: Duration, cap: Duration| Setting {
        value: default.min(cap),
        source: Source::Default(name, cap < default),
    };
    let idle = flag("--idle-timeout", &args.idle_timeout)?
        .unwrap_or_else(|| fitted("--idle-timeout", defaults.idle, request.value));
    // Never shorter than the idle timeout by default: a silent upstream makes no progress
    // either, and its own timeout names the silence.
    let progress = match flag("--progress-timeout", &args.progress_timeout)? {
        Some(s) => s,
        None => match env.non_empty("ANYCLAUDE_PROGRESS_TIMEOUT") {
            Some(raw) => Setting {
                value: parse_env_duration_ms("ANYCLAUDE_PROGRESS_TIMEOUT", &raw)?,
                source: Source::Var("ANYCLAUDE_PROGRESS_TIMEOUT", raw),
            },
            None => Setting {
                value: defaults.progress.max(idle.value),
                source: Source::Default("--progress-timeout", false),
            },
        },
    };
    let keepalive = flag("--keepalive", &args.keepalive)?
        .unwrap_or_else(|| fitted("--keepalive", defaults.keepalive, idle.value / 2));
    let drain = flag("--drain-timeout", &args.drain_timeout)?
        .unwrap_or_else(|| fitted("--drain-timeout", defaults.drain, request.value / 2));
    for s in [&idle, &progress, &keepalive, &drain] {
        if s.value.is_zero() {
            // Only a tiny explicit --timeout can shrink a default to nothing.
            return Err(ConfigError(format!(
                "{s} is too short; give a longer {request}"
            )));
        }
    }

    if keepalive.value >= idle.value {
        return Err(ConfigError(format!(
            "{keepalive} must be shorter than {idle}: pings keep Claude Code's idle timer \
             from firing only if they come more often"
        )));
    }
    if keepalive.value >= progress.value {
        return Err(ConfigError(format!(
            "{keepalive} must be shorter than {progress}"
        )));
    }
    if idle.value > request.value {
        return Err(ConfigError(format!(
            "{idle} is longer than {request}; the silence allowed mid-stream cannot exceed \
             the wait for the first byte"
        )));
    }
    if drain.value >= request.value {
        return Err(ConfigError(format!(
            "{drain} must be shorter than {request}"
        )));
    }

    if request.value < SHORT_REQUEST_TIMEOUT {
        warnings.push(format!(
            "{request} is under 30s; local models can take longer than that to load and \
             start answering"
        ));
    } else if request.value > LONG_REQUEST_TIMEOUT {
        warnings.push(format!(
            "{request} is over 1h; a stalled upstream will hold a turn that long before you \
             see an error"
        ));
    }

    Ok(Timeouts {
        request: request.value,
        idle: idle.value,
        progress: progress.value,
        keepalive: keepalive.value,
        drain: drain.value,
        connect: defaults.connect.min(request.value),
    })
}

/// The longest duration any option or variable accepts: anything longer is a mistake (and
/// would come near the limits of the clock arithmetic it feeds).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// How a duration is written, for messages.
const DURATION_EXAMPLES: &str = "a number and a unit, e.g. 250ms, 45s, 10m, 1h30m";

/// `600s (10m)`, or just `600ms` when the two readings are the same.
fn reading(n: u64, unit: &str, value: Duration) -> String {
    let written = format!("{n}{unit}");
    let human = HumanDuration(value).to_string();
    if human == written {
        written
    } else {
        format!("{written} ({human})")
    }
}

/// Parses a duration flag; a value must carry its unit.
fn parse_flag_duration(name: &str, raw: &str) -> Result<Duration, ConfigError> {
    let t = raw.trim();
    if let Ok(n) = t.parse::<u64>() {
        if n == 0 {
            return Err(ConfigError(format!(
                "{name} {raw}: must be greater than zero"
            )));
        }
        // Each sensible reading once, leaving out those over the limit.
        let readings: Vec<String> = [
            ("ms", Duration::from_millis(n)),
            ("s", Duration::from_secs(n)),
        ]
        .into_iter()
        .filter(|(_, d)| *d <= MAX_DURATION)
        .map(|(unit, d)| reading(n, unit, d))
        .collect();
        return Err(ConfigError(if readings.is_empty() {
            format!("{name} {raw}: no unit; write {DURATION_EXAMPLES} (at most 24h)")
        } else {
            format!(
                "{name} {raw}: no unit; did you mean {}?",
                readings.join(" or ")
            )
        }));
    }
    parse_duration(name, " ", raw)
}

/// Parses a duration variable; a bare integer means milliseconds (as in earlier tools),
/// but under a second it is refused: `600` was surely meant as seconds.
fn parse_env_duration_ms(name: &str, raw: &str) -> Result<Duration, ConfigError> {
    let t = raw.trim();
    if let Ok(n) = t.parse::<u64>() {
        if n == 0 {
            return Err(ConfigError(format!(
                "{name}={raw}: must be greater than zero"
            )));
        }
        if n < 1000 {
            return Err(ConfigError(format!(
                "{name}={raw}: a bare number here means milliseconds, and {n}ms is surely not \
                 what you meant; write {name}={}, or {name}={n}ms if you do mean it",
                reading(n, "s", Duration::from_secs(n))
            )));
        }
        return at_most_a_day(name, "=", raw, Duration::from_millis(n));
    }
    parse_duration(name, "=", raw)
}

fn parse_duration(name: &str, sep: &str, raw: &str) -> Result<Duration, ConfigError> {
    let t = raw.trim();
    if t.starts_with('-') {
        return Err(ConfigError(format!(
            "{name}{sep}{raw}: must be greater than zero"
        )));
    }
    match humantime::parse_duration(t) {
        Ok(d) if d.is_zero() => Err(ConfigError(format!(
            "{name}{sep}{raw}: must be greater than zero"
        ))),
        Ok(d) => at_most_a_day(name, sep, raw, d),
        Err(_) => Err(ConfigError(format!(
            "{name}{sep}{raw}: not a duration; write {DURATION_EXAMPLES}"
        ))),
    }
}

fn at_most_a_day(name: &str, sep: &str, raw: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d > MAX_DURATION {
        return Err(ConfigError(format!(
            "{name}{sep}{raw}: longer than 24h, the longest any duration may be"
        )));
    }
    Ok(d)
}

/// A duration printed compactly: `10m`, `6d 22h 40m`, `1m 30s`, `250ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_ms = self.0.as_millis();
        if total_ms == 0 {
            return if self.0.is_zero() {
                f.write_str("0s")
            } else {
                write!(f, "{}us", self.0.as_micros())
            };
        }
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
            (1, "ms"),
        ];
        let mut rest = total_ms;
        let mut first = true;
        for (size, unit) in units {
            let n = rest / size;
            rest %= size;
            if n > 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{n}{unit}")?;
                first = false;
            }
        }
        Ok(())
    }
}

fn parse_host(name: &str, raw: &str) -> Result<IpAddr, ConfigError> {
    let t = raw.trim();
    if t.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    t.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            ConfigError(format!(
                "{name} {raw}: not an IP address (e.g. 127.0.0.1, ::1 or localhost)"
            ))
        })
}

fn truthy(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// `ANYCLAUDE_DEBUG`: 0–3 (higher values mean 3, as "more" did before); true/false too.
fn parse_debug(raw: &str) -> Result<u8, ConfigError> {
    if let Ok(n) = raw.trim().parse::<u64>() {
        return Ok(n.min(3) as u8);
    }
    match truthy(raw) {
        Some(on) => Ok(u8::from(on)),
        None => Err(ConfigError(format!(
            "ANYCLAUDE_DEBUG={raw}: expected a level from 0 to 3"
        ))),
    }
}

fn model_choice(full: String, registry: &Registry) -> Result<ModelChoice, ConfigError> {
    let names = registry.provider_names();
    let mut resolved = registry.resolve(&full).to_owned();
    if !resolved.contains('/') {
        // `--model sonnet` with `[tiers] sonnet` configured: claude reads the tier itself.
        let tier = registry::Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(&resolved))
            .and_then(|t| registry.tier(t));
        match tier {
            Some(target) => resolved = target.to_owned(),
            None => {
                let fix = match crate::cli::suggest::model(&full) {
                    Some(likely) => format!("did you mean --model {likely}?"),
                    None => "write it as <provider>/<model>, e.g. openai/gpt-5-mini or \
                             ollama/qwen3"
                        .to_owned(),
                };
                return Err(ConfigError(format!(
                    "--model {full} names no provider; {fix} (providers: {names})"
                )));
            }
        }
    }
    let (prefix, rest) = resolved.split_once('/').unwrap_or((&resolved, ""));
    match registry.provider(prefix) {
        Some(provider) if !rest.is_empty() => Ok(ModelChoice {
            provider: Some(Arc::clone(provider)),
            full,
            resolved,
        }),
        Some(_) => Err(ConfigError(format!(
            "--model {full}: no model after the provider; e.g. --model {prefix}/<model>"
        ))),
        None => Err(ConfigError(format!(
            "--model {full}: unknown provider {prefix:?}; known providers: {names}"
        ))),
    }
}

fn model_warnings(model: Option<&ModelChoice>, registry: &Registry, warnings: &mut Vec<String>) {
    let provider = match model {
        Some(ModelChoice {
            provider: Some(p), ..
        }) => Arc::clone(p),
        // Refused by `model_choice`.
        Some(ModelChoice { provider: None, .. }) => return,
        None => match registry
            .default_model()
            .and_then(|m| registry.provider(m.split_once('/')?.0))
        {
            Some(p) => Arc::clone(p),
            None => {
                warnings.push(
                    "no --model given: each request's model must name its provider, e.g. \
                     `anyclaude --model openai/gpt-5-mini` (or `/model openai/gpt-5-mini` inside \
                     claude)"
                        .to_owned(),
                );
                return;
            }
        },
    };
    if let Some(var) = provider.missing_key() {
        warnings.push(format!(
            "{var} is not set; requests to {provider} will fail until you export it and \
             restart anyclaude"
        ));
    }
    if provider.base_url.is_empty() {
        warnings.push(format!(
            "{provider} has no default address; set {}",
            provider.base_url_vars.join(" or ")
        ));
    }
}

/// A provider's own idle and progress timeouts must leave room for the pings, as the global
/// ones must.
fn provider_timeouts_fit(registry: &Registry, timeouts: &Timeouts) -> Result<(), ConfigError> {
    for p in registry.providers() {
        let t = p.timeouts.apply(*timeouts);
        for (name, own, value) in [
            ("idle", p.timeouts.idle, t.idle),
            ("progress", p.timeouts.progress, t.progress),
        ] {
            if own.is_some() && value <= timeouts.keepalive {
                let file = registry
                    .file()
                    .map_or_else(String::new, |f| format!("{}: ", f.display()));
                return Err(ConfigError(format!(
                    "{file}providers.{}.timeouts.{name} {} must be longer than --keepalive {}",
                    p.name,
                    HumanDuration(value),
                    HumanDuration(timeouts.keepalive)
                )));
            }
        }
    }
    Ok(())
}

fn api_timeout_warning(env: &dyn Env, timeouts: &Timeouts, warnings: &mut Vec<String>) {
    let Some(raw) = env.non_empty("API_TIMEOUT_MS") else {
        return;
    };
    let ours = HumanDuration(timeouts.request);
    match raw.trim().parse::<u64>() {
        Ok(ms) if u128::from(ms) <= timeouts.request.as_millis() => warnings.push(format!(
            "API_TIMEOUT_MS={raw} ({}) is not longer than anyclaude's request timeout \
             ({ours}); Claude Code may give up first with a generic timeout instead of \
             anyclaude's clear error; unset it or raise it above {}",
            HumanDuration(Duration::from_millis(ms)),
            timeouts.request.as_millis() + API_TIMEOUT_MARGIN.as_millis()
        )),
        Ok(_) => {}
        Err(_) => warnings.push(format!(
            "API_TIMEOUT_MS={raw} is not a number of milliseconds; Claude Code's own timeout \
             may not match anyclaude's ({ours})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn args(flags: &[(&str, &str)]) -> Args {
        let mut a = Args::default();
        for (k, v) in flags {
            let v = Some((*v).to_owned());
            match *k {
                "timeout" => a.timeout = v,
                "idle" => a.idle_timeout = v,
                "progress" => a.progress_timeout = v,
                "keepalive" => a.keepalive = v,
                "drain" => a.drain_timeout = v,
                "host" => a.host = v,
                other => panic!("no flag {other}"),
            }
        }
        a
    }

    fn build(flags: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let model = vec![OsString::from("--model=openai/gpt-5-mini")];
        let mut env = env.to_vec();
        env.insert(0, ("OPENAI_API_KEY", "sk-test"));
        Config::new(args(flags), model, &map(&env))
    }

    #[track_caller]
    fn check_ok(flags: &[(&str, &str)], env: &[(&str, &str)], want: [Duration; 5], warn: &[&str]) {
        let cfg = build(flags, env).unwrap_or_else(|e| panic!("{flags:?} {env:?}: {e}"));
        let t = cfg.timeouts;
        assert_eq!(
            [t.request, t.idle, t.keepalive, t.drain, t.connect],
            want,
            "{flags:?} {env:?}"
        );
        assert_eq!(cfg.warnings.len(), warn.len(), "{:?}", cfg.warnings);
        for (got, want) in cfg.warnings.iter().zip(warn) {
            assert!(got.contains(want), "warning {got:?} lacks {want:?}");
        }
    }

    #[track_caller]
    fn check_err(flags: &[(&str, &str)], env: &[(&str, &str)], want: &str) {
        match build(flags, env) {
            Ok(c) => panic!("{flags:?} {env:?}: accepted: {:?}", c.timeouts),
            Err(e) => assert_eq!(e.0, want, "{flags:?} {env:?}"),
        }
    }

    #[test]
    fn progress_timeout() {
        let progress = |flags: &[(&str, &str)], env: &[(&str, &str)]| {
            build(flags, env).unwrap().timeouts.progress
        };
        assert_eq!(progress(&[], &[]), secs(300));
        // The default is never shorter than the idle timeout.
        assert_eq!(
            progress(&[("timeout", "20m"), ("idle", "10m")], &[]),
            secs(600)
        );
        assert_eq!(progress(&[("progress", "2m")], &[]), secs(120));
        assert_eq!(
            progress(&[], &[("ANYCLAUDE_PROGRESS_TIMEOUT", "90000")]),
            secs(90)
        );
        let err = build(&[("progress", "5s")], &[]).unwrap_err().0;
        assert!(
            err.contains("--keepalive") && err.contains("--progress-timeout 5s"),
            "{err}"
        );
    }

    #[test]
    fn timeouts_accepted() {
        let ms = Duration::from_millis;
        check_ok(
            &[],
            &[],
            [secs(600), secs(300), secs(10), secs(60), secs(10)],
            &[],
        );
        check_ok(
            &[("timeout", "1h30m")],
            &[],
            [secs(5400), secs(300), secs(10), secs(60), secs(10)],
            &["--timeout 1h 30m is over 1h"],
        );
        check_ok(
            &[("timeout", "20s")],
            &[],
            [secs(20), secs(20), secs(10), secs(10), secs(10)],
            &["--timeout 20s is under 30s"],
        );
        check_ok(
            &[("timeout", "5s")],
            &[],
            [secs(5), secs(5), ms(2500), ms(2500), secs(5)],
            &["under 30s"],
        );
        check_ok(
            &[("idle", "30s"), ("keepalive", "250ms"), ("drain", "2m")],
            &[],
            [secs(600), secs(30), ms(250), secs(120), secs(10)],
            &[],
        );
        check_ok(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "120000")],
            [secs(120), secs(120), secs(10), secs(60), secs(10)],
            &[],
        );
        check_ok(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "15m")],
            [secs(900), secs(300), secs(10), secs(60), secs(10)],
            &[],
        );
        check_ok(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "20000")],
            [secs(20), secs(20), secs(10), secs(10), secs(10)],
            &["ANYCLAUDE_REQUEST_TIMEOUT=20000 (20s) is under 30s"],
        );
        // The flag beats the variable.
        check_ok(
            &[("timeout", "2m")],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "1000")],
            [secs(120), secs(120), secs(10), secs(60), secs(10)],
            &[],
        );
        check_ok(
            &[],
            &[("API_TIMEOUT_MS", "600000")],
            [secs(600), secs(300), secs(10), secs(60), secs(10)],
            &["API_TIMEOUT_MS=600000 (10m) is not longer than anyclaude's request timeout (10m)"],
        );
        check_ok(
            &[("timeout", "24h")],
            &[],
            [secs(86400), secs(300), secs(10), secs(60), secs(10)],
            &["over 1h"],
        );
        check_ok(
            &[("timeout", "1m")],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "600")],
            [secs(60), secs(60), secs(10), secs(30), secs(10)],
            &[],
        );
        check_ok(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "86400000")],
            [secs(86400), secs(300), secs(10), secs(60), secs(10)],
            &["over 1h"],
        );
        check_ok(
            &[],
            &[("API_TIMEOUT_MS", "900000")],
            [secs(600), secs(300), secs(10), secs(60), secs(10)],
            &[],
        );
    }

    #[test]
    fn timeouts_refused() {
        check_err(
            &[("timeout", "600000")],
            &[],
            "--timeout 600000: no unit; did you mean 600000ms (10m)?",
        );
        check_err(
            &[("timeout", "600")],
            &[],
            "--timeout 600: no unit; did you mean 600ms or 600s (10m)?",
        );
        check_err(
            &[("keepalive", "10")],
            &[],
            "--keepalive 10: no unit; did you mean 10ms or 10s?",
        );
        check_err(
            &[("timeout", "100000000")],
            &[],
            "--timeout 100000000: no unit; write a number and a unit, e.g. 250ms, 45s, 10m, \
             1h30m (at most 24h)",
        );
        check_err(
            &[("timeout", "abc")],
            &[],
            "--timeout abc: not a duration; write a number and a unit, e.g. 250ms, 45s, 10m, \
             1h30m",
        );
        // At most a day, for every duration and the variable.
        for (flag, raw) in [
            ("timeout", "25h"),
            ("idle", "2d"),
            ("keepalive", "1day 1s"),
            ("drain", "100000000000h"),
        ] {
            let err = build(&[(flag, raw)], &[]).unwrap_err().0;
            assert!(
                err.ends_with(&format!(
                    "{raw}: longer than 24h, the longest any duration may be"
                )),
                "{err}"
            );
        }
        check_err(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "86400001")],
            "ANYCLAUDE_REQUEST_TIMEOUT=86400001: longer than 24h, the longest any duration may be",
        );
        check_err(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "25h")],
            "ANYCLAUDE_REQUEST_TIMEOUT=25h: longer than 24h, the longest any duration may be",
        );
        // A bare number under a second in the variable is refused, with the fix.
        check_err(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "600")],
            "ANYCLAUDE_REQUEST_TIMEOUT=600: a bare number here means milliseconds, and 600ms \
             is surely not what you meant; write ANYCLAUDE_REQUEST_TIMEOUT=600s (10m), or \
             ANYCLAUDE_REQUEST_TIMEOUT=600ms if you do mean it",
        );
        check_err(
            &[("timeout", "0")],
            &[],
            "--timeout 0: must be greater than zero",
        );
        check_err(
            &[("timeout", "0s")],
            &[],
            "--timeout 0s: must be greater than zero",
        );
        check_err(
            &[("idle", "-5s")],
            &[],
            "--idle-timeout -5s: must be greater than zero",
        );
        check_err(
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "0")],
            "ANYCLAUDE_REQUEST_TIMEOUT=0: must be greater than zero",
        );
        assert!(
            build(&[("timeout", "ten minutes")], &[])
                .unwrap_err()
                .0
                .starts_with("--timeout ten minutes: not a duration")
        );
        check_err(
            &[("idle", "30s"), ("keepalive", "30s")],
            &[],
            "--keepalive 30s must be shorter than --idle-timeout 30s: pings keep Claude Code's \
             idle timer from firing only if they come more often",
        );
        check_err(
            &[("timeout", "1m"), ("keepalive", "1m")],
            &[],
            "--keepalive 1m must be shorter than --idle-timeout 1m (the default, shortened to \
             fit): pings keep \
             Claude Code's idle timer from firing only if they come more often",
        );
        check_err(
            &[("timeout", "5m"), ("idle", "10m")],
            &[],
            "--idle-timeout 10m is longer than --timeout 5m; the silence allowed mid-stream \
             cannot exceed the wait for the first byte",
        );
        check_err(
            &[("idle", "20m")],
            &[],
            "--idle-timeout 20m is longer than --timeout 10m (the default); the silence \
             allowed mid-stream cannot exceed the wait for the first byte",
        );
        check_err(
            &[("timeout", "2m"), ("drain", "2m")],
            &[],
            "--drain-timeout 2m must be shorter than --timeout 2m",
        );
        check_err(
            &[("drain", "5m")],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "300000")],
            "--drain-timeout 5m must be shorter than ANYCLAUDE_REQUEST_TIMEOUT=300000 (5m)",
        );
    }

    #[test]
    fn human_durations() {
        let cases = [
            (Duration::from_millis(600_000), "10m"),
            (secs(600_000), "6d 22h 40m"),
            (secs(90), "1m 30s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1s 500ms"),
            (Duration::ZERO, "0s"),
        ];
        for (d, want) in cases {
            assert_eq!(HumanDuration(d).to_string(), want);
        }
    }

    #[test]
    fn environment() {
        let env: &[(&str, &str)] = &[
            ("ANYCLAUDE_HOST", "::1"),
            ("ANYCLAUDE_PORT", "4000"),
            ("ANYCLAUDE_CLAUDE_PATH", "/opt/claude"),
            ("ANYCLAUDE_DEBUG", "2"),
            ("PROXY_ONLY", "true"),
        ];
        let cfg = Config::new(Args::default(), vec![], &map(env)).unwrap();
        assert_eq!(cfg.host, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(cfg.port, 4000);
        assert_eq!(cfg.claude, "/opt/claude");
        assert_eq!(cfg.log_level, 2);
        assert!(cfg.proxy_only);

        // Flags beat variables.
        let a = Args {
            host: Some("localhost".into()),
            port: Some(5000),
            claude: Some("/usr/bin/claude".into()),
            log_level: Some(0),
            ..Args::default()
        };
        let cfg = Config::new(a, vec![], &map(env)).unwrap();
        assert_eq!(cfg.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(cfg.port, 5000);
        assert_eq!(cfg.claude, "/usr/bin/claude");
        assert_eq!(cfg.log_level, 0);

        let cfg = Config::new(Args::default(), vec![], &map(&[])).unwrap();
        assert_eq!(cfg.claude, "claude");
        assert_eq!(cfg.port, 0);
        assert!(!cfg.proxy_only);

        for (var, val) in [("ANYCLAUDE_DEBUG", "9"), ("ANYCLAUDE_DEBUG", "true")] {
            let cfg = Config::new(Args::default(), vec![], &map(&[(var, val)])).unwrap();
            assert!(cfg.log_level > 0);
        }
        for (var, val, want) in [
            (
                "ANYCLAUDE_DEBUG",
                "loud",
                "ANYCLAUDE_DEBUG=loud: expected a level from 0 to 3",
            ),
            (
                "ANYCLAUDE_PORT",
                "http",
                "ANYCLAUDE_PORT=http: not a port number (0-65535)",
            ),
            (
                "ANYCLAUDE_HOST",
                "my-box",
                "ANYCLAUDE_HOST my-box: not an IP address (e.g. 127.0.0.1, ::1 or localhost)",
            ),
        ] {
            let err = Config::new(Args::default(), vec![], &map(&[(var, val)])).unwrap_err();
            assert_eq!(err.0, want);
        }

        let cfg = Config::new(args(&[("host", "0.0.0.0")]), vec![], &map(&[])).unwrap();
        assert!(
            cfg.warnings
                .iter()
                .any(|w| w.contains("not a loopback address"))
        );
    }

    #[test]
    fn models() {
        let run = |model: &str, env: &[(&str, &str)]| {
            Config::new(
                Args::default(),
                vec!["--model".into(), model.into()],
                &map(env),
            )
        };
        let cfg = run("openai/gpt-5-mini", &[]).unwrap();
        assert_eq!(
            &*cfg.model.as_ref().unwrap().provider.as_ref().unwrap().name,
            "openai"
        );
        assert_eq!(
            cfg.warnings,
            [
                "OPENAI_API_KEY is not set; requests to openai will fail until you export it and \
              restart anyclaude"
            ]
        );
        assert!(
            run("openai/gpt-5-mini", &[("OPENAI_API_KEY", "k")])
                .unwrap()
                .warnings
                .is_empty()
        );
        assert!(run("ollama/qwen3", &[]).unwrap().warnings.is_empty());
        let azure = run("azure/gpt-5", &[("AZURE_OPENAI_API_KEY", "k")]).unwrap();
        assert_eq!(
            azure.warnings,
            ["azure has no default address; set AZURE_OPENAI_ENDPOINT or AZURE_API_URL"]
        );
        let err = run("nope/x", &[]).unwrap_err();
        assert!(err.0.starts_with(
            "--model nope/x: unknown provider \"nope\"; known providers: anthropic, openai"
        ));
        assert!(run("openai/", &[]).is_err());
        // A model without a provider is refused, with the likely fix.
        for (bare, fix) in [
            ("gpt-5", "did you mean --model openai/gpt-5?"),
            ("ollama:qwen3", "did you mean --model ollama/qwen3?"),
            (
                "sonnet",
                "did you mean --model anthropic/claude-sonnet-4-5?",
            ),
            (
                "my-model",
                "write it as <provider>/<model>, e.g. openai/gpt-5-mini or ollama/qwen3",
            ),
        ] {
            let err = run(bare, &[]).unwrap_err().0;
            assert_eq!(
                err,
                format!(
                    "--model {bare} names no provider; {fix} (providers: {})",
                    crate::provider::preset_names()
                )
            );
        }
        // Unless claude only prints something: no check, no warnings.
        let version = Config::new(
            Args::default(),
            vec!["--model".into(), "gpt-5".into(), "--version".into()],
            &map(&[]),
        )
        .unwrap();
        assert!(version.pass_through);
        assert!(version.warnings.is_empty());
        assert!(version.model.is_none());
        let none = Config::new(Args::default(), vec![], &map(&[])).unwrap();
        assert!(none.warnings[0].starts_with("no --model given"));
    }

    /// A config file in a temporary directory, and the directory (kept alive).
    fn config_file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path.display().to_string())
    }

    #[test]
    fn the_config_file_is_found_and_flags_beat_it() {
        let (_dir, path) = config_file("default_model = \"ollama/from-file\"\n");
        let (_other, other) = config_file("default_model = \"ollama/from-flag-file\"\n");
        let run = |args: Args, claude: &[&str], env: &[(&str, &str)]| {
            Config::new(args, claude.iter().map(OsString::from).collect(), &map(env)).unwrap()
        };
        let default = |cfg: &Config| cfg.registry.default_model().map(str::to_owned);
        // ANYCLAUDE_CONFIG names the file; its default model is used without --model…
        let cfg = run(Args::default(), &[], &[("ANYCLAUDE_CONFIG", &path)]);
        assert_eq!(default(&cfg).as_deref(), Some("ollama/from-file"));
        assert_eq!(cfg.registry.file(), Some(std::path::Path::new(&path)));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // …and --model beats it.
        let cfg = run(
            Args::default(),
            &["--model", "ollama/from-flag"],
            &[("ANYCLAUDE_CONFIG", &path)],
        );
        assert_eq!(default(&cfg).as_deref(), Some("ollama/from-flag"));
        // --config beats ANYCLAUDE_CONFIG.
        let flag = Args {
            config: Some(other.clone().into()),
            ..Args::default()
        };
        let cfg = run(flag, &[], &[("ANYCLAUDE_CONFIG", &path)]);
        assert_eq!(default(&cfg).as_deref(), Some("ollama/from-flag-file"));
        // The default place: $XDG_CONFIG_HOME/anyclaude/config.toml, else ~/.config/….
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/anyclaude");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "default_model = \"ollama/home\"\n").unwrap();
        let home_str = home.path().display().to_string();
        let cfg = run(Args::default(), &[], &[("HOME", &home_str)]);
        assert_eq!(default(&cfg).as_deref(), Some("ollama/home"));
        let xdg = home.path().join(".config").display().to_string();
        let cfg = run(Args::default(), &[], &[("XDG_CONFIG_HOME", &xdg)]);
        assert_eq!(default(&cfg).as_deref(), Some("ollama/home"));
        // No file at the default place is no error; a named one that is missing is.
        let cfg = run(Args::default(), &[], &[("XDG_CONFIG_HOME", "/nonexistent")]);
        assert_eq!(cfg.registry.file(), None);
        let err = Config::new(
            Args::default(),
            vec![],
            &map(&[("ANYCLAUDE_CONFIG", "/nonexistent/anyclaude.toml")]),
        )
        .unwrap_err()
        .0;
        assert!(
            err.starts_with("/nonexistent/anyclaude.toml: cannot read the config file: "),
            "{err}"
        );
        // A bad file stops the run with its place.
        let (_bad, bad) = config_file("[tiers]\nhaiku = 3\n");
        let err = Config::new(Args::default(), vec![], &map(&[("ANYCLAUDE_CONFIG", &bad)]))
            .unwrap_err()
            .0;
        assert!(
            err.starts_with(&format!(
                "{bad}:2:9: tiers.haiku: invalid type: integer `3`"
            )),
            "{err}"
        );
    }

    #[test]
    fn aliases_and_tiers_work_in_model() {
        let (_dir, path) = config_file(
            "[aliases]\nfast = \"groq/llama-3.3-70b\"\n[tiers]\nsonnet = \"ollama/qwen3\"\n",
        );
        let run = |model: &str| {
            Config::new(
                Args::default(),
                vec!["--model".into(), model.into()],
                &map(&[("ANYCLAUDE_CONFIG", &path), ("GROQ_API_KEY", "g")]),
            )
        };
        let fast = run("fast").unwrap();
        let choice = fast.model.as_ref().unwrap();
        assert_eq!(
            (choice.full.as_str(), choice.resolved.as_str()),
            ("fast", "groq/llama-3.3-70b")
        );
        assert_eq!(fast.registry.default_model(), Some("groq/llama-3.3-70b"));
        // claude reads `--model sonnet` as its tier; the tier is configured.
        let sonnet = run("sonnet").unwrap();
        assert_eq!(sonnet.registry.default_model(), Some("ollama/qwen3"));
        // A provider's own idle timeout must leave room for the pings.
        let (_short, short) = config_file("[providers.ollama]\ntimeouts = { idle = \"5s\" }\n");
        let err = Config::new(
            Args::default(),
            vec![],
            &map(&[("ANYCLAUDE_CONFIG", &short)]),
        )
        .unwrap_err()
        .0;
        assert_eq!(
            err,
            format!(
                "{short}: providers.ollama.timeouts.idle 5s must be longer than --keepalive 10s"
            )
        );
        // An unconfigured tier is still refused, with the fix.
        let err = run("haiku").unwrap_err().0;
        assert!(err.starts_with("--model haiku names no provider"), "{err}");
    }
}

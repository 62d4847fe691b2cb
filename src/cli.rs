//! The command line, parsed in two phases: [`split`] pulls anyclaude's own options out of
//! the argument list (everything else belongs to `claude`, unchanged and in order), then
//! clap parses just those into [`Args`] (raw values; `config` validates them) and renders
//! `--help` and `--version`.
//!
//! Rules, in order of precedence:
//! - The first bare `--` ends anyclaude's options. It is removed; every argument after it
//!   goes to claude exactly as written (so `anyclaude -- --help` shows claude's help and
//!   `anyclaude -- -- x` passes `-- x`).
//! - Before it, an argument that is one of our long options (`--timeout 45s`,
//!   `--timeout=45s`), or `-h`, `--help`, `-V`, `--version`, is ours, wherever it appears.
//!   No long option of ours exists in claude (a test checks each pinned version).
//! - `--log-level` takes a value only as `--log-level=N`, or as the next argument when that
//!   is a single digit (`--log-level 2`); bare, it means 1.
//! - Every other argument goes to claude. `--model X` / `--model=X` goes to claude *and* is
//!   read for routing ([`model_arg`]).
//! - `completions <SHELL>`, `man`, `check` and `models` as the *first* argument are
//!   anyclaude's own commands (no pinned claude has a command by any of these names; a test
//!   checks). As a first word they are not sent as a prompt: `anyclaude -- check` is.
//!
//! It also recognises invocations that never reach the model ([`pass_through`]) and
//! arguments that look like a misspelt option of ours ([`Split::misspelt`]); the
//! suggestions themselves live in [`suggest`].

pub mod suggest;

use std::ffi::{OsStr, OsString};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::provider;

/// anyclaude's own options, as given (durations and addresses are validated by `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "anyclaude",
    version,
    disable_help_subcommand = true,
    about = "Run Claude Code on the model of your choice.",
    long_about = "Run Claude Code on the model of your choice.\n\n\
        anyclaude starts a local proxy that speaks the Anthropic Messages API to Claude Code \
        and each provider's own API upstream, then runs `claude` pointed at it. Use it \
        exactly like `claude`: `anyclaude --model openai/gpt-5-mini`.",
    override_usage = "anyclaude [ANYCLAUDE OPTIONS] [CLAUDE ARGUMENTS]... [-- CLAUDE ARGUMENTS...]",
    after_help = "Every argument that is not an anyclaude option goes to claude unchanged; \
        everything after `--` goes to claude as is.\n\
        Claude Code's own help: anyclaude -- --help",
    after_long_help = "Every argument that is not an anyclaude option goes to claude unchanged and \
        in order (`-p`, `--resume`, `mcp list`, ...). `--model <provider>/<model>` goes to \
        claude and also picks the backend for Claude Code's background requests. The first \
        bare `--` ends anyclaude's options; it is dropped and everything after it goes to \
        claude as is.\n\n\
        Claude Code's own help: anyclaude -- --help\n\
        Claude Code's version:  anyclaude -- --version\n\n\
        Durations take a unit: 250ms, 45s, 10m, 1h30m; at most 24h. Logs go to \
        $XDG_STATE_HOME/anyclaude/ (default ~/.local/state/anyclaude/), one file per run."
)]
pub struct Args {
    /// Longest wait for the upstream to start answering (its response headers); past it
    /// Claude Code gets a 504 timeout_error and retries [default: 10m] [env:
    /// ANYCLAUDE_REQUEST_TIMEOUT, where a bare number of at least 1000 means milliseconds]
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    pub timeout: Option<String>,

    /// Longest silence between upstream bytes once the answer streams; past it the stream
    /// ends with an error event [default: 5m, at most --timeout]
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    pub idle_timeout: Option<String>,

    /// Longest time a streaming answer may go without output Claude Code would see (text,
    /// reasoning, a tool call); keep-alive comments, whitespace and pings do not count. Past
    /// it the stream ends with an error event [default: 5m, at least --idle-timeout] [env:
    /// ANYCLAUDE_PROGRESS_TIMEOUT, where a bare number means milliseconds]
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    pub progress_timeout: Option<String>,

    /// Interval between pings sent to Claude Code while the upstream is silent; must be
    /// shorter than --idle-timeout [default: 10s]
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    pub keepalive: Option<String>,

    /// How long a client that stopped reading (a paused terminal, a suspended claude) is
    /// waited for before its stream is dropped. Memory stays bounded either way: the
    /// per-stream buffer is bounded, so waiting only keeps one upstream connection open
    /// [default: 60s, shorter than --timeout]
    #[arg(long, value_name = "DURATION", help_heading = "Timeouts")]
    pub drain_timeout: Option<String>,

    /// Address the proxy listens on; anything but loopback is warned about [default:
    /// 127.0.0.1] [env: ANYCLAUDE_HOST]
    #[arg(long, value_name = "ADDR", help_heading = "Proxy")]
    pub host: Option<String>,

    /// Port the proxy listens on; 0 picks a free one [default: 0] [env: ANYCLAUDE_PORT]
    #[arg(long, value_name = "PORT", help_heading = "Proxy")]
    pub port: Option<u16>,

    /// Run only the proxy: print the `export` lines that point a claude in another shell
    /// at it, and serve until Ctrl-C or SIGTERM [env: PROXY_ONLY=true]
    #[arg(long, help_heading = "Proxy")]
    pub proxy_only: bool,

    /// The Claude Code program to run [default: `claude` on PATH] [env:
    /// ANYCLAUDE_CLAUDE_PATH]
    #[arg(long, value_name = "PATH", help_heading = "Claude Code")]
    pub claude: Option<OsString>,

    /// Log detail, 0-3: 0 warnings and errors, 1 one line per request, 2 also request,
    /// error and non-streamed answer bodies, 3 also streamed answers chunk by chunk; bare
    /// means 1. (claude's own --debug still goes to claude) [default: 0] [env:
    /// ANYCLAUDE_DEBUG]
    #[arg(
        long,
        value_name = "LEVEL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        value_parser = clap::value_parser!(u8).range(0..=3),
        help_heading = "Logging"
    )]
    pub log_level: Option<u8>,

    /// Log to this file instead of a new file per run under
    /// $XDG_STATE_HOME/anyclaude/
    #[arg(long, value_name = "PATH", help_heading = "Logging")]
    pub log_file: Option<OsString>,

    /// The config file: providers, models, aliases, tiers, the default model [default:
    /// $XDG_CONFIG_HOME/anyclaude/config.toml, else ~/.config/anyclaude/config.toml, when it
    /// exists] [env: ANYCLAUDE_CONFIG]
    #[arg(long, value_name = "PATH", help_heading = "Model")]
    pub config: Option<OsString>,

    /// claude's own option, which anyclaude also reads: the provider prefix picks the
    /// backend for every request that names no provider of its own (Claude Code's
    /// background work). Providers are listed below.
    // Shown in --help, the man page and completions; `split` never hands it to clap (it
    // stays claude's), so it is always `None` here; read it with [`model_arg`].
    #[arg(long, value_name = "PROVIDER/MODEL", help_heading = "Model")]
    pub model: Option<String>,

    /// Show anyclaude's status line under Claude Code's prompt even where it would be off by
    /// default; a status line of your own (in any Claude Code settings file or
    /// `--settings`) still wins [default: on unless you have your own] [env:
    /// ANYCLAUDE_STATUS_LINE=1]
    #[arg(long, help_heading = "Claude Code", overrides_with = "no_status_line")]
    pub status_line: bool,

    /// Do not show anyclaude's status line [env: ANYCLAUDE_STATUS_LINE=0]
    #[arg(long, help_heading = "Claude Code", overrides_with = "status_line")]
    pub no_status_line: bool,

    /// anyclaude's own commands (only as the first argument).
    #[command(subcommand)]
    pub command: Option<Tool>,
}

/// anyclaude's own commands; everything else is claude's.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Tool {
    /// Print a shell completion script, e.g. `anyclaude completions bash >
    /// ~/.local/share/bash-completion/completions/anyclaude`
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `anyclaude man > ~/.local/share/man/man1/anyclaude.1`
    Man,
    /// Print anyclaude's status line: what Claude Code runs under its prompt (it reads the
    /// running anyclaude's state, and prints an empty line outside an anyclaude session)
    StatusLine,
    /// Show what anyclaude would run on, changing nothing and starting no claude: claude's
    /// path and version, each provider's base URL, key (set or missing, never shown) and
    /// reachability, and whether the model answers a one-token request. Exit status 0 when
    /// it does, 1 when it does not, 2 when no model can be chosen
    Check {
        /// The model to check [default: the one zero-config start would pick]
        #[arg(long, value_name = "PROVIDER/MODEL")]
        model: Option<String>,
        /// The Claude Code program [default: `claude` on PATH] [env: ANYCLAUDE_CLAUDE_PATH]
        #[arg(long, value_name = "PATH")]
        claude: Option<OsString>,
        /// The config file [default: $XDG_CONFIG_HOME/anyclaude/config.toml] [env:
        /// ANYCLAUDE_CONFIG]
        #[arg(long, value_name = "PATH")]
        config: Option<OsString>,
    },
    /// List the models a provider offers (its model list, or what a local server has
    /// loaded), one <provider>/<model> per line; without a provider, those of every local
    /// server that answers and of every provider whose key is set
    Models {
        /// The provider, e.g. ollama or openrouter.
        provider: Option<String>,
        /// The config file [default: $XDG_CONFIG_HOME/anyclaude/config.toml] [env:
        /// ANYCLAUDE_CONFIG]
        #[arg(long, value_name = "PATH")]
        config: Option<OsString>,
    },
}

/// The words that start anyclaude's own commands (as the first argument only).
pub const COMMANDS: &[&str] = &["completions", "man", "status-line", "check", "models"];

/// The command line, split into anyclaude's options and claude's arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Our options, normalised for clap (without the program name).
    pub ours: Vec<OsString>,
    /// claude's arguments, in order, exactly as given (without the `--` separator).
    pub claude: Vec<OsString>,
    /// Arguments before `--` that went to claude but look like a misspelt option of ours:
    /// `(as given, ours)`, e.g. `("--log-levl", "--log-level")`.
    pub misspelt: Vec<(String, String)>,
}

/// How an option of ours takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
    /// `--log-level[=N]`: optional, and only a single digit may be the next argument.
    OptionalDigit,
}

/// Our long options (without `--`), and how each takes its value.
const LONG: &[(&str, Takes)] = &[
    ("timeout", Takes::Value),
    ("idle-timeout", Takes::Value),
    ("progress-timeout", Takes::Value),
    ("keepalive", Takes::Value),
    ("drain-timeout", Takes::Value),
    ("host", Takes::Value),
    ("port", Takes::Value),
    ("proxy-only", Takes::Nothing),
    ("status-line", Takes::Nothing),
    ("no-status-line", Takes::Nothing),
    ("claude", Takes::Value),
    ("log-level", Takes::OptionalDigit),
    ("log-file", Takes::Value),
    ("config", Takes::Value),
    ("help", Takes::Nothing),
    ("version", Takes::Nothing),
];

/// Our short options (help and version only; every other short option is claude's).
const SHORT: &[&str] = &["-h", "-V"];

/// The long options anyclaude takes for itself, with `--`, except `--help` and
/// `--version`, which claude shares by design (a test checks no pinned claude has the
/// others).
pub fn own_long_options() -> Vec<String> {
    LONG.iter()
        .filter(|(name, _)| !matches!(*name, "help" | "version"))
        .map(|(name, _)| format!("--{name}"))
        .collect()
}

/// Phase one: separates our options from claude's arguments (see the module docs).
pub fn split<I>(args: I) -> Split
where
    I: IntoIterator<Item = OsString>,
{
    let mut out = Split::default();
    let mut args = args.into_iter().peekable();
    if args
        .peek()
        .and_then(|first| first.to_str())
        .is_some_and(|first| COMMANDS.contains(&first))
    {
        out.ours.extend(args);
        return out;
    }
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            out.claude.push(arg);
            continue;
        };
        if text == "--" {
            out.claude.extend(args);
            break;
        }
        if SHORT.contains(&text) {
            out.ours.push(arg);
            continue;
        }
        let Some(body) = text.strip_prefix("--") else {
            out.claude.push(arg);
            continue;
        };
        let (name, inline_value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(&(_, takes)) = LONG.iter().find(|(n, _)| *n == name) else {
            if let Some(ours) = suggest::own_option(name) {
                out.misspelt.push((format!("--{name}"), ours));
            }
            out.claude.push(arg);
            continue;
        };
        match (takes, inline_value) {
            (Takes::Value, None) => {
                // The value is the next argument whatever it looks like (`--timeout -5s`
                // must reach validation); a missing one is clap's to report.
                match args.next() {
                    Some(value) => out.ours.push(joined(name, value)),
                    None => out.ours.push(arg),
                }
            }
            (Takes::OptionalDigit, None) => match args.next_if(|next| is_single_digit(next)) {
                Some(value) => out.ours.push(joined(name, value)),
                None => out.ours.push(arg),
            },
            _ => out.ours.push(arg),
        }
    }
    out
}

/// `--name=value`, so that clap never mistakes a value for an option.
fn joined(name: &str, value: OsString) -> OsString {
    let mut out = OsString::from(format!("--{name}="));
    out.push(value);
    out
}

fn is_single_digit(arg: &OsStr) -> bool {
    arg.to_str()
        .is_some_and(|s| s.len() == 1 && s.as_bytes()[0].is_ascii_digit())
}

/// The model claude will use: the value of the last `--model X` / `--model=X` among its
/// arguments (the last one wins, as in claude).
pub fn model_arg(claude_args: &[OsString]) -> Option<String> {
    let mut model = None;
    let mut args = claude_args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--model" {
            if let Some(value) = args.next() {
                model = Some(value.to_string_lossy().into_owned());
            }
        } else if let Some(value) = text.strip_prefix("--model=") {
            model = Some(value.to_owned());
        }
    }
    model
}

/// Claude Code's commands that never talk to the model: run as the first argument, they
/// need no proxy (checked against each pinned version's `claude --help` by a test).
/// `agents`, `attach`, `respawn` and `ultrareview` are left out: they start or resume
/// sessions.
pub const CLAUDE_LOCAL_COMMANDS: &[&str] = &[
    "auth",
    "auto-mode",
    "config",
    "doctor",
    "gateway",
    "import",
    "install",
    "kill",
    "logs",
    "mcp",
    "migrate-installer",
    "plugin",
    "plugins",
    "project",
    "purge",
    "rm",
    "setup-token",
    "stop",
    "update",
    "upgrade",
];

/// Whether claude, given these arguments, only prints something or manages its own
/// settings and never talks to the model: `--version`/`-v` or `--help`/`-h` anywhere before
/// a `--` of claude's own, or one of [`CLAUDE_LOCAL_COMMANDS`] first (after any `--model`).
/// Such runs need no proxy, no log and no warnings.
pub fn pass_through(claude_args: &[OsString]) -> bool {
    let texts: Vec<&str> = claude_args
        .iter()
        .map(|a| a.to_str().unwrap_or(""))
        .take_while(|a| *a != "--")
        .collect();
    if texts
        .iter()
        .any(|a| matches!(*a, "--version" | "-v" | "--help" | "-h"))
    {
        return true;
    }
    let mut rest = texts.iter();
    while let Some(arg) = rest.next() {
        if *arg == "--model" {
            rest.next();
        } else if !arg.starts_with("--model=") {
            return CLAUDE_LOCAL_COMMANDS.contains(arg);
        }
    }
    false
}

/// What the command line asks for.
#[derive(Debug)]
pub struct Invocation {
    /// Our options.
    pub args: Args,
    /// claude's arguments, in order.
    pub claude_args: Vec<OsString>,
    /// Arguments claude got that look like misspelt options of ours (see [`Split`]).
    pub misspelt: Vec<(String, String)>,
}

/// The outcome of parsing the command line.
// Built once per run: the size of the options is of no concern.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// Run with these options and claude's arguments.
    Run(Box<Invocation>),
    /// `--help`, `--version` or a usage error: clap has the text and the exit status
    /// (0 for help and version, 2 for errors).
    Exit(clap::Error),
}

/// Parses a whole command line (`args` without the program name).
pub fn parse<I>(args: I) -> Parsed
where
    I: IntoIterator<Item = OsString>,
{
    let split = split(args);
    let argv = std::iter::once(OsString::from("anyclaude")).chain(split.ours);
    let parsed = command()
        .try_get_matches_from(argv)
        .and_then(|matches| Args::from_arg_matches(&matches));
    match parsed {
        Ok(args) => Parsed::Run(Box::new(Invocation {
            args,
            claude_args: split.claude,
            misspelt: split.misspelt,
        })),
        Err(err) => Parsed::Exit(err),
    }
}

/// The clap command, with the providers listed in the help: what `--help`, the man page
/// and the completions are rendered from.
pub fn command() -> clap::Command {
    let names = provider::preset_names();
    let mut long = String::from(
        "Providers, with the variable that holds each one's key (local servers need none):\n",
    );
    for p in provider::PRESETS {
        let key = match p.key_var {
            Some(var) => var.to_owned(),
            None if p.default_base_url.is_empty() => String::new(),
            None => format!("(local: {})", p.default_base_url),
        };
        long.push_str(&format!("  {:<11} {key}\n", p.name));
    }
    let cmd = Args::command().mut_arg("model", |a| {
        a.help(format!(
            "claude's option, also read by anyclaude: the provider picks the backend; \
             e.g. openai/gpt-5-mini, ollama/qwen3 [providers: {names}]"
        ))
    });
    let after = cmd
        .get_after_long_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    cmd.after_long_help(format!("{long}\n{after}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[track_caller]
    fn check(input: &[&str], ours: &[&str], claude: &[&str]) {
        let got = split(os(input));
        assert_eq!(got.ours, os(ours), "ours for {input:?}");
        assert_eq!(got.claude, os(claude), "claude's for {input:?}");
    }

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    #[test]
    fn splits() {
        check(&[], &[], &[]);
        check(&["-p", "hi"], &[], &["-p", "hi"]);
        check(
            &["--timeout", "45s", "-p", "--model", "openai/x", "hi"],
            &["--timeout=45s"],
            &["-p", "--model", "openai/x", "hi"],
        );
        check(
            &["-c", "--port=8080", "--resume", "abc", "--proxy-only"],
            &["--port=8080", "--proxy-only"],
            &["-c", "--resume", "abc"],
        );
        check(
            &["mcp", "list", "--host", "::1"],
            &["--host=::1"],
            &["mcp", "list"],
        );
        check(&["--", "--help"], &[], &["--help"]);
        check(
            &["--config", "my.toml", "-p", "--config=other.toml"],
            &["--config=my.toml", "--config=other.toml"],
            &["-p"],
        );
        check(
            &["--timeout", "1m", "--", "--timeout", "2m", "--"],
            &["--timeout=1m"],
            &["--timeout", "2m", "--"],
        );
        check(&["--help", "-p"], &["--help"], &["-p"]);
        check(&["-h"], &["-h"], &[]);
        check(&["-V", "-v"], &["-V"], &["-v"]);
        // claude's own --debug and -d stay claude's.
        check(&["--debug", "api", "-d"], &[], &["--debug", "api", "-d"]);
        // Values are taken whatever they look like.
        check(&["--timeout", "-5s"], &["--timeout=-5s"], &[]);
        // A missing value is left for clap to report.
        check(&["--timeout"], &["--timeout"], &[]);
        // Unknown look-alikes are claude's.
        check(&["--timeouts", "3"], &[], &["--timeouts", "3"]);
    }

    #[test]
    fn misspelt_options_are_noted() {
        let got = split(os(&[
            "--log-levl",
            "2",
            "--timeout=5m",
            "--time-out=5m",
            "--model",
            "x",
            "--",
            "--prot",
        ]));
        assert_eq!(
            got.misspelt,
            [
                ("--log-levl".to_owned(), "--log-level".to_owned()),
                ("--time-out".to_owned(), "--timeout".to_owned())
            ]
        );
        assert_eq!(
            got.claude,
            os(&["--log-levl", "2", "--time-out=5m", "--model", "x", "--prot"])
        );
    }

    #[test]
    fn pass_through_invocations() {
        let yes: &[&[&str]] = &[
            &["--version"],
            &["-v"],
            &["--help"],
            &["-h"],
            &["-p", "--help"],
            &["mcp", "list"],
            &["--model", "openai/x", "mcp", "list"],
            &["--model=x", "config", "get"],
            &["update"],
            &["doctor"],
            &["plugin", "install", "x"],
            &["mcp", "--", "--help"],
        ];
        let no: &[&[&str]] = &[
            &[],
            &["-p", "hi"],
            &["update the readme"],
            &["-p", "update"],
            &["--resume", "mcp"],
            &["agents"],
            &["attach", "x"],
            &["-p", "x", "--", "-v"],
        ];
        for args in yes {
            assert!(pass_through(&os(args)), "{args:?}");
        }
        for args in no {
            assert!(!pass_through(&os(args)), "{args:?}");
        }
    }

    #[test]
    fn help_lists_model_and_providers() {
        let mut cmd = command();
        let short = cmd.render_help().to_string();
        let long = cmd.render_long_help().to_string();
        for help in [&short, &long] {
            assert!(help.contains("--model <PROVIDER/MODEL>"), "{help}");
            for p in provider::PRESETS {
                assert!(help.contains(p.name), "{} missing from\n{help}", p.name);
            }
        }
        assert!(long.contains("OPENAI_API_KEY"), "{long}");
        assert!(long.contains("completions"), "{long}");
        // `help` is claude's word (a prompt), not a command of ours.
        assert!(!short.contains("  help "), "{short}");
    }

    #[test]
    fn log_level_value() {
        check(&["--log-level"], &["--log-level"], &[]);
        check(&["--log-level", "2", "hi"], &["--log-level=2"], &["hi"]);
        check(&["--log-level=3"], &["--log-level=3"], &[]);
        check(&["--log-level", "hi"], &["--log-level"], &["hi"]);
        check(&["--log-level", "-p"], &["--log-level"], &["-p"]);
    }

    #[test]
    fn model() {
        let m = |a: &[&str]| model_arg(&os(a));
        assert_eq!(m(&["-p", "hi"]), None);
        assert_eq!(m(&["--model", "openai/x"]), Some("openai/x".into()));
        assert_eq!(m(&["--model=a/b", "--model", "c/d"]), Some("c/d".into()));
        assert_eq!(m(&["--model"]), None);
    }

    #[test]
    fn parses_ours() {
        let Parsed::Run(run) = parse(os(&[
            "--log-level",
            "-p",
            "--timeout",
            "45s",
            "--port",
            "9000",
            "x",
        ])) else {
            panic!("expected Run")
        };
        assert_eq!(run.args.log_level, Some(1));
        assert_eq!(run.args.timeout.as_deref(), Some("45s"));
        assert_eq!(run.args.port, Some(9000));
        assert_eq!(run.args.command, None);
        assert_eq!(run.claude_args, os(&["-p", "x"]));

        let Parsed::Run(run) = parse(os(&["--log-level", "2"])) else {
            panic!("expected Run")
        };
        assert_eq!(run.args.log_level, Some(2));

        let Parsed::Run(run) = parse(os(&["--config", "~/x.toml", "-p", "hi"])) else {
            panic!("expected Run")
        };
        assert_eq!(run.args.config.as_deref(), Some(OsStr::new("~/x.toml")));
        assert_eq!(run.claude_args, os(&["-p", "hi"]));

        let Parsed::Run(run) = parse(os(&["completions", "zsh"])) else {
            panic!("expected Run")
        };
        assert_eq!(
            run.args.command,
            Some(Tool::Completions {
                shell: clap_complete::Shell::Zsh
            })
        );
        assert!(run.claude_args.is_empty());
        let Parsed::Run(run) = parse(os(&["man"])) else {
            panic!("expected Run")
        };
        assert_eq!(run.args.command, Some(Tool::Man));
        // Only as the first argument: elsewhere they are claude's (a prompt, say).
        let Parsed::Run(run) = parse(os(&["-p", "man"])) else {
            panic!("expected Run")
        };
        assert_eq!(run.args.command, None);
        assert_eq!(run.claude_args, os(&["-p", "man"]));
        let Parsed::Exit(err) = parse(os(&["completions", "cmd"])) else {
            panic!("expected an error")
        };
        assert_eq!(err.exit_code(), 2);

        let Parsed::Exit(err) = parse(os(&["--log-level=7"])) else {
            panic!("expected an error")
        };
        assert_eq!(err.exit_code(), 2);

        let Parsed::Exit(err) = parse(os(&["--help"])) else {
            panic!("expected help")
        };
        assert_eq!(err.exit_code(), 0);
    }
}

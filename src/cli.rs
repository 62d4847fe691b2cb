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

use std::ffi::{OsStr, OsString};

use clap::{CommandFactory, Parser};

/// anyclaude's own options, as given (durations and addresses are validated by `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "anyclaude",
    version,
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
        Durations take a unit: 250ms, 45s, 10m, 1h30m. Logs go to \
        $XDG_STATE_HOME/anyclaude/ (default ~/.local/state/anyclaude/), one file per run."
)]
pub struct Args {
    /// Longest wait for the upstream to start answering (its response headers); past it
    /// Claude Code gets a 504 timeout_error and retries [default: 10m] [env:
    /// ANYCLAUDE_REQUEST_TIMEOUT, where a bare number means milliseconds]
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

    /// Log detail, 0-3: 0 warnings and errors, 1 one line per request, 2 bodies, 3 every
    /// stream event; bare means 1. (claude's own --debug still goes to claude) [default: 0]
    /// [env: ANYCLAUDE_DEBUG]
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
}

/// The command line, split into anyclaude's options and claude's arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Our options, normalised for clap (without the program name).
    pub ours: Vec<OsString>,
    /// claude's arguments, in order, exactly as given (without the `--` separator).
    pub claude: Vec<OsString>,
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
    ("claude", Takes::Value),
    ("log-level", Takes::OptionalDigit),
    ("log-file", Takes::Value),
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

/// The outcome of parsing the command line.
// Built once per run: the size of the options is of no concern.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// Options to run with, and claude's arguments.
    Run(Args, Vec<OsString>),
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
    match Args::try_parse_from(argv) {
        Ok(args) => Parsed::Run(args, split.claude),
        Err(err) => Parsed::Exit(err),
    }
}

/// The clap command, for tests and help rendering.
pub fn command() -> clap::Command {
    Args::command()
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
        let Parsed::Run(args, claude) = parse(os(&[
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
        assert_eq!(args.log_level, Some(1));
        assert_eq!(args.timeout.as_deref(), Some("45s"));
        assert_eq!(args.port, Some(9000));
        assert_eq!(claude, os(&["-p", "x"]));

        let Parsed::Run(args, _) = parse(os(&["--log-level", "2"])) else {
            panic!("expected Run")
        };
        assert_eq!(args.log_level, Some(2));

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

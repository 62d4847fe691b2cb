//! The `anyclaude` binary end to end: arguments, the child's environment, exit statuses,
//! signals, timeout validation, logging and `--proxy-only`, against a fake claude
//! (`tests/fixtures/fake-claude`) and, where installed, the pinned real Claude Code.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::cli::{Anyclaude, Record, accepting, addr_of};
use crate::support::process::Finished;

/// A table row: arguments, variables, the expected stderr line's start.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

/// A table row: arguments, variables, the whole expected stderr.
type Refused = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    String,
);

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[track_caller]
fn assert_port_closed(record: &Record) {
    let addr = record.proxy_addr();
    assert!(
        !accepting(addr),
        "{addr} still accepts connections after exit"
    );
}

// --- command line -------------------------------------------------------------------

#[test]
fn help_lists_our_options_and_how_to_reach_claudes() {
    for flag in ["--help", "-h"] {
        let mut a = Anyclaude::with_fake("exit:0");
        let out = a.args(["-p", flag]).run();
        out.assert_code(0);
        for want in [
            "--timeout",
            "--idle-timeout",
            "--keepalive",
            "--drain-timeout",
            "--log-level",
        ] {
            assert!(
                out.stdout.contains(want),
                "{flag}: no {want} in\n{}",
                out.stdout
            );
        }
        assert!(out.stdout.contains("anyclaude -- --help"), "{}", out.stdout);
        assert!(!a.claude_ran(), "{flag} started claude");
    }
    let out = Anyclaude::bare().args(["--help"]).run();
    assert!(
        out.stdout.contains("bounded"),
        "--help explains why waiting is cheap"
    );
}

#[test]
fn version_is_ours() {
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["--version"]).run();
    out.assert_code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("anyclaude {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(!a.claude_ran());
}

#[test]
fn usage_errors_exit_2() {
    let out = Anyclaude::with_fake("exit:0").args(["--log-level=7"]).run();
    out.assert_code(2);
    let out = Anyclaude::with_fake("exit:0")
        .args(["--port", "http"])
        .run();
    out.assert_code(2);
    assert!(out.stderr.contains("--port"), "{}", out.stderr);
}

#[test]
fn claude_arguments_pass_through_in_order() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("OPENAI_API_KEY", "k").args([
        "-p",
        "hello world",
        "--timeout",
        "2m",
        "--model",
        "openai/gpt-test",
        "--resume",
        "abc",
        "--log-level",
        "2",
        "--debug",
        "api",
        "mcp",
        "list",
        "--port=0",
        "-c",
    ]);
    a.run().assert_code(0);
    assert_eq!(
        a.record().argv(),
        [
            "-p",
            "hello world",
            "--model",
            "openai/gpt-test",
            "--resume",
            "abc",
            "--debug",
            "api",
            "mcp",
            "list",
            "-c"
        ]
    );
}

#[test]
fn everything_after_double_dash_goes_to_claude() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.args([
        "--log-level",
        "-c",
        "--",
        "--verbose",
        "--timeout",
        "5",
        "--",
        "--model=openai/gpt-test",
    ]);
    let out = a.run();
    out.assert_code(0);
    assert_eq!(
        a.record().argv(),
        [
            "-c",
            "--verbose",
            "--timeout",
            "5",
            "--",
            "--model=openai/gpt-test"
        ]
    );
    // The --model after `--` is still read for routing.
    assert_eq!(
        a.record().var("ANTHROPIC_DEFAULT_HAIKU_MODEL").as_deref(),
        Some("openai/gpt-test")
    );
}

// --- the child's environment ----------------------------------------------------------

#[test]
fn environment_is_injected() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("ANTHROPIC_CUSTOM_HEADERS", "X-Team: blue")
        .env("OPENAI_API_KEY", "sk-test")
        .args(["--model=openai/gpt-test"]);
    a.run().assert_code(0);
    let r = a.record();

    let base = r.var("ANTHROPIC_BASE_URL").unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_ne!(addr_of(&base).port(), 0);
    let headers = r.var("ANTHROPIC_CUSTOM_HEADERS").unwrap();
    let (theirs, ours) = headers.split_once('\n').expect("two header lines");
    assert_eq!(theirs, "X-Team: blue");
    let token = ours
        .strip_prefix("x-anyclaude-token: ")
        .expect("our header");
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(r.var("ANTHROPIC_AUTH_TOKEN").as_deref(), Some("anyclaude"));
    assert_eq!(r.var("API_TIMEOUT_MS").as_deref(), Some("630000"));
    for var in [
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
        "ANTHROPIC_DEFAULT_OPUS_MODEL",
    ] {
        assert_eq!(r.var(var).as_deref(), Some("openai/gpt-test"), "{var}");
    }
    assert_eq!(
        r.var("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC").as_deref(),
        Some("1")
    );
    // The user's own variables are inherited untouched.
    assert_eq!(r.var("OPENAI_API_KEY").as_deref(), Some("sk-test"));
}

#[test]
fn a_new_token_each_run() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.run().assert_code(0);
    let mut b = Anyclaude::with_fake("exit:0");
    b.run().assert_code(0);
    assert_ne!(a.record().token(), b.record().token());
}

#[test]
fn users_settings_are_kept() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("ANTHROPIC_API_KEY", "sk-ant")
        .env("API_TIMEOUT_MS", "900000")
        .env("ANTHROPIC_DEFAULT_OPUS_MODEL", "openai/gpt-big")
        .env("OPENAI_API_KEY", "k")
        .args(["--model", "openai/gpt-test"]);
    let out = a.run();
    out.assert_code(0);
    let r = a.record();
    assert_eq!(
        r.var("ANTHROPIC_AUTH_TOKEN"),
        None,
        "no placeholder when a key is set"
    );
    assert_eq!(r.var("API_TIMEOUT_MS").as_deref(), Some("900000"));
    assert_eq!(
        r.var("ANTHROPIC_DEFAULT_OPUS_MODEL").as_deref(),
        Some("openai/gpt-big")
    );
    assert_eq!(
        r.var("ANTHROPIC_DEFAULT_SONNET_MODEL").as_deref(),
        Some("openai/gpt-test")
    );
    assert!(
        lines_with(&out.stderr, "warning").is_empty(),
        "{}",
        out.stderr
    );

    let mut b = Anyclaude::with_fake("exit:0");
    b.env("ANTHROPIC_AUTH_TOKEN", "mine")
        .env("API_TIMEOUT_MS", "60000");
    let out = b.run();
    out.assert_code(0);
    assert_eq!(
        b.record().var("ANTHROPIC_AUTH_TOKEN").as_deref(),
        Some("mine")
    );
    assert_eq!(b.record().var("API_TIMEOUT_MS").as_deref(), Some("60000"));
    assert_eq!(
        lines_with(&out.stderr, "API_TIMEOUT_MS=60000 (1m) is not longer").len(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn anthropic_models_keep_nonessential_traffic() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("ANTHROPIC_API_KEY", "k")
        .args(["--model", "anthropic/claude-sonnet-4-5"]);
    a.run().assert_code(0);
    assert_eq!(
        a.record().var("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"),
        None
    );
}

#[test]
fn model_warnings_and_errors() {
    // No model and no key: zero-config start picks the local server's model instead.
    let out = Anyclaude::with_fake("exit:0").run();
    out.assert_code(0);
    assert!(
        lines_with(&out.stderr, "warning: no --model given").is_empty(),
        "{}",
        out.stderr
    );
    // With a key set, nothing is probed and the model is still to be named.
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.env("GROQ_API_KEY", "k").run();
    out.assert_code(0);
    assert_eq!(
        lines_with(&out.stderr, "warning: no --model given").len(),
        1
    );
    assert_eq!(a.local.hits(), 0);

    let out = Anyclaude::with_fake("exit:0")
        .args(["--model", "openai/gpt-test"])
        .run();
    out.assert_code(0);
    assert_eq!(
        lines_with(&out.stderr, "warning: OPENAI_API_KEY is not set").len(),
        1,
        "{}",
        out.stderr
    );

    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["--model", "nope/x"]).run();
    out.assert_code(2);
    assert!(
        out.stderr.contains("unknown provider \"nope\""),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("openai, openrouter"), "{}", out.stderr);
    assert!(!a.claude_ran());
}

// --- mistakes: a clear message and the fix, before claude starts ---------------------

#[test]
fn mistakes_are_refused_with_the_fix_before_claude_starts() {
    let providers = anyclaude::provider::preset_names();
    let model_err = |bare: &str, fix: &str| {
        format!("anyclaude: --model {bare} names no provider; {fix} (providers: {providers})")
    };
    let cases: Vec<Refused> = vec![
        (
            &["--model", "gpt-5"],
            &[],
            model_err("gpt-5", "did you mean --model openai/gpt-5?"),
        ),
        (
            &["--model=ollama:qwen3", "-p", "hi"],
            &[],
            model_err("ollama:qwen3", "did you mean --model ollama/qwen3?"),
        ),
        (
            &["--model", "openai,gpt-5"],
            &[],
            model_err("openai,gpt-5", "did you mean --model openai/gpt-5?"),
        ),
        (
            &["--timeout", "600"],
            &[],
            "anyclaude: --timeout 600: no unit; did you mean 600ms or 600s (10m)?".to_owned(),
        ),
        (
            &["--timeout", "abc"],
            &[],
            "anyclaude: --timeout abc: not a duration; write a number and a unit, e.g. 250ms, \
             45s, 10m, 1h30m"
                .to_owned(),
        ),
        (
            &["--keepalive", "2d"],
            &[],
            "anyclaude: --keepalive 2d: longer than 24h, the longest any duration may be"
                .to_owned(),
        ),
        (
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "600")],
            "anyclaude: ANYCLAUDE_REQUEST_TIMEOUT=600: a bare number here means milliseconds, \
             and 600ms is surely not what you meant; write ANYCLAUDE_REQUEST_TIMEOUT=600s (10m), \
             or ANYCLAUDE_REQUEST_TIMEOUT=600ms if you do mean it"
                .to_owned(),
        ),
    ];
    for (args, env, want) in cases {
        let mut a = Anyclaude::with_fake("exit:0");
        a.env("OPENAI_API_KEY", "k").args(args);
        for (k, v) in env {
            a.env(k, v);
        }
        let out = a.run();
        out.assert_code(2);
        // The one line, and nothing else: no warning, no log.
        assert_eq!(out.stderr.trim_end(), want, "{args:?} {env:?}");
        assert!(!a.claude_ran(), "{args:?}: claude started");
        assert!(!a.log_dir().exists(), "{args:?}: a log was written");
    }
}

#[test]
fn claude_pointing_at_a_directory_says_so() {
    let a = Anyclaude::bare();
    let dir = a.dir.path().join("bin");
    fs::create_dir(&dir).unwrap();
    let mut a = a;
    let out = a
        .args([std::ffi::OsStr::new("--claude"), dir.as_os_str()])
        .run();
    out.assert_code(126);
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "anyclaude: --claude {} is a directory, not a program; point it at the claude \
             program itself",
            dir.display()
        )
    );

    // With a claude inside, the message names it; the variable is named when it is the source.
    std::os::unix::fs::symlink(crate::support::cli::fake_claude(), dir.join("claude")).unwrap();
    let mut b = Anyclaude::bare();
    let out = b.env("ANYCLAUDE_CLAUDE_PATH", &dir).run();
    out.assert_code(126);
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "anyclaude: ANYCLAUDE_CLAUDE_PATH {} is a directory, not a program; did you mean {}?",
            dir.display(),
            dir.join("claude").display()
        )
    );
}

#[test]
fn a_misspelt_option_of_ours_is_pointed_out_when_claude_refuses_at_once() {
    let hint = "anyclaude: claude stopped at once; if it refused --log-levl, that is no \
                anyclaude option either: did you mean --log-level?";
    let mut a = Anyclaude::with_fake("exit:1");
    let out = a.args(["--log-levl", "2", "--model", "ollama/qwen3"]).run();
    out.assert_code(1);
    assert_eq!(
        a.record().argv(),
        ["--log-levl", "2", "--model", "ollama/qwen3"]
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    let claude_said = lines.iter().position(|l| *l == "fake-claude: started");
    let we_said = lines.iter().position(|l| *l == hint);
    assert!(
        claude_said.is_some() && we_said > claude_said,
        "want the hint after claude's output:\n{}",
        out.stderr
    );

    // Not when claude succeeds, nor for arguments unlike ours, nor after `--`.
    for (mode, args) in [
        ("exit:0", &["--log-levl", "2"][..]),
        ("exit:1", &["--resume", "abc"][..]),
        ("exit:1", &["--", "--log-levl"][..]),
    ] {
        let out = Anyclaude::with_fake(mode)
            .args(args)
            .args(["--model", "ollama/qwen3"])
            .run();
        assert!(
            !out.stderr.contains("did you mean"),
            "{mode} {args:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn pass_through_invocations_start_no_proxy_write_no_log_and_warn_about_nothing() {
    let cases: &[&[&str]] = &[
        &["--", "--version"],
        &["-v"],
        &["--", "--help"],
        &["--", "-h"],
        &["mcp", "list"],
        &["--model", "gpt-5", "mcp", "list"],
        &["config", "get", "theme"],
        &["update"],
        &["plugin", "list"],
    ];
    for args in cases {
        let mut a = Anyclaude::with_fake("exit:3");
        a.args(*args);
        let out = a.run();
        out.assert_code(3);
        let want: Vec<&str> = args.iter().copied().filter(|a| *a != "--").collect();
        assert_eq!(a.record().argv(), want, "{args:?}");
        assert_eq!(
            out.stderr.trim_end(),
            "fake-claude: started",
            "{args:?}: anyclaude said something"
        );
        assert_eq!(
            a.record().var("ANTHROPIC_BASE_URL"),
            None,
            "{args:?}: a proxy"
        );
        assert!(!a.log_dir().exists(), "{args:?}: a log was written");
    }
    // claude's own environment is untouched.
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("ANTHROPIC_BASE_URL", "https://example.invalid")
        .args(["-v"]);
    a.run().assert_code(0);
    assert_eq!(
        a.record().var("ANTHROPIC_BASE_URL").as_deref(),
        Some("https://example.invalid")
    );
    // A missing claude is still reported.
    let out = Anyclaude::bare()
        .args(["--claude", "/nonexistent/claude", "mcp", "list"])
        .run();
    out.assert_code(127);
}

// --- completions and the man page ---------------------------------------------------------

#[test]
fn completions_and_man_page_come_from_the_options() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let mut a = Anyclaude::with_fake("exit:0");
        let out = a.args(["completions", shell]).run();
        out.assert_code(0);
        for want in ["anyclaude", "timeout", "log-level", "model", "proxy-only"] {
            assert!(out.stdout.contains(want), "{shell}: no {want}");
        }
        assert!(!a.claude_ran(), "{shell}: claude started");
        assert!(out.stderr.is_empty(), "{shell}: {}", out.stderr);
    }
    // The bash script is valid bash.
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["completions", "bash"]).run();
    let script = a.dir.path().join("anyclaude.bash");
    fs::write(&script, &out.stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["man"]).run();
    out.assert_code(0);
    assert!(
        out.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        out.stdout
    );
    for want in [".TH anyclaude 1", "\\-\\-timeout", "\\-\\-model", "ollama"] {
        assert!(out.stdout.contains(want), "man page lacks {want}");
    }
    assert!(!a.claude_ran());

    let out = Anyclaude::with_fake("exit:0")
        .args(["completions", "tcsh"])
        .run();
    out.assert_code(2);
    assert!(out.stderr.contains("possible values"), "{}", out.stderr);
}

// --- exit statuses and the proxy's lifetime -------------------------------------------

#[test]
fn exit_statuses_pass_through_and_the_port_closes() {
    for (mode, want) in [
        ("exit:0", 0),
        ("exit:7", 7),
        ("signal:TERM", 143),
        ("signal:KILL", 137),
    ] {
        let mut a = Anyclaude::with_fake(mode);
        a.run().assert_code(want);
        assert_port_closed(&a.record());
    }
}

#[test]
fn claude_shares_our_process_group_and_default_signal_handling() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.run().assert_code(0);
    let r = a.record();
    // anyclaude was spawned in the test's group; claude must be in the same one (a TUI in
    // another group gets SIGTTOU).
    let ours = nix::unistd::getpgrp().as_raw() as i64;
    assert_eq!(r.pgid(), ours);
    // Nothing anyclaude handles is ignored or blocked in claude (SIG_IGN survives exec).
    let mask = |field: &str| u64::from_str_radix(r.0[field].as_str().unwrap(), 16).unwrap();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
    ] {
        let bit = 1u64 << (sig as i32 - 1);
        assert_eq!(mask("sig_ignored") & bit, 0, "{sig} ignored in claude");
        assert_eq!(mask("sig_blocked") & bit, 0, "{sig} blocked in claude");
    }
}

#[test]
fn term_and_hup_are_forwarded() {
    for (sig, name) in [(Signal::SIGTERM, "SIGTERM"), (Signal::SIGHUP, "SIGHUP")] {
        let mut a = Anyclaude::with_fake("wait");
        a.env("FAKE_CLAUDE_SIGNAL_EXIT", "42");
        let mut running = a.spawn();
        running.wait_line("READY", |l| l == "READY");
        running.signal(sig);
        running.finish().assert_code(42);
        assert_eq!(a.record().signals(), [name]);
        assert_port_closed(&a.record());
    }
}

#[test]
fn claude_ignoring_term_is_killed_after_the_grace_period() {
    let mut a = Anyclaude::with_fake("wait");
    a.env("FAKE_CLAUDE_IGNORE_SIGNALS", "1");
    let mut running = a.spawn();
    running.wait_line("READY", |l| l == "READY");
    running.signal(Signal::SIGTERM);
    // KILL_GRACE is 5s.
    let out = running.finish_within(Duration::from_secs(15));
    out.assert_code(137);
    assert_eq!(a.record().signals(), ["SIGTERM"]);
}

#[test]
fn sigint_and_sigquit_do_not_end_anyclaude_before_claude() {
    let mut a = Anyclaude::with_fake("wait");
    let mut running = a.spawn();
    running.wait_line("READY", |l| l == "READY");
    // To anyclaude alone (the terminal would send it to claude too).
    running.signal(Signal::SIGINT);
    running.signal(Signal::SIGQUIT);
    running.signal(Signal::SIGINT);
    assert!(running.still_running_after(Duration::from_millis(200)));
    running.write_stdin("exit 0\n");
    let out = running.finish();
    out.assert_code(0);
    assert!(
        a.record().signals().is_empty(),
        "claude got {:?}",
        a.record().signals()
    );
}

// --- timeouts ---------------------------------------------------------------------------

#[test]
fn timeout_misconfigurations_are_refused_before_anything_starts() {
    // Hold a port: had anyclaude bound before validating, it would report that instead.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let cases: &[Case] = &[
        (
            &["--timeout", "600000"],
            &[],
            "anyclaude: --timeout 600000: no unit; did you mean 600000ms (10m)?",
        ),
        (
            &["--idle-timeout=90"],
            &[],
            "anyclaude: --idle-timeout 90: no unit; did you mean 90ms or 90s (1m 30s)?",
        ),
        (
            &["--timeout", "0s"],
            &[],
            "anyclaude: --timeout 0s: must be greater than zero",
        ),
        (
            &["--keepalive", "0"],
            &[],
            "anyclaude: --keepalive 0: must be greater than zero",
        ),
        (
            &["--drain-timeout", "-1s"],
            &[],
            "anyclaude: --drain-timeout -1s: must be greater than zero",
        ),
        (
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "0")],
            "anyclaude: ANYCLAUDE_REQUEST_TIMEOUT=0: must be greater than zero",
        ),
        (
            &["--keepalive", "1m", "--idle-timeout", "30s"],
            &[],
            "anyclaude: --keepalive 1m must be shorter than --idle-timeout 30s",
        ),
        (
            &["--idle-timeout", "20m", "--timeout", "10m"],
            &[],
            "anyclaude: --idle-timeout 20m is longer than --timeout 10m",
        ),
        (
            &["--drain-timeout", "3m", "--timeout", "3m"],
            &[],
            "anyclaude: --drain-timeout 3m must be shorter than --timeout 3m",
        ),
        (
            &["--timeout", "soon"],
            &[],
            "anyclaude: --timeout soon: not a duration",
        ),
    ];
    for (args, env, want) in cases {
        let mut a = Anyclaude::with_fake("exit:0");
        a.args(*args).args(["--port", &port]);
        for (k, v) in *env {
            a.env(k, v);
        }
        let out = a.run();
        out.assert_code(2);
        assert!(
            out.stderr.lines().any(|l| l.starts_with(want)),
            "{args:?} {env:?}: want {want:?} in\n{}",
            out.stderr
        );
        assert!(!a.claude_ran(), "{args:?}: claude started");
    }
}

#[test]
fn risky_timeouts_warn_once_before_claude_starts() {
    let cases: &[Case] = &[
        (
            &["--timeout", "20s"],
            &[],
            "anyclaude: warning: --timeout 20s is under 30s",
        ),
        (
            &["--timeout=2h"],
            &[],
            "anyclaude: warning: --timeout 2h is over 1h",
        ),
        (
            &[],
            &[("ANYCLAUDE_REQUEST_TIMEOUT", "20000")],
            "anyclaude: warning: ANYCLAUDE_REQUEST_TIMEOUT=20000 (20s) is under 30s",
        ),
    ];
    for (args, env, want) in cases {
        let mut a = Anyclaude::with_fake("exit:0");
        a.args(*args);
        for (k, v) in *env {
            a.env(k, v);
        }
        let out = a.run();
        out.assert_code(0);
        let lines: Vec<&str> = out.stderr.lines().collect();
        let warned = lines.iter().position(|l| l.starts_with(want));
        let started = lines.iter().position(|l| *l == "fake-claude: started");
        assert!(
            warned.is_some(),
            "{args:?}: want {want:?} in\n{}",
            out.stderr
        );
        assert_eq!(lines_with(&out.stderr, want).len(), 1, "warned once");
        assert!(
            warned < started,
            "warning after claude started:\n{}",
            out.stderr
        );
    }
}

#[test]
fn request_timeout_reaches_claude_code_with_a_margin() {
    // A bare integer in ANYCLAUDE_REQUEST_TIMEOUT is milliseconds: 120000 → 2m → +30s.
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("ANYCLAUDE_REQUEST_TIMEOUT", "120000");
    let out = a.run();
    out.assert_code(0);
    assert_eq!(a.record().var("API_TIMEOUT_MS").as_deref(), Some("150000"));
    assert!(lines_with(&out.stderr, "ANYCLAUDE_REQUEST_TIMEOUT").is_empty());

    // The flag beats the variable.
    let mut b = Anyclaude::with_fake("exit:0");
    b.env("ANYCLAUDE_REQUEST_TIMEOUT", "120000")
        .args(["--timeout", "45m"]);
    b.run().assert_code(0);
    assert_eq!(b.record().var("API_TIMEOUT_MS").as_deref(), Some("2730000"));
}

// --- finding claude ---------------------------------------------------------------------

#[test]
fn claude_is_found_on_path() {
    let mut a = Anyclaude::with_fake("exit:3");
    a.env_remove("ANYCLAUDE_CLAUDE_PATH");
    let bin = a.dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(crate::support::cli::fake_claude(), bin.join("claude")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    a.env("PATH", path);
    a.run().assert_code(3);
    assert!(a.claude_ran());
}

#[test]
fn missing_claude_exits_127_with_the_install_hint() {
    let check = |out: Finished| {
        out.assert_code(127);
        assert!(
            out.stderr
                .contains("npm install -g @anthropic-ai/claude-code"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("--claude"), "{}", out.stderr);
    };
    let mut a = Anyclaude::bare();
    let empty = a.dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    check(a.env("PATH", &empty).run());
    check(
        Anyclaude::bare()
            .args(["--claude", "/nonexistent/claude"])
            .run(),
    );
    check(
        Anyclaude::bare()
            .env("ANYCLAUDE_CLAUDE_PATH", "/nonexistent/claude")
            .run(),
    );
}

#[test]
fn unexecutable_claude_exits_126() {
    let a = Anyclaude::bare();
    let file = a.dir.path().join("claude");
    fs::write(&file, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let mut a = a;
    let out = a
        .args([std::ffi::OsStr::new("--claude"), file.as_os_str()])
        .run();
    out.assert_code(126);
    assert!(out.stderr.contains("is not executable"), "{}", out.stderr);
}

// --- logging ------------------------------------------------------------------------------

#[test]
fn logs_go_to_a_private_file_per_run_without_secrets() {
    let mut a = Anyclaude::with_fake("exit:0");
    let dir = a.log_dir();
    fs::create_dir_all(&dir).unwrap();
    for i in 0..25 {
        fs::write(
            dir.join(format!("anyclaude-20000101T0000{i:02}Z-1.log")),
            "old",
        )
        .unwrap();
    }
    a.env("OPENAI_API_KEY", "sk-secret-value").args([
        "--log-level=3",
        "--model",
        "openai/gpt-test",
    ]);
    let out = a.run();
    out.assert_code(0);

    let logs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 20, "old run logs pruned to 20");
    let ours = logs
        .iter()
        .find(|p| !fs::read_to_string(p).unwrap().starts_with("old"))
        .expect("this run's log");
    assert!(
        out.stderr
            .contains(&format!("anyclaude: log: {}", ours.display())),
        "log path printed: {}",
        out.stderr
    );
    let mode = |p: &PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(ours), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let text = fs::read_to_string(ours).unwrap();
    assert!(text.contains("anyclaude starting"), "{text}");
    assert!(text.contains("claude exited"), "{text}");
    let token = a.record().token();
    assert!(!text.contains(&token), "token in the log");
    assert!(!text.contains("sk-secret-value"), "key in the log");
    assert!(!text.contains('\u{1b}'), "ANSI escapes in the log");
}

#[test]
fn log_file_overrides_the_directory() {
    let mut a = Anyclaude::with_fake("exit:0");
    let file = a.dir.path().join("logs/mine.log");
    a.args([std::ffi::OsStr::new("--log-file"), file.as_os_str()]);
    a.run().assert_code(0);
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!a.log_dir().exists());
}

// --- --proxy-only -------------------------------------------------------------------------

#[test]
fn proxy_only_prints_exports_and_serves_until_sigterm() {
    for via_env in [false, true] {
        let mut a = Anyclaude::with_fake("exit:0");
        if via_env {
            a.env("PROXY_ONLY", "true");
        } else {
            a.args(["--proxy-only"]);
        }
        a.args(["--model", "ollama/qwen3"]);
        let mut running = a.spawn();
        let base = running.wait_line("ANTHROPIC_BASE_URL", |l| {
            l.starts_with("export ANTHROPIC_BASE_URL=")
        });
        let url = base
            .trim_start_matches("export ANTHROPIC_BASE_URL='")
            .trim_end_matches('\'');
        let headers = running.wait_line("ANTHROPIC_CUSTOM_HEADERS", |l| {
            l.starts_with("export ANTHROPIC_CUSTOM_HEADERS=")
        });
        assert!(headers.starts_with("export ANTHROPIC_CUSTOM_HEADERS='x-anyclaude-token: "));
        running.wait_line("ANTHROPIC_AUTH_TOKEN", |l| {
            l == "export ANTHROPIC_AUTH_TOKEN='anyclaude'"
        });
        let addr = addr_of(url);
        assert!(accepting(addr), "proxy not accepting on {addr}");
        running.signal(Signal::SIGTERM);
        let out = running.finish();
        out.assert_code(0);
        assert!(
            out.stdout.contains("export API_TIMEOUT_MS='630000'"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("export ANTHROPIC_DEFAULT_HAIKU_MODEL='ollama/qwen3'"),
            "{}",
            out.stdout
        );
        assert!(out.stderr.contains("anyclaude: log: "), "{}", out.stderr);
        assert!(!accepting(addr), "{addr} still open after SIGTERM");
        assert!(!a.claude_ran());
    }
}

// --- the proxy, as the child sees it --------------------------------------------------

/// The fake claude calls the proxy it was pointed at, as Claude Code would. The answers are
/// the server's behaviour, checked here end to end: GET / → 200 (no token needed: Claude
/// Code's startup probe carries none), /v1/messages without the token → 401, with it →
/// anything but 401 (here the upstream is a closed loopback port).
#[test]
fn child_reaches_the_proxy_which_checks_the_token() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("FAKE_CLAUDE_CALL", "1")
        .env("FAKE_CLAUDE_HTTP_TIMEOUT", "2")
        .env("OPENAI_API_KEY", "test-key")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .args(["--model", "openai/gpt-test"]);
    a.run().assert_code(0);
    let calls = a.record().0["calls"].clone();
    assert_eq!(calls["get_root"], 200, "{calls}");
    assert_eq!(calls["post_without_token"], 401, "{calls}");
    assert!(calls["post_with_token"].is_u64(), "{calls}");
    assert_ne!(calls["post_with_token"], 401, "{calls}");
}

// --- the real Claude Code ---------------------------------------------------------------

/// The pinned Claude Code programs: `(version, path)`, from the matrix's one list (a
/// missing version fails the test, as every end-to-end test does, unless
/// `ANYCLAUDE_SKIP_E2E=1`).
fn pinned_claudes(test: &str) -> Vec<(String, PathBuf)> {
    crate::claude::pinned(test)
        .into_iter()
        .map(|c| (c.version, c.bin))
        .collect()
}

/// A word boundary after an option name: `--timeout` is not found in `--timeouts`.
fn mentions_option(text: &str, option: &str) -> bool {
    text.match_indices(option).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + option.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

#[test]
fn no_option_of_ours_collides_with_claudes() {
    let ours = anyclaude::cli::own_long_options();
    assert!(ours.contains(&"--log-level".to_owned()));
    let mut seen_commands = std::collections::BTreeSet::new();
    for (version, bin) in pinned_claudes("no_option_of_ours_collides_with_claudes") {
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(&bin)
            .arg("--help")
            .env("HOME", home.path())
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("--model"),
            "{version}: unexpected help:\n{help}"
        );
        for option in &ours {
            assert!(
                !mentions_option(&help, option),
                "claude {version} has {option} too; rename ours"
            );
        }
        assert!(!mentions_option(&help, "-V"), "claude {version} has -V");

        // Our commands are none of claude's.
        let commands = claude_commands(&help);
        assert!(
            commands.contains(&"mcp".to_owned()),
            "{version}: {commands:?}"
        );
        for ours in anyclaude::cli::COMMANDS {
            assert!(
                !commands.iter().any(|c| c == ours),
                "claude {version} has a command {ours:?} too; rename ours"
            );
        }
        // No option of claude's is taken for a misspelling of ours.
        for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[') {
            if let Some(name) = word.strip_prefix("--") {
                assert_eq!(
                    anyclaude::cli::suggest::own_option(name),
                    None,
                    "claude {version}'s --{name} would be called a misspelling of ours"
                );
            }
        }
        seen_commands.extend(commands);
    }
    // Every command run without a proxy is one of claude's (or of its earlier versions).
    if !seen_commands.is_empty() {
        for command in anyclaude::cli::CLAUDE_LOCAL_COMMANDS {
            assert!(
                seen_commands.contains(*command)
                    || ["config", "migrate-installer"].contains(command),
                "{command} is no command of any pinned claude: {seen_commands:?}"
            );
        }
    }
}

/// The command names in claude's `--help` (`plugin|plugins` gives both).
fn claude_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .flat_map(|names| names.split('|').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn double_dash_help_reaches_the_real_claude() {
    for (version, bin) in pinned_claudes("double_dash_help_reaches_the_real_claude") {
        let mut a = Anyclaude::bare();
        a.args([std::ffi::OsStr::new("--claude"), bin.as_os_str()])
            .args(["--", "--help"]);
        let out = a.run();
        out.assert_code(0);
        assert!(
            out.stdout.contains("Usage: claude"),
            "{version}: not claude's help:\n{}",
            out.stdout
        );
        let out = Anyclaude::bare()
            .args([std::ffi::OsStr::new("--claude"), bin.as_os_str()])
            .args(["--", "--version"])
            .run();
        out.assert_code(0);
        assert!(out.stdout.contains(&version), "{}", out.stdout);
        assert!(out.stderr.is_empty(), "{version}: {}", out.stderr);
    }
}

#[test]
fn the_real_claude_refusing_a_misspelt_option_of_ours_gets_the_hint() {
    for (version, bin) in
        pinned_claudes("the_real_claude_refusing_a_misspelt_option_of_ours_gets_the_hint")
    {
        let mut a = Anyclaude::bare();
        let out = a
            .args([std::ffi::OsStr::new("--claude"), bin.as_os_str()])
            .args(["--log-levl", "2", "--model", "ollama/qwen3"])
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .run();
        assert!(!out.status.success(), "{version}: {}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().collect();
        let refused = lines
            .iter()
            .position(|l| l.contains("unknown option '--log-levl'"));
        let hint = lines.iter().position(|l| {
            l.starts_with("anyclaude: claude stopped at once; if it refused --log-levl")
        });
        assert!(
            refused.is_some() && hint > refused,
            "{version}: want claude's refusal, then our hint:\n{}",
            out.stderr
        );
    }
}

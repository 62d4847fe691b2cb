//! Zero-config start through the real binary: no `--model` and no provider key, so
//! anyclaude probes the local presets' servers (scripted, on free loopback ports named by
//! the presets' base-URL variables) and runs claude on the first that offers a model, or
//! explains the ways to choose one and exits 2.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::picker::dead_port;
use crate::support::cli::Anyclaude;
use crate::support::local::LocalModels;

/// The milliseconds anyclaude reported for the probe (`found in N ms`).
fn found_in(stderr: &str) -> u64 {
    let rest = stderr
        .split("found in ")
        .nth(1)
        .unwrap_or_else(|| panic!("no timing in {stderr}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn one_local_server_is_used_and_named_before_claude_starts() {
    let mut a = Anyclaude::with_fake("exit:0");
    a.args(["-p", "hi"]);
    let out = a.run();
    out.assert_code(0);
    let url = a.local.url.clone();
    let line = format!(
        "anyclaude: no model chosen; using ollama/test-model from Ollama at {url} (found in "
    );
    assert_eq!(
        out.stderr.lines().filter(|l| l.starts_with(&line)).count(),
        1,
        "{}",
        out.stderr
    );
    let ms = found_in(&out.stderr);
    eprintln!("zero-config detection with one local server: {ms} ms");
    assert!(ms < 300, "detection took {ms} ms");
    let r = a.record();
    // claude starts on it; its arguments are untouched.
    assert_eq!(
        r.var("ANTHROPIC_MODEL").as_deref(),
        Some("ollama/test-model")
    );
    assert_eq!(
        r.var("ANTHROPIC_DEFAULT_SONNET_MODEL").as_deref(),
        Some("ollama/test-model")
    );
    assert_eq!(r.argv(), ["-p", "hi"]);
    // Its model list: once, by the probe; the start check reads the window from that
    // answer instead of asking again.
    assert_eq!(a.local.hits(), 1);
}

#[test]
fn of_several_the_first_preset_with_a_model_wins() {
    let empty = LocalModels::start(&[]);
    let lmstudio = LocalModels::start(&["lm-model"]);
    let vllm = LocalModels::start(&["Qwen/Qwen3-8B"]);
    // Accepts connections and never answers: bounded by the probe's deadline.
    let stalled = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut a = Anyclaude::with_fake("exit:0");
    a.env(
        "OLLAMA_BASE_URL",
        format!("http://{}/v1", stalled.local_addr().unwrap()),
    )
    .env("LMSTUDIO_BASE_URL", &lmstudio.url)
    .env("LLAMACPP_BASE_URL", &empty.url)
    .env("VLLM_BASE_URL", &vllm.url)
    // The user's own choice of claude's model is kept.
    .env("ANTHROPIC_MODEL", "sonnet");
    let out = a.run();
    out.assert_code(0);
    assert!(
        out.stderr
            .contains("using lmstudio/lm-model from LM Studio's server at"),
        "{}",
        out.stderr
    );
    let ms = found_in(&out.stderr);
    eprintln!("zero-config detection with a stalled server among several: {ms} ms");
    assert!(ms < 1000, "the stalled server held detection for {ms} ms");
    let r = a.record();
    assert_eq!(r.var("ANTHROPIC_MODEL").as_deref(), Some("sonnet"));
    assert_eq!(
        r.var("ANTHROPIC_DEFAULT_HAIKU_MODEL").as_deref(),
        Some("lmstudio/lm-model")
    );
    // Every server was asked once, at the same time; the start check of the chosen one
    // reads its window from that answer.
    assert_eq!((empty.hits(), vllm.hits(), lmstudio.hits()), (1, 1, 1));
}

#[test]
fn with_no_local_server_the_three_ways_are_explained_and_nothing_starts() {
    let dead = format!("http://127.0.0.1:{}/v1", dead_port());
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("OLLAMA_BASE_URL", &dead);
    let started = Instant::now();
    let out = a.run();
    let took = started.elapsed();
    out.assert_code(2);
    eprintln!("anyclaude with no local server, exec to exit 2: {took:?}");
    assert!(!a.claude_ran());
    assert!(
        out.stderr.starts_with(
            "anyclaude: no model chosen, no provider key set, and no local server offers a model."
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "Ollama at {dead}: not reachable (Connection refused"
        )),
        "{}",
        out.stderr
    );
    for way in [
        "1. name it: anyclaude --model",
        "2. set default_model in anyclaude's config file",
        "3. export a provider's key and name its model",
    ] {
        assert!(out.stderr.contains(way), "{}", out.stderr);
    }
    assert!(took < Duration::from_secs(5), "{took:?}");
}

//! `anyclaude check` and `anyclaude models` through the real binary, against scripted
//! servers on free loopback ports (the presets' base-URL variables point at them): a
//! reachable provider, an unreachable one, one without its key, and no model at all. Exit
//! statuses, what is printed, and never a key.

use serde_json::json;

use crate::picker::dead_port;
use crate::support::cli::Anyclaude;
use crate::support::local::LocalModels;

const KEY: &str = "sk-check-secret-4242";

#[track_caller]
fn line_with<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
}

#[test]
fn a_reachable_provider_with_its_key_answers_and_exits_0() {
    let openai = LocalModels::serving(json!({"object": "list", "data": [
        {"id": "gpt-4.1-check", "object": "model", "context_window": 1047576},
    ]}));
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("OPENAI_BASE_URL", &openai.url)
        .env("OPENAI_API_KEY", KEY);
    let out = a.args(["check", "--model", "openai/gpt-4.1-check"]).run();
    out.assert_code(0);
    let text = &out.stdout;
    assert!(!text.contains(KEY) && !out.stderr.contains(KEY), "{text}");
    assert!(line_with(text, "claude:").contains("fake-claude"), "{text}");
    assert_eq!(line_with(text, "config:"), "config:    none");
    let openai_line = line_with(text, "openai ");
    assert!(openai_line.contains(&openai.url), "{openai_line}");
    assert!(
        openai_line.contains("key OPENAI_API_KEY set"),
        "{openai_line}"
    );
    assert!(openai_line.contains("reachable, "), "{openai_line}");
    assert!(openai_line.ends_with("1 model"), "{openai_line}");
    assert!(
        line_with(text, "groq ").contains("key GROQ_API_KEY missing"),
        "{text}"
    );
    assert!(
        line_with(text, "ollama ").contains("local, no key"),
        "{text}"
    );
    assert_eq!(line_with(text, "model:"), "model:     openai/gpt-4.1-check");
    assert_eq!(
        line_with(text, "context window:"),
        "  context window: 1047576 tokens (from the model list)"
    );
    assert!(
        line_with(text, "one-token request:").contains("(\"OK from the local server\")"),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("ok: openai/gpt-4.1-check works"));
    // The one request went through the proxy's translation, one token long; claude was only
    // asked its version.
    let posted = openai.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["model"], "gpt-4.1-check");
    assert_eq!(posted[0]["max_completion_tokens"], 1);
    assert_eq!(a.record().argv(), ["--version"]);
}

#[test]
fn an_unreachable_or_keyless_provider_fails_with_1() {
    let dead = format!("http://127.0.0.1:{}/v1", dead_port());
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a
        .env("OLLAMA_BASE_URL", &dead)
        .args(["check", "--model", "ollama/qwen3"])
        .run();
    out.assert_code(1);
    assert!(
        line_with(&out.stdout, "ollama ").contains("not reachable (Connection refused"),
        "{}",
        out.stdout
    );
    assert!(
        line_with(&out.stdout, "one-token request:").contains("failed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.lines().last(),
        Some("not ok: ollama/qwen3 does not answer")
    );

    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["check", "--model", "openai/gpt-4.1"]).run();
    out.assert_code(1);
    assert!(
        line_with(&out.stdout, "openai ").ends_with("key OPENAI_API_KEY missing       not asked"),
        "{}",
        out.stdout
    );
    assert!(
        line_with(&out.stdout, "one-token request:").contains("set OPENAI_API_KEY"),
        "{}",
        out.stdout
    );
}

#[test]
fn without_a_model_check_uses_what_zero_config_would_pick_or_exits_2() {
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["check"]).run();
    out.assert_code(0);
    assert_eq!(
        line_with(&out.stdout, "model:"),
        "model:     ollama/test-model (no model named: zero-config start would pick it)"
    );

    let mut a = Anyclaude::with_fake("exit:0");
    let out = a
        .env(
            "OLLAMA_BASE_URL",
            format!("http://127.0.0.1:{}/v1", dead_port()),
        )
        .args(["check"])
        .run();
    out.assert_code(2);
    assert!(
        out.stdout.contains("Choose a backend in one of three ways"),
        "{}",
        out.stdout
    );

    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.env("MISTRAL_API_KEY", KEY).args(["check"]).run();
    out.assert_code(2);
    assert!(
        line_with(&out.stdout, "model:").contains("a provider key is set (MISTRAL_API_KEY)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(KEY));
}

#[test]
fn models_lists_a_providers_models_one_per_line() {
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.args(["models", "ollama"]).run();
    out.assert_code(0);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["ollama/test-model"]
    );

    // Without a provider: every local server that answers and every provider with a key.
    let openai = LocalModels::start(&["gpt-a", "gpt-b"]);
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a
        .env("OPENAI_BASE_URL", &openai.url)
        .env("OPENAI_API_KEY", KEY)
        .args(["models"])
        .run();
    out.assert_code(0);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["openai/gpt-a", "openai/gpt-b", "ollama/test-model"]
    );
    assert_eq!(
        out.stderr, "",
        "local servers that are not running are no news"
    );

    let out = Anyclaude::with_fake("exit:0")
        .args(["models", "nope"])
        .run();
    out.assert_code(2);
    assert!(
        out.stderr.contains("unknown provider \"nope\""),
        "{}",
        out.stderr
    );

    let out = Anyclaude::with_fake("exit:0")
        .args(["models", "openai"])
        .run();
    out.assert_code(1);
    assert!(out.stderr.contains("set OPENAI_API_KEY"), "{}", out.stderr);
}

/// llama.cpp's `llama-server` lists its model with the length it was trained for
/// (`meta.n_ctx_train`); the window it serves is in `/props`, and that is what `check`
/// shows. A well-known hosted model shows its provider's documented window, and the config
/// file's `context_window` beats both.
#[test]
fn check_shows_the_served_window_not_the_trained_one() {
    let server = LocalModels::serving_paths(
        json!({"object": "list", "data": [
            {"id": "qwen3-8b.gguf", "object": "model", "owned_by": "llamacpp", "meta": {"n_ctx_train": 131072}},
        ]}),
        &[(
            "/props",
            json!({"default_generation_settings": {"n_ctx": 8192, "params": {"n_predict": -1}}, "total_slots": 1}),
        )],
    );
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("LLAMACPP_BASE_URL", &server.url);
    let out = a.args(["check", "--model", "llamacpp/qwen3-8b.gguf"]).run();
    assert_eq!(
        line_with(&out.stdout, "context window:"),
        "  context window: 8192 tokens (from /props)",
        "{}",
        out.stdout
    );

    let openai = LocalModels::serving(
        json!({"object": "list", "data": [{"id": "gpt-5-mini", "object": "model"}]}),
    );
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("OPENAI_BASE_URL", &openai.url)
        .env("OPENAI_API_KEY", KEY);
    let out = a.args(["check", "--model", "openai/gpt-5-mini"]).run();
    assert_eq!(
        line_with(&out.stdout, "context window:"),
        "  context window: 400000 tokens (from openai's documented window)",
        "{}",
        out.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[models.\"llamacpp/qwen3-8b.gguf\"]\ncontext_window = 4096\n",
    )
    .unwrap();
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("LLAMACPP_BASE_URL", &server.url);
    let out = a
        .args([
            "check",
            "--model",
            "llamacpp/qwen3-8b.gguf",
            "--config",
            file.to_str().unwrap(),
        ])
        .run();
    assert_eq!(
        line_with(&out.stdout, "context window:"),
        "  context window: 4096 tokens (from the config file)",
        "{}",
        out.stdout
    );
}

//! The config file through the real binary: a bad file or a failing key command stops
//! anyclaude before anything starts; a good one routes an alias to a new provider with a
//! key from a key command, and puts the tiers in claude's environment.

use crate::chat_script;
use crate::scripted::{Reply, Upstream};
use crate::support::cli::Anyclaude;

/// Writes `text` as this run's default config file (`~/.config/anyclaude/config.toml`).
fn write_default_config(a: &Anyclaude, text: &str) -> std::path::PathBuf {
    let dir = a.dir.path().join("home/.config/anyclaude");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_bad_config_file_exits_2_before_anything_starts() {
    let mut a = Anyclaude::with_fake("exit:0");
    let path = a.dir.path().join("bad.toml");
    std::fs::write(&path, "[tiers]\nhaiku = \"grok/x\"\n").unwrap();
    a.args(["--config", path.to_str().unwrap(), "-p", "hi"]);
    let done = a.run();
    done.assert_code(2);
    assert!(
        done.stderr.starts_with(&format!(
            "anyclaude: {}:2:9: tiers.haiku: unknown provider \"grok\"",
            path.display()
        )),
        "{}",
        done.stderr
    );
    assert!(!a.claude_ran(), "claude started");
    assert!(!a.log_dir().exists(), "a log was opened");
}

#[test]
fn a_failing_key_command_exits_2_naming_the_provider_not_its_output() {
    let mut a = Anyclaude::with_fake("exit:0");
    write_default_config(
        &a,
        "[providers.openai]\nkey_command = \"echo sk-leaked-0123456789; exit 3\"\n",
    );
    a.args(["--model", "openai/gpt-5"]);
    let done = a.run();
    done.assert_code(2);
    assert!(
        done.stderr.contains(
            "providers.openai.key_command: the key command for openai failed (exit status: 3)"
        ),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("sk-leaked"), "{}", done.stderr);
    assert!(!done.stdout.contains("sk-leaked"), "{}", done.stdout);
    assert!(!a.claude_ran());
}

#[tokio::test]
async fn an_alias_routes_to_a_new_provider_with_its_key_command_key_and_headers() {
    let upstream = Upstream::with_handler(|_| Reply::sse(chat_script::text(&["ok"]))).await;
    let mut a = Anyclaude::with_fake("exit:0");
    write_default_config(
        &a,
        &format!(
            r#"
default_model = "fast"

[aliases]
fast = "work/m-1"

[tiers]
haiku = "fast"
opus = "openai/gpt-5"

[providers.work]
base_url = "{}/v1"
key_command = "echo sk-command-0123456789"
headers = {{ "X-Team" = "platform" }}

[models."work/m-1"]
display_name = "Work M1"
description = "The team's model"
"#,
            upstream.url()
        ),
    );
    a.env("FAKE_CLAUDE_CALL", "1")
        .env("FAKE_CLAUDE_REQUEST_MODEL", "fast")
        .env("ANTHROPIC_DEFAULT_OPUS_MODEL", "anthropic/claude-opus-4-1")
        .args(["--log-level", "3"]);
    let done = tokio::task::spawn_blocking(move || {
        let done = a.run();
        (a, done)
    })
    .await
    .unwrap();
    let (a, done) = done;
    done.assert_code(0);
    let record = a.record();
    assert_eq!(record.0["calls"]["post_with_token"], 200, "{:?}", record.0);

    let received = upstream.received();
    let sent = received.last().expect("the upstream was asked");
    assert_eq!(sent.uri, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-command-0123456789")
    );
    assert_eq!(sent.header("x-team"), Some("platform"));
    assert_eq!(sent.json()["model"], "m-1");

    // claude's environment: the default model, the tiers and their names; the user's own
    // tier untouched; never the key.
    assert_eq!(record.var("ANTHROPIC_MODEL").as_deref(), Some("work/m-1"));
    assert_eq!(
        record.var("ANTHROPIC_DEFAULT_HAIKU_MODEL").as_deref(),
        Some("work/m-1")
    );
    assert_eq!(
        record.var("ANTHROPIC_DEFAULT_HAIKU_MODEL_NAME").as_deref(),
        Some("Work M1")
    );
    assert_eq!(
        record
            .var("ANTHROPIC_DEFAULT_HAIKU_MODEL_DESCRIPTION")
            .as_deref(),
        Some("The team's model")
    );
    assert_eq!(
        record.var("ANTHROPIC_DEFAULT_OPUS_MODEL").as_deref(),
        Some("anthropic/claude-opus-4-1")
    );
    assert_eq!(
        record.var("ANTHROPIC_SMALL_FAST_MODEL").as_deref(),
        Some("work/m-1")
    );
    assert!(
        !record.0["env"].to_string().contains("sk-command"),
        "the key reached claude's environment"
    );
    let log = std::fs::read_dir(a.log_dir())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("config_file="), "{log}");
    assert!(!log.contains("sk-command"), "{log}");
}

#[tokio::test]
async fn a_request_over_the_threshold_goes_to_the_long_context_model_and_says_so() {
    let upstream = Upstream::with_handler(|_| Reply::sse(chat_script::text(&["ok"]))).await;
    let mut a = Anyclaude::with_fake("exit:0");
    let path = a.dir.path().join("long.toml");
    std::fs::write(
        &path,
        format!(
            "[long_context]\nthreshold = 1\nmodel = \"box/long-one\"\n\
             [providers.box]\nbase_url = \"{}/v1\"\n",
            upstream.url()
        ),
    )
    .unwrap();
    a.env("FAKE_CLAUDE_CALL", "1")
        .env("FAKE_CLAUDE_REQUEST_MODEL", "box/short-one")
        .env("ANYCLAUDE_CONFIG", &path)
        .args(["--log-level", "1"]);
    let (a, done) = tokio::task::spawn_blocking(move || {
        let done = a.run();
        (a, done)
    })
    .await
    .unwrap();
    done.assert_code(0);
    assert_eq!(a.record().0["calls"]["post_with_token"], 200);
    assert_eq!(
        upstream.received().last().unwrap().json()["model"],
        "long-one"
    );
    let log = std::fs::read_dir(a.log_dir())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let line = log
        .lines()
        .find(|l| l.contains("long request sent to the long-context model"))
        .unwrap_or_else(|| panic!("no long-context line in {log}"));
    assert!(
        line.contains("model=box/short-one") && line.contains("to=box/long-one"),
        "{line}"
    );
}

//! The usage summary, the status line command and fallbacks, against the proxy over real
//! sockets and scripted upstreams with known usage and timings.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::chat_script;
use crate::gemini_script;
use crate::harness::{TOKEN, TestProxy, parse_sse, read_rest, read_until, test_timeouts};
use crate::scripted::{Reply, Step, Upstream};
use crate::support::cli::Anyclaude;
use anyclaude::usage::{ModelFacts, Price};

fn request(model: &str) -> Value {
    json!({
        "model": model, "max_tokens": 1000, "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
    })
}

/// A Chat stream that waits `first` before its first text, then sends `pieces` one every
/// `every`, then usage (when given) and `[DONE]`.
fn timed_text(
    first: Duration,
    every: Duration,
    pieces: &[&str],
    usage: Option<(u64, u64, u64)>,
) -> Reply {
    let mut steps = vec![
        Step::Send(Bytes::from(chat_script::chunk(
            json!({"role": "assistant", "content": ""}),
            None,
        ))),
        Step::Pause(first),
    ];
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            steps.push(Step::Pause(every));
        }
        steps.push(Step::Send(Bytes::from(chat_script::chunk(
            json!({"content": piece}),
            None,
        ))));
    }
    steps.push(Step::Send(Bytes::from(chat_script::chunk(
        json!({}),
        Some("stop"),
    ))));
    if let Some((prompt, completion, cached)) = usage {
        steps.push(Step::Send(Bytes::from(chat_script::usage(
            prompt, completion, cached,
        ))));
    }
    steps.push(Step::Send(Bytes::from(chat_script::done())));
    Reply::steps(steps)
}

async fn answer_text(proxy: &TestProxy, model: &str) -> (u16, String) {
    let mut resp = proxy.messages(&request(model)).await;
    let status = resp.status().as_u16();
    let text = read_rest(&mut resp, String::new()).await;
    (status, text)
}

fn row<'a>(health: &'a Value, model: &str) -> &'a Value {
    health["metrics"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no row for {model}: {health:#}"))
}

#[tokio::test]
async fn the_summary_reports_tokens_first_token_and_rate_per_backend_model() {
    // 400 ms to the first token, then 5 pieces 100 ms apart: 400 ms of generation for 50
    // reported output tokens (125 tokens/s by the backend's count).
    let upstream = Upstream::start(vec![
        timed_text(
            Duration::from_millis(400),
            Duration::from_millis(100),
            &["a", "b", "c", "d", "e"],
            Some((1000, 50, 200)),
        ),
        timed_text(
            Duration::from_millis(400),
            Duration::from_millis(100),
            &["a", "b", "c", "d", "e"],
            Some((1000, 50, 200)),
        ),
        Reply::error(
            400,
            json!({"error": {"message": "bad", "type": "invalid_request_error"}}),
        ),
        // No usage at all: our estimate, said so.
        timed_text(Duration::ZERO, Duration::from_millis(30), &["x", "y"], None),
    ])
    .await;
    let proxy = TestProxy::start(
        &[
            ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
            ("OPENAI_API_KEY", "sk-test".into()),
        ],
        None,
        test_timeouts(),
    )
    .await;
    proxy.proxy.metrics().set_facts(BTreeMap::from([(
        "openai/priced".to_owned(),
        ModelFacts {
            context_window: Some(128_000),
            price: Some(Price {
                input: 2.0,
                cached: 0.5,
                output: 8.0,
            }),
        },
    )]));
    for _ in 0..2 {
        let (status, text) = answer_text(&proxy, "openai/priced").await;
        assert_eq!(status, 200, "{text}");
    }
    let (status, _) = answer_text(&proxy, "openai/priced").await;
    assert_eq!(status, 400);
    let (status, _) = answer_text(&proxy, "openai/unpriced").await;
    assert_eq!(status, 200);
    proxy.settled(4).await;

    let health = proxy.get_json("/health").await;
    let priced = row(&health, "openai/priced");
    assert_eq!(priced["requests"], 3);
    assert_eq!(priced["outcomes"], json!({"ok": 2, "error": 1}));
    assert_eq!(
        priced["input_tokens"], 1600,
        "uncached input of both answers"
    );
    assert_eq!(priced["cached_tokens"], 400);
    assert_eq!(priced["output_tokens"], 100);
    assert_eq!(priced["estimated_requests"], 0);
    let ttft = priced["median_ttft_ms"].as_u64().unwrap();
    assert!((400..1400).contains(&ttft), "time to first token {ttft} ms");
    let rate = priced["median_tokens_per_s"].as_f64().unwrap();
    // 50 tokens over 400 ms of pauses (and a loaded machine's delays): at most 125/s.
    assert!((20.0..=130.0).contains(&rate), "{rate} tokens/s");
    let cost = priced["cost_usd"].as_f64().unwrap();
    let expected = (1600.0 * 2.0 + 400.0 * 0.5 + 100.0 * 8.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");

    let unpriced = row(&health, "openai/unpriced");
    assert_eq!(unpriced["estimated_requests"], 1);
    assert_eq!(unpriced["cost_usd"], Value::Null, "no price, no cost");
    assert!(unpriced["output_tokens"].as_u64().unwrap() > 0);

    let summary = proxy.proxy.summary_line();
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 3, "{summary}");
    assert!(
        lines[0].starts_with("anyclaude: 4 requests, 1 not ok"),
        "{summary}"
    );
    assert!(
        lines[1].starts_with(
            "  openai/priced: 3 requests (1 error, 2 ok); tokens 1,600 in, 400 cached, 100 out; median time to first token "
        ),
        "{summary}"
    );
    assert!(
        lines[1].contains(&format!("; cost ${expected:.4}")),
        "{summary}"
    );
    assert!(lines[2].contains("(estimated for 1 of 1"), "{summary}");
    assert!(!lines[2].contains("cost"), "{summary}");
    proxy.stop().await;
}

/// Runs `anyclaude status-line` as Claude Code does: `input` on stdin, claude's
/// environment. Returns its output and how long it took.
fn status_line(env: &[(&str, String)], input: &Value) -> (String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_anyclaude"))
        .arg("status-line")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).unwrap(), took)
}

fn claude_env(proxy: &TestProxy) -> Vec<(&'static str, String)> {
    vec![
        ("ANYCLAUDE_STATUS_URL", format!("http://{}", proxy.addr)),
        (
            "ANTHROPIC_CUSTOM_HEADERS",
            format!("X-Other: 1\nx-anyclaude-token: {TOKEN}"),
        ),
    ]
}

fn claude_input(model: &str) -> Value {
    json!({
        "hook_event_name": "Status", "session_id": "s-1", "cwd": "/tmp",
        "model": {"id": model, "display_name": model},
        "context_window": {"current_usage": null},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_line_command_reads_the_live_proxy() {
    let upstream = Upstream::start(vec![
        timed_text(
            Duration::from_millis(300),
            Duration::from_millis(100),
            &["a", "b", "c"],
            Some((12_000, 30, 0)),
        ),
        // Held before its first token: the line shows the wait.
        Reply::steps(vec![
            Step::Send(Bytes::from(chat_script::chunk(
                json!({"role": "assistant", "content": ""}),
                None,
            ))),
            Step::Hold,
            Step::Send(Bytes::from(chat_script::text(&["late"]).concat())),
        ]),
        Reply::Full {
            status: 429,
            headers: vec![
                ("content-type", "application/json".into()),
                ("retry-after", "5".into()),
            ],
            body: json!({"error": {"message": "slow down", "type": "rate_limit"}})
                .to_string()
                .into(),
        },
    ])
    .await;
    let proxy = TestProxy::start(
        &[
            ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
            ("OPENAI_API_KEY", "sk-test-secret".into()),
        ],
        None,
        test_timeouts(),
    )
    .await;
    proxy.proxy.metrics().set_facts(BTreeMap::from([(
        "openai/mock-x".to_owned(),
        ModelFacts {
            context_window: Some(128_000),
            price: None,
        },
    )]));
    let env = claude_env(&proxy);
    let input = claude_input("openai/mock-x");
    let env2 = env.clone();
    let input2 = input.clone();
    let (before, _) = tokio::task::spawn_blocking(move || status_line(&env2, &input2))
        .await
        .unwrap();
    assert_eq!(before, "anyclaude: no answer yet\n");

    let (status, _) = answer_text(&proxy, "openai/mock-x").await;
    assert_eq!(status, 200);
    proxy.settled(1).await;
    let env2 = env.clone();
    let input2 = input.clone();
    // Timed against the same binary asked outside any session (no proxy to ask): the
    // difference is the cost of asking the proxy; the rest is starting a process, which a
    // loaded test machine makes slow.
    let (lines, times, baseline) = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut times = Vec::new();
        let mut baseline = Vec::new();
        for _ in 0..15 {
            let (line, took) = status_line(&env2, &input2);
            lines.push(line);
            times.push(took);
            baseline.push(status_line(&[], &input2).1);
        }
        (lines, times, baseline)
    })
    .await
    .unwrap();
    let line = &lines[0];
    assert!(lines.iter().all(|l| l == line));
    assert!(line.starts_with("openai/mock-x · first token "), "{line}");
    assert!(line.contains(" tok/s · 12k / 128k tokens (9%)\n"), "{line}");
    assert!(!line.contains("sk-test-secret") && !line.contains(TOKEN));
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (asked, idle) = (median(times.clone()), median(baseline));
    eprintln!(
        "status-line run time: median {asked:?} (min {:?}, max {:?}); the same binary with no proxy to ask: median {idle:?} ({} runs each)",
        times.iter().min().unwrap(),
        times.iter().max().unwrap(),
        times.len()
    );
    // On an idle machine: about 7 ms against 5 ms (debug build). A loaded one slows both;
    // asking the proxy must never cost more than starting the process twice over.
    assert!(
        asked.saturating_sub(idle) < idle * 2 + Duration::from_millis(20),
        "asking the proxy costs {asked:?} against {idle:?}"
    );

    // A request waiting for its first token.
    let mut held = proxy.messages(&request("openai/mock-x")).await;
    assert_eq!(held.status(), 200);
    let _ = read_until(&mut held, "message_start").await;
    let env2 = env.clone();
    let input2 = input.clone();
    let (waiting, _) = tokio::task::spawn_blocking(move || status_line(&env2, &input2))
        .await
        .unwrap();
    assert!(
        waiting.starts_with("⏳ waiting for openai/mock-x "),
        "{waiting}"
    );
    upstream.release();
    let _ = read_rest(&mut held, String::new()).await;
    proxy.settled(2).await;

    // A 429 with a short retry-after: Claude Code retries it; the line says when.
    let (status, _) = answer_text(&proxy, "openai/mock-x").await;
    assert_eq!(status, 429);
    let env2 = env.clone();
    let input2 = input.clone();
    let (limited, _) = tokio::task::spawn_blocking(move || status_line(&env2, &input2))
        .await
        .unwrap();
    assert!(
        limited.starts_with("⚠ upstream 429, retry in "),
        "{limited}"
    );

    // A wrong token, then no proxy at all: an empty line.
    let mut wrong = env.clone();
    wrong[1].1 = "x-anyclaude-token: nope".into();
    let (line, _) = tokio::task::spawn_blocking(move || status_line(&wrong, &input))
        .await
        .unwrap();
    assert_eq!(line, "\n");
    proxy.stop().await;
    let input = claude_input("openai/mock-x");
    let (gone, took) = tokio::task::spawn_blocking(move || status_line(&env, &input))
        .await
        .unwrap();
    assert_eq!(gone, "\n");
    eprintln!("status-line with the proxy gone: {took:?}");
    let (outside, _) = tokio::task::spawn_blocking(move || status_line(&[], &claude_input("m")))
        .await
        .unwrap();
    assert_eq!(outside, "\n");
}

fn error_reply(status: u16, retry_after: Option<&str>) -> Reply {
    let mut headers = vec![("content-type", "application/json")]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect::<Vec<_>>();
    if let Some(r) = retry_after {
        headers.push(("retry-after", r.to_owned()));
    }
    Reply::Full {
        status,
        headers,
        body: json!({"error": {"message": format!("failing with {status}"), "type": "x"}})
            .to_string()
            .into(),
    }
}

async fn fallback_proxy(upstream: &Upstream, primary_url: String) -> TestProxy {
    let proxy = TestProxy::start(
        &[
            ("GROQ_BASE_URL", primary_url),
            ("GROQ_API_KEY", "gsk-test".into()),
            ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
            ("OPENAI_API_KEY", "sk-test".into()),
        ],
        None,
        test_timeouts(),
    )
    .await;
    proxy.proxy.set_fallbacks(HashMap::from([(
        "groq/primary".to_owned(),
        vec!["unknown/skipped".to_owned(), "openai/second".to_owned()],
    )]));
    proxy
}

#[tokio::test]
async fn each_trigger_before_the_answer_falls_back_to_the_next_model() {
    // (what the primary does, whether the request goes on to the fallback)
    let cases: Vec<(&str, Option<Reply>, bool)> = vec![
        ("refused connection", None, true),
        ("500", Some(error_reply(500, None)), true),
        ("503", Some(error_reply(503, None)), true),
        ("529", Some(error_reply(529, None)), true),
        (
            "429 without retry-after",
            Some(error_reply(429, None)),
            true,
        ),
        (
            "429 retry-after 120",
            Some(error_reply(429, Some("120"))),
            true,
        ),
        (
            "429 retry-after 2",
            Some(error_reply(429, Some("2"))),
            false,
        ),
        ("400", Some(error_reply(400, None)), false),
        ("401", Some(error_reply(401, None)), false),
    ];
    for (what, primary_reply, falls_back) in cases {
        let fallback =
            Upstream::start(vec![Reply::sse(chat_script::text(&["from the fallback"]))]).await;
        let primary = match &primary_reply {
            Some(reply) => Some(Upstream::start(vec![reply.clone()]).await),
            None => None,
        };
        let primary_url = match &primary {
            Some(p) => format!("{}/v1", p.url()),
            None => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                format!("http://127.0.0.1:{port}/v1")
            }
        };
        let proxy = fallback_proxy(&fallback, primary_url).await;
        let (status, text) = answer_text(&proxy, "groq/primary").await;
        proxy.settled(1).await;
        let health = proxy.get_json("/health").await;
        if falls_back {
            assert_eq!(status, 200, "{what}: {text}");
            assert!(text.contains("from the fallback"), "{what}: {text}");
            let events = parse_sse(&text);
            assert_eq!(
                events[0].data["message"]["model"], "groq/primary",
                "{what}: Claude Code sees the model it asked for"
            );
            let got = fallback.received();
            assert_eq!(got.len(), 1, "{what}");
            assert_eq!(got[0].json()["model"], "second", "{what}");
            let primary_row = row(&health, "groq/primary");
            assert_eq!(primary_row["requests"], 1, "{what}");
            assert_eq!(primary_row["outcomes"]["ok"], Value::Null, "{what}");
            assert_eq!(row(&health, "openai/second")["outcomes"]["ok"], 1, "{what}");
            let live = proxy.get_json("/status").await;
            assert_eq!(live["last"]["backend"], "openai/second", "{what}");
            assert!(
                live["last"]["fell_back"]
                    .as_str()
                    .unwrap()
                    .starts_with("groq/primary: "),
                "{what}: {live}"
            );
            assert_eq!(
                health["metrics"]["requests"], 1,
                "{what}: one request from Claude Code"
            );
        } else {
            assert_ne!(status, 200, "{what}: {text}");
            assert!(fallback.received().is_empty(), "{what}");
        }
        proxy.stop().await;
    }
}

#[tokio::test]
async fn never_after_the_answer_has_started() {
    let fallback = Upstream::start(vec![Reply::sse(chat_script::text(&["unseen"]))]).await;
    let primary = Upstream::start(vec![Reply::steps(vec![
        Step::Send(Bytes::from(chat_script::chunk(
            json!({"role": "assistant", "content": "Half an ans"}),
            None,
        ))),
        Step::Reset,
    ])])
    .await;
    let proxy = fallback_proxy(&fallback, format!("{}/v1", primary.url())).await;
    let (status, text) = answer_text(&proxy, "groq/primary").await;
    assert_eq!(status, 200);
    assert!(text.contains("Half an ans"), "{text}");
    assert!(!text.contains("unseen"), "{text}");
    proxy.settled(1).await;
    assert!(
        fallback.received().is_empty(),
        "no fallback once the stream started"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_fallback_across_dialects_is_encoded_for_its_own_api() {
    let primary = Upstream::start(vec![error_reply(503, None)]).await;
    let gemini = Upstream::start(vec![Reply::sse(gemini_script::text(&[
        "Gemini ",
        "took over",
    ]))])
    .await;
    let proxy = TestProxy::start(
        &[
            ("OPENAI_BASE_URL", format!("{}/v1", primary.url())),
            ("OPENAI_API_KEY", "sk-test".into()),
            ("GEMINI_BASE_URL", format!("{}/v1beta", gemini.url())),
            ("GEMINI_API_KEY", "g-test".into()),
        ],
        None,
        test_timeouts(),
    )
    .await;
    proxy.proxy.set_fallbacks(HashMap::from([(
        "openai/mock-chat".to_owned(),
        vec!["gemini/gemini-test".to_owned()],
    )]));
    let (status, text) = answer_text(&proxy, "openai/mock-chat").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Gemini "), "{text}");
    assert!(text.contains("took over"), "{text}");
    let chat = primary.received();
    assert_eq!(chat[0].uri, "/v1/chat/completions");
    assert_eq!(chat[0].json()["messages"][0]["content"], "hi");
    let got = gemini.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].uri,
        "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    );
    assert_eq!(got[0].json()["contents"][0]["parts"][0]["text"], "hi");
    proxy.settled(1).await;
    let live = proxy.get_json("/status").await;
    assert_eq!(live["last"]["backend"], "gemini/gemini-test");
    assert_eq!(live["last"]["fell_back"], "openai/mock-chat: upstream 503");
    proxy.stop().await;
}

/// claude's arguments when anyclaude starts it with `extra` options (the status line left
/// at its default unless `extra` says otherwise) and `home_settings` in the user's
/// settings file.
fn claude_argv(extra: &[&str], env: &[(&str, &str)], home_settings: Option<&str>) -> Vec<String> {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env_remove("ANYCLAUDE_STATUS_LINE");
    for (k, v) in env {
        a.env(k, v);
    }
    if let Some(settings) = home_settings {
        let dir = a.dir.path().join("home/.claude");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("settings.json"), settings).unwrap();
    }
    a.args(extra).args(["--model", "openai/gpt-x", "-p", "hi"]);
    a.run().assert_code(0);
    a.record().argv()
}

#[test]
fn claude_gets_the_status_line_for_the_session_unless_the_user_has_one() {
    let argv = claude_argv(&[], &[], None);
    assert_eq!(argv[0], "--settings");
    assert_eq!(&argv[2..], ["--model", "openai/gpt-x", "-p", "hi"]);
    let settings: Value = serde_json::from_str(&argv[1]).unwrap();
    let command = settings["statusLine"]["command"].as_str().unwrap();
    assert_eq!(settings["statusLine"]["type"], "command");
    assert!(
        command.ends_with("anyclaude' status-line") && command.starts_with('\''),
        "{command}"
    );
    let plain = ["--model", "openai/gpt-x", "-p", "hi"];
    assert_eq!(claude_argv(&["--no-status-line"], &[], None), plain);
    assert_eq!(
        claude_argv(&[], &[("ANYCLAUDE_STATUS_LINE", "off")], None),
        plain
    );
    let mine = r#"{"statusLine": {"type": "command", "command": "echo mine"}}"#;
    assert_eq!(claude_argv(&["--status-line"], &[], Some(mine)), plain);
    // Their --settings without a status line: ours goes into it.
    let argv = claude_argv(&["--settings", r#"{"theme": "light"}"#], &[], None);
    assert_eq!(argv[0], "--settings");
    let merged: Value = serde_json::from_str(&argv[1]).unwrap();
    assert_eq!(merged["theme"], "light");
    assert!(merged["statusLine"]["command"].is_string());
    assert_eq!(argv.iter().filter(|a| *a == "--settings").count(), 1);
    let out = Anyclaude::with_fake("exit:0")
        .env("ANYCLAUDE_STATUS_LINE", "maybe")
        .args(["--model", "openai/gpt-x"])
        .run();
    out.assert_code(2);
    assert!(
        out.stderr.contains("ANYCLAUDE_STATUS_LINE=maybe"),
        "{}",
        out.stderr
    );
    let out = Anyclaude::with_fake("exit:0")
        .env("ANYCLAUDE_FALLBACKS", "openai/gpt-x=gpt-4o")
        .args(["--model", "openai/gpt-x"])
        .run();
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("ANYCLAUDE_FALLBACKS: `gpt-4o` is not <provider>/<model>"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_local_server_that_does_not_answer_is_named_in_the_status_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = TestProxy::start(
        &[("OLLAMA_BASE_URL", format!("http://127.0.0.1:{port}"))],
        None,
        test_timeouts(),
    )
    .await;
    let (status, _) = answer_text(&proxy, "ollama/qwen3").await;
    assert_ne!(status, 200);
    proxy.settled(1).await;
    let live = proxy.get_json("/status").await;
    assert_eq!(
        live["notice"]["text"], "local server not answering",
        "{live}"
    );
    assert_eq!(live["waiting"], Value::Null);
    let env = claude_env(&proxy);
    let (line, _) =
        tokio::task::spawn_blocking(move || status_line(&env, &claude_input("ollama/qwen3")))
            .await
            .unwrap();
    assert_eq!(line, "⚠ local server not answering\n");
    proxy.stop().await;
}

//! The real Claude Code through the proxy's Anthropic pass-through, offline: proof that the
//! frame we serve (startup probe, auth header, SSE framing) is what the real client takes.

use std::time::Duration;

use crate::claude::{self, Claude};
use crate::harness::{TOKEN, TestProxy, test_timeouts};
use crate::proxy::anthropic_stream;
use crate::scripted::{Reply, Upstream};

async fn plain_answer(claude: &Claude) {
    let upstream = Upstream::with_handler(|_| {
        let mut chunks = anthropic_stream("claude-x");
        chunks[3] = chunks[3].replace("Hel", "pass-through ");
        chunks[4] = chunks[4].replace("lo\"", "ok\"");
        Reply::sse(chunks)
    })
    .await;
    let env = vec![
        ("ANTHROPIC_API_URL", upstream.url()),
        ("ANTHROPIC_API_KEY", "sk-user".into()),
    ];
    let proxy = TestProxy::start(&env, None, test_timeouts()).await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(&claude.bin);
    cmd.env_clear()
        .envs(claude::base_env(home.path()))
        .env("ANTHROPIC_BASE_URL", format!("http://{}", proxy.addr))
        .env("ANTHROPIC_AUTH_TOKEN", "anyclaude")
        .env(
            "ANTHROPIC_CUSTOM_HEADERS",
            format!("x-anyclaude-token: {TOKEN}"),
        )
        .current_dir(home.path())
        .args([
            "-p",
            "say hi",
            "--model",
            "anthropic/claude-x",
            "--output-format",
            "stream-json",
            "--verbose",
        ]);
    let out = claude::run(cmd, Duration::from_secs(90)).await;
    let lines = claude::json_lines(&out.stdout);
    let result = claude::result_line(&lines).unwrap_or_else(|| {
        panic!(
            "{}: no result line; stdout {} stderr {}",
            claude.version,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
    assert_eq!(result["result"], "pass-through ok", "{}", claude.version);
    assert!(out.status.success());
    let received = upstream.received();
    assert!(!received.is_empty());
    for r in &received {
        assert_eq!(r.header("x-api-key"), Some("sk-user"));
        assert_eq!(r.header("x-anyclaude-token"), None);
        assert_eq!(r.header("authorization"), None);
    }
    eprintln!(
        "{}: {} upstream requests: {:?}",
        claude.version,
        received.len(),
        received
            .iter()
            .map(|r| r.json()["model"].clone())
            .collect::<Vec<_>>()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn e2e_pass_through_plain_answer() {
    for claude in claude::pinned("e2e_pass_through_plain_answer") {
        plain_answer(&claude).await;
        claude::record("e2e_pass_through_plain_answer", &claude);
    }
}

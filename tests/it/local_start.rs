//! The start check of a local backend, with the real binary and a fake claude: a backend
//! that is down is warned about before claude starts, naming the command that starts it; a
//! window the server tells is passed on to Claude Code with an output cap, and warned about
//! when Claude Code's first request cannot fit. The servers' metadata answers are scripted
//! in the shapes their documentation gives.

use serde_json::json;

use crate::scripted::{Received, Reply, Upstream};
use crate::support::cli::Anyclaude;

/// A port on 127.0.0.1 where nothing listens (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_local_backend_that_is_down_is_warned_about_before_claude_starts() {
    let port = closed_port();
    let mut a = Anyclaude::with_fake("exit:0");
    a.env("LLAMACPP_BASE_URL", format!("http://127.0.0.1:{port}/v1"))
        .args(["--model", "llamacpp/qwen3"]);
    let started = std::time::Instant::now();
    let out = a.run();
    out.assert_code(0);
    let want = format!(
        "anyclaude: warning: nothing listens at http://127.0.0.1:{port}/v1 (llama.cpp's server \
         for llamacpp/qwen3): start it with `llama-server -m <model>`, or set LLAMACPP_BASE_URL"
    );
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    assert!(a.claude_ran(), "claude still starts");
    assert_eq!(a.record().var("CLAUDE_CODE_MAX_CONTEXT_TOKENS"), None);
    eprintln!("run with a refused start check: {:?}", started.elapsed());
}

/// Runs `anyclaude --model <model>` with the fake claude and `var` pointing at `upstream`;
/// returns stderr and the record.
fn run_against(
    upstream: &Upstream,
    var: &str,
    model: &str,
    env: &[(&str, &str)],
) -> (String, Anyclaude) {
    let mut a = Anyclaude::with_fake("exit:0");
    a.env(var, format!("{}/v1", upstream.url()))
        .args(["--model", model]);
    for (k, v) in env {
        a.env(k, v);
    }
    let out = tokio::task::block_in_place(|| a.run());
    out.assert_code(0);
    (out.stderr, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_from_llama_servers_props_is_told_to_claude_code() {
    let upstream = Upstream::with_handler(|r: &Received| match r.uri.as_str() {
        "/props" => Reply::json(json!({
            "default_generation_settings": {"id": 0, "n_ctx": 4096, "params": {"n_predict": -1}},
            "total_slots": 1, "model_path": "qwen3.gguf"
        })),
        _ => Reply::error(
            404,
            json!({"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}),
        ),
    })
    .await;
    let (stderr, a) = run_against(&upstream, "LLAMACPP_BASE_URL", "llamacpp/qwen3", &[]);
    assert!(
        stderr.contains("llama.cpp's server runs qwen3 with a 4096-token window (from /props)")
            && stderr.contains("`llama-server -c 32768`"),
        "{stderr}"
    );
    let record = a.record();
    assert_eq!(
        record.var("CLAUDE_CODE_MAX_CONTEXT_TOKENS").as_deref(),
        Some("4096")
    );
    assert_eq!(
        record.var("CLAUDE_CODE_MAX_OUTPUT_TOKENS").as_deref(),
        Some("1024")
    );
    // Far too small for Claude Code to compact in: its automatic compaction is off.
    assert_eq!(record.var("DISABLE_AUTO_COMPACT").as_deref(), Some("1"));
    // The check only reads: no request reached the chat endpoint.
    assert!(
        upstream
            .received()
            .iter()
            .all(|r| r.uri != "/v1/chat/completions"),
        "{:?}",
        upstream
            .received()
            .iter()
            .map(|r| r.uri.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollamas_loaded_window_fits_and_the_users_own_cap_wins() {
    let upstream = Upstream::with_handler(|r: &Received| match r.uri.as_str() {
        "/api/ps" => Reply::json(json!({"models": [{
            "name": "qwen3:32b", "model": "qwen3:32b", "size": 1, "digest": "x",
            "expires_at": "2026-11-30T21:00:00Z", "size_vram": 1, "context_length": 65536
        }]})),
        _ => Reply::error(404, json!({"error": "not found"})),
    })
    .await;
    let (stderr, a) = run_against(
        &upstream,
        "OLLAMA_BASE_URL",
        "ollama/qwen3:32b",
        &[("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "500")],
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    let record = a.record();
    assert_eq!(
        record.var("CLAUDE_CODE_MAX_CONTEXT_TOKENS").as_deref(),
        Some("65536")
    );
    assert_eq!(
        record.var("CLAUDE_CODE_MAX_OUTPUT_TOKENS").as_deref(),
        Some("500"),
        "the user's own value is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lm_studios_and_vllms_model_info_give_the_window() {
    let lmstudio = Upstream::with_handler(|r: &Received| {
        if r.uri == "/api/v0/models/qwen2.5-7b-instruct" {
            Reply::json(json!({
                "id": "qwen2.5-7b-instruct", "object": "model", "type": "llm",
                "publisher": "lmstudio-community", "arch": "qwen2", "state": "loaded",
                "max_context_length": 32768, "loaded_context_length": 8192
            }))
        } else {
            Reply::error(404, json!({"error": "Unexpected endpoint or method."}))
        }
    })
    .await;
    let (stderr, a) = run_against(
        &lmstudio,
        "LMSTUDIO_BASE_URL",
        "lmstudio/qwen2.5-7b-instruct",
        &[],
    );
    assert!(stderr.contains("8192-token window"), "{stderr}");
    assert_eq!(
        a.record().var("CLAUDE_CODE_MAX_CONTEXT_TOKENS").as_deref(),
        Some("8192")
    );

    let vllm = Upstream::with_handler(|r: &Received| {
        if r.uri == "/v1/models" {
            Reply::json(json!({"object": "list", "data": [{
                "id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm",
                "root": "Qwen/Qwen3-8B", "parent": null, "max_model_len": 40960
            }]}))
        } else {
            Reply::error(404, json!({"detail": "Not Found"}))
        }
    })
    .await;
    let (stderr, a) = run_against(&vllm, "VLLM_BASE_URL", "vllm/Qwen/Qwen3-8B", &[]);
    assert!(!stderr.contains("warning"), "{stderr}");
    let record = a.record();
    assert_eq!(
        record.var("CLAUDE_CODE_MAX_CONTEXT_TOKENS").as_deref(),
        Some("40960")
    );
    assert_eq!(
        record.var("CLAUDE_CODE_MAX_OUTPUT_TOKENS").as_deref(),
        Some("10240")
    );
    assert_eq!(
        record.var("DISABLE_AUTO_COMPACT"),
        None,
        "it compacts by itself"
    );
}

//! The `/model` picker's list (`GET /v1/models`) over real sockets: the session's model
//! and what scripted local servers on free ports report, within the probe deadline, and a
//! picked id routed to the server it names.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::chat_script;
use crate::harness::{TestProxy, test_timeouts};
use crate::scripted::{Reply, Step, Upstream};

/// A loopback port nothing listens on (bound, then released).
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every local preset's base URL pointed at a dead loopback port, so that no test touches
/// the real default ports; `live` overrides some of them.
pub fn local_env(live: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let dead = format!("http://127.0.0.1:{}/v1", dead_port());
    let mut env: Vec<(&'static str, String)> = [
        "OLLAMA_BASE_URL",
        "LMSTUDIO_BASE_URL",
        "LLAMACPP_BASE_URL",
        "VLLM_BASE_URL",
        "MLX_BASE_URL",
    ]
    .into_iter()
    .filter(|var| !live.iter().any(|(v, _)| v == var))
    .map(|var| (var, dead.clone()))
    .collect();
    env.extend(live.iter().cloned());
    env
}

/// A local server answering `GET /v1/models` with `models` and chat requests with a text
/// naming `who`.
pub async fn local_server(who: &'static str, models: serde_json::Value) -> Upstream {
    Upstream::with_handler(move |req| {
        if req.uri.ends_with("/models") {
            Reply::json(models.clone())
        } else {
            Reply::sse(chat_script::text(&["answer from ", who]))
        }
    })
    .await
}

#[tokio::test]
async fn lists_the_session_model_and_each_local_servers_models_in_anthropics_shape() {
    let ollama = local_server(
        "ollama",
        json!({"object": "list", "data": [
            {"id": "qwen3:8b", "object": "model", "created": 1730000000, "owned_by": "library"},
            {"id": "gemma3:4b", "object": "model", "created": 1730000001, "owned_by": "library"},
        ]}),
    )
    .await;
    let vllm = local_server(
        "vllm",
        json!({"data": [{"id": "Qwen/Qwen3-8B", "max_model_len": 32768}]}),
    )
    .await;
    // A server that accepts and never answers must not hold the list up.
    let stalled = Upstream::with_handler(|_| Reply::steps(vec![Step::Hold])).await;
    let env = local_env(&[
        ("OLLAMA_BASE_URL", format!("{}/v1", ollama.url())),
        ("VLLM_BASE_URL", format!("{}/v1/", vllm.url())),
        ("LMSTUDIO_BASE_URL", format!("{}/v1", stalled.url())),
        ("OPENAI_API_KEY", "sk-test".into()),
    ]);
    let proxy = TestProxy::start(&env, Some("openai/gpt-5-mini"), test_timeouts()).await;
    let started = Instant::now();
    let resp = proxy
        .client
        .get(proxy.url("/v1/models?limit=1000"))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let list: serde_json::Value = resp.json().await.unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "anyclaude/openai/gpt-5-mini",
            "anyclaude/ollama/qwen3:8b",
            "anyclaude/ollama/gemma3:4b",
            "anyclaude/vllm/Qwen/Qwen3-8B",
        ]
    );
    assert!(
        took < Duration::from_millis(1500),
        "the list took {took:?} with a stalled server"
    );
    for m in list["data"].as_array().unwrap() {
        assert_eq!(m["type"], "model");
        assert!(m["created_at"].as_str().unwrap().ends_with('Z'), "{m}");
        assert!(m["description"].as_str().is_some(), "{m}");
    }
    assert_eq!(list["data"][1]["display_name"], "ollama/qwen3:8b");
    assert_eq!(list["data"][1]["created_at"], "2024-10-27T03:33:20Z");
    assert_eq!(
        list["data"][3]["description"],
        format!("vLLM at {}/v1, 32768 tokens of context", vllm.url())
    );
    assert_eq!(list["has_more"], false);
    assert_eq!(list["first_id"], "anyclaude/openai/gpt-5-mini");
    assert_eq!(list["last_id"], "anyclaude/vllm/Qwen/Qwen3-8B");

    // Asked again at once, the servers are not probed again.
    let before = ollama.received().len();
    let again: serde_json::Value = proxy.get_json("/v1/models").await;
    assert_eq!(again["data"], list["data"]);
    assert_eq!(ollama.received().len(), before);

    // A picked id goes to the server it names.
    let resp = proxy
        .messages(&json!({
            "model": "anyclaude/ollama/gemma3:4b", "max_tokens": 50, "stream": true,
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .await;
    assert_eq!(resp.status(), 200);
    let answer = resp.text().await.unwrap();
    assert!(answer.contains("\"ollama\""), "{answer}");
    let chat = ollama
        .received()
        .into_iter()
        .find(|r| r.uri.ends_with("/chat/completions"))
        .expect("the pick reached ollama");
    assert_eq!(chat.json()["model"], "gemma3:4b");
    stalled.release();
    proxy.stop().await;
}

#[tokio::test]
async fn with_no_local_server_the_list_is_the_session_model_at_once() {
    let proxy = TestProxy::start(&local_env(&[]), Some("ollama/qwen3"), test_timeouts()).await;
    let started = Instant::now();
    let list: serde_json::Value = proxy.get_json("/v1/models").await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["id"], "anyclaude/ollama/qwen3");
    proxy.stop().await;

    let proxy = TestProxy::start(&local_env(&[]), None, test_timeouts()).await;
    let list: serde_json::Value = proxy.get_json("/v1/models").await;
    assert_eq!(
        list,
        json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
    );
    proxy.stop().await;
}

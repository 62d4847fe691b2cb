//! Starts the proxy in-process on 127.0.0.1:0 for the proxy tests, and reads its answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyclaude::anthropic::stream::{BlockStart, Delta, Event, StopReason, Usage};
use anyclaude::anthropic::{ApiError, ErrorKind};
use anyclaude::config::Timeouts;
use anyclaude::registry::Registry;
use anyclaude::server::{self, Proxy, ProxySettings};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The token the test proxies expect.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A proxy running in the test's runtime.
pub struct TestProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (metrics).
    pub proxy: Arc<Proxy>,
    /// Cancels it.
    pub shutdown: CancellationToken,
    /// Ends when it has shut down.
    pub task: JoinHandle<()>,
    /// A client that sends the token.
    pub client: reqwest::Client,
}

/// Fast timeouts for tests: generous enough for a loaded 2-core machine, short enough to
/// keep the suite quick.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        request: Duration::from_secs(20),
        idle: Duration::from_secs(10),
        progress: Duration::from_secs(10),
        keepalive: Duration::from_secs(5),
        drain: Duration::from_secs(5),
        connect: Duration::from_secs(5),
    }
}

impl TestProxy {
    /// Starts a proxy with this environment snapshot and default model.
    pub async fn start(
        env: &[(&str, String)],
        default_model: Option<&str>,
        timeouts: Timeouts,
    ) -> TestProxy {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut registry = Registry::from_env(&env).expect("the environment is valid");
        registry.set_default_model(default_model);
        TestProxy::with_registry(registry, env, timeouts).await
    }

    /// Starts a proxy with this registry (e.g. built from a config file) and environment.
    pub async fn with_registry(
        registry: Registry,
        env: HashMap<String, String>,
        timeouts: Timeouts,
    ) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy::new(ProxySettings {
            token: TOKEN.into(),
            timeouts,
            registry: Arc::new(registry),
            env,
            debug_level: 0,
        })
        .expect("the upstream client builds");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::serve(listener, proxy.clone(), shutdown.clone()));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-anyclaude-token", TOKEN.parse().unwrap());
        anyclaude::upstream::install_tls_provider();
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .no_proxy()
            .build()
            .unwrap();
        TestProxy {
            addr,
            proxy,
            shutdown,
            task,
            client,
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GETs `path` with the token and parses the JSON answer.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.client.get(self.url(path)).send().await.unwrap();
        resp.json().await.unwrap()
    }

    /// POSTs a Messages request and returns the response.
    pub async fn messages(&self, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/messages?beta=true"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Waits until every request has been recorded (no stream still running).
    pub async fn settled(&self, requests: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let snap = self.proxy.metrics().snapshot();
            if snap.requests >= requests && snap.active == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "requests never settled: {snap:?}"
            );
            // Polling a counter: there is nothing to await on the metrics.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the proxy and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("proxy shut down in time")
            .unwrap();
    }
}

/// Reads a streamed body until what has arrived contains `needle`; returns all of it.
pub async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = resp.chunk().await.unwrap().expect("the stream ended early");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// Reads the rest of a streamed body.
pub async fn read_rest(resp: &mut reqwest::Response, mut seen: String) -> String {
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// One SSE event as read back: its name and parsed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    /// `event:` name.
    pub name: String,
    /// `data:` JSON.
    pub data: serde_json::Value,
}

/// Splits an SSE body into events, checking that every event has an `event:` line and one
/// `data:` line and nothing else (no `id:` or `retry:`).
pub fn parse_sse(text: &str) -> Vec<Ev> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(
                        serde_json::from_str(v).unwrap_or_else(|e| panic!("bad data {v:?}: {e}")),
                    );
                } else {
                    panic!("unexpected SSE line {line:?} in {block:?}");
                }
            }
            let name = name.unwrap_or_else(|| panic!("event without a name: {block:?}"));
            let data: serde_json::Value =
                data.unwrap_or_else(|| panic!("event without data: {block:?}"));
            assert_eq!(data["type"], name.as_str(), "type matches the event name");
            Ev { name, data }
        })
        .collect()
}

/// The names of the events, pings left out.
pub fn names(events: &[Ev]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.name != "ping")
        .map(|e| e.name.as_str())
        .collect()
}

/// An SSE event read back → the writer's event value, so the invariants can be checked on
/// what went over the wire.
pub fn event(ev: &Ev) -> Event {
    let d = &ev.data;
    let usage = |u: &Value| Usage {
        input_tokens: u["input_tokens"].as_u64().unwrap_or(0),
        cache_creation_input_tokens: u["cache_creation_input_tokens"].as_u64().unwrap_or(0),
        cache_read_input_tokens: u["cache_read_input_tokens"].as_u64().unwrap_or(0),
        output_tokens: u["output_tokens"].as_u64().unwrap_or(0),
    };
    let index = || d["index"].as_u64().unwrap() as usize;
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    match ev.name.as_str() {
        "message_start" => Event::MessageStart {
            id: s(&d["message"]["id"]),
            model: s(&d["message"]["model"]),
            usage: usage(&d["message"]["usage"]),
        },
        "content_block_start" => {
            let b = &d["content_block"];
            Event::BlockStart {
                index: index(),
                block: match b["type"].as_str().unwrap() {
                    "text" => BlockStart::Text,
                    "thinking" => BlockStart::Thinking,
                    "tool_use" => BlockStart::ToolUse {
                        id: s(&b["id"]),
                        name: s(&b["name"]),
                    },
                    other => panic!("block {other}"),
                },
            }
        }
        "content_block_delta" => {
            let x = &d["delta"];
            Event::BlockDelta {
                index: index(),
                delta: match x["type"].as_str().unwrap() {
                    "text_delta" => Delta::Text(s(&x["text"])),
                    "thinking_delta" => Delta::Thinking(s(&x["thinking"])),
                    "signature_delta" => Delta::Signature(s(&x["signature"])),
                    "input_json_delta" => Delta::InputJson(s(&x["partial_json"])),
                    other => panic!("delta {other}"),
                },
            }
        }
        "content_block_stop" => Event::BlockStop { index: index() },
        "message_delta" => Event::MessageDelta {
            stop_reason: match d["delta"]["stop_reason"].as_str().unwrap() {
                "end_turn" => StopReason::EndTurn,
                "max_tokens" => StopReason::MaxTokens,
                "stop_sequence" => StopReason::StopSequence,
                "tool_use" => StopReason::ToolUse,
                "refusal" => StopReason::Refusal,
                other => panic!("stop reason {other}"),
            },
            stop_sequence: d["delta"]["stop_sequence"].as_str().map(str::to_owned),
            usage: usage(&d["usage"]),
        },
        "message_stop" => Event::MessageStop,
        "ping" => Event::Ping,
        "error" => Event::Error(ApiError::new(
            ErrorKind::from_name(d["error"]["type"].as_str().unwrap()).expect("known kind"),
            s(&d["error"]["message"]),
        )),
        other => panic!("event {other}"),
    }
}

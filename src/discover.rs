//! Asking servers which models they offer: the local presets' servers (Ollama, LM Studio,
//! llama.cpp, vLLM, mlx) probed in parallel with a short deadline, and any provider's model
//! list (`anyclaude models`). The I/O is a thin shell around pure parsing
//! ([`parse_model_list`]), tested on each server's documented shape.
//!
//! A local server is probed at its provider's base URL, which its variable overrides
//! (`OLLAMA_BASE_URL`, …), so tests point the probes at scripted servers on free ports.
//! Two providers with the same address (llama.cpp and mlx both default to port 8080) are
//! probed once; the first in the registry's order names what answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use crate::provider::{Dialect, UrlScheme};
use crate::registry::{Provider, Registry};

/// The longest a probe of the local servers may take, all of them together: short enough
/// to go unnoticed before claude starts (a refused connection on loopback takes well under
/// a millisecond; this bounds a server that accepts and then stalls).
pub const LOCAL_PROBE_DEADLINE: Duration = Duration::from_millis(250);

/// One model a server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteModel {
    /// Its id as the server names it (what goes after `<provider>/`).
    pub id: String,
    /// Its context window in tokens, when the listing says.
    pub context_window: Option<u64>,
    /// When it was created or added (Unix seconds), when the listing says.
    pub created: Option<u64>,
}

/// Why a server's models could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// Nothing answered at the address (refused, unreachable, DNS).
    #[error("not reachable ({0})")]
    Unreachable(String),
    /// Connected, but no answer within the deadline.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// An error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body, secrets scrubbed.
        body: String,
    },
    /// A body that is no model list.
    #[error("the answer is no model list: {0}")]
    Shape(String),
    /// The provider has no way to list its models (Azure deployments).
    #[error("{0}")]
    Unsupported(String),
    /// A key or base URL is missing (the routing error's words).
    #[error("{0}")]
    NotConfigured(String),
}

/// What one local server said.
#[derive(Debug, Clone)]
pub struct LocalServerReport {
    /// The provider it answers for.
    pub provider: Arc<Provider>,
    /// The base URL probed.
    pub base_url: String,
    /// Its models, or why there are none.
    pub models: Result<Vec<RemoteModel>, ListError>,
    /// How long the probe took.
    pub took: Duration,
}

impl LocalServerReport {
    /// The first model it offers, if it answered with any.
    pub fn first_model(&self) -> Option<&RemoteModel> {
        self.models.as_ref().ok().and_then(|m| m.first())
    }
}

/// The local servers' providers with the address each is probed at, one per address (the
/// first provider listed for an address keeps it).
pub fn local_targets(registry: &Registry) -> Vec<(Arc<Provider>, String)> {
    let mut out: Vec<(Arc<Provider>, String)> = Vec::new();
    for provider in registry.providers().filter(|p| p.server.is_some()) {
        let url = provider.base_url.clone();
        if !url.is_empty() && !out.iter().any(|(_, u)| *u == url) {
            out.push((Arc::clone(provider), url));
        }
    }
    out
}

/// A client for probing local servers: never through an HTTP proxy (they are on this
/// machine), no redirects, `deadline` for connecting and for the whole answer. Unless
/// `https` is asked for, it loads no certificate store: that takes longer than probing
/// every server, which speak plain HTTP.
pub fn local_client(deadline: Duration, https: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder();
    let builder = if https {
        builder
    } else {
        builder.tls_certs_only(Vec::<reqwest::Certificate>::new())
    };
    builder
        .no_proxy()
        .connect_timeout(deadline)
        .timeout(deadline)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("anyclaude/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Probes every local server at once (`GET <base>/models`), each bounded by `deadline`;
/// reports in the registry's order.
pub async fn probe_local(
    client: &reqwest::Client,
    registry: &Registry,
    deadline: Duration,
) -> Vec<LocalServerReport> {
    let probes = local_targets(registry).into_iter().map(|(provider, url)| {
        let auth = provider
            .key
            .as_ref()
            .map(|k| ("authorization", format!("Bearer {}", k.expose())));
        async move {
            let started = Instant::now();
            let models = fetch(client, &format!("{url}/models"), auth, &[], deadline).await;
            LocalServerReport {
                provider,
                base_url: url,
                models,
                took: started.elapsed(),
            }
        }
    });
    join_all(probes).await
}

/// [`probe_local`] from synchronous code (before the proxy's runtime exists), on a
/// throwaway single-threaded runtime.
pub fn probe_local_blocking(registry: &Registry, deadline: Duration) -> Vec<LocalServerReport> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let https = local_targets(registry)
        .iter()
        .any(|(_, url)| url.starts_with("https:"));
    let client = local_client(deadline, https);
    runtime.block_on(probe_local(&client, registry, deadline))
}

/// The models `provider` offers: its own list endpoint, with its key and extra headers.
/// `deadline` bounds the whole exchange.
pub async fn list_provider(
    client: &reqwest::Client,
    registry: &Registry,
    provider: &Provider,
    deadline: Duration,
) -> Result<Vec<RemoteModel>, ListError> {
    if let UrlScheme::AzureDeployment { .. } = provider.url {
        return Err(ListError::Unsupported(
            "Azure serves deployments, which only its portal or CLI lists (`az cognitiveservices account deployment list`)".to_owned(),
        ));
    }
    // Routing a placeholder model gives the URL and key exactly as requests get them.
    let route = registry
        .route(&format!("{}/-", provider.name))
        .map_err(|e| ListError::NotConfigured(e.to_string()))?;
    let (path, extra): (&str, &[(&str, &str)]) = match provider.dialect {
        Dialect::Anthropic => ("/v1/models", &[("anthropic-version", "2023-06-01")]),
        _ => ("/models", &[]),
    };
    let mut headers: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (name, value) in provider.headers.iter() {
        headers.push((
            name.as_str().to_owned(),
            value.to_str().unwrap_or_default().to_owned(),
        ));
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fetch(
        client,
        &route.url(path),
        route.auth_header(),
        &headers,
        deadline,
    )
    .await
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&'static str, String)>,
    extra: &[(&str, &str)],
    deadline: Duration,
) -> Result<Vec<RemoteModel>, ListError> {
    let mut req = client.get(url).timeout(deadline);
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let exchange = async {
        let resp = req.send().await.map_err(|e| send_error(&e, deadline))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| send_error(&e, deadline))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(200).collect();
            return Err(ListError::Status {
                status: status.as_u16(),
                body: crate::secrets::scrub_userinfo(text.trim()).into_owned(),
            });
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| ListError::Shape(e.to_string()))?;
        parse_model_list(&value)
    };
    // The client's own timeout covers connecting and the answer; this also bounds name
    // resolution.
    tokio::time::timeout(deadline, exchange)
        .await
        .unwrap_or(Err(ListError::TimedOut(deadline)))
}

fn send_error(err: &reqwest::Error, deadline: Duration) -> ListError {
    if err.is_timeout() {
        return ListError::TimedOut(deadline);
    }
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        reason = inner.to_string();
        source = inner.source();
    }
    ListError::Unreachable(crate::secrets::scrub_userinfo(&reason).into_owned())
}

/// Reads a model list in any of the shapes servers use: OpenAI's and Anthropic's
/// `{"data": [{"id": …}]}` (with a context window as `context_length` on OpenRouter,
/// `max_model_len` on vLLM, `context_window` on Groq, `max_input_tokens` on Anthropic,
/// `loaded_context_length` — else `max_context_length` — in LM Studio's own list), Ollama's
/// native `{"models": [{"name"|"model"}]}` and Gemini's `{"models": [{"name": "models/…",
/// "inputTokenLimit"}]}`.
///
/// The window is the one the server serves the model with. llama.cpp's `meta.n_ctx_train`
/// is the length the model was trained for, not the server's window (`llama-server -c`, often
/// far smaller), so it is not read: llama.cpp's window comes from its `/props` (see
/// [`crate::local_server`]), which uses this same parser for `/v1/models`.
pub fn parse_model_list(value: &Value) -> Result<Vec<RemoteModel>, ListError> {
    let items = value
        .get("data")
        .or_else(|| value.get("models"))
        .and_then(Value::as_array)
        .ok_or_else(|| ListError::Shape("no \"data\" or \"models\" list".to_owned()))?;
    let window_keys: [&[&str]; 7] = [
        &["loaded_context_length"],
        &["context_length"],
        &["max_model_len"],
        &["context_window"],
        &["max_input_tokens"],
        &["inputTokenLimit"],
        &["max_context_length"],
    ];
    let models = items
        .iter()
        .filter_map(|item| {
            let id = ["id", "model", "name"]
                .iter()
                .find_map(|k| item.get(*k).and_then(Value::as_str))?;
            let id = id.strip_prefix("models/").unwrap_or(id).to_owned();
            let context_window = window_keys.iter().find_map(|path| {
                path.iter()
                    .try_fold(item, |v, k| v.get(*k))
                    .and_then(Value::as_u64)
            });
            let created = item.get("created").and_then(Value::as_u64);
            (!id.is_empty()).then_some(RemoteModel {
                id,
                context_window,
                created,
            })
        })
        .collect();
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn reads_each_servers_list() {
        let cases = [
            // Ollama's OpenAI-compatible list.
            (
                json!({"object": "list", "data": [{"id": "qwen3:8b", "object": "model", "created": 1730000000, "owned_by": "library"}]}),
                vec![("qwen3:8b", None, Some(1730000000))],
            ),
            // llama.cpp: the loaded model; `meta.n_ctx_train` is its training length, not
            // the window the server runs (that is in `/props`).
            (
                json!({"object": "list", "data": [{"id": "gemma-3-4b.gguf", "object": "model", "owned_by": "llamacpp", "meta": {"n_ctx_train": 131072}}]}),
                vec![("gemma-3-4b.gguf", None, None)],
            ),
            // LM Studio's own list: the window it is loaded with before the most it takes.
            (
                json!({"object": "list", "data": [{"id": "qwen2.5-7b-instruct", "state": "loaded", "max_context_length": 32768, "loaded_context_length": 8192}]}),
                vec![("qwen2.5-7b-instruct", Some(8192), None)],
            ),
            // vLLM.
            (
                json!({"data": [{"id": "Qwen/Qwen3-8B", "max_model_len": 32768}]}),
                vec![("Qwen/Qwen3-8B", Some(32768), None)],
            ),
            // OpenRouter.
            (
                json!({"data": [{"id": "qwen/qwen3-coder", "context_length": 262144}]}),
                vec![("qwen/qwen3-coder", Some(262144), None)],
            ),
            // Anthropic.
            (
                json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}], "has_more": false}),
                vec![("claude-sonnet-4-5", None, None)],
            ),
            // Gemini.
            (
                json!({"models": [{"name": "models/gemini-2.5-pro", "inputTokenLimit": 1048576}]}),
                vec![("gemini-2.5-pro", Some(1048576), None)],
            ),
            // Ollama's native list, and entries without an id are skipped.
            (
                json!({"models": [{"name": "llama3.3:latest", "model": "llama3.3:latest"}, {"size": 1}]}),
                vec![("llama3.3:latest", None, None)],
            ),
        ];
        for (body, want) in cases {
            let got = parse_model_list(&body).unwrap();
            let got: Vec<_> = got
                .iter()
                .map(|m| (m.id.as_str(), m.context_window, m.created))
                .collect();
            assert_eq!(got, want, "{body}");
        }
        assert!(matches!(
            parse_model_list(&json!({"error": "x"})),
            Err(ListError::Shape(_))
        ));
    }

    #[test]
    fn local_targets_follow_the_variables_and_probe_each_address_once() {
        let env: HashMap<String, String> = HashMap::new();
        let registry = Registry::from_env(&env).unwrap();
        let targets = local_targets(&registry);
        let names: Vec<_> = targets.iter().map(|(p, _)| p.name.to_string()).collect();
        // mlx shares llama.cpp's default port: probed once, as llama.cpp.
        assert_eq!(names, ["ollama", "lmstudio", "llamacpp", "vllm"]);
        assert_eq!(targets[0].1, "http://localhost:11434/v1");
        let env: HashMap<String, String> = [
            ("MLX_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("OLLAMA_BASE_URL", "http://127.0.0.1:8/v1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let registry = Registry::from_env(&env).unwrap();
        let targets = local_targets(&registry);
        assert_eq!(targets.len(), 5);
        assert_eq!(targets[0].1, "http://127.0.0.1:8/v1");
        assert_eq!(&*targets[4].0.name, "mlx");
        assert_eq!(targets[4].1, "http://127.0.0.1:9/v1");
    }
}

//! The HTTP client that talks to upstream providers, and the classification of its failures
//! into Anthropic errors.
//!
//! One `reqwest` client per proxy (connection pooling, rustls). It has a connect timeout but
//! no whole-request timeout, which would cut long generations off: the server applies the
//! time-to-first-byte and idle timeouts itself, each with its own error. Redirects are not
//! followed, so a key is only ever sent to the host its provider names.

use std::time::Duration;

use crate::anthropic::{ApiError, ErrorKind};
use crate::secrets::scrub_userinfo;

/// The upstream HTTP client could not be built (its TLS backend failed to start).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for upstream requests: {0}")]
pub struct ClientError(#[source] reqwest::Error);

/// Builds the upstream client.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("anyclaude/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ClientError)
}

/// Where a request was going, to name it in error messages.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The provider preset.
    pub provider: &'a str,
    /// The URL we tried (without query string).
    pub url: &'a str,
    /// Whether the preset is a local server, which gets a hint about starting it.
    pub local: bool,
}

/// The error Claude Code gets when sending to the upstream failed before any response. A
/// password in the base URL (`https://user:pass@host`) is not shown.
pub fn send_error(err: &reqwest::Error, target: Target<'_>) -> ApiError {
    let mut error = classify_send_error(err, target);
    error.message = scrub_userinfo(&error.message).into_owned();
    error
}

fn classify_send_error(err: &reqwest::Error, target: Target<'_>) -> ApiError {
    let Target {
        provider,
        url,
        local,
    } = target;
    if err.is_connect() {
        let cause = root_cause(err);
        let hint = if local {
            let (name, start) = local_server(provider);
            format!(
                " Is {name} running? Start it ({start}), or point {} at where it listens.",
                base_url_hint(provider)
            )
        } else {
            String::new()
        };
        return ApiError::new(
            ErrorKind::Overloaded,
            format!("anyclaude could not connect to {provider} at {url}: {cause}.{hint}"),
        );
    }
    if err.is_timeout() {
        return ApiError::new(
            ErrorKind::Overloaded,
            format!("anyclaude timed out connecting to {provider} at {url}"),
        );
    }
    ApiError::new(
        ErrorKind::Api,
        format!(
            "anyclaude's request to {provider} at {url} failed: {}",
            root_cause(err)
        ),
    )
}

/// The error for an upstream that did not start answering within `timeout`.
pub fn first_byte_timeout(provider: &str, url: &str, timeout: Duration) -> ApiError {
    ApiError::new(
        ErrorKind::Timeout,
        format!(
            "{provider} at {} did not start answering within {} (anyclaude --timeout); \
             a local model may still be loading: raise --timeout if it needs longer",
            scrub_userinfo(url),
            humantime::format_duration(timeout)
        ),
    )
}

/// The error for an upstream that went silent mid-stream for longer than `idle`.
pub fn idle_timeout(provider: &str, idle: Duration) -> ApiError {
    ApiError::new(
        ErrorKind::Timeout,
        format!(
            "{provider} sent nothing for {} mid-answer (anyclaude --idle-timeout); the answer above is incomplete",
            humantime::format_duration(idle)
        ),
    )
}

/// The error for an upstream body that broke mid-stream (reset, truncated chunk).
pub fn body_error(provider: &str, err: &reqwest::Error) -> ApiError {
    ApiError::new(
        ErrorKind::Api,
        format!(
            "the connection to {provider} broke mid-answer: {}; the answer above is incomplete",
            root_cause(err)
        ),
    )
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// The server a local preset expects, and how it is usually started.
fn local_server(provider: &str) -> (&'static str, &'static str) {
    match provider {
        "ollama" => ("Ollama", "`ollama serve`"),
        "lmstudio" => ("LM Studio's server", "`lms server start`"),
        "llamacpp" => ("llama.cpp's server", "`llama-server -m <model>`"),
        "vllm" => ("vLLM", "`vllm serve <model>`"),
        "mlx" => ("mlx-lm's server", "`mlx_lm.server --model <model>`"),
        _ => ("the local server", "see its documentation"),
    }
}

fn base_url_hint(provider: &str) -> String {
    crate::provider::preset(provider)
        .and_then(|p| p.base_url_vars.first())
        .map_or_else(|| "the base URL".to_owned(), |v| (*v).to_owned())
}

//! The HTTP client that talks to upstream providers, and the classification of its failures
//! ([`Failure`]) into Anthropic errors and the request's recorded outcome, in one place.
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

use crate::metrics::Outcome;
use crate::provider::LocalServer;

/// Makes rustls' *ring* provider the process's crypto provider, which every HTTPS client
/// built afterwards uses (reqwest is built without one of its own). Idempotent; `main`
/// calls it first thing, [`client`] again for callers of the library.
pub fn install_tls_provider() {
    // An error only says that a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the upstream client.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, ClientError> {
    install_tls_provider();
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
    /// For a local server, how to start it (a refused connection gets a hint).
    pub server: Option<LocalServer>,
    /// The variable that moves the base URL, for that hint.
    pub base_url_var: Option<&'a str>,
}

/// Why talking to the upstream failed. Each kind maps once to the Anthropic error Claude
/// Code gets ([`Failure::to_api_error`]) and to the recorded outcome
/// ([`Failure::outcome`]).
#[derive(Debug)]
pub enum Failure {
    /// Sending failed before any response (refused connection, DNS, TLS, connect timeout).
    Send(reqwest::Error),
    /// No response headers within the request timeout (`--timeout`).
    NoHeaders(Duration),
    /// The upstream went silent mid-answer for longer than `--idle-timeout` (streamed, or
    /// while reading a whole answer: our timeout, not a bad body).
    Idle(Duration),
    /// The upstream kept the stream busy (keep-alive comments, whitespace, empty chunks)
    /// without output Claude Code would see for longer than `--progress-timeout`.
    NoProgress(Duration),
    /// The body broke mid-answer (reset, truncated chunk).
    Body(reqwest::Error),
    /// A whole answer larger than anyclaude reads.
    TooLarge(usize),
    /// An error status; the dialect maps it ([`crate::dialect::Dialect::map_error`]) to
    /// `error`, given here.
    Status(ApiError),
    /// A success status whose body the dialect could not read; its error, given here.
    Undecodable(ApiError),
    /// anyclaude is shutting down; `answering` once the answer had started.
    Shutdown {
        /// Whether a stream to Claude Code had started.
        answering: bool,
    },
}

impl Target<'_> {
    /// A target known only by its provider's name (mid-stream, where the URL is not needed).
    pub fn named(provider: &str) -> Target<'_> {
        Target {
            provider,
            url: "",
            server: None,
            base_url_var: None,
        }
    }
}

impl Failure {
    /// The error Claude Code gets.
    pub fn to_api_error(&self, target: Target<'_>) -> ApiError {
        match self {
            Failure::Send(err) => send_error(err, target),
            Failure::NoHeaders(timeout) => {
                first_byte_timeout(target.provider, target.url, *timeout)
            }
            Failure::Idle(idle) => idle_timeout(target.provider, *idle),
            Failure::NoProgress(timeout) => ApiError::new(
                ErrorKind::Timeout,
                format!(
                    "{} sent no text, reasoning or tool call for {} mid-answer, only keep-alives or empty chunks (anyclaude --progress-timeout); the answer above is incomplete",
                    target.provider,
                    humantime::format_duration(*timeout)
                ),
            ),
            Failure::Body(err) => body_error(target.provider, err),
            Failure::TooLarge(limit) => ApiError::new(
                ErrorKind::Api,
                format!(
                    "{} answered with more than {} MiB, more than anyclaude reads for one answer",
                    target.provider,
                    limit / (1024 * 1024)
                ),
            ),
            Failure::Status(err) | Failure::Undecodable(err) => err.clone(),
            Failure::Shutdown { answering: true } => ApiError::new(
                ErrorKind::Overloaded,
                "anyclaude is shutting down; the answer above is incomplete",
            ),
            Failure::Shutdown { answering: false } => {
                ApiError::new(ErrorKind::Overloaded, "anyclaude is shutting down")
            }
        }
    }

    /// How the request is recorded (an error answered before any stream is `error`, but
    /// our own time-to-first-byte timeout is `request_timeout`).
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::NoHeaders(_) => Outcome::RequestTimeout,
            Failure::Idle(_) | Failure::NoProgress(_) => Outcome::IdleTimeout,
            Failure::Shutdown { answering: true } => Outcome::Shutdown,
            Failure::Shutdown { answering: false } | Failure::Send(_) | Failure::Status(_) => {
                Outcome::Error
            }
            Failure::Body(_) | Failure::TooLarge(_) | Failure::Undecodable(_) => {
                Outcome::UpstreamError
            }
        }
    }
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
        server,
        base_url_var,
    } = target;
    if err.is_connect() {
        let cause = root_cause(err);
        let hint = match server {
            Some(LocalServer { name, start, .. }) => format!(
                " Is {name} running? Start it ({start}), or point {} at where it listens.",
                base_url_var.unwrap_or("the base URL")
            ),
            None => String::new(),
        };
        let err = ApiError::new(
            ErrorKind::Overloaded,
            format!("anyclaude could not connect to {provider} at {url}: {cause}.{hint}"),
        );
        // Nothing listens on a local server's port: retrying for minutes cannot start it,
        // so Claude Code shows the message (with the command that starts it) at once.
        return if server.is_some() {
            err.not_retried()
        } else {
            err
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_maps_once_to_an_error_and_an_outcome() {
        let target = Target::named("openai");
        let idle = Failure::Idle(Duration::from_secs(300));
        assert_eq!(idle.to_api_error(target).kind, ErrorKind::Timeout);
        assert!(idle.to_api_error(target).message.contains("--idle-timeout"));
        assert_eq!(idle.outcome(), Outcome::IdleTimeout);
        let no_headers = Failure::NoHeaders(Duration::from_secs(5));
        assert_eq!(no_headers.to_api_error(target).kind, ErrorKind::Timeout);
        assert_eq!(no_headers.outcome(), Outcome::RequestTimeout);
        let status = Failure::Status(ApiError::new(ErrorKind::RateLimit, "slow"));
        assert_eq!(status.to_api_error(target).kind, ErrorKind::RateLimit);
        assert_eq!(status.outcome(), Outcome::Error);
        let bad = Failure::Undecodable(ApiError::new(ErrorKind::Api, "not a completion"));
        assert_eq!(bad.outcome(), Outcome::UpstreamError);
        assert_eq!(Failure::TooLarge(1 << 20).outcome(), Outcome::UpstreamError);
        let mid = Failure::Shutdown { answering: true };
        assert_eq!(mid.outcome(), Outcome::Shutdown);
        assert!(mid.to_api_error(target).message.contains("incomplete"));
        assert_eq!(
            Failure::Shutdown { answering: false }.outcome(),
            Outcome::Error
        );
    }
}

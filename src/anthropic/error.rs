//! Anthropic's error vocabulary: the `error.type` values Claude Code understands, the HTTP
//! status that goes with each, and the one JSON shape every error we produce takes:
//! `{"type":"error","error":{"type":…,"message":…}}`.

use std::fmt;

/// The `error.type` values of the Anthropic API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400, and other 4xx without a type of their own.
    InvalidRequest,
    /// 401.
    Authentication,
    /// 402.
    Billing,
    /// 403.
    Permission,
    /// 404.
    NotFound,
    /// 413.
    RequestTooLarge,
    /// 429.
    RateLimit,
    /// 500.
    Api,
    /// 504.
    Timeout,
    /// 529.
    Overloaded,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::Billing,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RequestTooLarge,
        ErrorKind::RateLimit,
        ErrorKind::Api,
        ErrorKind::Timeout,
        ErrorKind::Overloaded,
    ];

    /// The kind with this wire name, e.g. `rate_limit_error`.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The wire name, e.g. `invalid_request_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Billing => "billing_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Api => "api_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Overloaded => "overloaded_error",
        }
    }

    /// The HTTP status Anthropic answers with for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Billing => 402,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimit => 429,
            ErrorKind::Api => 500,
            ErrorKind::Timeout => 504,
            ErrorKind::Overloaded => 529,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error on its way to Claude Code, as an HTTP response before the stream started or as an
/// `event: error` after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What kind of error, which also fixes the HTTP status.
    pub kind: ErrorKind,
    /// The message Claude Code shows the user.
    pub message: String,
    /// A `retry-after` value to pass on (seconds or an HTTP date), for 429 and 529.
    pub retry_after: Option<String>,
    /// Whether Claude Code should retry, when that differs from what the status says (it
    /// reads `x-should-retry` before its status rules): `Some(false)` where a retry cannot
    /// help although the status is a 5xx (nothing listens on a local server's port).
    pub should_retry: Option<bool>,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            retry_after: None,
            should_retry: None,
        }
    }

    /// This error, telling Claude Code not to retry it (`x-should-retry: false`) whatever
    /// its status.
    pub fn not_retried(mut self) -> Self {
        self.should_retry = Some(false);
        self
    }

    /// Whether Claude Code should retry this error: [`should_retry`](Self::should_retry)
    /// when set, else by status as Anthropic's SDK does (408, 409, 429 and every 5xx).
    pub fn retryable(&self) -> bool {
        self.should_retry
            .unwrap_or_else(|| matches!(self.status(), 408 | 409 | 429) || self.status() >= 500)
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The error's JSON body: `{"type":"error","error":{"type":…,"message":…}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "error",
            "error": { "type": self.kind.as_str(), "message": self.message },
        })
    }

    /// Reads an error in Anthropic's shape (`{"type":"error","error":{"type","message"}}`);
    /// `None` when the body is not one.
    pub fn from_anthropic_body(body: &[u8]) -> Option<ApiError> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error")?;
        let kind = ErrorKind::from_name(error.get("type")?.as_str()?)?;
        let message = error.get("message")?.as_str()?;
        Some(ApiError::new(kind, message))
    }

    /// The error's JSON body as a string.
    pub fn body_string(&self) -> String {
        self.body().to_string()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_anthropic_shape() {
        let err = ApiError::new(ErrorKind::RateLimit, "slow down");
        assert_eq!(err.status(), 429);
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("stream_error"), None);
        assert_eq!(
            ApiError::from_anthropic_body(err.body_string().as_bytes()),
            Some(err.clone())
        );
        assert_eq!(ApiError::from_anthropic_body(b"{}"), None);
        assert!(err.retryable());
        assert!(!err.clone().not_retried().retryable());
        assert!(ApiError::new(ErrorKind::Overloaded, "busy").retryable());
        assert!(!ApiError::new(ErrorKind::InvalidRequest, "bad").retryable());
        assert_eq!(
            err.body_string(),
            r#"{"error":{"message":"slow down","type":"rate_limit_error"},"type":"error"}"#
        );
    }
}

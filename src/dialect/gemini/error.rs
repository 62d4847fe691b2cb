//! Gemini's errors → Anthropic's: an error status before the answer starts
//! ([`status_error`]) and an `{"error":…}` event inside a stream or body ([`stream_error`]).
//!
//! Gemini's body is `{"error":{"code","message","status","details"}}`. The kind follows the
//! canonical `status` (or the HTTP code): `INVALID_ARGUMENT`/`FAILED_PRECONDITION`/
//! `OUT_OF_RANGE` → `invalid_request_error` (400), `UNAUTHENTICATED` → 401, and a 400 whose
//! reason is `API_KEY_INVALID` ("API key not valid") also → `authentication_error`, so the
//! user is told to fix the key rather than the request; `PERMISSION_DENIED` → 403,
//! `NOT_FOUND` → 404 (usually a wrong model name), `RESOURCE_EXHAUSTED` → 429 with the
//! `retry-after` header or the `RetryInfo` delay, `INTERNAL` → 500, `UNAVAILABLE` → 529
//! `overloaded_error` (Claude Code retries it), `DEADLINE_EXCEEDED` → 504. A prompt over the
//! model's context ("The input token count (N) exceeds the maximum number of tokens allowed
//! (M)") is reported in Anthropic's words, `prompt is too long: N tokens > M maximum`, which
//! is what makes Claude Code compact the conversation.

use crate::anthropic::{ApiError, ErrorKind};
use crate::dialect::chat::response::snippet;

use super::wire::ErrorBody;

/// Longest upstream message carried into an error, in characters.
const MAX_MESSAGE_CHARS: usize = 2000;
/// Longest excerpt of a body that is not a Gemini error, in characters.
const MAX_SNIPPET_CHARS: usize = 200;

/// The Anthropic error kind for a Gemini canonical status, if it is one.
fn kind_for_status_name(status: &str) -> Option<ErrorKind> {
    Some(match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::Permission,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorKind::Api,
        "UNAVAILABLE" | "ABORTED" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" | "CANCELLED" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The Anthropic error kind for an HTTP status.
fn kind_for_code(code: u16) -> ErrorKind {
    match code {
        401 => ErrorKind::Authentication,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::RequestTooLarge,
        429 => ErrorKind::RateLimit,
        408 | 504 => ErrorKind::Timeout,
        500 => ErrorKind::Api,
        501..=599 => ErrorKind::Overloaded,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Api,
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Whether the error says the API key is wrong.
fn bad_key(err: &ErrorBody) -> bool {
    err.error.message.contains("API key not valid")
        || err.error.details.iter().any(|d| {
            d.get("reason")
                .and_then(|r| r.as_str())
                .is_some_and(|r| r == "API_KEY_INVALID")
        })
}

/// `prompt is too long: N tokens > M maximum` for Gemini's context-overflow message.
fn context_overflow(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    if !lower.contains("input token count") || !lower.contains("exceeds") {
        return None;
    }
    let numbers: Vec<u64> = message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    Some(match numbers.as_slice() {
        [n, m, ..] => format!("prompt is too long: {n} tokens > {m} maximum"),
        _ => format!(
            "prompt is too long: {}",
            truncate(message, MAX_MESSAGE_CHARS)
        ),
    })
}

/// The kind and message for a parsed error.
fn classify(err: &ErrorBody, http: Option<u16>) -> (ErrorKind, String) {
    let e = &err.error;
    let message = truncate(e.message.trim(), MAX_MESSAGE_CHARS);
    if let Some(overflow) = context_overflow(&e.message) {
        return (ErrorKind::InvalidRequest, overflow);
    }
    let kind = if bad_key(err) {
        ErrorKind::Authentication
    } else if let Some(kind) = e.status.as_deref().and_then(kind_for_status_name) {
        kind
    } else {
        kind_for_code(e.code.or(http).unwrap_or(500))
    };
    let label = match (e.code.or(http), e.status.as_deref()) {
        (Some(code), Some(status)) => format!("{code} {status}"),
        (Some(code), None) => code.to_string(),
        (None, Some(status)) => status.to_owned(),
        (None, None) => "error".to_owned(),
    };
    let message = if message.is_empty() {
        format!("Gemini {label} without a message")
    } else {
        format!("Gemini {label}: {message}")
    };
    (kind, message)
}

/// The Anthropic error for a Gemini error status and (the start of) its body.
pub fn status_error(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    let mut err = match ErrorBody::parse(body) {
        Some(parsed) => {
            let (kind, message) = classify(&parsed, Some(status));
            let mut err = ApiError::new(kind, message);
            if matches!(kind, ErrorKind::RateLimit | ErrorKind::Overloaded) {
                err.retry_after = parsed.retry_delay_secs().map(|s| s.to_string());
            }
            err
        }
        None => {
            let text = String::from_utf8_lossy(body);
            let message = if text.trim().is_empty() {
                format!("Gemini HTTP {status} with an empty body")
            } else {
                format!(
                    "Gemini HTTP {status}: {}",
                    snippet(&text, MAX_SNIPPET_CHARS)
                )
            };
            ApiError::new(kind_for_code(status), message)
        }
    };
    if matches!(err.kind, ErrorKind::RateLimit | ErrorKind::Overloaded)
        && let Some(header) = retry_after.map(str::trim).filter(|s| !s.is_empty())
    {
        err.retry_after = Some(header.to_owned());
    }
    err
}

/// The Anthropic error for an `{"error":…}` Gemini sent inside a 200 (mid-stream or as the
/// whole body).
pub fn stream_error(err: &ErrorBody) -> ApiError {
    let (kind, message) = classify(err, None);
    if kind == ErrorKind::InvalidRequest && message.starts_with("prompt is too long") {
        return ApiError::new(kind, message);
    }
    ApiError::new(kind, format!("{message} (mid-answer)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(code: u16, status: &str, message: &str) -> Vec<u8> {
        json!({"error": {"code": code, "message": message, "status": status}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn statuses_map_to_anthropic_kinds() {
        for (code, status, kind) in [
            (400, "INVALID_ARGUMENT", ErrorKind::InvalidRequest),
            (400, "FAILED_PRECONDITION", ErrorKind::InvalidRequest),
            (401, "UNAUTHENTICATED", ErrorKind::Authentication),
            (403, "PERMISSION_DENIED", ErrorKind::Permission),
            (404, "NOT_FOUND", ErrorKind::NotFound),
            (429, "RESOURCE_EXHAUSTED", ErrorKind::RateLimit),
            (500, "INTERNAL", ErrorKind::Api),
            (503, "UNAVAILABLE", ErrorKind::Overloaded),
            (504, "DEADLINE_EXCEEDED", ErrorKind::Timeout),
        ] {
            let err = status_error(code, &body(code, status, "m"), None);
            assert_eq!(err.kind, kind, "{status}");
            assert_eq!(err.message, format!("Gemini {code} {status}: m"));
        }
    }

    #[test]
    fn a_bad_key_is_an_authentication_error() {
        let b = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}});
        let err = status_error(400, b.to_string().as_bytes(), None);
        assert_eq!(err.kind, ErrorKind::Authentication);
        assert!(err.message.contains("API key not valid"), "{}", err.message);
    }

    #[test]
    fn rate_limits_carry_a_retry_delay() {
        let b = json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}});
        let err = status_error(429, b.to_string().as_bytes(), None);
        assert_eq!(err.retry_after.as_deref(), Some("7"));
        let err = status_error(429, b.to_string().as_bytes(), Some("3"));
        assert_eq!(err.retry_after.as_deref(), Some("3"), "the header wins");
        let err = status_error(400, &body(400, "INVALID_ARGUMENT", "x"), Some("3"));
        assert_eq!(err.retry_after, None);
    }

    #[test]
    fn context_overflow_in_anthropic_words() {
        let msg = "The input token count (1234567) exceeds the maximum number of tokens allowed (1048576).";
        let err = status_error(400, &body(400, "INVALID_ARGUMENT", msg), None);
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(
            err.message,
            "prompt is too long: 1234567 tokens > 1048576 maximum"
        );
    }

    #[test]
    fn bodies_that_are_not_gemini_errors() {
        let err = status_error(502, b"<html><body>Bad Gateway</body></html>", None);
        assert_eq!(err.kind, ErrorKind::Overloaded);
        assert_eq!(err.message, "Gemini HTTP 502: Bad Gateway");
        let err = status_error(500, b"", None);
        assert_eq!(err.message, "Gemini HTTP 500 with an empty body");
        let arr = br#"[{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}]"#;
        assert_eq!(status_error(503, arr, None).kind, ErrorKind::Overloaded);
    }

    #[test]
    fn errors_inside_a_stream() {
        let parsed =
            ErrorBody::parse(&body(500, "INTERNAL", "An internal error has occurred.")).unwrap();
        let err = stream_error(&parsed);
        assert_eq!(err.kind, ErrorKind::Api);
        assert_eq!(
            err.message,
            "Gemini 500 INTERNAL: An internal error has occurred. (mid-answer)"
        );
    }
}

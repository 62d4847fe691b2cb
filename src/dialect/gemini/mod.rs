//! The Gemini native dialect: `gemini/<model>` → `POST
//! {base}/models/{model}:streamGenerateContent?alt=sse` (or `:generateContent` when Claude
//! Code does not stream), the key in `x-goog-api-key` (the preset's data in
//! [`crate::provider`]).
//!
//! - [`wire`]: the request and response types as the API sends them;
//! - [`schema`]: tool schemas → the OpenAPI subset function declarations accept;
//! - [`request`]: the neutral conversation → a `GenerateContentRequest`;
//! - [`stream`]: the answer (streamed or whole) → the Anthropic writer;
//! - [`error`]: Gemini's errors → Anthropic's.

pub mod error;
pub mod request;
pub mod schema;
pub mod stream;
pub mod wire;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::anthropic::{ApiError, ErrorKind};
use crate::conversation::Conversation;
use crate::provider::encode_path_segment;

use super::{Dialect, Inbound, Outbound, Prepared};

/// The Gemini dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gemini;

/// The path of a model's method, the model percent-encoded as one path segment (a leading
/// `models/`, as Google's own examples write it, is accepted and not doubled).
pub fn method_path(model: &str, stream: bool) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let model = encode_path_segment(model);
    if stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    }
}

impl Dialect for Gemini {
    fn prepare(&self, inbound: Inbound<'_>) -> Result<Prepared, ApiError> {
        let conv = Conversation::from_request(inbound.request)?;
        let route = inbound.route;
        let encoded = request::encode(&conv, &route.model);
        let body = serde_json::to_vec(&encoded.body).map_err(|e| {
            ApiError::new(
                ErrorKind::Api,
                format!("could not encode the Gemini request: {e}"),
            )
        })?;
        let mut headers = Vec::new();
        if let Some((name, value)) = route.auth_header() {
            let value = HeaderValue::from_str(&value).map_err(|_| {
                ApiError::new(
                    ErrorKind::Authentication,
                    "the Gemini API key contains characters a header cannot carry",
                )
            })?;
            headers.push((HeaderName::from_static(name), value));
        }
        Ok(Prepared {
            outbound: Outbound {
                url: route.url(&method_path(&route.model, conv.stream == Some(true))),
                headers,
                body: Bytes::from(body),
                dropped: conv.dropped,
            },
            decoder: Box::new(stream::GeminiDecoder::new(encoded.tool_names)),
        })
    }

    fn map_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
        error::status_error(status, body, retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_are_percent_encoded() {
        assert_eq!(
            method_path("gemini-2.5-pro", true),
            "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            method_path("models/gemini-2.5-flash", false),
            "/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            method_path("tuned/my model?x", false),
            "/models/tuned%2Fmy%20model%3Fx:generateContent"
        );
    }
}

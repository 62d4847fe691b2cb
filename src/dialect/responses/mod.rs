//! The OpenAI Responses API dialect (`POST <base>/responses`): what OpenAI's gpt-5 family
//! (`gpt-5-codex` included) and o-series models are routed to, and any OpenAI-compatible
//! host when its `ANYCLAUDE_<PROVIDER>_API` says `responses` (see
//! [`crate::registry::Provider::api_override_var`]).
//!
//! Layout: [`wire`] (the request, stream events and response object), [`encode`] (the
//! request from the neutral [`Conversation`]), [`decode`] (the answer, streamed or whole,
//! into the [`Writer`]). Errors answered with an HTTP status have the same shape as Chat's
//! (`{"error":{message,type,param,code}}`) and are mapped the same way.
//!
//! Stateless by design: every request carries the whole conversation with `store: false`;
//! the model's encrypted reasoning travels through Claude Code inside thinking-block
//! signatures tagged `responses@<provider>`, and is sent back only to that provider.

pub mod decode;
pub mod encode;
pub mod wire;

use bytes::Bytes;

use super::chat::auth_headers;
use super::chat::wire_response::ErrorObject;
use super::{Dialect, Inbound, Outbound, Prepared};
use crate::anthropic::ApiError;
use crate::conversation::Conversation;
use crate::registry::Route;

use self::decode::{DecodeContext, ResponsesDecoder};

/// The Responses dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Responses;

/// The path of the endpoint, after the base URL.
pub const PATH: &str = "/responses";

/// The tag of the signature envelopes carrying this route's encrypted reasoning: the
/// reasoning goes back only to the provider that made it.
pub fn signature_tag(route: &Route) -> String {
    format!("responses@{}", route.provider.name.to_ascii_lowercase())
}

impl Dialect for Responses {
    fn prepare(&self, inbound: Inbound<'_>) -> Result<Prepared, ApiError> {
        let route = inbound.route;
        let conversation = Conversation::from_request(inbound.request)?;
        let tag = signature_tag(route);
        let encoded = encode::encode(&conversation, &route.model, &tag)?;
        let body =
            Bytes::from(serde_json::to_vec(&encoded.body).expect("a request serialises to JSON"));
        Ok(Prepared {
            outbound: Outbound {
                url: route.url(PATH),
                headers: auth_headers(route),
                body,
                dropped: encoded.dropped,
            },
            decoder: Box::new(ResponsesDecoder::new(DecodeContext {
                tool_names: encoded.tool_names,
                signature_tag: tag,
            })),
        })
    }

    fn map_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
        let mut err = super::chat::response::upstream_error(status, body, retry_after);
        if needs_verification(&err.message) {
            err.message.push_str(SUMMARY_HINT);
        } else if status == 404 && no_such_endpoint(body) {
            err.message.push_str(ENDPOINT_HINT);
        }
        err
    }
}

/// What to do when the server has no `/responses` endpoint.
const ENDPOINT_HINT: &str = " (the server may not offer the Responses API at /responses: set ANYCLAUDE_<PROVIDER>_API=chat, e.g. ANYCLAUDE_OPENAI_API=chat, to use Chat Completions)";

/// Whether a 404 says the path does not exist (rather than, say, the model): no error
/// object, or one that only says "not found".
fn no_such_endpoint(body: &[u8]) -> bool {
    match ErrorObject::from_body(body) {
        None => true,
        Some(obj) => obj
            .message
            .as_deref()
            .is_none_or(|m| m.trim().eq_ignore_ascii_case("not found")),
    }
}

/// What to do when OpenAI refuses reasoning summaries to an unverified organization.
const SUMMARY_HINT: &str = " (anyclaude asks for reasoning summaries to show the model's thinking; verify the organization, or set ANYCLAUDE_OPENAI_API=chat to use Chat Completions instead)";

/// Whether an error says the organization must be verified for reasoning summaries.
fn needs_verification(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("verified") && lower.contains("summar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_like_chat_with_a_hint_for_unverified_organizations() {
        let body = br#"{"error":{"message":"Your organization must be verified to generate reasoning summaries. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.","type":"invalid_request_error","param":"reasoning.summary","code":"unsupported_value"}}"#;
        let err = Responses.map_error(400, body, None);
        assert_eq!(err.kind, crate::anthropic::ErrorKind::InvalidRequest);
        assert!(err.message.contains("must be verified"), "{}", err.message);
        assert!(err.message.ends_with(SUMMARY_HINT), "{}", err.message);
        let err = Responses.map_error(
            429,
            br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
            Some("2"),
        );
        assert_eq!(err.kind, crate::anthropic::ErrorKind::RateLimit);
        assert_eq!(err.retry_after.as_deref(), Some("2"));
        assert!(!err.message.contains("ANYCLAUDE_OPENAI_API"));
        // A server without the endpoint, versus a model that does not exist.
        for body in [
            &b"<html>404 page not found</html>"[..],
            br#"{"detail":"Not Found"}"#,
            b"",
        ] {
            let err = Responses.map_error(404, body, None);
            assert_eq!(err.kind, crate::anthropic::ErrorKind::NotFound);
            assert!(err.message.ends_with(ENDPOINT_HINT), "{}", err.message);
        }
        let err = Responses.map_error(
            404,
            br#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#,
            None,
        );
        assert!(
            err.message.contains("gpt-9") && !err.message.contains("ANYCLAUDE"),
            "{}",
            err.message
        );
    }
}

//! The OpenAI Responses API dialect (`POST <base>/responses`): what OpenAI's gpt-5 family
//! (`gpt-5-codex` included) and o-series models are routed to, and any OpenAI-compatible
//! host when its `ANYCLAUDE_<PROVIDER>_API` says `responses` (see
//! [`crate::provider::route`]).
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
use super::{Dialect, Inbound, Outbound, Prepared};
use crate::anthropic::ApiError;
use crate::conversation::Conversation;
use crate::provider::Route;

use self::decode::{DecodeContext, ResponsesDecoder};

/// The Responses dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Responses;

/// The path of the endpoint, after the base URL.
pub const PATH: &str = "/responses";

/// The tag of the signature envelopes carrying this route's encrypted reasoning: the
/// reasoning goes back only to the provider that made it.
pub fn signature_tag(route: &Route) -> String {
    format!("responses@{}", route.preset.name.to_ascii_lowercase())
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
        super::chat::response::upstream_error(status, body, retry_after)
    }
}

//! The OpenAI Chat Completions dialect (`openai/…`, `ollama/…` and every other Chat
//! preset): [`request`] encodes Claude Code's request, [`stream`] and [`response`] read the
//! answer (streamed or whole) into the [`Writer`], [`response::upstream_error`] maps error
//! answers. [`wire_request`] and [`wire_response`] are the Chat wire types, lenient on what
//! backends send back (unknown fields ignored, unknown enum values kept) and strict on what
//! we send.

pub mod request;
pub mod response;
pub mod stream;
pub mod wire_request;
pub mod wire_response;

use http::{HeaderName, HeaderValue};

use super::{AnswerDecoder, Dialect, Inbound, Outbound, Prepared, Whole};
use crate::anthropic::ApiError;
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::Writer;
use crate::translate::tool_names::ToolNames;

use self::stream::ChatStream;

/// The Chat Completions dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chat;

impl Dialect for Chat {
    fn prepare(&self, inbound: Inbound<'_>) -> Result<Prepared, ApiError> {
        let route = inbound.route;
        let plan = request::to_chat(inbound.request, &route.model, &route.provider.profile)?;
        let body = plan.to_bytes();
        Ok(Prepared {
            outbound: Outbound {
                url: route.chat_url(),
                headers: auth_headers(route),
                body,
                dropped: plan.dropped,
            },
            decoder: Box::new(ChatAnswer::new(plan.tool_names)),
        })
    }

    fn map_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
        response::upstream_error(status, body, retry_after)
    }
}

/// The route's auth header, as a header pair (none when the route has no key, or when the
/// key cannot be a header value, which sending would fail on anyway).
pub fn auth_headers(route: &crate::registry::Route) -> Vec<(HeaderName, HeaderValue)> {
    route
        .auth_header()
        .and_then(|(name, value)| {
            let mut value = HeaderValue::from_str(&value).ok()?;
            value.set_sensitive(true);
            Some((HeaderName::from_static(name), value))
        })
        .into_iter()
        .collect()
}

/// A Chat answer, streamed ([`ChatStream`]) or whole ([`response::chat_completion_into`]).
#[derive(Debug)]
pub struct ChatAnswer {
    stream: ChatStream,
    /// A whole answer carried its `usage`.
    whole_usage: bool,
}

impl ChatAnswer {
    /// The decoder for an answer to a request whose tool names were shortened as
    /// `tool_names` says.
    pub fn new(tool_names: ToolNames) -> Self {
        ChatAnswer {
            stream: ChatStream::new(tool_names),
            whole_usage: false,
        }
    }
}

impl AnswerDecoder for ChatAnswer {
    fn push(&mut self, bytes: &[u8], w: &mut Writer) {
        self.stream.push(bytes, w);
    }

    fn finish(&mut self, w: &mut Writer) {
        self.stream.finish(w);
    }

    fn whole(&mut self, body: &[u8], w: &mut Writer) -> Whole {
        response::chat_completion_into(body, self.stream.tool_names(), w);
        #[derive(serde::Deserialize)]
        struct UsageOnly {
            usage: Option<serde::de::IgnoredAny>,
        }
        self.whole_usage =
            serde_json::from_slice::<UsageOnly>(body).is_ok_and(|b| b.usage.is_some());
        Whole::Folded
    }

    fn usage(&self, w: &Writer) -> Usage {
        self.stream.usage(w)
    }

    fn usage_reported(&self) -> bool {
        self.whole_usage || self.stream.usage_reported()
    }
}

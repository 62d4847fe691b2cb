//! The OpenAI Chat Completions dialect (`openai/…`, `ollama/…` and every other Chat
//! preset): [`request`] encodes Claude Code's request, [`stream`] and [`response`] read the
//! answer (streamed or whole) into the [`Writer`], [`response::upstream_error`] maps error
//! answers, [`text_tools`] recovers tool calls a model wrote as text. [`wire_request`] and [`wire_response`] are the Chat wire types, lenient on what
//! backends send back (unknown fields ignored, unknown enum values kept) and strict on what
//! we send.

pub mod request;
pub mod response;
pub mod stream;
pub mod text_tools;
pub mod wire_request;
pub mod wire_response;

use http::{HeaderName, HeaderValue};

use super::{AnswerDecoder, Dialect, Inbound, Outbound, Prepared, Whole};
use crate::anthropic::ApiError;
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::Writer;
use crate::registry::ToolCallFormat;
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
        let mut answer = ChatAnswer::new(plan.tool_names.clone());
        // Tool calls written as text are recovered when the model spec says it writes
        // them so, or (`auto`, the default) when the provider's models usually do (local
        // servers without a tool-call parser); never for `native`.
        let recover = match inbound.tool_call_format {
            ToolCallFormat::Text => true,
            ToolCallFormat::Auto => route.provider.profile.text_tool_calls,
            ToolCallFormat::Native => false,
        };
        if recover && let Some(tools) = &plan.body.tools {
            answer =
                answer.with_text_tools(tools.iter().map(|t| t.function.name.clone()).collect());
        }
        Ok(Prepared {
            outbound: Outbound {
                url: route.chat_url(),
                headers: auth_headers(route),
                body,
                dropped: plan.dropped,
            },
            decoder: Box::new(answer),
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
    /// The tools whose calls are recovered from the text of a whole answer, when enabled.
    text_tools: Option<Vec<String>>,
}

impl ChatAnswer {
    /// The decoder for an answer to a request whose tool names were shortened as
    /// `tool_names` says.
    pub fn new(tool_names: ToolNames) -> Self {
        ChatAnswer {
            stream: ChatStream::new(tool_names),
            whole_usage: false,
            text_tools: None,
        }
    }

    /// Also recovers tool calls to the tools named `known` that the model writes as text
    /// (see [`text_tools`]).
    pub fn with_text_tools(mut self, known: Vec<String>) -> Self {
        self.stream = self.stream.with_text_tools(known.clone());
        self.text_tools = Some(known);
        self
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
        let recovered = self
            .text_tools
            .take()
            .and_then(|known| text_tools::recover_in_completion(body, known));
        let body = recovered.as_deref().unwrap_or(body);
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

    fn server_prompt_tokens(&self) -> Option<u64> {
        self.stream.server_prompt_tokens()
    }
}

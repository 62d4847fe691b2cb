//! Upstream dialects: the wire protocols anyclaude speaks to providers, behind one small
//! trait so that the server has a single `forward` for all of them.
//!
//! A dialect lives in its own folder (`src/dialect/<name>/`) and implements [`Dialect`]:
//!
//! 1. [`Dialect::prepare`] turns Claude Code's request ([`Inbound`]: the parsed request,
//!    the raw body and headers, the [`Route`]) into the upstream request ([`Outbound`]:
//!    URL, headers including auth, body bytes) plus an [`AnswerDecoder`] that carries
//!    whatever the answer's translation needs (tool-name maps, call ids, …). Translated
//!    dialects start from [`Conversation::from_request`](crate::conversation::Conversation::from_request)
//!    and only encode it; the URL and auth header come from [`Route::url`] and
//!    [`Route::auth_header`], which follow the preset's data.
//! 2. The [`AnswerDecoder`] is pure: upstream bytes in, [`Writer`] calls out. For a stream,
//!    the server calls [`start`](AnswerDecoder::start), [`push`](AnswerDecoder::push) for
//!    every piece of the body (split anywhere) and [`finish`](AnswerDecoder::finish) at its
//!    end; transport failures (idle, reset, shutdown) go to [`Writer::fail`] directly. For a
//!    non-streamed answer it calls [`whole`](AnswerDecoder::whole) with the complete body
//!    and a [`Writer::message`] writer: the same events, folded into the typed message.
//!    A decoder must end the writer (`finish` or `fail`) by the end of `finish`/`whole`.
//! 3. [`Dialect::map_error`] turns an upstream error status and body into Anthropic's
//!    error shape (kind by status, the provider's message, `retry-after` for 429/529).
//!
//! What the writer handles for every dialect: `message_start` (id, client model, estimated
//! input tokens: read them from [`Writer::head`]), block indexes, closing blocks, signing
//! thinking (ours unless the decoder calls [`Writer::thinking_signature`] with a
//! [`Signature`](signature::Signature) envelope of its provider's state), the ending. A
//! decoder still owns: tool-call ids (valid for Anthropic, unique per message; see
//! [`crate::dialect::chat::response`] helpers), tool names mapped back, the stop reason and the
//! final usage passed to [`Writer::finish`] (cumulative; `input_tokens` without cached
//! tokens).
//!
//! Dialect code never imports `server/`.

pub mod anthropic;
pub mod chat;
pub mod gemini;
pub mod responses;
pub mod signature;
#[cfg(test)]
pub(crate) mod testing;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::anthropic::ApiError;
use crate::anthropic::request::MessagesRequest;
use crate::anthropic::stream::Usage;
use crate::anthropic::writer::Writer;
use crate::registry::{Route, ToolCallFormat};

/// Claude Code's request as a dialect sees it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The parsed request.
    pub request: &'a MessagesRequest,
    /// The raw body, as Claude Code sent it (for pass-through).
    pub raw: &'a Bytes,
    /// The query string of Claude Code's request (`beta=true`), if any.
    pub query: Option<&'a str>,
    /// Claude Code's headers (only protocol headers may be copied: never its credentials).
    pub headers: &'a HeaderMap,
    /// Where the request goes.
    pub route: &'a Route,
    /// How the model writes its tool calls (its model spec's; `auto` when it has none).
    pub tool_call_format: ToolCallFormat,
}

/// The upstream request a dialect prepared.
#[derive(Debug)]
pub struct Outbound {
    /// The full URL.
    pub url: String,
    /// Headers to send, auth included (`content-type: application/json` is added by the
    /// server).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The JSON body.
    pub body: Bytes,
    /// What was not forwarded, for the debug log.
    pub dropped: Vec<String>,
}

/// A prepared request: what to send, and how to read the answer.
pub struct Prepared {
    /// The upstream request.
    pub outbound: Outbound,
    /// The decoder for its answer.
    pub decoder: Box<dyn AnswerDecoder>,
}

/// How a non-streamed answer came out of [`AnswerDecoder::whole`].
#[derive(Debug)]
pub enum Whole {
    /// Folded through the writer (the normal case).
    Folded,
    /// A body to answer with as it is (only the Anthropic pass-through, whose answer is
    /// already an Anthropic message), with its usage.
    Raw(Vec<u8>, Usage),
}

/// Reads one upstream answer into a [`Writer`]. Pure and synchronous.
pub trait AnswerDecoder: Send + 'static {
    /// Writes the stream's opening. The default is [`Writer::start`]; a pass-through that
    /// forwards the upstream's own `message_start` writes nothing.
    fn start(&mut self, w: &mut Writer) {
        w.start();
    }
    /// Feeds one piece of a streamed body, split anywhere.
    fn push(&mut self, bytes: &[u8], w: &mut Writer);
    /// The streamed body ended: finish the answer, or fail it if it was not complete.
    fn finish(&mut self, w: &mut Writer);
    /// A complete non-streamed body: write the whole answer and end it.
    fn whole(&mut self, body: &[u8], w: &mut Writer) -> Whole;
    /// The best usage figure so far (upstream counts where known, else estimates), for
    /// the record of a stream that did not finish. Once finished, the writer's final usage
    /// is used instead.
    fn usage(&self, w: &Writer) -> Usage;
    /// Whether the upstream reported its own token counts (otherwise [`AnswerDecoder::usage`]
    /// holds our estimates), for the usage summary.
    fn usage_reported(&self) -> bool {
        false
    }
    /// The prompt tokens the server itself counted for this request (cached ones
    /// included), once its answer said; `None` when it did not (the default).
    fn server_prompt_tokens(&self) -> Option<u64> {
        None
    }
}

/// The implementation of a preset's dialect. Adding a dialect: a variant of
/// [`provider::Dialect`](crate::provider::Dialect), its folder here, and one arm below.
pub fn of(kind: crate::provider::Dialect) -> &'static dyn Dialect {
    use crate::provider::Dialect as Kind;
    match kind {
        Kind::Anthropic => &anthropic::Anthropic,
        Kind::OpenAiChat => &chat::Chat,
        Kind::Gemini => &gemini::Gemini,
        Kind::OpenAiResponses => &responses::Responses,
    }
}

/// An upstream wire protocol.
pub trait Dialect: Send + Sync + 'static {
    /// Prepares the upstream request for `inbound`. Errors are answered to Claude Code as
    /// they are (a 400 for content the backend cannot take).
    fn prepare(&self, inbound: Inbound<'_>) -> Result<Prepared, ApiError>;
    /// The Anthropic error for an upstream error status and (the start of) its body.
    fn map_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError;
    /// Whether the answer needs the estimated input tokens (for `message_start` and when the
    /// backend reports no usage). A pass-through whose upstream reports its own says no,
    /// and skips the estimate's cost.
    fn estimates_input(&self) -> bool {
        true
    }
}

//! Wire types of the Anthropic Messages API: the requests Claude Code sends
//! ([`request`]), the stream events we send back ([`stream`]), the one writer that
//! produces them ([`writer`]) and the error shape ([`error`]). No I/O here.

pub mod error;
pub mod request;
pub mod stream;
pub mod writer;

pub use error::{ApiError, ErrorKind};

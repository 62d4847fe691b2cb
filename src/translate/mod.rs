//! Pure, synchronous translation between the Anthropic Messages API and upstream dialects.
//! Nothing here touches a socket, a process or the clock.

pub mod bpe;
pub mod request;
pub mod response;
pub mod signature;
pub mod stream;
pub mod tokens;
pub mod tool_names;

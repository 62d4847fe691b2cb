//! Pure, synchronous helpers every dialect shares: token estimates ([`tokens`], [`bpe`]),
//! tool-name shortening and id sanitising ([`tool_names`]), our thinking signature
//! ([`signature`]). Nothing here touches a socket, a process or the clock. The Chat
//! Completions translation itself lives in [`crate::dialect::chat`].

pub mod bpe;
pub mod signature;
pub mod tokens;
pub mod tool_names;

//! Wire types of the OpenAI Chat Completions API, lenient on what backends send back
//! (unknown fields ignored, unknown enum values kept) and strict on what we send.

pub mod request;
pub mod response;

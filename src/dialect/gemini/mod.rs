//! The Gemini native dialect (`generateContent` / `streamGenerateContent?alt=sse`).
//!
//! - [`wire`]: the request and response types as the API sends them;
//! - [`schema`]: tool schemas → the OpenAPI subset function declarations accept.

pub mod schema;
pub mod wire;

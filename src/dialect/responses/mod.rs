//! The OpenAI Responses API dialect (`POST {base}/responses`), for the OpenAI models that
//! need it (the gpt-5 family, `gpt-5-codex`, the o-series).
//!
//! Layout: [`wire`] (the request, stream events and response object as sent and read).

pub mod wire;

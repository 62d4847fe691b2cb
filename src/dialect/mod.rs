//! Upstream dialects.

pub mod gemini;

//! Upstream dialects: one folder per wire protocol anyclaude speaks to a provider.

pub mod responses;

//! anyclaude runs Claude Code on the model of your choice.
//!
//! The binary binds a loopback port, serves an in-process proxy that speaks the Anthropic
//! Messages API to Claude Code and each provider's own API upstream, then spawns and
//! supervises `claude` pointed at it. The crate is laid out in layers:
//!
//! - pure, synchronous, I/O-free: [`anthropic`] and [`openai`] (wire types), [`sse`]
//!   (decoding), [`translate`] (requests, responses, streams, token estimates),
//!   [`provider`] (presets and routing), [`config`] (validated settings);
//! - the I/O shell around them: [`server`] (the proxy), [`upstream`] (the HTTP client),
//!   [`supervise`] (the `claude` child), [`logging`], [`metrics`];
//! - [`app`], which wires them together for `main`.

pub mod anthropic;
pub mod app;
pub mod cli;
pub mod config;
pub mod dialect;
pub mod logging;
pub mod metrics;
pub mod openai;
pub mod provider;
pub mod server;
pub mod sse;
pub mod supervise;
pub mod translate;
pub mod upstream;

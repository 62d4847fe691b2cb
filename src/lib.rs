//! anyclaude runs Claude Code on the model of your choice.
//!
//! The binary binds a loopback port, serves an in-process proxy that speaks the Anthropic
//! Messages API to Claude Code and each provider's own API upstream, then spawns and
//! supervises `claude` pointed at it. The crate is laid out in layers:
//!
//! - pure, synchronous, I/O-free: [`anthropic`] (Claude Code's side: wire types and the
//!   one event [`anthropic::writer`]), [`conversation`] (the request normalised once),
//!   [`dialect`] (each upstream protocol behind one trait, e.g. [`dialect::chat`]),
//!   [`sse`] (decoding), [`translate`] (shared helpers: token estimates, tool names),
//!   [`provider`] (the built-in presets, their quirks as data), [`registry`] (providers
//!   and models as owned data from the presets, the config file and the environment, and
//!   routing), [`config`], [`secrets`]
//!   (scrubbing keys, the token and URL userinfo out of text); the pure half of
//!   [`local_server`] (a local server's window, what Claude Code is told);
//! - the I/O shell around them: [`server`] (the proxy), [`upstream`] (the HTTP client),
//!   [`supervise`] (the `claude` child), [`logging`], [`metrics`];
//! - [`app`], which wires them together for `main`.

pub mod anthropic;
pub mod app;
pub mod check;
pub mod claude_settings;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod dialect;
pub mod discover;
pub mod local_server;
pub mod logging;
pub mod metrics;
pub mod provider;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod sse;
pub mod status_line;
pub mod supervise;
pub mod translate;
pub mod upstream;
pub mod usage;
pub mod zero_config;

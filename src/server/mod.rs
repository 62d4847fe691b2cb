//! The proxy server. (Being written; the API below is the contract `app` builds on.)

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Timeouts;

/// What the proxy needs to know to serve.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The per-run token Claude Code must send as `x-anyclaude-token`.
    pub token: String,
    /// Validated timeouts.
    pub timeouts: Timeouts,
    /// The model from `--model`, used for bare `claude-*` ids (background requests).
    pub default_model: Option<String>,
    /// A snapshot of the environment (keys and base URLs are read from it per request).
    pub env: HashMap<String, String>,
    /// 0–3, as `ANYCLAUDE_DEBUG`.
    pub debug_level: u8,
}

/// A running proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    settings: ProxySettings,
}

impl Proxy {
    /// A proxy with these settings.
    pub fn new(settings: ProxySettings) -> Arc<Self> {
        Arc::new(Proxy { settings })
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// One line summing up the run: requests, errors, tokens in/out, median time to first
    /// byte.
    pub fn summary_line(&self) -> String {
        String::new()
    }
}

/// Serves `proxy` on `listener` until `shutdown` is cancelled, then closes the listener,
/// ends in-flight streams with an error event and returns once connections are drained (or a
/// short grace period has passed).
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, shutdown: CancellationToken) {
    let _ = (listener, proxy);
    shutdown.cancelled().await;
}

//! Validated settings (timeouts, addresses, levels) built from the command line and the
//! environment.

use std::time::Duration;

/// The proxy's timeouts, validated so that they can all work together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for the upstream to start answering (its response headers).
    pub request: Duration,
    /// Longest silence between upstream bytes once the answer streams.
    pub idle: Duration,
    /// Interval between `ping` events while the upstream is silent.
    pub keepalive: Duration,
    /// How long a client that stopped reading is waited for.
    pub drain: Duration,
    /// Longest wait for a TCP (and TLS) connection to the upstream.
    pub connect: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request: Duration::from_secs(600),
            idle: Duration::from_secs(300),
            keepalive: Duration::from_secs(10),
            drain: Duration::from_secs(60),
            connect: Duration::from_secs(10),
        }
    }
}

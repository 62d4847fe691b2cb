//! The integration tests: the real binary and the proxy over real sockets.

mod claude;
mod e2e_passthrough;
mod harness;
mod proxy;
mod scripted;
mod streams;

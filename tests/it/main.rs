//! The integration tests: the real binary and the proxy over real sockets.

mod harness;
mod proxy;
mod scripted;
mod streams;

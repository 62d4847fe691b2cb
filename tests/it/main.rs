//! The integration tests: the real binary and the proxy over real sockets.

mod chat;
mod chat_script;
mod claude;
mod e2e;
mod e2e_passthrough;
mod e2e_tty;
mod harness;
mod proxy;
mod scripted;
mod streams;

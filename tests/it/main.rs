//! The integration tests: the real binary and the proxy over real sockets. One binary
//! (`autotests = false`), one module per area; `support/` holds the command-line tests'
//! helpers (add yours beside them).

mod chat;
mod chat_script;
mod check;
mod claude;
mod cli;
mod config_file;
mod e2e;
mod e2e_config;
mod e2e_endings;
mod e2e_gemini;
mod e2e_hosts;
mod e2e_local;
mod e2e_passthrough;
mod e2e_picker;
mod e2e_responses;
mod e2e_status;
mod e2e_tty;
mod gemini;
mod gemini_script;
mod hardening;
mod harness;
mod hostile;
mod hosts;
mod llama;
mod local;
mod local_start;
mod model_pick;
mod nonstream;
mod opening;
mod picker;
mod proxy;
mod responses;
mod responses_script;
mod scripted;
mod streams;
mod support;
mod usage_status;
mod zero_config;

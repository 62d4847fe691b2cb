//! The soak test, alone in its own process so that its memory, task and file-descriptor
//! figures are the proxy's and not those of tests running beside it.

#[path = "../it/chat_script.rs"]
#[allow(dead_code)]
mod chat_script;
#[path = "../it/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../it/scripted.rs"]
#[allow(dead_code)]
mod scripted;
mod soak;

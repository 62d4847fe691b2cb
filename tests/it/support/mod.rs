//! Helpers shared by the integration tests. Each area keeps its helpers in its own file
//! here (`cli.rs`: running the real `anyclaude` binary against a fake claude); add yours
//! beside it.

pub mod cli;
pub mod local;
pub mod process;

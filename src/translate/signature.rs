//! Our own thinking-block signature, kept under its old name: see
//! [`crate::dialect::signature`], which owns every signature anyclaude writes and reads.

pub use crate::dialect::signature::is_ours;

/// Our signature for a thinking block whose text is `thinking`.
pub fn sign(thinking: &str) -> String {
    crate::dialect::signature::Signature::ours(thinking)
}

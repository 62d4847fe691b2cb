//! The `signature` anyclaude attaches to thinking blocks it translates from a backend's
//! reasoning, so that Claude Code can send them back and we can recognise them.
//!
//! Anthropic's real signatures are opaque and checked by Anthropic; ours only need to mark a
//! block as one of ours and detect edits (a changed thinking text no longer matches).
//! Blocks with a foreign signature (from a real Anthropic model earlier in the session) are
//! never sent to another backend as text.

use super::tool_names::fnv1a;

const PREFIX: &str = "anyclaude-v1-";

/// The signature for a thinking block whose text is `thinking`.
pub fn sign(thinking: &str) -> String {
    format!("{PREFIX}{:016x}", fnv1a(thinking.as_bytes()))
}

/// Whether `signature` is one anyclaude made for exactly this `thinking` text.
pub fn is_ours(signature: &str, thinking: &str) -> bool {
    signature.starts_with(PREFIX) && signature == sign(thinking)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_and_detect_edits() {
        let sig = sign("let me think");
        assert!(is_ours(&sig, "let me think"));
        assert!(!is_ours(&sig, "let me think!"));
        assert!(!is_ours("EqQBCkYIBxgCKkBreal", "let me think"));
    }
}

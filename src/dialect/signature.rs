//! The `signature` of the thinking blocks anyclaude writes: a tagged envelope, so that what
//! a backend needs back on the next turn survives the round trip through Claude Code, and
//! is only ever sent to the backend it came from.
//!
//! Claude Code stores each thinking block's `signature` and sends it back unchanged with
//! the block on later turns. A signature is one of:
//! - **ours** (`anyclaude-v1-<16 hex>`): FNV-1a over the thinking text. It only marks the
//!   block as one anyclaude translated and detects edits; a backend that wants earlier
//!   reasoning back as text (DeepSeek's `reasoning_content`) gets only blocks whose
//!   signature is ours for exactly that text.
//! - **a provider's opaque state** (`anyclaude-s1.<tag>.<data>`): Gemini's
//!   `thoughtSignature`, the Responses API's encrypted reasoning, …, tagged by the dialect
//!   that produced it (the tag also names the provider when the state is only valid there,
//!   e.g. `responses@openai`). A dialect sends `data` back only when the tag is its own,
//!   and drops the block for every other backend.
//! - **foreign**: anything else, i.e. Anthropic's own signature from a real Claude model
//!   earlier in the session. Only the Anthropic pass-through sends those on; translated
//!   dialects drop the block (and the pass-through strips ours and provider envelopes,
//!   which Anthropic would reject).
//!
//! Tags are `[a-z0-9_@-]+` (no `.`); data is any string (base64 in practice).

use crate::translate::tool_names::fnv1a;

const OURS: &str = "anyclaude-v1-";
const ENVELOPE: &str = "anyclaude-s1.";

/// A thinking block's signature, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// Ours: `valid` when it matches the block's text exactly (an edited block does not).
    Ours {
        /// Whether it was made for exactly this text.
        valid: bool,
    },
    /// A provider's opaque reasoning state.
    Provider {
        /// Who made it: the dialect, and the provider when the state is only valid there.
        tag: String,
        /// The state, exactly as the provider sent it.
        data: String,
    },
    /// Not one of anyclaude's: Anthropic's own, or anything else.
    Foreign,
}

impl Signature {
    /// Our signature for a thinking block whose text is `thinking`.
    pub fn ours(thinking: &str) -> String {
        Signature::ours_from_hash(fnv1a(thinking.as_bytes()))
    }

    /// Our signature from an FNV-1a hash of the text computed incrementally.
    pub fn ours_from_hash(hash: u64) -> String {
        format!("{OURS}{hash:016x}")
    }

    /// A provider envelope (see the module documentation for `tag`).
    pub fn provider(tag: &str, data: &str) -> Signature {
        debug_assert!(
            !tag.is_empty()
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_@-".contains(&b)),
            "bad signature tag {tag:?}"
        );
        Signature::Provider {
            tag: tag.to_ascii_lowercase(),
            data: data.to_owned(),
        }
    }

    /// Decodes the `signature` Claude Code sent back with a thinking block of text
    /// `thinking`.
    pub fn decode(signature: &str, thinking: &str) -> Signature {
        if let Some(rest) = signature.strip_prefix(ENVELOPE)
            && let Some((tag, data)) = rest.split_once('.')
            && !tag.is_empty()
        {
            return Signature::Provider {
                tag: tag.to_owned(),
                data: data.to_owned(),
            };
        }
        if signature.starts_with(OURS) {
            return Signature::Ours {
                valid: signature == Signature::ours(thinking),
            };
        }
        Signature::Foreign
    }

    /// The provider data when this envelope carries `tag`; `None` for anything else (which
    /// the dialect must then not send).
    pub fn provider_data(&self, tag: &str) -> Option<&str> {
        match self {
            Signature::Provider { tag: t, data } if t.eq_ignore_ascii_case(tag) => Some(data),
            _ => None,
        }
    }

    /// Whether the signature is anyclaude's (ours or an envelope): what the Anthropic
    /// pass-through strips.
    pub fn is_anyclaudes(&self) -> bool {
        !matches!(self, Signature::Foreign)
    }

    /// The wire form, for a `signature_delta`. `Ours` cannot be encoded without its text
    /// (use [`Signature::ours`]); it encodes as an empty string.
    pub fn encode(&self) -> String {
        match self {
            Signature::Provider { tag, data } => format!("{ENVELOPE}{tag}.{data}"),
            Signature::Ours { .. } | Signature::Foreign => String::new(),
        }
    }
}

/// Whether `signature` is ours for exactly this `thinking` text.
pub fn is_ours(signature: &str, thinking: &str) -> bool {
    Signature::decode(signature, thinking) == Signature::Ours { valid: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_round_trips_and_detects_edits() {
        let sig = Signature::ours("let me think");
        assert!(sig.starts_with("anyclaude-v1-"));
        assert!(is_ours(&sig, "let me think"));
        assert!(!is_ours(&sig, "let me think!"));
        assert_eq!(
            Signature::decode(&sig, "edited"),
            Signature::Ours { valid: false }
        );
        assert_eq!(
            Signature::decode("EqQBCkYIBxgCKkBreal", "x"),
            Signature::Foreign
        );
    }

    #[test]
    fn provider_state_round_trips_only_to_its_tag() {
        let sig = Signature::provider("responses@openai", "gAAAA.b+c/=");
        let wire = sig.encode();
        assert_eq!(wire, "anyclaude-s1.responses@openai.gAAAA.b+c/=");
        let back = Signature::decode(&wire, "any text");
        assert_eq!(back, sig);
        assert_eq!(back.provider_data("responses@openai"), Some("gAAAA.b+c/="));
        assert_eq!(back.provider_data("gemini"), None);
        assert!(back.is_anyclaudes());
        assert!(!Signature::Foreign.is_anyclaudes());
        assert_eq!(Signature::Foreign.provider_data("gemini"), None);
    }
}

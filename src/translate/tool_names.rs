//! Tool names and tool-call ids across the Anthropic ↔ Chat Completions boundary.
//!
//! OpenAI-style backends reject tool names over 64 characters (MCP tools are named
//! `mcp__<server>__<tool>` and easily exceed that); such names are shortened
//! deterministically with a hash suffix on the way out and mapped back on the way in.
//! Tool-call ids are sanitised to Anthropic's `^[a-zA-Z0-9_-]+$`.

use std::collections::HashMap;

/// Longest tool name OpenAI-compatible backends accept.
pub const MAX_TOOL_NAME: usize = 64;

/// The names shortened for one request, to map the backend's answers back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames {
    /// upstream (shortened) name → the original name Claude Code knows.
    shortened: HashMap<String, String>,
}

impl ToolNames {
    /// The name to send upstream for `original`, remembering the mapping when it changes.
    pub fn upstream_name(&mut self, original: &str) -> String {
        let short = shorten(original);
        if short != original {
            self.shortened.insert(short.clone(), original.to_owned());
        }
        short
    }

    /// The name Claude Code knows for a name the backend used.
    pub fn original<'a>(&'a self, upstream: &'a str) -> &'a str {
        self.shortened
            .get(upstream)
            .map(String::as_str)
            .unwrap_or(upstream)
    }
}

/// `name` itself when it fits (and uses only allowed characters), otherwise a prefix plus a
/// stable hash of the whole name: the same input always gives the same output.
pub fn shorten(name: &str) -> String {
    let clean = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if clean && !name.is_empty() && name.len() <= MAX_TOOL_NAME {
        return name.to_owned();
    }
    let hash = format!("{:016x}", fnv1a(name.as_bytes()));
    let keep = MAX_TOOL_NAME - hash.len() - 1;
    let prefix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(keep)
        .collect();
    format!("{prefix}_{hash}")
}

/// A tool-call id valid for Anthropic (`^[a-zA-Z0-9_-]+$`): other characters become `_`;
/// an empty id gets a fresh one derived from `fallback_seed`.
pub fn sanitize_id(id: &str, fallback_seed: u64) -> String {
    if id.is_empty() {
        return format!("toolu_{fallback_seed:016x}");
    }
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// 64-bit FNV-1a: stable across runs and platforms, which is all the shortening needs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_pass_unchanged() {
        let mut names = ToolNames::default();
        assert_eq!(names.upstream_name("Bash"), "Bash");
        assert_eq!(names.original("Bash"), "Bash");
    }

    #[test]
    fn long_names_shorten_stably_and_map_back() {
        let long = format!("mcp__{}__tool", "x".repeat(80));
        let mut names = ToolNames::default();
        let short = names.upstream_name(&long);
        assert!(short.len() <= MAX_TOOL_NAME, "{short}");
        assert_eq!(short, shorten(&long));
        assert_eq!(names.original(&short), long);
        let other = format!("mcp__{}__tool2", "x".repeat(80));
        assert_ne!(shorten(&other), short);
    }

    #[test]
    fn ids_are_sanitised() {
        assert_eq!(sanitize_id("functions.Bash:0", 1), "functions_Bash_0");
        assert_eq!(sanitize_id("", 255), "toolu_00000000000000ff");
    }
}

//! What the proxy learns about local servers' chat templates from their own token counts:
//! whether the template shows the tools to the model at all.
//!
//! A chat template without tool support renders the conversation and silently leaves the
//! tools out (llama-cpp-python with a small model's template, for one): the model cannot call
//! them, and an input estimate that counts their schemas is several times too high. When a
//! server's own prompt count for a request that offered tools is below what the
//! conversation plus half the tools would take, the tools were not shown: that is logged
//! once per server and model, and later estimates for them leave the tools out.

use std::collections::HashSet;
use std::sync::Mutex;

/// The fewest estimated tool tokens for which a prompt count can tell rendered from not.
pub const MIN_TOOL_TOKENS: u64 = 500;

/// The servers and models whose chat template was seen not to show tools.
#[derive(Debug, Default)]
pub struct Templates {
    without_tools: Mutex<HashSet<String>>,
}

/// One request's estimates, to compare with the server's count once it answers.
#[derive(Debug, Clone)]
pub struct ToolCheck {
    /// The server and model (`<base URL> <model>`).
    pub key: String,
    /// The provider, for the log line.
    pub provider: String,
    /// The model, for the log line.
    pub model: String,
    /// The estimated tokens of everything but the tools.
    pub conversation: u64,
    /// The estimated tokens of the tools offered.
    pub tools: u64,
}

impl ToolCheck {
    /// Whether a server count of `prompt_tokens` means the tools were not in the prompt.
    pub fn tools_missing(&self, prompt_tokens: u64) -> bool {
        self.tools >= MIN_TOOL_TOKENS && prompt_tokens < self.conversation + self.tools / 2
    }
}

impl Templates {
    /// Whether the template of this server and model was seen not to show tools.
    pub fn shows_no_tools(&self, key: &str) -> bool {
        self.without_tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    /// The server counted `prompt_tokens` for the request `check` describes: when the tools
    /// were missing, remember it, and say so in the log the first time.
    pub fn observe(&self, check: &ToolCheck, prompt_tokens: u64) {
        if !check.tools_missing(prompt_tokens) {
            return;
        }
        let first = self
            .without_tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(check.key.clone());
        if first {
            tracing::warn!(
                provider = %check.provider,
                model = %check.model,
                server_prompt_tokens = prompt_tokens,
                estimated_tool_tokens = check.tools,
                "the server's chat template does not show the tools to the model (its prompt count is smaller than the tools alone would take): the model cannot call them. Serve it with a template that supports tools (llama.cpp: `--jinja`; llama-cpp-python: a `chat_format` with tools, e.g. `chatml-function-calling`), or choose a model whose template has them"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_below_conversation_and_half_the_tools_means_no_tools() {
        let check = ToolCheck {
            key: "http://x/v1 smol".into(),
            provider: "llamacpp".into(),
            model: "smol".into(),
            conversation: 3_000,
            tools: 15_000,
        };
        let templates = Templates::default();
        // Tools rendered (a different tokenizer: within a third either way).
        templates.observe(&check, 14_000);
        assert!(!templates.shows_no_tools(&check.key));
        // Only the conversation was read.
        templates.observe(&check, 3_400);
        assert!(templates.shows_no_tools(&check.key));
        // Too few tools to tell.
        let small = ToolCheck {
            tools: 100,
            ..check
        };
        assert!(!small.tools_missing(0));
    }
}

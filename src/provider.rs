//! The providers anyclaude can route to: each preset's API dialect, default base URL, key
//! variable and the quirks its translation must respect, and the routing of a request's
//! `model` (`<provider>/<model>`) to one of them.
//!
//! This module owns the provider seam. A new dialect (OpenAI Responses, Gemini, an
//! Anthropic-compatible upstream) is a new [`Dialect`] variant handled by the server's
//! dispatch; a new preset of an existing dialect is one more row in [`PRESETS`].

use std::fmt;

/// The wire protocol spoken upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Anthropic Messages: bytes pass through unchanged but for the model name.
    Anthropic,
    /// OpenAI Chat Completions, as spoken by OpenAI and every "OpenAI-compatible" server.
    OpenAiChat,
}

/// Which field carries the output limit in a Chat Completions request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens` (OpenAI; required by its reasoning models).
    MaxCompletionTokens,
    /// `max_tokens` (everyone else).
    MaxTokens,
}

/// How earlier assistant reasoning must be sent back to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningEcho {
    /// Not at all: the backend keeps no reasoning across turns.
    Drop,
    /// As `reasoning_content` on the assistant message (DeepSeek requires it in thinking
    /// mode, at least on turns with tool calls).
    ReasoningContent,
}

/// What a Chat Completions backend accepts; drives request translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatProfile {
    /// Where `max_tokens` goes.
    pub max_tokens_field: MaxTokensField,
    /// Whether `reasoning_effort` may be sent.
    pub reasoning_effort: bool,
    /// How earlier reasoning goes back.
    pub reasoning_echo: ReasoningEcho,
    /// Whether the backend takes only one system message, first (most local servers'
    /// chat templates); otherwise mid-conversation system turns stay where they are.
    pub single_leading_system: bool,
    /// Whether PDF documents can be sent (as `file` parts).
    pub pdf: bool,
    /// Whether `stream_options.include_usage` may be sent.
    pub stream_usage: bool,
}

impl ChatProfile {
    /// A conservative profile that suits most OpenAI-compatible servers.
    pub const COMPATIBLE: ChatProfile = ChatProfile {
        max_tokens_field: MaxTokensField::MaxTokens,
        reasoning_effort: false,
        reasoning_echo: ReasoningEcho::Drop,
        single_leading_system: true,
        pdf: false,
        stream_usage: true,
    };
}

/// One provider preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The prefix users write: `openai` in `openai/gpt-5-mini`.
    pub name: &'static str,
    /// The API spoken upstream.
    pub dialect: Dialect,
    /// The base URL used when no variable overrides it (for Chat: up to and including `/v1`).
    pub default_base_url: &'static str,
    /// Variables that override the base URL, first match wins.
    pub base_url_vars: &'static [&'static str],
    /// The variable holding the API key; `None` for local servers that need none.
    pub key_var: Option<&'static str>,
    /// A local server (no key; a refused connection gets a hint about starting it).
    pub local: bool,
    /// What the backend accepts.
    pub profile: ChatProfile,
}

const OPENAI_PROFILE: ChatProfile = ChatProfile {
    max_tokens_field: MaxTokensField::MaxCompletionTokens,
    reasoning_effort: true,
    reasoning_echo: ReasoningEcho::Drop,
    single_leading_system: false,
    pdf: true,
    stream_usage: true,
};

const fn hosted(
    name: &'static str,
    url: &'static str,
    url_vars: &'static [&'static str],
    key: &'static str,
    profile: ChatProfile,
) -> Preset {
    Preset {
        name,
        dialect: Dialect::OpenAiChat,
        default_base_url: url,
        base_url_vars: url_vars,
        key_var: Some(key),
        local: false,
        profile,
    }
}

const fn local(name: &'static str, url: &'static str, url_vars: &'static [&'static str]) -> Preset {
    Preset {
        name,
        dialect: Dialect::OpenAiChat,
        default_base_url: url,
        base_url_vars: url_vars,
        key_var: None,
        local: true,
        profile: ChatProfile::COMPATIBLE,
    }
}

/// Every preset, in the order `--help` and error messages list them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "anthropic",
        dialect: Dialect::Anthropic,
        default_base_url: "https://api.anthropic.com",
        base_url_vars: &["ANTHROPIC_API_URL"],
        key_var: Some("ANTHROPIC_API_KEY"),
        local: false,
        profile: ChatProfile::COMPATIBLE,
    },
    hosted(
        "openai",
        "https://api.openai.com/v1",
        &["OPENAI_BASE_URL", "OPENAI_API_URL"],
        "OPENAI_API_KEY",
        OPENAI_PROFILE,
    ),
    hosted(
        "openrouter",
        "https://openrouter.ai/api/v1",
        &["OPENROUTER_BASE_URL"],
        "OPENROUTER_API_KEY",
        ChatProfile {
            reasoning_effort: true,
            single_leading_system: false,
            pdf: true,
            ..ChatProfile::COMPATIBLE
        },
    ),
    hosted(
        "deepseek",
        "https://api.deepseek.com/v1",
        &["DEEPSEEK_BASE_URL"],
        "DEEPSEEK_API_KEY",
        ChatProfile {
            reasoning_echo: ReasoningEcho::ReasoningContent,
            ..ChatProfile::COMPATIBLE
        },
    ),
    hosted(
        "xai",
        "https://api.x.ai/v1",
        &["XAI_BASE_URL", "XAI_API_URL"],
        "XAI_API_KEY",
        ChatProfile {
            reasoning_effort: true,
            single_leading_system: false,
            ..ChatProfile::COMPATIBLE
        },
    ),
    hosted(
        "groq",
        "https://api.groq.com/openai/v1",
        &["GROQ_BASE_URL"],
        "GROQ_API_KEY",
        ChatProfile::COMPATIBLE,
    ),
    hosted(
        "mistral",
        "https://api.mistral.ai/v1",
        &["MISTRAL_BASE_URL"],
        "MISTRAL_API_KEY",
        ChatProfile::COMPATIBLE,
    ),
    hosted(
        "together",
        "https://api.together.xyz/v1",
        &["TOGETHER_BASE_URL"],
        "TOGETHER_API_KEY",
        ChatProfile::COMPATIBLE,
    ),
    hosted(
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        &["FIREWORKS_BASE_URL"],
        "FIREWORKS_API_KEY",
        ChatProfile::COMPATIBLE,
    ),
    hosted(
        "azure",
        "",
        &["AZURE_OPENAI_ENDPOINT", "AZURE_API_URL"],
        "AZURE_OPENAI_API_KEY",
        OPENAI_PROFILE,
    ),
    local("ollama", "http://localhost:11434/v1", &["OLLAMA_BASE_URL"]),
    local("lmstudio", "http://localhost:1234/v1", &["LMSTUDIO_BASE_URL"]),
    local("llamacpp", "http://localhost:8080/v1", &["LLAMACPP_BASE_URL"]),
    local("vllm", "http://localhost:8000/v1", &["VLLM_BASE_URL"]),
    local("mlx", "http://localhost:8080/v1", &["MLX_BASE_URL"]),
];

/// Looks a preset up by its prefix.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The preset names, comma-separated, for messages.
pub fn preset_names() -> String {
    PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

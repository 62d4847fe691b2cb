//! The built-in provider presets: each one's API dialect, default base URL, key variables
//! and the quirks its translation must respect. They seed the [`crate::registry`], which
//! adds the config file and the environment and routes requests.
//!
//! Provider quirks are data here, never matches on provider names elsewhere: each preset
//! names its [`Dialect`], its [`AuthScheme`] (which header carries the key), its
//! [`UrlScheme`] (base + path, Azure deployment + `api-version`, model in the URL), its key
//! variables and, for local servers, how to start them. A new preset of an existing dialect
//! is one more row in [`PRESETS`]; a new dialect is a [`Dialect`] variant plus its folder
//! under `src/dialect/`.

use std::fmt;

/// The wire protocol spoken upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Anthropic Messages: bytes pass through unchanged but for the model name.
    Anthropic,
    /// OpenAI Chat Completions, as spoken by OpenAI and every "OpenAI-compatible" server.
    OpenAiChat,
    /// Google Gemini's native `generateContent` / `streamGenerateContent`.
    Gemini,
    /// The OpenAI Responses API: OpenAI's reasoning models by default (see
    /// [`OPENAI_DIALECT_RULES`]), any Chat provider on request (see
    /// [`Provider::api_override_var`](crate::registry::Provider::api_override_var)).
    OpenAiResponses,
}

/// Models of a preset that are sent in another dialect than the preset's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialectRule {
    /// The dialect those models use.
    pub dialect: Dialect,
    /// Model ids starting with one of these (case-insensitive) use it…
    pub prefixes: &'static [&'static str],
    /// …unless they start with one of these.
    pub except: &'static [&'static str],
}

impl DialectRule {
    /// Whether `model` (the part after `<provider>/`) falls under the rule.
    pub fn matches(&self, model: &str) -> bool {
        let id = model.to_ascii_lowercase();
        self.prefixes.iter().any(|p| id.starts_with(p))
            && !self.except.iter().any(|p| id.starts_with(p))
    }
}

/// Which models of OpenAI go to another dialect by default (the `openai` preset's
/// [`Preset::dialect_rules`]). Its reasoning models (the gpt-5 family, `gpt-5-codex` and the
/// other codex models, the o-series) are sent to the Responses API: some exist only there,
/// and only there does their reasoning carry over from turn to turn (encrypted, in the
/// thinking blocks' signatures). `gpt-5-chat-*` is a chat model and stays on Chat
/// Completions.
pub const OPENAI_DIALECT_RULES: &[DialectRule] = &[DialectRule {
    dialect: Dialect::OpenAiResponses,
    prefixes: &["gpt-5", "o1", "o3", "o4", "codex"],
    except: &["gpt-5-chat"],
}];

/// Which header carries the API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `authorization: Bearer <key>`.
    Bearer,
    /// The key as the whole value of this header: `x-api-key` (Anthropic), `api-key`
    /// (Azure), `x-goog-api-key` (Gemini).
    Header(&'static str),
}

/// How the request URL is built from the base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// `<base><path>`; a dialect that puts the model in the URL builds its path with
    /// [`encode_path_segment`].
    BasePath,
    /// Azure OpenAI: `<base>/openai/deployments/<model><path>?api-version=<version>`, the
    /// version from `version_var` or `default_version`.
    AzureDeployment {
        /// The variable overriding the API version.
        version_var: &'static str,
        /// The API version used when the variable is unset.
        default_version: &'static str,
    },
}

/// How to start a local server, for the hint on a refused connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalServer {
    /// Its name, e.g. `Ollama`.
    pub name: &'static str,
    /// How it is usually started, e.g. `` `ollama serve` ``.
    pub start: &'static str,
    /// The optional variable holding a key some setups use.
    pub key_var: &'static str,
    /// How its context window is raised, for messages about a window that is too small.
    pub window_setting: &'static str,
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

/// How an assistant message that only calls tools carries its (absent) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallContent {
    /// `"content": null`, the form OpenAI documents.
    Null,
    /// `"content": ""`: local servers validate `content` as a string (llama-cpp-python's
    /// server answers `null` with a 500 validation error) and every one of them takes `""`.
    Empty,
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
    /// How a tool-call-only assistant message carries its content.
    pub tool_call_content: ToolCallContent,
    /// Whether tool calls the model writes as text (`<tool_call>{…}</tool_call>`,
    /// `<function=…>`, `[TOOL_CALLS]`, bare JSON) are recovered into tool calls: models
    /// served without a tool parser write them so.
    pub text_tool_calls: bool,
    /// Whether the server answers one request at a time (a local server's single slot),
    /// so that Claude Code's background requests (titles, summaries) must wait for the
    /// main turn instead of cutting or delaying it.
    pub one_slot: bool,
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
        tool_call_content: ToolCallContent::Null,
        text_tool_calls: false,
        one_slot: false,
    };

    /// A local server (Ollama, LM Studio, llama.cpp, vLLM, mlx): `""` as the content of
    /// tool-call-only messages, text tool calls recovered, background requests queued behind
    /// the main turn.
    pub const LOCAL: ChatProfile = ChatProfile {
        tool_call_content: ToolCallContent::Empty,
        text_tool_calls: true,
        one_slot: true,
        ..ChatProfile::COMPATIBLE
    };
}

/// What an Anthropic Messages upstream accepts: the pass-through sends Claude Code's
/// request on with only what the host would reject or misread taken out. Anthropic itself
/// takes everything ([`MessagesProfile::ANTHROPIC`]); the hosts that serve the Messages API
/// themselves (DeepSeek, Kimi, GLM, MiniMax) take a documented subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessagesProfile {
    /// The tag the host's own thinking signatures are wrapped in on the way back to Claude
    /// Code (`messages@<host>`), so that they are only ever sent back to that host (never to
    /// Anthropic, which would reject them); `None` for Anthropic itself, whose signatures
    /// pass as they are.
    pub signature_tag: Option<&'static str>,
    /// The `anthropic-beta` values forwarded: `None` forwards the header as sent; `Some` only
    /// these values (the header is left out when none remains).
    pub betas: Option<&'static [&'static str]>,
    /// Top-level request fields never sent (features the host rejects or misreads).
    pub drop_fields: &'static [&'static str],
    /// The keys of `output_config` kept (`None`: the object as sent).
    pub output_config_keys: Option<&'static [&'static str]>,
    /// The `thinking.type` values sent; the `thinking` field is left out for others.
    pub thinking_types: Option<&'static [&'static str]>,
    /// Whether only custom tools (no `type`, or `type: "custom"`) are sent: server tools
    /// (web search, code execution, …) are Anthropic's alone.
    pub custom_tools_only: bool,
    /// Whether `cache_control` markers are taken out everywhere (hosts cache by themselves;
    /// Claude Code's `scope`/`ttl` extensions are Anthropic's).
    pub strip_cache_control: bool,
    /// Whether image blocks are sent; otherwise each becomes a short text note.
    pub images: bool,
    /// Whether document (PDF, text) and `search_result` blocks are sent; otherwise each
    /// becomes a short text note.
    pub documents: bool,
    /// Whether `role: "system"` turns inside `messages` are sent as they are; otherwise each
    /// becomes user text in a `<system-reminder>` and neighbouring turns of one role are
    /// merged (the hosts take only `user` and `assistant`, alternating).
    pub system_turns: bool,
}

impl MessagesProfile {
    /// Anthropic itself: everything is sent as it is.
    pub const ANTHROPIC: MessagesProfile = MessagesProfile {
        signature_tag: None,
        betas: None,
        drop_fields: &[],
        output_config_keys: None,
        thinking_types: None,
        custom_tools_only: false,
        strip_cache_control: false,
        images: true,
        documents: true,
        system_turns: true,
    };

    /// What every Anthropic-compatible host is sent: no beta header (they ignore or reject
    /// it), none of Anthropic's own services (context management, containers, MCP
    /// connectors, service tiers, server tools, cache scopes), thinking only as `enabled` or
    /// `disabled` (`adaptive`, which Claude Code asks for, becomes `enabled` with a budget).
    pub const HOST: MessagesProfile = MessagesProfile {
        signature_tag: None,
        betas: Some(&[]),
        drop_fields: &[
            "context_management",
            "container",
            "mcp_servers",
            "service_tier",
            "output_config",
        ],
        output_config_keys: None,
        thinking_types: Some(&["enabled", "disabled"]),
        custom_tools_only: true,
        strip_cache_control: true,
        images: true,
        documents: false,
        system_turns: false,
    };
}

/// One provider preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The prefix users write: `openai` in `openai/gpt-5-mini`.
    pub name: &'static str,
    /// The API spoken upstream.
    pub dialect: Dialect,
    /// Models sent in another dialect than [`Preset::dialect`].
    pub dialect_rules: &'static [DialectRule],
    /// The base URL used when no variable overrides it (for Chat: up to and including `/v1`).
    pub default_base_url: &'static str,
    /// Variables that override the base URL, first match wins.
    pub base_url_vars: &'static [&'static str],
    /// The variable holding the API key; `None` for local servers that need none.
    pub key_var: Option<&'static str>,
    /// Further variables read for the key when `key_var` is unset, in order.
    pub key_fallback_vars: &'static [&'static str],
    /// For local servers: what it is and how to start it.
    pub server: Option<LocalServer>,
    /// Which header carries the key.
    pub auth: AuthScheme,
    /// How the URL is built.
    pub url: UrlScheme,
    /// What the backend accepts (Chat Completions).
    pub profile: ChatProfile,
    /// What the backend accepts (Anthropic Messages).
    pub messages: MessagesProfile,
}

const OPENAI_PROFILE: ChatProfile = ChatProfile {
    max_tokens_field: MaxTokensField::MaxCompletionTokens,
    reasoning_effort: true,
    reasoning_echo: ReasoningEcho::Drop,
    single_leading_system: false,
    pdf: true,
    stream_usage: true,
    tool_call_content: ToolCallContent::Null,
    text_tool_calls: false,
    one_slot: false,
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
        dialect_rules: &[],
        default_base_url: url,
        base_url_vars: url_vars,
        key_var: Some(key),
        key_fallback_vars: &[],
        server: None,
        auth: AuthScheme::Bearer,
        url: UrlScheme::BasePath,
        profile,
        messages: MessagesProfile::ANTHROPIC,
    }
}

const fn local(
    name: &'static str,
    url: &'static str,
    url_vars: &'static [&'static str],
    server: LocalServer,
) -> Preset {
    Preset {
        name,
        dialect: Dialect::OpenAiChat,
        dialect_rules: &[],
        default_base_url: url,
        base_url_vars: url_vars,
        key_var: None,
        key_fallback_vars: &[],
        server: Some(server),
        auth: AuthScheme::Bearer,
        url: UrlScheme::BasePath,
        profile: ChatProfile::LOCAL,
        messages: MessagesProfile::ANTHROPIC,
    }
}

/// A host serving the Anthropic Messages API itself (base URL up to, not including,
/// `/v1/messages`).
const fn messages_host(
    name: &'static str,
    url: &'static str,
    url_vars: &'static [&'static str],
    key: &'static str,
    key_fallbacks: &'static [&'static str],
    auth: AuthScheme,
    messages: MessagesProfile,
) -> Preset {
    Preset {
        name,
        dialect: Dialect::Anthropic,
        dialect_rules: &[],
        default_base_url: url,
        base_url_vars: url_vars,
        key_var: Some(key),
        key_fallback_vars: key_fallbacks,
        server: None,
        auth,
        url: UrlScheme::BasePath,
        profile: ChatProfile::COMPATIBLE,
        messages,
    }
}

/// Every preset, in the order `--help` and error messages list them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "anthropic",
        dialect: Dialect::Anthropic,
        dialect_rules: &[],
        default_base_url: "https://api.anthropic.com",
        base_url_vars: &["ANTHROPIC_API_URL"],
        key_var: Some("ANTHROPIC_API_KEY"),
        key_fallback_vars: &[],
        server: None,
        auth: AuthScheme::Header("x-api-key"),
        url: UrlScheme::BasePath,
        profile: ChatProfile::COMPATIBLE,
        messages: MessagesProfile::ANTHROPIC,
    },
    Preset {
        dialect_rules: OPENAI_DIALECT_RULES,
        ..hosted(
            "openai",
            "https://api.openai.com/v1",
            &["OPENAI_BASE_URL", "OPENAI_API_URL"],
            "OPENAI_API_KEY",
            OPENAI_PROFILE,
        )
    },
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
    Preset {
        key_fallback_vars: &["AZURE_API_KEY"],
        auth: AuthScheme::Header("api-key"),
        url: UrlScheme::AzureDeployment {
            version_var: "AZURE_OPENAI_API_VERSION",
            default_version: AZURE_DEFAULT_API_VERSION,
        },
        ..hosted(
            "azure",
            "",
            &["AZURE_OPENAI_ENDPOINT", "AZURE_API_URL"],
            "AZURE_OPENAI_API_KEY",
            OPENAI_PROFILE,
        )
    },
    // The hosts that serve the Anthropic Messages API themselves (pass-through, filtered).
    // DeepSeek's Anthropic endpoint: images and documents are not supported; `output_config`
    // only for its effort; `metadata.user_id` is used.
    messages_host(
        "deepseek-anthropic",
        "https://api.deepseek.com/anthropic",
        &["DEEPSEEK_ANTHROPIC_BASE_URL"],
        "DEEPSEEK_API_KEY",
        &[],
        AuthScheme::Header("x-api-key"),
        MessagesProfile {
            signature_tag: Some("messages@deepseek"),
            drop_fields: &[
                "context_management",
                "container",
                "mcp_servers",
                "service_tier",
            ],
            output_config_keys: Some(&["effort"]),
            images: false,
            ..MessagesProfile::HOST
        },
    ),
    // Moonshot's Kimi: images (vision models), no documents.
    messages_host(
        "kimi",
        "https://api.moonshot.ai/anthropic",
        &["KIMI_BASE_URL"],
        "MOONSHOT_API_KEY",
        &["KIMI_API_KEY"],
        AuthScheme::Bearer,
        MessagesProfile {
            signature_tag: Some("messages@kimi"),
            drop_fields: &[
                "context_management",
                "container",
                "mcp_servers",
                "service_tier",
                "output_config",
                "metadata",
            ],
            ..MessagesProfile::HOST
        },
    ),
    // Z.ai's GLM (mainland China: ZAI_BASE_URL=https://open.bigmodel.cn/api/anthropic).
    messages_host(
        "zai",
        "https://api.z.ai/api/anthropic",
        &["ZAI_BASE_URL"],
        "ZAI_API_KEY",
        &["ZHIPUAI_API_KEY"],
        AuthScheme::Bearer,
        MessagesProfile {
            signature_tag: Some("messages@zai"),
            drop_fields: &[
                "context_management",
                "container",
                "mcp_servers",
                "service_tier",
                "output_config",
                "metadata",
            ],
            ..MessagesProfile::HOST
        },
    ),
    // MiniMax: text and tool calls only (no image or document input); `metadata` taken.
    messages_host(
        "minimax",
        "https://api.minimax.io/anthropic",
        &["MINIMAX_BASE_URL"],
        "MINIMAX_API_KEY",
        &[],
        AuthScheme::Bearer,
        MessagesProfile {
            signature_tag: Some("messages@minimax"),
            images: false,
            ..MessagesProfile::HOST
        },
    ),
    Preset {
        name: "gemini",
        dialect: Dialect::Gemini,
        dialect_rules: &[],
        default_base_url: "https://generativelanguage.googleapis.com/v1beta",
        base_url_vars: &["GEMINI_BASE_URL"],
        key_var: Some("GEMINI_API_KEY"),
        key_fallback_vars: &["GOOGLE_API_KEY"],
        server: None,
        auth: AuthScheme::Header("x-goog-api-key"),
        url: UrlScheme::BasePath,
        profile: ChatProfile::COMPATIBLE,
        messages: MessagesProfile::ANTHROPIC,
    },
    local(
        "ollama",
        "http://localhost:11434/v1",
        &["OLLAMA_BASE_URL"],
        LocalServer {
            name: "Ollama",
            start: "`ollama serve`",
            key_var: "OLLAMA_API_KEY",
            window_setting: "`OLLAMA_CONTEXT_LENGTH=32768 ollama serve`, or `num_ctx` in the model's parameters",
        },
    ),
    local(
        "lmstudio",
        "http://localhost:1234/v1",
        &["LMSTUDIO_BASE_URL"],
        LocalServer {
            name: "LM Studio's server",
            start: "`lms server start`",
            key_var: "LMSTUDIO_API_KEY",
            window_setting: "the model's Context Length when loading it, e.g. `lms load <model> --context-length 32768`",
        },
    ),
    local(
        "llamacpp",
        "http://localhost:8080/v1",
        &["LLAMACPP_BASE_URL"],
        LocalServer {
            name: "llama.cpp's server",
            start: "`llama-server -m <model>`",
            key_var: "LLAMACPP_API_KEY",
            window_setting: "`llama-server -c 32768`; llama-cpp-python: `--n_ctx 32768`",
        },
    ),
    // vLLM batches requests (many slots): background requests need not wait.
    Preset {
        profile: ChatProfile {
            one_slot: false,
            ..ChatProfile::LOCAL
        },
        ..local(
            "vllm",
            "http://localhost:8000/v1",
            &["VLLM_BASE_URL"],
            LocalServer {
                name: "vLLM",
                start: "`vllm serve <model>`",
                key_var: "VLLM_API_KEY",
                window_setting: "`vllm serve <model> --max-model-len 32768`",
            },
        )
    },
    local(
        "mlx",
        "http://localhost:8080/v1",
        &["MLX_BASE_URL"],
        LocalServer {
            name: "mlx-lm's server",
            start: "`mlx_lm.server --model <model>`",
            key_var: "MLX_API_KEY",
            window_setting: "a model with a larger window (mlx-lm gives each model its own)",
        },
    ),
];

/// Looks a preset up by its prefix.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The preset names, comma-separated, for messages.
pub fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// `segment` percent-encoded for use as one URL path segment (a model name in the URL):
/// everything but unreserved characters is escaped, `/` included.
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Azure API version used when `AZURE_OPENAI_API_VERSION` is unset.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// What a provider documents about one of its models: the window and the longest answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The provider (a preset's name).
    pub provider: &'static str,
    /// The model id as the provider names it.
    pub model: &'static str,
    /// Tokens it reads at once (prompt and answer).
    pub context_window: u64,
    /// Tokens it writes in one answer at most.
    pub max_output_tokens: u64,
}

/// The windows of well-known hosted models, from each provider's own model pages; only
/// figures the provider states exactly. A config file's `[models."p/m"]` beats them, and a
/// model not listed here has no window until a listing or the config file gives one.
pub const KNOWN_MODELS: &[KnownModel] = &[
    known("openai", "gpt-5", 400_000, 128_000),
    known("openai", "gpt-5-mini", 400_000, 128_000),
    known("openai", "gpt-5-nano", 400_000, 128_000),
    known("openai", "gpt-4.1", 1_047_576, 32_768),
    known("openai", "gpt-4.1-mini", 1_047_576, 32_768),
    known("openai", "gpt-4.1-nano", 1_047_576, 32_768),
    known("openai", "gpt-4o", 128_000, 16_384),
    known("openai", "gpt-4o-mini", 128_000, 16_384),
    known("openai", "o3", 200_000, 100_000),
    known("openai", "o4-mini", 200_000, 100_000),
    known("gemini", "gemini-2.5-pro", 1_048_576, 65_536),
    known("gemini", "gemini-2.5-flash", 1_048_576, 65_536),
    known("gemini", "gemini-2.5-flash-lite", 1_048_576, 65_536),
    known("groq", "llama-3.3-70b-versatile", 131_072, 32_768),
];

const fn known(
    provider: &'static str,
    model: &'static str,
    context_window: u64,
    max_output_tokens: u64,
) -> KnownModel {
    KnownModel {
        provider,
        model,
        context_window,
        max_output_tokens,
    }
}

/// What [`KNOWN_MODELS`] says of `provider`'s `model`.
pub fn known_model(provider: &str, model: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|k| k.provider.eq_ignore_ascii_case(provider) && k.model == model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_rules_match_prefixes_but_not_exceptions() {
        let rule = OPENAI_DIALECT_RULES[0];
        assert!(rule.matches("GPT-5.1-Codex-Max"));
        assert!(rule.matches("o4-mini"));
        assert!(!rule.matches("gpt-5-chat-latest"));
        assert!(!rule.matches("gpt-4.1"));
        assert_eq!(
            preset("openai").unwrap().dialect_rules,
            OPENAI_DIALECT_RULES
        );
        assert!(
            PRESETS
                .iter()
                .filter(|p| p.name != "openai")
                .all(|p| p.dialect_rules.is_empty())
        );
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(
            encode_path_segment("models/gemini 2.5:x"),
            "models%2Fgemini%202.5%3Ax"
        );
    }
}

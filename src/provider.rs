//! The providers anyclaude can route to: each preset's API dialect, default base URL, key
//! variable and the quirks its translation must respect, and the routing of a request's
//! `model` (`<provider>/<model>`) to one of them.
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
    /// [`DIALECT_RULES`]), any Chat preset on request (see [`api_override_var`]).
    OpenAiResponses,
}

/// Models of a preset that are sent in another dialect than the preset's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialectRule {
    /// The preset it applies to.
    pub preset: &'static str,
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

/// Which models go to another dialect by default. OpenAI's reasoning models (the gpt-5
/// family, `gpt-5-codex` and the other codex models, the o-series) are sent to the
/// Responses API: some exist only there, and only there does their reasoning carry over
/// from turn to turn (encrypted, in the thinking blocks' signatures). `gpt-5-chat-*` is a
/// chat model and stays on Chat Completions.
pub const DIALECT_RULES: &[DialectRule] = &[DialectRule {
    preset: "openai",
    dialect: Dialect::OpenAiResponses,
    prefixes: &["gpt-5", "o1", "o3", "o4", "codex"],
    except: &["gpt-5-chat"],
}];

/// The variable that picks the API for every model of a Chat preset, whatever
/// [`DIALECT_RULES`] say: `ANYCLAUDE_<PROVIDER>_API` = `chat`, `responses` or `auto` (the
/// rules; also when unset). Presets that do not speak Chat Completions on a plain base URL
/// (Anthropic, Azure deployments) have none.
pub fn api_override_var(preset: &Preset) -> Option<String> {
    (preset.dialect == Dialect::OpenAiChat && preset.url == UrlScheme::BasePath)
        .then(|| format!("ANYCLAUDE_{}_API", preset.name.to_ascii_uppercase()))
}

/// The dialect a request for `model` on `preset` is sent in.
pub fn dialect_for(preset: &Preset, model: &str, env: &dyn Env) -> Result<Dialect, RouteError> {
    if let Some(var) = api_override_var(preset)
        && let Some(value) = env.var(&var)
    {
        match value.trim().to_ascii_lowercase().as_str() {
            "chat" => return Ok(Dialect::OpenAiChat),
            "responses" => return Ok(Dialect::OpenAiResponses),
            "auto" | "" => {}
            _ => {
                return Err(RouteError::BadApi {
                    var,
                    value: value.to_owned(),
                });
            }
        }
    }
    Ok(DIALECT_RULES
        .iter()
        .find(|r| r.preset == preset.name && r.matches(model))
        .map_or(preset.dialect, |r| r.dialect))
}

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

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The preset.
    pub preset: &'static Preset,
    /// The dialect spoken for this model (the preset's, unless a rule or an override says
    /// otherwise: see [`dialect_for`]).
    pub dialect: Dialect,
    /// The model name the upstream knows (the part after `<provider>/`).
    pub model: String,
    /// The base URL, after environment overrides, without a trailing `/`.
    pub base_url: String,
    /// The API key, when the preset has one and it is set. Never logged.
    pub key: Option<String>,
    /// The API version for [`UrlScheme::AzureDeployment`], resolved from the environment.
    pub api_version: Option<String>,
    /// Whether the request named a bare model that was sent to the default model instead.
    pub defaulted_from: Option<String>,
}

/// Why a request's model could not be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `<prefix>/…` where the prefix is not a preset.
    #[error(
        "unknown provider {prefix:?} in model {model:?}; known providers: {known}. Write the model as <provider>/<model>, e.g. openai/gpt-5-mini"
    )]
    UnknownProvider {
        /// The prefix.
        prefix: String,
        /// The whole model string.
        model: String,
        /// The preset names.
        known: String,
    },
    /// A bare model name and no default to send it to.
    #[error(
        "model {model:?} names no provider and anyclaude was started without --model; start it as `anyclaude --model <provider>/<model>` (providers: {known})"
    )]
    NoProvider {
        /// The model as sent.
        model: String,
        /// The preset names.
        known: String,
    },
    /// `<provider>/` with nothing after it.
    #[error("model {model:?} names no model after the provider")]
    EmptyModel {
        /// The model as sent.
        model: String,
    },
    /// The preset needs a key and its variable is unset.
    #[error(
        "{provider} needs an API key: set {var} in the environment anyclaude runs in (then restart anyclaude)"
    )]
    MissingKey {
        /// The preset.
        provider: &'static str,
        /// The variable to set.
        var: &'static str,
    },
    /// The preset needs a base URL and none is set (Azure).
    #[error("{provider} needs its endpoint: set {var}, e.g. https://<resource>.openai.azure.com")]
    MissingBaseUrl {
        /// The preset.
        provider: &'static str,
        /// The variable to set.
        var: &'static str,
    },
    /// `ANYCLAUDE_<PROVIDER>_API` holds something other than `chat`, `responses` or `auto`.
    #[error("{var} is {value:?}; it must be chat, responses or auto")]
    BadApi {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
}

/// Environment lookups routing needs (a snapshot map in the proxy, anything in tests).
pub trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<&str>;
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Routes `model` (as Claude Code sent it) to a provider. A bare name (Claude Code's own
/// `claude-*` ids for background work, or anything without a `/`) goes to `default_model`.
pub fn route(model: &str, default_model: Option<&str>, env: &dyn Env) -> Result<Route, RouteError> {
    let (target, defaulted_from) = if model.contains('/') {
        (model, None)
    } else {
        match default_model {
            Some(default) if default.contains('/') => (default, Some(model.to_owned())),
            _ => {
                return Err(RouteError::NoProvider {
                    model: model.to_owned(),
                    known: preset_names(),
                });
            }
        }
    };
    let (prefix, name) = target.split_once('/').unwrap_or((target, ""));
    let preset = preset(prefix).ok_or_else(|| RouteError::UnknownProvider {
        prefix: prefix.to_owned(),
        model: target.to_owned(),
        known: preset_names(),
    })?;
    if name.is_empty() {
        return Err(RouteError::EmptyModel {
            model: target.to_owned(),
        });
    }
    let base_url = preset
        .base_url_vars
        .iter()
        .find_map(|v| env.var(v))
        .unwrap_or(preset.default_base_url)
        .trim_end_matches('/')
        .to_owned();
    if base_url.is_empty() {
        return Err(RouteError::MissingBaseUrl {
            provider: preset.name,
            var: preset
                .base_url_vars
                .first()
                .copied()
                .unwrap_or("the base URL"),
        });
    }
    let key = match preset.key_var {
        Some(var) => Some(
            env.var(var)
                .or_else(|| preset.key_fallback_vars.iter().find_map(|v| env.var(v)))
                .ok_or(RouteError::MissingKey {
                    provider: preset.name,
                    var,
                })?
                .to_owned(),
        ),
        // Local servers need no key, but some are set up with one.
        None => preset
            .server
            .and_then(|s| env.var(s.key_var))
            .map(str::to_owned),
    };
    let api_version = match preset.url {
        UrlScheme::AzureDeployment {
            version_var,
            default_version,
        } => Some(env.var(version_var).unwrap_or(default_version).to_owned()),
        UrlScheme::BasePath => None,
    };
    let dialect = dialect_for(preset, name, env)?;
    Ok(Route {
        preset,
        dialect,
        model: name.to_owned(),
        base_url,
        key,
        api_version,
        defaulted_from,
    })
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

impl Route {
    /// The URL of `path` (e.g. `/chat/completions`, `/v1/messages`, which may carry a
    /// query) on this route, following the preset's [`UrlScheme`].
    pub fn url(&self, path: &str) -> String {
        match self.preset.url {
            UrlScheme::BasePath => format!("{}{path}", self.base_url),
            UrlScheme::AzureDeployment { .. } => {
                let version = self
                    .api_version
                    .as_deref()
                    .unwrap_or(AZURE_DEFAULT_API_VERSION);
                let base = self.base_url.trim_end_matches("/openai");
                let sep = if path.contains('?') { '&' } else { '?' };
                format!(
                    "{base}/openai/deployments/{}{path}{sep}api-version={version}",
                    encode_path_segment(&self.model)
                )
            }
        }
    }

    /// The Chat Completions URL for this route.
    pub fn chat_url(&self) -> String {
        self.url("/chat/completions")
    }

    /// The header carrying the key, following the preset's [`AuthScheme`]: `(name, value)`.
    pub fn auth_header(&self) -> Option<(&'static str, String)> {
        let key = self.key.as_deref()?;
        Some(match self.preset.auth {
            AuthScheme::Bearer => ("authorization", format!("Bearer {key}")),
            AuthScheme::Header(name) => (name, key.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn routes_provider_prefixed_models() {
        let e = env(&[("OPENROUTER_API_KEY", "k")]);
        let r = route("openrouter/qwen/qwen3-coder", None, &e).unwrap();
        assert_eq!(r.preset.name, "openrouter");
        assert_eq!(r.model, "qwen/qwen3-coder");
        assert_eq!(r.base_url, "https://openrouter.ai/api/v1");
        assert_eq!(
            r.chat_url(),
            "https://openrouter.ai/api/v1/chat/completions"
        );
        assert_eq!(
            r.auth_header(),
            Some(("authorization", "Bearer k".to_owned()))
        );
    }

    #[test]
    fn openai_reasoning_models_speak_responses_unless_overridden() {
        let e = env(&[("OPENAI_API_KEY", "k")]);
        for (model, dialect) in [
            ("openai/gpt-5", Dialect::OpenAiResponses),
            ("openai/gpt-5-codex", Dialect::OpenAiResponses),
            ("openai/GPT-5.1-Codex-Max", Dialect::OpenAiResponses),
            ("openai/o3-pro", Dialect::OpenAiResponses),
            ("openai/o4-mini", Dialect::OpenAiResponses),
            ("openai/codex-mini-latest", Dialect::OpenAiResponses),
            ("openai/gpt-5-chat-latest", Dialect::OpenAiChat),
            ("openai/gpt-4.1", Dialect::OpenAiChat),
            ("openai/omni-moderation-latest", Dialect::OpenAiChat),
        ] {
            assert_eq!(route(model, None, &e).unwrap().dialect, dialect, "{model}");
        }
        let r = route("openai/gpt-5", None, &e).unwrap();
        assert_eq!(r.url("/responses"), "https://api.openai.com/v1/responses");
        // Other presets keep their own dialect for the same model names.
        let e = env(&[("OPENROUTER_API_KEY", "k"), ("ANTHROPIC_API_KEY", "k")]);
        assert_eq!(
            route("openrouter/openai/gpt-5", None, &e).unwrap().dialect,
            Dialect::OpenAiChat
        );
        assert_eq!(
            route("anthropic/claude-x", None, &e).unwrap().dialect,
            Dialect::Anthropic
        );
        // The override picks the API for every model of the preset.
        let chat = env(&[("OPENAI_API_KEY", "k"), ("ANYCLAUDE_OPENAI_API", "chat")]);
        assert_eq!(
            route("openai/gpt-5", None, &chat).unwrap().dialect,
            Dialect::OpenAiChat
        );
        let responses = env(&[
            ("OLLAMA_BASE_URL", "http://127.0.0.1:9/v1"),
            ("ANYCLAUDE_OLLAMA_API", " Responses "),
        ]);
        assert_eq!(
            route("ollama/gpt-oss:20b", None, &responses)
                .unwrap()
                .dialect,
            Dialect::OpenAiResponses
        );
        let auto = env(&[("OPENAI_API_KEY", "k"), ("ANYCLAUDE_OPENAI_API", "auto")]);
        assert_eq!(
            route("openai/o3", None, &auto).unwrap().dialect,
            Dialect::OpenAiResponses
        );
        let bad = env(&[
            ("OPENAI_API_KEY", "k"),
            ("ANYCLAUDE_OPENAI_API", "respones"),
        ]);
        let err = route("openai/gpt-5", None, &bad).unwrap_err();
        assert!(err.to_string().contains("ANYCLAUDE_OPENAI_API"), "{err}");
        // No override where the preset cannot speak Responses on a plain base URL.
        assert_eq!(api_override_var(preset("azure").unwrap()), None);
        assert_eq!(api_override_var(preset("anthropic").unwrap()), None);
        assert_eq!(
            api_override_var(preset("lmstudio").unwrap()).as_deref(),
            Some("ANYCLAUDE_LMSTUDIO_API")
        );
    }

    #[test]
    fn local_presets_need_no_key_and_take_overrides() {
        let e = env(&[("OLLAMA_BASE_URL", "http://127.0.0.1:9/v1/")]);
        let r = route("ollama/qwen3-coder", None, &e).unwrap();
        assert_eq!(r.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(r.key, None);
        assert_eq!(r.auth_header(), None);
    }

    #[test]
    fn openai_url_variables_in_order() {
        let e = env(&[("OPENAI_API_KEY", "k"), ("OPENAI_API_URL", "http://b/v1")]);
        assert_eq!(route("openai/x", None, &e).unwrap().base_url, "http://b/v1");
        let e = env(&[
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_BASE_URL", "http://a/v1"),
            ("OPENAI_API_URL", "http://b/v1"),
        ]);
        assert_eq!(route("openai/x", None, &e).unwrap().base_url, "http://a/v1");
    }

    #[test]
    fn bare_ids_go_to_the_default_model() {
        let e = env(&[("OPENAI_API_KEY", "k")]);
        let r = route("claude-haiku-4-5", Some("openai/gpt-5-mini"), &e).unwrap();
        assert_eq!(r.model, "gpt-5-mini");
        assert_eq!(r.defaulted_from.as_deref(), Some("claude-haiku-4-5"));
        let err = route("claude-haiku-4-5", None, &e).unwrap_err();
        assert!(err.to_string().contains("--model"), "{err}");
    }

    #[test]
    fn errors_name_what_to_do() {
        let e = env(&[]);
        let err = route("nope/x", None, &e).unwrap_err().to_string();
        assert!(err.contains("openai") && err.contains("ollama"), "{err}");
        let err = route("openai/gpt-5", None, &e).unwrap_err().to_string();
        assert!(err.contains("OPENAI_API_KEY"), "{err}");
        assert!(matches!(
            route("openai/", None, &env(&[("OPENAI_API_KEY", "k")])),
            Err(RouteError::EmptyModel { .. })
        ));
        let err = route("azure/dep", None, &env(&[("AZURE_OPENAI_API_KEY", "k")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AZURE_OPENAI_ENDPOINT"), "{err}");
    }

    #[test]
    fn gemini_takes_either_key_its_base_url_and_the_goog_header() {
        let e = env(&[("GOOGLE_API_KEY", "g")]);
        let r = route("gemini/gemini-2.5-pro", None, &e).unwrap();
        assert_eq!(r.preset.dialect, Dialect::Gemini);
        assert_eq!(
            r.base_url,
            "https://generativelanguage.googleapis.com/v1beta"
        );
        assert_eq!(r.auth_header(), Some(("x-goog-api-key", "g".to_owned())));
        let e = env(&[
            ("GEMINI_API_KEY", "k"),
            ("GOOGLE_API_KEY", "g"),
            ("GEMINI_BASE_URL", "http://127.0.0.1:9/v1beta/"),
        ]);
        let r = route("gemini/gemini-2.5-flash", None, &e).unwrap();
        assert_eq!(r.key.as_deref(), Some("k"), "GEMINI_API_KEY first");
        assert_eq!(
            r.url("/models/gemini-2.5-flash:generateContent"),
            "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent"
        );
        let err = route("gemini/x", None, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("GEMINI_API_KEY"), "{err}");
    }

    #[test]
    fn azure_builds_deployment_urls() {
        let e = env(&[
            ("AZURE_API_KEY", "k"),
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"),
        ]);
        let r = route("azure/my-dep", None, &e).unwrap();
        assert_eq!(
            r.chat_url(),
            "https://r.openai.azure.com/openai/deployments/my-dep/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(r.auth_header(), Some(("api-key", "k".to_owned())));
        let e = env(&[
            ("AZURE_OPENAI_API_KEY", "k"),
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/openai"),
            ("AZURE_OPENAI_API_VERSION", "2025-01-01"),
        ]);
        let r = route("azure/my dep", None, &e).unwrap();
        assert_eq!(
            r.url("/responses?x=1"),
            "https://r.openai.azure.com/openai/deployments/my%20dep/responses?x=1&api-version=2025-01-01"
        );
    }

    #[test]
    fn anthropic_compatible_hosts_have_their_url_key_and_header() {
        let e = env(&[
            ("DEEPSEEK_API_KEY", "d"),
            ("KIMI_API_KEY", "k"),
            ("ZAI_API_KEY", "z"),
            ("MINIMAX_API_KEY", "m"),
            ("ZAI_BASE_URL", "https://open.bigmodel.cn/api/anthropic/"),
        ]);
        let cases = [
            (
                "deepseek-anthropic/deepseek-chat",
                "https://api.deepseek.com/anthropic/v1/messages",
                ("x-api-key", "d"),
            ),
            (
                "kimi/kimi-k2",
                "https://api.moonshot.ai/anthropic/v1/messages",
                ("authorization", "Bearer k"),
            ),
            (
                "zai/glm-4.6",
                "https://open.bigmodel.cn/api/anthropic/v1/messages",
                ("authorization", "Bearer z"),
            ),
            (
                "minimax/MiniMax-M2",
                "https://api.minimax.io/anthropic/v1/messages",
                ("authorization", "Bearer m"),
            ),
        ];
        for (model, url, (header, value)) in cases {
            let r = route(model, None, &e).unwrap();
            assert_eq!(r.preset.dialect, Dialect::Anthropic, "{model}");
            assert_eq!(r.url("/v1/messages"), url);
            assert_eq!(r.auth_header(), Some((header, value.to_owned())), "{model}");
            assert!(r.preset.messages.signature_tag.is_some(), "{model}");
        }
        assert_eq!(
            route("deepseek/deepseek-chat", None, &e)
                .unwrap()
                .preset
                .dialect,
            Dialect::OpenAiChat,
            "deepseek/ stays on Chat Completions"
        );
        let err = route("kimi/k2", None, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("MOONSHOT_API_KEY"), "{err}");
        assert_eq!(
            preset("anthropic").unwrap().messages,
            MessagesProfile::ANTHROPIC
        );
    }

    #[test]
    fn quirks_are_data() {
        let e = env(&[("ANTHROPIC_API_KEY", "a")]);
        let r = route("anthropic/claude-x", None, &e).unwrap();
        assert_eq!(r.auth_header(), Some(("x-api-key", "a".to_owned())));
        assert_eq!(
            r.url("/v1/messages"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            encode_path_segment("models/gemini 2.5:x"),
            "models%2Fgemini%202.5%3Ax"
        );
    }
}

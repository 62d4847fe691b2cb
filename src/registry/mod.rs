//! The registry: every provider and model anyclaude knows, as owned data built once at
//! startup, and the routing of a request's `model` to one of them.
//!
//! It is built ([`Registry::build`]) from three layers, later ones winning:
//! 1. the built-in presets ([`crate::provider::PRESETS`]): each provider's dialect, base URL,
//!    key variables and quirks;
//! 2. the config file ([`file`]): new providers (inheriting a preset's quirks with
//!    `preset = "…"`), overrides of a preset's fields, models, aliases, tiers, the default
//!    model and the long-context route;
//! 3. the environment: base-URL variables (`OPENAI_BASE_URL`, …), key variables and
//!    `ANYCLAUDE_<PROVIDER>_API` beat the file (a flag beats both; see [`crate::config`]).
//!
//! Keys are read (and key commands run, once: [`key_command`]) while building, so that a
//! missing command or a bad file stops anyclaude before any port is bound. Keys live in
//! [`ApiKey`], whose `Debug` never shows them; no `Debug` of a [`Route`], [`Provider`] or
//! [`Registry`] can print one.
//!
//! Nothing here matches provider names in code: quirks (which models of a provider speak
//! another dialect, which header carries the key, …) are the presets' data, copied into
//! each [`Provider`]. The registry does not care which dialects exist: a provider names
//! its [`Dialect`] and the server hands the request to it.

pub mod file;
pub mod key_command;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::config::{ConfigError, Env, Timeouts};
use crate::provider::{
    AZURE_DEFAULT_API_VERSION, AuthScheme, ChatProfile, Dialect, DialectRule, LocalServer,
    MessagesProfile, PRESETS, Preset, UrlScheme, encode_path_segment,
};

pub use self::file::ConfigFile;
pub use self::key_command::{KeyCommandError, RunKeyCommand, ShellKeyCommand};

/// An API key. Its `Debug` prints a placeholder and it has no `Display`: the only way to
/// the value is [`ApiKey::expose`], at the one place it goes into a header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace, e.g. a key command's newline, is dropped).
    pub fn new(key: impl Into<String>) -> ApiKey {
        let key: String = key.into();
        ApiKey(key.trim().to_owned())
    }

    /// The key itself, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Extra headers sent with every request to one provider (from the config file). Their
/// values may be credentials: `Debug` shows only the names, and the values are marked
/// sensitive.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtraHeaders(Vec<(HeaderName, HeaderValue)>);

impl ExtraHeaders {
    /// The headers, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &(HeaderName, HeaderValue)> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ExtraHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, _) in &self.0 {
            list.entry(&format_args!("{name}: ***"));
        }
        list.finish()
    }
}

/// One provider's own timeouts (config file), each replacing the global one for its
/// requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderTimeouts {
    /// Longest wait for the upstream's response headers (`--timeout`).
    pub request: Option<Duration>,
    /// Longest silence mid-stream (`--idle-timeout`).
    pub idle: Option<Duration>,
    /// Longest time without visible output mid-stream (`--progress-timeout`).
    pub progress: Option<Duration>,
}

impl ProviderTimeouts {
    /// `global` with this provider's own values in place.
    pub fn apply(&self, global: Timeouts) -> Timeouts {
        Timeouts {
            request: self.request.unwrap_or(global.request),
            idle: self.idle.unwrap_or(global.idle),
            progress: self.progress.unwrap_or(global.progress),
            ..global
        }
    }
}

/// One provider, as built from its preset, the config file and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The prefix users write: `openai` in `openai/gpt-5-mini`.
    pub name: Arc<str>,
    /// The built-in preset whose quirks it has (its own name for a preset; the file's
    /// `preset = …` for a new provider; `None` for a new provider with none).
    pub preset: Option<&'static str>,
    /// The API spoken upstream, unless [`Provider::dialect_rules`] say otherwise for a
    /// model.
    pub dialect: Dialect,
    /// Models sent in another dialect than [`Provider::dialect`] (empty once the dialect
    /// was chosen by the file or `ANYCLAUDE_<PROVIDER>_API`).
    pub dialect_rules: &'static [DialectRule],
    /// The base URL, without a trailing `/` (empty when none is known: Azure without its
    /// endpoint).
    pub base_url: String,
    /// Variables that move the base URL (the first is named in hints).
    pub base_url_vars: Vec<String>,
    /// The key, when one was found.
    pub key: Option<ApiKey>,
    /// The variable a missing key is asked for in; `None` when no key is needed.
    pub key_var: Option<String>,
    /// Which header carries the key.
    pub auth: AuthScheme,
    /// How the URL is built.
    pub url: UrlScheme,
    /// The API version for [`UrlScheme::AzureDeployment`], resolved.
    pub api_version: Option<String>,
    /// What the backend accepts (Chat Completions).
    pub profile: ChatProfile,
    /// What the backend accepts (Anthropic Messages).
    pub messages: MessagesProfile,
    /// For local servers: what it is and how to start it.
    pub server: Option<LocalServer>,
    /// Extra headers for every request.
    pub headers: ExtraHeaders,
    /// Its own timeouts.
    pub timeouts: ProviderTimeouts,
}

impl Provider {
    /// The provider as its preset defines it, with the environment's overrides.
    fn from_preset(preset: &'static Preset, env: &dyn Env) -> Provider {
        let base_url = preset
            .base_url_vars
            .iter()
            .find_map(|v| env.non_empty(v))
            .unwrap_or_else(|| preset.default_base_url.to_owned());
        let key = match preset.key_var {
            Some(var) => std::iter::once(var)
                .chain(preset.key_fallback_vars.iter().copied())
                .find_map(|v| env.non_empty(v)),
            // Local servers need no key, but some are set up with one.
            None => preset.server.and_then(|s| env.non_empty(s.key_var)),
        };
        let api_version = match preset.url {
            UrlScheme::AzureDeployment {
                version_var,
                default_version,
            } => Some(
                env.non_empty(version_var)
                    .unwrap_or_else(|| default_version.to_owned()),
            ),
            UrlScheme::BasePath => None,
        };
        Provider {
            name: Arc::from(preset.name),
            preset: Some(preset.name),
            dialect: preset.dialect,
            dialect_rules: preset.dialect_rules,
            base_url: base_url.trim_end_matches('/').to_owned(),
            base_url_vars: preset
                .base_url_vars
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
            key: key.map(ApiKey::new),
            key_var: preset.key_var.map(str::to_owned),
            auth: preset.auth,
            url: preset.url,
            api_version,
            profile: preset.profile,
            messages: preset.messages,
            server: preset.server,
            headers: ExtraHeaders::default(),
            timeouts: ProviderTimeouts::default(),
        }
    }

    /// The variable that picks the API for every model of a Chat provider on a plain base
    /// URL, whatever its rules say: `ANYCLAUDE_<PROVIDER>_API` = `chat`, `responses` or
    /// `auto`. Providers that do not speak Chat Completions on a plain base URL (Anthropic,
    /// Gemini, Azure deployments) have none.
    pub fn api_override_var(&self) -> Option<String> {
        (self.dialect == Dialect::OpenAiChat && self.url == UrlScheme::BasePath).then(|| {
            let name: String = self
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("ANYCLAUDE_{name}_API")
        })
    }

    /// The dialect a request for `model` (the part after `<provider>/`) is sent in.
    pub fn dialect_for(&self, model: &str) -> Dialect {
        self.dialect_rules
            .iter()
            .find(|r| r.matches(model))
            .map_or(self.dialect, |r| r.dialect)
    }

    /// Whether requests need a key this provider does not have.
    pub fn missing_key(&self) -> Option<&str> {
        match (&self.key, &self.key_var) {
            (None, Some(var)) => Some(var),
            _ => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// How a model writes its tool calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolCallFormat {
    /// As the API's own tool calls.
    Native,
    /// As text in its answer (some local models), to be recovered from it.
    Text,
    /// Native, but text that is clearly a tool call is recovered too.
    #[default]
    Auto,
}

/// How a model reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningStyle {
    /// It does not.
    None,
    /// It takes an effort level (low, medium, high).
    Effort,
    /// It takes a token budget.
    Budget,
    /// It always reasons; nothing turns it on or off.
    Always,
}

/// What a model can do; `None` where the file says nothing (the dialect's defaults apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether it takes images.
    pub images: Option<bool>,
    /// Whether it takes tools.
    pub tools: Option<bool>,
    /// Whether it makes several tool calls in one turn.
    pub parallel_tool_calls: Option<bool>,
    /// How it reasons.
    pub reasoning: Option<ReasoningStyle>,
    /// How it writes tool calls.
    pub tool_call_format: ToolCallFormat,
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Input tokens.
    pub input: f64,
    /// Input tokens read from the cache (the input price when not given).
    pub cached_input: f64,
    /// Output tokens (reasoning included).
    pub output: f64,
}

/// What is known about one `provider/model` (config file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSpec {
    /// Tokens it can read at once.
    pub context_window: Option<u64>,
    /// Tokens it can write in one answer.
    pub max_output_tokens: Option<u64>,
    /// Its name in Claude Code's model picker.
    pub display_name: Option<String>,
    /// Its description there.
    pub description: Option<String>,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Models to try, in order, when it fails (full `provider/model` ids, aliases
    /// resolved).
    pub fallbacks: Vec<String>,
    /// Its price.
    pub price: Option<Price>,
}

/// Claude Code's model tiers, and the two roles it picks a model for besides them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// `opus` (`ANTHROPIC_DEFAULT_OPUS_MODEL`).
    Opus,
    /// `sonnet` (`ANTHROPIC_DEFAULT_SONNET_MODEL`).
    Sonnet,
    /// `haiku` (`ANTHROPIC_DEFAULT_HAIKU_MODEL`).
    Haiku,
    /// Background requests: titles, summaries (`ANTHROPIC_SMALL_FAST_MODEL`).
    Background,
    /// Subagents (`CLAUDE_CODE_SUBAGENT_MODEL`).
    Subagent,
}

impl Tier {
    /// Every tier.
    pub const ALL: [Tier; 5] = [
        Tier::Opus,
        Tier::Sonnet,
        Tier::Haiku,
        Tier::Background,
        Tier::Subagent,
    ];

    /// Its key in the config file's `[tiers]`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Opus => "opus",
            Tier::Sonnet => "sonnet",
            Tier::Haiku => "haiku",
            Tier::Background => "background",
            Tier::Subagent => "subagent",
        }
    }
}

/// Requests estimated above `threshold` input tokens go to `model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongContext {
    /// Input tokens, estimated.
    pub threshold: u64,
    /// The full `provider/model` id (alias resolved).
    pub model: String,
}

/// Names Claude Code resolves itself before they reach the proxy (`/model sonnet`): an
/// alias by one of these names would never be used, so the file may not define one.
const CLAUDE_ALIASES: &[&str] = &[
    "opus", "sonnet", "haiku", "fable", "default", "opusplan", "best", "inherit",
];

/// Every provider and model anyclaude knows, built once at startup. Shared by the server
/// as `Arc<Registry>`.
#[derive(Debug, Clone)]
pub struct Registry {
    providers: Vec<Arc<Provider>>,
    models: BTreeMap<String, ModelSpec>,
    /// alias → full id (chains resolved).
    aliases: BTreeMap<String, String>,
    /// tier → full id.
    tiers: BTreeMap<Tier, String>,
    default_model: Option<String>,
    long_context: Option<LongContext>,
    file: Option<PathBuf>,
}

impl Registry {
    /// The presets with the environment's overrides, and no config file.
    pub fn from_env(env: &dyn Env) -> Result<Registry, ConfigError> {
        Registry::build(None, env, &key_command::NoKeyCommands)
    }

    /// Builds the registry from the presets, the config file (if any) and the environment,
    /// running key commands with `keys`. Errors name the file, line, column and key.
    pub fn build(
        file: Option<&file::Loaded>,
        env: &dyn Env,
        keys: &dyn RunKeyCommand,
    ) -> Result<Registry, ConfigError> {
        let mut providers: Vec<Provider> = PRESETS
            .iter()
            .map(|p| Provider::from_preset(p, env))
            .collect();
        if let Some(loaded) = file {
            file::apply_providers(loaded, &mut providers, env, keys)?;
        }
        for provider in &mut providers {
            apply_api_override(provider, env)?;
        }
        let mut registry = Registry {
            providers: providers.into_iter().map(Arc::new).collect(),
            models: BTreeMap::new(),
            aliases: BTreeMap::new(),
            tiers: BTreeMap::new(),
            default_model: None,
            long_context: None,
            file: file.map(|l| l.path.clone()),
        };
        if let Some(loaded) = file {
            file::apply_models(loaded, &mut registry)?;
        }
        Ok(registry)
    }

    /// The config file it was built from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// A provider by name (case-insensitive).
    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Every provider: the presets in their order, then the file's new ones.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers.iter()
    }

    /// The provider names, comma-separated, for messages.
    pub fn provider_names(&self) -> String {
        self.providers
            .iter()
            .map(|p| &*p.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What the config file says about `full` (`provider/model`; an alias is resolved).
    pub fn model(&self, full: &str) -> Option<&ModelSpec> {
        self.models.get(self.resolve(full))
    }

    /// Every model the config file describes, by full id.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelSpec)> {
        self.models.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every alias and the full id it stands for.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aliases.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every configured tier and its full id.
    pub fn tiers(&self) -> impl Iterator<Item = (Tier, &str)> {
        self.tiers.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// The full id configured for `tier`.
    pub fn tier(&self, tier: Tier) -> Option<&str> {
        self.tiers.get(&tier).map(String::as_str)
    }

    /// The model requests without a provider go to (`--model`, else the file's
    /// `default_model`), as a full id.
    pub fn default_model(&self) -> Option<&str> {
        self.default_model.as_deref()
    }

    /// Sets the default model (`--model` beats the file): an alias is resolved.
    pub fn set_default_model(&mut self, model: Option<&str>) {
        self.default_model = model.map(|m| self.resolve(m).to_owned());
    }

    /// The long-context route, if configured.
    pub fn long_context(&self) -> Option<&LongContext> {
        self.long_context.as_ref()
    }

    /// `name` with an alias replaced by the full id it stands for.
    pub fn resolve<'a>(&'a self, name: &'a str) -> &'a str {
        self.aliases.get(name).map_or(name, String::as_str)
    }

    /// The longest time any provider waits for an answer's headers: `global`, or a
    /// provider's own longer `timeouts.request`.
    pub fn longest_request_timeout(&self, global: Duration) -> Duration {
        self.providers
            .iter()
            .filter_map(|p| p.timeouts.request)
            .fold(global, Duration::max)
    }

    /// Every secret it holds (keys, extra header values), for scrubbing logs and errors.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.providers {
            if let Some(key) = &p.key {
                out.push(key.expose().to_owned());
            }
            for (_, value) in p.headers.iter() {
                if let Ok(v) = value.to_str() {
                    out.push(v.to_owned());
                }
            }
        }
        out
    }

    /// Routes `model` (as Claude Code sent it, or as `--model` gave it). An alias is
    /// resolved; a bare name (Claude Code's own `claude-*` ids, or anything without a `/`)
    /// goes to the tier its family names when that tier is configured (`claude-haiku-…` →
    /// `[tiers] haiku`), else to the default model.
    pub fn route(&self, model: &str) -> Result<Route, RouteError> {
        let resolved = self.resolve(model);
        let alias = (resolved != model).then(|| model.to_owned());
        let (target, defaulted_from) = if resolved.contains('/') {
            (resolved, None)
        } else {
            match self.bare_target(resolved) {
                Some(target) => (target, Some(model.to_owned())),
                None => {
                    return Err(RouteError::NoProvider {
                        model: model.to_owned(),
                        known: self.provider_names(),
                    });
                }
            }
        };
        let (prefix, name) = target.split_once('/').unwrap_or((target, ""));
        let provider = self
            .provider(prefix)
            .ok_or_else(|| RouteError::UnknownProvider {
                prefix: prefix.to_owned(),
                model: target.to_owned(),
                known: self.provider_names(),
            })?;
        if name.is_empty() {
            return Err(RouteError::EmptyModel {
                model: target.to_owned(),
            });
        }
        if provider.base_url.is_empty() {
            return Err(RouteError::MissingBaseUrl {
                provider: provider.name.to_string(),
                var: provider
                    .base_url_vars
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "base_url in the config file".to_owned()),
            });
        }
        if let Some(var) = provider.missing_key() {
            return Err(RouteError::MissingKey {
                provider: provider.name.to_string(),
                var: var.to_owned(),
            });
        }
        Ok(Route {
            provider: Arc::clone(provider),
            dialect: provider.dialect_for(name),
            model: name.to_owned(),
            defaulted_from,
            alias,
            long_context_from: None,
        })
    }

    /// Routes a request whose input is estimated at `estimated_tokens`: above the
    /// long-context threshold it goes to the long-context model (the route says so in
    /// [`Route::long_context_from`]), otherwise as [`Registry::route`].
    pub fn route_request(&self, model: &str, estimated_tokens: u64) -> Result<Route, RouteError> {
        let route = self.route(model)?;
        match &self.long_context {
            Some(long) if estimated_tokens > long.threshold && route.full() != long.model => {
                let mut long_route = self.route(&long.model)?;
                long_route.long_context_from = Some(route.full());
                Ok(long_route)
            }
            _ => Ok(route),
        }
    }

    /// Where a bare model name goes: its family's tier, else the default model.
    fn bare_target(&self, bare: &str) -> Option<&str> {
        let lower = bare.to_ascii_lowercase();
        [Tier::Opus, Tier::Sonnet, Tier::Haiku]
            .into_iter()
            .find(|t| lower.contains(t.name()))
            .and_then(|t| self.tier(t))
            .or(self.default_model.as_deref())
            .filter(|m| m.contains('/'))
    }
}

/// `ANYCLAUDE_<PROVIDER>_API`: `chat` or `responses` fixes the dialect for every model of
/// the provider, `auto` (or empty) keeps its rules.
fn apply_api_override(provider: &mut Provider, env: &dyn Env) -> Result<(), ConfigError> {
    let Some(var) = provider.api_override_var() else {
        return Ok(());
    };
    let Some(value) = env.non_empty(&var) else {
        return Ok(());
    };
    let dialect = match value.trim().to_ascii_lowercase().as_str() {
        "chat" => Dialect::OpenAiChat,
        "responses" => Dialect::OpenAiResponses,
        "auto" | "" => return Ok(()),
        _ => {
            return Err(ConfigError(format!(
                "{var} is {value:?}; it must be chat, responses or auto"
            )));
        }
    };
    provider.dialect = dialect;
    provider.dialect_rules = &[];
    Ok(())
}

/// Where one request goes.
#[derive(Debug, Clone)]
pub struct Route {
    /// The provider.
    pub provider: Arc<Provider>,
    /// The dialect spoken for this model (the provider's, unless its rules say otherwise).
    pub dialect: Dialect,
    /// The model name the upstream knows (the part after `<provider>/`).
    pub model: String,
    /// The bare model name the request named, when it was sent to a tier or the default
    /// model instead.
    pub defaulted_from: Option<String>,
    /// The alias the request named, when it named one.
    pub alias: Option<String>,
    /// The model the request would have gone to, when it went to the long-context model
    /// instead.
    pub long_context_from: Option<String>,
}

impl Route {
    /// `provider/model`.
    pub fn full(&self) -> String {
        format!("{}/{}", self.provider.name, self.model)
    }

    /// The URL of `path` (e.g. `/chat/completions`, `/v1/messages`, which may carry a
    /// query) on this route, following the provider's [`UrlScheme`].
    pub fn url(&self, path: &str) -> String {
        let base_url = &self.provider.base_url;
        match self.provider.url {
            UrlScheme::BasePath => format!("{base_url}{path}"),
            UrlScheme::AzureDeployment { .. } => {
                let version = self
                    .provider
                    .api_version
                    .as_deref()
                    .unwrap_or(AZURE_DEFAULT_API_VERSION);
                let base = base_url.trim_end_matches("/openai");
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

    /// The header carrying the key, following the provider's [`AuthScheme`]: `(name,
    /// value)`.
    pub fn auth_header(&self) -> Option<(&'static str, String)> {
        let key = self.provider.key.as_ref()?.expose();
        Some(match self.provider.auth {
            AuthScheme::Bearer => ("authorization", format!("Bearer {key}")),
            AuthScheme::Header(name) => (name, key.to_owned()),
        })
    }
}

/// Why a request's model could not be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `<prefix>/…` where the prefix is no provider.
    #[error(
        "unknown provider {prefix:?} in model {model:?}; known providers: {known}. Write the model as <provider>/<model>, e.g. openai/gpt-5-mini"
    )]
    UnknownProvider {
        /// The prefix.
        prefix: String,
        /// The whole model string.
        model: String,
        /// The provider names.
        known: String,
    },
    /// A bare model name and no default to send it to.
    #[error(
        "model {model:?} names no provider and anyclaude was started without --model; start it as `anyclaude --model <provider>/<model>` (providers: {known})"
    )]
    NoProvider {
        /// The model as sent.
        model: String,
        /// The provider names.
        known: String,
    },
    /// `<provider>/` with nothing after it.
    #[error("model {model:?} names no model after the provider")]
    EmptyModel {
        /// The model as sent.
        model: String,
    },
    /// The provider needs a key and none was found.
    #[error(
        "{provider} needs an API key: set {var} in the environment anyclaude runs in (then restart anyclaude)"
    )]
    MissingKey {
        /// The provider.
        provider: String,
        /// The variable to set.
        var: String,
    },
    /// The provider needs a base URL and none is set (Azure).
    #[error("{provider} needs its endpoint: set {var}, e.g. https://<resource>.openai.azure.com")]
    MissingBaseUrl {
        /// The provider.
        provider: String,
        /// The variable to set.
        var: String,
    },
}

#[cfg(test)]
mod tests;

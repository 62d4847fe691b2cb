//! The config file: where it is ([`locate`]), its format ([`ConfigFile`], TOML read with
//! serde, unknown keys refused) and how it changes the registry ([`apply_providers`],
//! [`apply_models`]). Every error names the file, the line, the column and the key:
//!
//! ```text
//! ~/.config/anyclaude/config.toml:12:9: tiers.haiku: unknown provider "grok" in "grok/x"; …
//! ```
//!
//! The README's "Configuration file" section documents every key; `examples/config.toml`
//! uses each of them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use toml::Spanned;

use super::{
    Capabilities, ExtraHeaders, LongContext, ModelSpec, Price, Provider, ProviderTimeouts,
    ReasoningStyle, Registry, Tier, ToolCallFormat,
};
use crate::config::{ConfigError, Env, MAX_DURATION};
use crate::provider::{self, AuthScheme, ChatProfile, Dialect, MessagesProfile, UrlScheme};

/// The variable naming the config file (`--config` beats it).
pub const CONFIG_VAR: &str = "ANYCLAUDE_CONFIG";

/// Headers the file may not set: anyclaude sends them itself (the key's own headers, the
/// body's framing).
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "host",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "x-anyclaude-token",
];

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The model used when `--model` is not given.
    pub default_model: Option<Spanned<String>>,
    /// anyclaude's status line under Claude Code's prompt: `false` turns it off (a status
    /// line of the user's own wins either way).
    pub status_line: Option<bool>,
    /// Short names for models.
    #[serde(default)]
    pub aliases: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Claude Code's tiers.
    #[serde(default)]
    pub tiers: TiersFile,
    /// The long-context route.
    pub long_context: Option<LongContextFile>,
    /// Providers, new or overriding a preset.
    #[serde(default)]
    pub providers: BTreeMap<Spanned<String>, ProviderFile>,
    /// Models, by `provider/model`.
    #[serde(default)]
    pub models: BTreeMap<Spanned<String>, ModelFile>,
}

/// `[tiers]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiersFile {
    /// `opus`.
    pub opus: Option<Spanned<String>>,
    /// `sonnet`.
    pub sonnet: Option<Spanned<String>>,
    /// `haiku`.
    pub haiku: Option<Spanned<String>>,
    /// Background requests.
    pub background: Option<Spanned<String>>,
    /// Subagents.
    pub subagent: Option<Spanned<String>>,
}

impl TiersFile {
    fn get(&self, tier: Tier) -> Option<&Spanned<String>> {
        match tier {
            Tier::Opus => self.opus.as_ref(),
            Tier::Sonnet => self.sonnet.as_ref(),
            Tier::Haiku => self.haiku.as_ref(),
            Tier::Background => self.background.as_ref(),
            Tier::Subagent => self.subagent.as_ref(),
        }
    }
}

/// `[long_context]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextFile {
    /// Estimated input tokens above which requests go to `model`.
    pub threshold: Spanned<u64>,
    /// The model (or alias).
    pub model: Spanned<String>,
}

/// The dialect names the file takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialectName {
    /// OpenAI Chat Completions.
    Chat,
    /// The OpenAI Responses API.
    Responses,
    /// Gemini's own API.
    Gemini,
    /// Anthropic Messages.
    Anthropic,
}

impl From<DialectName> for Dialect {
    fn from(d: DialectName) -> Dialect {
        match d {
            DialectName::Chat => Dialect::OpenAiChat,
            DialectName::Responses => Dialect::OpenAiResponses,
            DialectName::Gemini => Dialect::Gemini,
            DialectName::Anthropic => Dialect::Anthropic,
        }
    }
}

/// Which header carries the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthName {
    /// `authorization: Bearer <key>`.
    #[serde(rename = "bearer")]
    Bearer,
    /// `x-api-key: <key>`.
    #[serde(rename = "x-api-key")]
    XApiKey,
    /// `api-key: <key>`.
    #[serde(rename = "api-key")]
    ApiKey,
    /// `x-goog-api-key: <key>`.
    #[serde(rename = "x-goog-api-key")]
    XGoogApiKey,
}

impl From<AuthName> for AuthScheme {
    fn from(a: AuthName) -> AuthScheme {
        match a {
            AuthName::Bearer => AuthScheme::Bearer,
            AuthName::XApiKey => AuthScheme::Header("x-api-key"),
            AuthName::ApiKey => AuthScheme::Header("api-key"),
            AuthName::XGoogApiKey => AuthScheme::Header("x-goog-api-key"),
        }
    }
}

/// `[providers.<name>]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    /// For a new provider: the built-in preset whose quirks it inherits.
    pub preset: Option<Spanned<String>>,
    /// The base URL.
    pub base_url: Option<Spanned<String>>,
    /// The API spoken, for every model.
    pub dialect: Option<DialectName>,
    /// The variable holding the key.
    pub key_env: Option<Spanned<String>>,
    /// A command printing the key, run once at start when the variable is unset.
    pub key_command: Option<Spanned<String>>,
    /// Which header carries the key.
    pub auth: Option<AuthName>,
    /// Extra headers for every request.
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Its own timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsFile,
}

/// `[providers.<name>.timeouts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsFile {
    /// `--timeout` for this provider.
    pub request: Option<Spanned<String>>,
    /// `--idle-timeout` for this provider.
    pub idle: Option<Spanned<String>>,
    /// `--progress-timeout` for this provider.
    pub progress: Option<Spanned<String>>,
}

/// `[models."<provider>/<model>"]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Tokens it reads at once.
    pub context_window: Option<u64>,
    /// Tokens it writes in one answer.
    pub max_output_tokens: Option<u64>,
    /// Its name in Claude Code's picker.
    pub display_name: Option<String>,
    /// Its description there.
    pub description: Option<String>,
    /// What it can do.
    #[serde(default)]
    pub capabilities: CapabilitiesFile,
    /// Models to try when it fails.
    #[serde(default)]
    pub fallbacks: Vec<Spanned<String>>,
    /// Its price per million tokens.
    pub price: Option<Spanned<PriceFile>>,
}

/// `capabilities`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesFile {
    /// Takes images.
    pub images: Option<bool>,
    /// Takes tools.
    pub tools: Option<bool>,
    /// Makes several tool calls at once.
    pub parallel_tool_calls: Option<bool>,
    /// How it reasons.
    pub reasoning: Option<ReasoningStyle>,
    /// How it writes tool calls.
    pub tool_call_format: Option<ToolCallFormat>,
}

/// `price`, US dollars per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    /// Input tokens.
    pub input: f64,
    /// Cached input tokens.
    pub cached_input: Option<f64>,
    /// Output tokens.
    pub output: f64,
}

/// A parsed file and where it came from (for error positions).
#[derive(Debug)]
pub struct Loaded {
    /// Its path.
    pub path: PathBuf,
    /// Its text.
    pub source: String,
    /// Its content.
    pub file: ConfigFile,
}

/// Where the config file is: `--config` (`flag`), else `ANYCLAUDE_CONFIG`, else
/// `$XDG_CONFIG_HOME/anyclaude/config.toml` (or `~/.config/anyclaude/config.toml`).
/// Returns the path and whether it was named explicitly (an explicit file must exist; the
/// default one is optional).
pub fn locate(flag: Option<&Path>, env: &dyn Env) -> Option<(PathBuf, bool)> {
    if let Some(path) = flag {
        return Some((path.to_owned(), true));
    }
    if let Some(path) = env.non_empty(CONFIG_VAR) {
        return Some((PathBuf::from(path), true));
    }
    let dir = match env.non_empty("XDG_CONFIG_HOME") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => PathBuf::from(env.non_empty("HOME")?).join(".config"),
    };
    Some((dir.join("anyclaude").join("config.toml"), false))
}

/// Reads the config file: `Ok(None)` when the default file does not exist.
pub fn load(flag: Option<&Path>, env: &dyn Env) -> Result<Option<Loaded>, ConfigError> {
    let Some((path, explicit)) = locate(flag, env) else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(source) => parse(path, source).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(err) => Err(ConfigError(format!(
            "{}: cannot read the config file: {err}",
            path.display()
        ))),
    }
}

/// Parses `source`, read from `path`.
pub fn parse(path: PathBuf, source: String) -> Result<Loaded, ConfigError> {
    match toml::from_str::<ConfigFile>(&source) {
        Ok(file) => Ok(Loaded { path, source, file }),
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            let key = key_at(&source, span.clone());
            let loaded = Loaded {
                path,
                source,
                file: ConfigFile::default(),
            };
            Err(loaded.error(span, &key, err.message().trim_end()))
        }
    }
}

impl Loaded {
    /// An error at `span` of the file, about `key`.
    pub fn error(&self, span: Range<usize>, key: &str, message: &str) -> ConfigError {
        let (line, column) = line_column(&self.source, span.start);
        let key = if key.is_empty() {
            String::new()
        } else {
            format!("{key}: ")
        };
        ConfigError(format!(
            "{}:{line}:{column}: {key}{message}",
            self.path.display()
        ))
    }
}

/// The largest char boundary of `s` at or before `i`.
fn char_floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..char_floor(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted key an error at `span` is about, read off the text: the table header in
/// effect, the keys before the span on its line, and the span itself when it is a key.
fn key_at(source: &str, span: Range<usize>) -> String {
    let start = char_floor(source, span.start.min(source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = &source[line_start..line_end];
    if line.trim_start().starts_with('[') {
        return line
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    let header = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned()
        });
    let mut keys: Vec<String> = header.into_iter().collect();
    // Each `key =` before the error on its line (an inline table nests them).
    let before = &source[line_start..start];
    let mut rest = before;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .rsplit(['{', ','])
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let quoted_key = key.len() >= 2 && key.starts_with('"') && key.ends_with('"');
        if !key.is_empty() && !key.contains('[') && (quoted_key || !key.contains('"')) {
            keys.push(key);
        }
        rest = &rest[eq + 1..];
    }
    let end = span.end.min(line_end).max(start);
    let spanned = source[start..char_floor(source, end)].trim();
    if !spanned.is_empty() && source[end..line_end].trim_start().starts_with('=') {
        keys.push(spanned.to_owned());
    }
    keys.join(".")
}

/// A model name's key path, for messages: `models."openai/gpt-5"`.
fn quoted(table: &str, name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        format!("{table}.{name}")
    } else {
        format!("{table}.{name:?}")
    }
}

/// Parses a duration from the file: a number and a unit, at most a day.
fn duration(loaded: &Loaded, key: &str, raw: &Spanned<String>) -> Result<Duration, ConfigError> {
    match humantime::parse_duration(raw.get_ref().trim()) {
        Ok(d) if d.is_zero() => Err(loaded.error(raw.span(), key, "must be greater than zero")),
        Ok(d) if d > MAX_DURATION => Err(loaded.error(
            raw.span(),
            key,
            "longer than 24h, the longest any duration may be",
        )),
        Ok(d) => Ok(d),
        Err(_) => Err(loaded.error(
            raw.span(),
            key,
            &format!(
                "{:?} is not a duration; write a number and a unit, e.g. 250ms, 45s, 10m, 1h30m",
                raw.get_ref()
            ),
        )),
    }
}

/// Applies `[providers.*]`: overrides of presets and new providers, keys (variables first,
/// then the key command), headers and timeouts. The environment's base-URL variables beat
/// the file's `base_url`.
pub fn apply_providers(
    loaded: &Loaded,
    providers: &mut Vec<Provider>,
    env: &dyn Env,
    keys: &dyn super::RunKeyCommand,
) -> Result<(), ConfigError> {
    for (name, spec) in &loaded.file.providers {
        let table = quoted("providers", name.get_ref());
        let name_str = name.get_ref().as_str();
        if name_str.is_empty()
            || name_str.contains('/')
            || name_str.chars().any(char::is_whitespace)
        {
            return Err(loaded.error(
                name.span(),
                &table,
                "a provider name may not be empty or hold a `/` or spaces",
            ));
        }
        let existing = providers
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name_str));
        let mut provider = match (existing, &spec.preset) {
            (Some(i), None) => providers[i].clone(),
            (Some(_), Some(preset)) => {
                return Err(loaded.error(
                    preset.span(),
                    &format!("{table}.preset"),
                    &format!(
                        "{name_str} is a built-in provider; `preset` is for new providers \
                         (give this one another name, or drop `preset` to change the built-in)"
                    ),
                ));
            }
            (None, Some(preset)) => {
                let Some(base) = provider::preset(preset.get_ref()) else {
                    return Err(loaded.error(
                        preset.span(),
                        &format!("{table}.preset"),
                        &format!(
                            "unknown preset {:?}; presets: {}",
                            preset.get_ref(),
                            provider::preset_names()
                        ),
                    ));
                };
                new_provider(name_str, Some(base))
            }
            (None, None) => new_provider(name_str, None),
        };
        if let Some(url) = &spec.base_url {
            let value = url.get_ref().trim();
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                return Err(loaded.error(
                    url.span(),
                    &format!("{table}.base_url"),
                    &format!("{value:?} is not an http:// or https:// URL"),
                ));
            }
            // The environment's variables beat the file.
            if !provider
                .base_url_vars
                .iter()
                .any(|v| env.non_empty(v).is_some())
            {
                provider.base_url = value.trim_end_matches('/').to_owned();
            }
        }
        if provider.base_url.is_empty() && existing.is_none() {
            return Err(loaded.error(name.span(), &table, "a new provider needs a base_url"));
        }
        if let Some(dialect) = spec.dialect {
            provider.dialect = dialect.into();
            provider.dialect_rules = &[];
        }
        if let Some(auth) = spec.auth {
            provider.auth = auth.into();
        }
        apply_key(loaded, &table, spec, &mut provider, env, keys)?;
        let mut headers = Vec::new();
        for (header, value) in &spec.headers {
            let key = format!("{table}.headers.{}", header.get_ref());
            let name = HeaderName::from_bytes(header.get_ref().as_bytes())
                .map_err(|_| loaded.error(header.span(), &key, "not a valid HTTP header name"))?;
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(loaded.error(
                    header.span(),
                    &key,
                    "anyclaude sets this header itself; a key goes in key_env or key_command \
                     (with auth), never in headers",
                ));
            }
            let mut value = HeaderValue::from_str(value.get_ref())
                .map_err(|_| loaded.error(value.span(), &key, "not a valid HTTP header value"))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        if !headers.is_empty() {
            provider.headers = ExtraHeaders(headers);
        }
        let t = &spec.timeouts;
        let mut timeouts = provider.timeouts;
        for (field, raw, slot) in [
            ("request", &t.request, &mut timeouts.request),
            ("idle", &t.idle, &mut timeouts.idle),
            ("progress", &t.progress, &mut timeouts.progress),
        ] {
            if let Some(raw) = raw {
                *slot = Some(duration(loaded, &format!("{table}.timeouts.{field}"), raw)?);
            }
        }
        if let (Some(request), Some(idle)) = (timeouts.request, timeouts.idle)
            && idle > request
            && let Some(raw) = &t.idle
        {
            return Err(loaded.error(
                raw.span(),
                &format!("{table}.timeouts.idle"),
                "longer than this provider's request timeout",
            ));
        }
        provider.timeouts = timeouts;
        match existing {
            Some(i) => providers[i] = provider,
            None => providers.push(provider),
        }
    }
    Ok(())
}

/// A provider the file adds: a preset's quirks under another name, or a plain Chat
/// Completions server. It never inherits the preset's key variables or base-URL
/// variables: the preset's key must not go to another host.
fn new_provider(name: &str, preset: Option<&'static provider::Preset>) -> Provider {
    match preset {
        Some(p) => Provider {
            name: name.into(),
            base_url: p.default_base_url.trim_end_matches('/').to_owned(),
            base_url_vars: Vec::new(),
            key: None,
            key_var: None,
            ..Provider::from_preset(p, &std::collections::HashMap::<String, String>::new())
        },
        None => Provider {
            name: name.into(),
            preset: None,
            dialect: Dialect::OpenAiChat,
            dialect_rules: &[],
            base_url: String::new(),
            base_url_vars: Vec::new(),
            key: None,
            key_var: None,
            auth: AuthScheme::Bearer,
            url: UrlScheme::BasePath,
            api_version: None,
            profile: ChatProfile::COMPATIBLE,
            messages: MessagesProfile::ANTHROPIC,
            server: None,
            headers: ExtraHeaders::default(),
            timeouts: ProviderTimeouts::default(),
        },
    }
}

/// The key: `key_env` (else the preset's variables, already read) when set, else the key
/// command's output.
fn apply_key(
    loaded: &Loaded,
    table: &str,
    spec: &ProviderFile,
    provider: &mut Provider,
    env: &dyn Env,
    keys: &dyn super::RunKeyCommand,
) -> Result<(), ConfigError> {
    if let Some(var) = &spec.key_env {
        let var_name = var.get_ref().trim();
        if var_name.is_empty() || var_name.contains(['=', ' ']) {
            return Err(loaded.error(
                var.span(),
                &format!("{table}.key_env"),
                "not a variable name",
            ));
        }
        provider.key = env.non_empty(var_name).map(super::ApiKey::new);
        provider.key_var = Some(var_name.to_owned());
    }
    if let Some(command) = &spec.key_command
        && provider.key.is_none()
    {
        match keys.run(&provider.name, command.get_ref()) {
            Ok(key) => provider.key = Some(super::ApiKey::new(key)),
            Err(err) => {
                return Err(loaded.error(
                    command.span(),
                    &format!("{table}.key_command"),
                    &format!("the key command for {} {err}", provider.name),
                ));
            }
        }
        provider
            .key_var
            .get_or_insert_with(|| "its key_command".to_owned());
    }
    Ok(())
}

/// Resolves a model reference from the file (an alias or `provider/model`) against the
/// registry's providers and aliases, or says what is wrong with it at its place.
fn model_ref(
    loaded: &Loaded,
    registry: &Registry,
    key: &str,
    raw: &Spanned<String>,
) -> Result<String, ConfigError> {
    let resolved = registry.resolve(raw.get_ref().trim());
    let Some((prefix, rest)) = resolved.split_once('/') else {
        return Err(loaded.error(
            raw.span(),
            key,
            &format!(
                "{:?} is neither an alias nor a <provider>/<model>",
                raw.get_ref()
            ),
        ));
    };
    if registry.provider(prefix).is_none() {
        return Err(loaded.error(
            raw.span(),
            key,
            &format!(
                "unknown provider {prefix:?} in {resolved:?}; providers: {}",
                registry.provider_names()
            ),
        ));
    }
    if rest.is_empty() {
        return Err(loaded.error(raw.span(), key, "no model after the provider"));
    }
    Ok(resolved.to_owned())
}

/// Applies aliases, models, tiers, the default model and the long-context route.
pub fn apply_models(loaded: &Loaded, registry: &mut Registry) -> Result<(), ConfigError> {
    let file = &loaded.file;
    // Aliases first: everything else may name one. An alias may name another alias.
    for (alias, target) in &file.aliases {
        let key = quoted("aliases", alias.get_ref());
        let name = alias.get_ref();
        if name.is_empty() || name.contains('/') {
            return Err(loaded.error(
                alias.span(),
                &key,
                "an alias may not be empty or hold a `/`",
            ));
        }
        if super::CLAUDE_ALIASES.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(loaded.error(
                alias.span(),
                &key,
                &format!(
                    "Claude Code reads {name:?} itself and never sends it; set the model \
                     behind it in [tiers] instead"
                ),
            ));
        }
        let mut seen = vec![name.as_str()];
        let mut current = target;
        loop {
            let value = current.get_ref().trim();
            if value.contains('/') {
                break;
            }
            match file.aliases.get(value) {
                Some(next) if !seen.contains(&value) => {
                    seen.push(value);
                    current = next;
                }
                Some(_) => {
                    return Err(loaded.error(
                        target.span(),
                        &key,
                        &format!("aliases that name each other: {}", seen.join(" → ")),
                    ));
                }
                None => break,
            }
        }
        registry
            .aliases
            .insert(name.clone(), current.get_ref().trim().to_owned());
    }
    let aliases = std::mem::take(&mut registry.aliases);
    let mut checked = BTreeMap::new();
    for (alias, target) in &file.aliases {
        let value = &aliases[alias.get_ref()];
        let spanned = Spanned::new(target.span(), value.clone());
        let full = model_ref(
            loaded,
            registry,
            &quoted("aliases", alias.get_ref()),
            &spanned,
        )?;
        checked.insert(alias.get_ref().clone(), full);
    }
    registry.aliases = checked;

    for (full, spec) in &file.models {
        let key = quoted("models", full.get_ref());
        let name = model_ref(loaded, registry, &key, full)?;
        if name != *full.get_ref() {
            return Err(loaded.error(
                full.span(),
                &key,
                "models are described by <provider>/<model>, not by alias",
            ));
        }
        let mut fallbacks = Vec::new();
        for fallback in &spec.fallbacks {
            fallbacks.push(model_ref(
                loaded,
                registry,
                &format!("{key}.fallbacks"),
                fallback,
            )?);
        }
        let price = match &spec.price {
            Some(p) => {
                let price = p.get_ref();
                let cached = price.cached_input.unwrap_or(price.input);
                if [price.input, cached, price.output]
                    .iter()
                    .any(|v| !v.is_finite() || *v < 0.0)
                {
                    return Err(loaded.error(
                        p.span(),
                        &format!("{key}.price"),
                        "prices must be numbers of dollars, zero or more",
                    ));
                }
                Some(Price {
                    input: price.input,
                    cached_input: cached,
                    output: price.output,
                })
            }
            None => None,
        };
        let c = &spec.capabilities;
        registry.models.insert(
            name,
            ModelSpec {
                context_window: spec.context_window,
                max_output_tokens: spec.max_output_tokens,
                display_name: spec.display_name.clone(),
                description: spec.description.clone(),
                capabilities: Capabilities {
                    images: c.images,
                    tools: c.tools,
                    parallel_tool_calls: c.parallel_tool_calls,
                    reasoning: c.reasoning,
                    tool_call_format: c.tool_call_format.unwrap_or_default(),
                },
                fallbacks,
                price,
            },
        );
    }

    for tier in Tier::ALL {
        if let Some(raw) = file.tiers.get(tier) {
            let full = model_ref(loaded, registry, &format!("tiers.{}", tier.name()), raw)?;
            registry.tiers.insert(tier, full);
        }
    }
    if let Some(raw) = &file.default_model {
        registry.default_model = Some(model_ref(loaded, registry, "default_model", raw)?);
    }
    if let Some(long) = &file.long_context {
        if *long.threshold.get_ref() == 0 {
            return Err(loaded.error(
                long.threshold.span(),
                "long_context.threshold",
                "must be greater than zero",
            ));
        }
        registry.long_context = Some(LongContext {
            threshold: *long.threshold.get_ref(),
            model: model_ref(loaded, registry, "long_context.model", &long.model)?,
        });
    }
    Ok(())
}

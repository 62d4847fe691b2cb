//! The environment claude runs with: what anyclaude adds to the user's own, and never
//! overrides when the user set it. Pure but for [`new_token`].
//!
//! - `ANTHROPIC_BASE_URL`: the proxy (always ours); `ANYCLAUDE_STATUS_URL` too, for the
//!   status line command.
//! - `ANTHROPIC_CUSTOM_HEADERS`: the user's headers, then `x-anyclaude-token: <token>` on
//!   its own line (a stale token line from an outer anyclaude is replaced).
//! - `ANTHROPIC_AUTH_TOKEN=anyclaude` when neither it nor `ANTHROPIC_API_KEY` is set, so
//!   Claude Code asks nobody to log in.
//! - `API_TIMEOUT_MS`: `--timeout` + [`API_TIMEOUT_MARGIN`], so anyclaude's clearer timeout
//!   fires first.
//! - Claude Code's tiers ([`TIER_VARS`]): the opus/sonnet/haiku models, the small/fast
//!   model of background requests and the subagent model, each the config file's `[tiers]`
//!   model or else the default model (`--model`, or the file's `default_model`; no default
//!   for subagents), so that background requests reach the chosen backend too. With the
//!   `*_NAME` / `*_DESCRIPTION` that Claude Code 2.1 shows in its `/model` picker, from the
//!   file's `[models]`. A group is left alone when the user set its model variable.
//! - `ANTHROPIC_MODEL`: the file's `default_model` when neither `--model` nor the variable
//!   is given (it beats the tiers as the session's first model, as `--model` would).
//! - `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` unless the provider is `anthropic`:
//!   anyclaude never makes Claude Code contact hosts the user did not choose.
//! - `CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1`: Claude Code's `/model` picker lists
//!   what the proxy's `GET /v1/models` offers (2.1.x; 2.1.197 skips it while non-essential
//!   traffic is disabled).

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{API_TIMEOUT_MARGIN, Env, ModelChoice};
use crate::registry::{Registry, Tier};

/// The header carrying the per-run token.
pub const TOKEN_HEADER: &str = "x-anyclaude-token";

/// `ANTHROPIC_AUTH_TOKEN` when the user has no credential of their own (the proxy checks
/// [`TOKEN_HEADER`], not this).
pub const PLACEHOLDER_AUTH_TOKEN: &str = "anyclaude";

/// The variables Claude Code reads for one tier: its model, and the name and description
/// its `/model` picker shows (2.1 and later; 2.0 reads only the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierVars {
    /// The tier.
    pub tier: Tier,
    /// The model variable.
    pub model: &'static str,
    /// The display-name variable, for tiers the picker lists.
    pub name: Option<&'static str>,
    /// The description variable, for tiers the picker lists.
    pub description: Option<&'static str>,
    /// Whether the default model fills it when the tier is not configured.
    pub defaulted: bool,
}

/// Claude Code's tier variables, as the pinned versions read them.
pub const TIER_VARS: &[TierVars] = &[
    TierVars {
        tier: Tier::Opus,
        model: "ANTHROPIC_DEFAULT_OPUS_MODEL",
        name: Some("ANTHROPIC_DEFAULT_OPUS_MODEL_NAME"),
        description: Some("ANTHROPIC_DEFAULT_OPUS_MODEL_DESCRIPTION"),
        defaulted: true,
    },
    TierVars {
        tier: Tier::Sonnet,
        model: "ANTHROPIC_DEFAULT_SONNET_MODEL",
        name: Some("ANTHROPIC_DEFAULT_SONNET_MODEL_NAME"),
        description: Some("ANTHROPIC_DEFAULT_SONNET_MODEL_DESCRIPTION"),
        defaulted: true,
    },
    TierVars {
        tier: Tier::Haiku,
        model: "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        name: Some("ANTHROPIC_DEFAULT_HAIKU_MODEL_NAME"),
        description: Some("ANTHROPIC_DEFAULT_HAIKU_MODEL_DESCRIPTION"),
        defaulted: true,
    },
    TierVars {
        tier: Tier::Background,
        model: "ANTHROPIC_SMALL_FAST_MODEL",
        name: None,
        description: None,
        defaulted: true,
    },
    TierVars {
        tier: Tier::Subagent,
        model: "CLAUDE_CODE_SUBAGENT_MODEL",
        name: None,
        description: None,
        defaulted: false,
    },
];

/// What anyclaude injects.
#[derive(Debug, Clone, Copy)]
pub struct Injection<'a> {
    /// The proxy's address.
    pub base_url: &'a str,
    /// The per-run token.
    pub token: &'a str,
    /// `--timeout`.
    pub request_timeout: Duration,
    /// `--model`.
    pub model: Option<&'a ModelChoice>,
    /// The tiers, models and default model.
    pub registry: &'a Registry,
}

/// The variables to set in claude's environment (on top of the inherited one), given the
/// user's environment `user`.
pub fn child_env(user: &dyn Env, inj: &Injection<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut set = |k: &str, v: String| out.push((k.to_owned(), v));

    set("ANTHROPIC_BASE_URL", inj.base_url.to_owned());
    // Where `anyclaude status-line` asks for the state (with the token from the headers).
    set(crate::status_line::STATUS_URL_VAR, inj.base_url.to_owned());
    set(
        "ANTHROPIC_CUSTOM_HEADERS",
        custom_headers(user.var("ANTHROPIC_CUSTOM_HEADERS").as_deref(), inj.token),
    );
    if user.non_empty("ANTHROPIC_API_KEY").is_none()
        && user.non_empty("ANTHROPIC_AUTH_TOKEN").is_none()
    {
        set("ANTHROPIC_AUTH_TOKEN", PLACEHOLDER_AUTH_TOKEN.to_owned());
    }
    if user.non_empty("API_TIMEOUT_MS").is_none() {
        let ms = (inj.request_timeout + API_TIMEOUT_MARGIN).as_millis();
        set("API_TIMEOUT_MS", ms.to_string());
    }
    let registry = inj.registry;
    let default = registry.default_model();
    if inj.model.is_none()
        && let Some(default) = default
        && user.non_empty("ANTHROPIC_MODEL").is_none()
    {
        set("ANTHROPIC_MODEL", default.to_owned());
    }
    for vars in TIER_VARS {
        if user.non_empty(vars.model).is_some() {
            continue;
        }
        let configured = registry.tier(vars.tier).or(match vars.tier {
            // Background work follows the haiku tier when it has none of its own.
            Tier::Background => registry.tier(Tier::Haiku),
            _ => None,
        });
        let Some(model) = configured.or(default.filter(|_| vars.defaulted)) else {
            continue;
        };
        set(vars.model, model.to_owned());
        let spec = registry.model(model);
        for (var, text) in [
            (vars.name, spec.and_then(|s| s.display_name.as_ref())),
            (vars.description, spec.and_then(|s| s.description.as_ref())),
        ] {
            if let (Some(var), Some(text)) = (var, text)
                && user.non_empty(var).is_none()
            {
                set(var, text.clone());
            }
        }
    }
    let anthropic = default
        .and_then(|d| registry.provider(d.split_once('/')?.0))
        .is_some_and(|p| &*p.name == "anthropic");
    if !anthropic
        && user
            .non_empty("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC")
            .is_none()
    {
        set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned());
    }
    if user.var(MODEL_DISCOVERY).is_none() {
        set(MODEL_DISCOVERY, "1".to_owned());
    }
    out
}

/// Makes Claude Code's `/model` picker ask the proxy for its models.
pub const MODEL_DISCOVERY: &str = "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY";

/// The user's custom headers (one `Name: Value` per line) with ours appended.
pub fn custom_headers(existing: Option<&str>, token: &str) -> String {
    let mut lines: Vec<&str> = existing
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("").trim();
            !name.eq_ignore_ascii_case(TOKEN_HEADER)
        })
        .collect();
    let ours = format!("{TOKEN_HEADER}: {token}");
    lines.push(&ours);
    lines.join("\n")
}

/// A fresh per-run token: 128 bits from the OS, hex.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The URL claude reaches the proxy at (an unspecified listen address is reached on
/// loopback).
pub fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// `export NAME='value'` lines for a POSIX shell.
pub fn export_lines(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', r"'\''")))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn run(user: &[(&str, &str)], model: Option<&str>) -> HashMap<String, String> {
        let mut registry = Registry::from_env(&env(user)).unwrap();
        let model = model.map(|m| ModelChoice {
            full: m.to_owned(),
            resolved: m.to_owned(),
            provider: m
                .split_once('/')
                .and_then(|(p, _)| registry.provider(p).cloned()),
        });
        if let Some(m) = model.as_ref().filter(|m| m.provider.is_some()) {
            registry.set_default_model(Some(&m.resolved));
        }
        with_registry(user, model.as_ref(), &registry)
    }

    fn with_registry(
        user: &[(&str, &str)],
        model: Option<&ModelChoice>,
        registry: &Registry,
    ) -> HashMap<String, String> {
        let inj = Injection {
            base_url: "http://127.0.0.1:4000",
            token: "ab12",
            request_timeout: Duration::from_secs(600),
            model,
            registry,
        };
        child_env(&env(user), &inj).into_iter().collect()
    }

    #[test]
    fn bare_environment() {
        let got = run(&[], None);
        assert_eq!(
            got,
            env(&[
                ("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000"),
                ("ANYCLAUDE_STATUS_URL", "http://127.0.0.1:4000"),
                ("ANTHROPIC_CUSTOM_HEADERS", "x-anyclaude-token: ab12"),
                ("ANTHROPIC_AUTH_TOKEN", "anyclaude"),
                ("API_TIMEOUT_MS", "630000"),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
                ("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1"),
            ])
        );
    }

    #[test]
    fn user_settings_kept() {
        let got = run(
            &[
                ("ANTHROPIC_API_KEY", "sk"),
                ("ANTHROPIC_CUSTOM_HEADERS", "X-Team: a\nX-Other: b\n"),
                ("API_TIMEOUT_MS", "900000"),
                ("ANTHROPIC_DEFAULT_OPUS_MODEL", "openai/gpt-5"),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "0"),
                // Set to anything, even empty, it is the user's choice.
                ("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", ""),
            ],
            Some("openai/gpt-5-mini"),
        );
        assert_eq!(
            got,
            env(&[
                ("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000"),
                ("ANYCLAUDE_STATUS_URL", "http://127.0.0.1:4000"),
                (
                    "ANTHROPIC_CUSTOM_HEADERS",
                    "X-Team: a\nX-Other: b\nx-anyclaude-token: ab12"
                ),
                ("ANTHROPIC_DEFAULT_HAIKU_MODEL", "openai/gpt-5-mini"),
                ("ANTHROPIC_SMALL_FAST_MODEL", "openai/gpt-5-mini"),
                ("ANTHROPIC_DEFAULT_SONNET_MODEL", "openai/gpt-5-mini"),
            ])
        );
    }

    #[test]
    fn models() {
        let anthropic = run(&[("ANTHROPIC_AUTH_TOKEN", "t")], Some("anthropic/claude-x"));
        assert!(!anthropic.contains_key("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"));
        assert!(!anthropic.contains_key("ANTHROPIC_AUTH_TOKEN"));
        assert_eq!(
            anthropic["ANTHROPIC_DEFAULT_HAIKU_MODEL"],
            "anthropic/claude-x"
        );
        let alias = run(&[], Some("sonnet"));
        assert!(!alias.contains_key("ANTHROPIC_DEFAULT_HAIKU_MODEL"));
        assert_eq!(alias["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"], "1");
    }

    #[test]
    fn headers() {
        assert_eq!(custom_headers(None, "t"), "x-anyclaude-token: t");
        assert_eq!(custom_headers(Some(""), "t"), "x-anyclaude-token: t");
        assert_eq!(
            custom_headers(Some("A: 1\nX-Anyclaude-Token: old\n\nB: 2"), "t"),
            "A: 1\nB: 2\nx-anyclaude-token: t"
        );
    }

    #[test]
    fn tokens_and_urls() {
        let a = new_token().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_token().unwrap());
        assert_eq!(
            base_url("0.0.0.0:80".parse().unwrap()),
            "http://127.0.0.1:80"
        );
        assert_eq!(base_url("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(base_url("[::1]:81".parse().unwrap()), "http://[::1]:81");
        assert_eq!(
            export_lines(&[("A".into(), "x: it's".into())]),
            "export A='x: it'\\''s'\n"
        );
    }

    fn registry(source: &str) -> Registry {
        let loaded =
            crate::registry::file::parse("/cfg/config.toml".into(), source.to_owned()).unwrap();
        Registry::build(
            Some(&loaded),
            &env(&[]),
            &crate::registry::ShellKeyCommand::default(),
        )
        .unwrap()
    }

    const TIERS: &str = r#"
default_model = "openai/gpt-5-mini"
[aliases]
fast = "groq/llama-3.3-70b"
[tiers]
opus = "openai/gpt-5"
haiku = "fast"
subagent = "ollama/qwen3"
[models."openai/gpt-5"]
display_name = "GPT-5 (opus)"
description = "OpenAI's biggest, via anyclaude"
[models."groq/llama-3.3-70b"]
display_name = "Llama on Groq"
"#;

    #[test]
    fn tiers_and_their_names_go_to_claude() {
        let got = with_registry(&[], None, &registry(TIERS));
        let var = |name: &str| got.get(name).map(String::as_str);
        assert_eq!(var("ANTHROPIC_DEFAULT_OPUS_MODEL"), Some("openai/gpt-5"));
        assert_eq!(
            var("ANTHROPIC_DEFAULT_OPUS_MODEL_NAME"),
            Some("GPT-5 (opus)")
        );
        assert_eq!(
            var("ANTHROPIC_DEFAULT_OPUS_MODEL_DESCRIPTION"),
            Some("OpenAI's biggest, via anyclaude")
        );
        // Unconfigured tiers follow the default model; no names were configured for it.
        assert_eq!(
            var("ANTHROPIC_DEFAULT_SONNET_MODEL"),
            Some("openai/gpt-5-mini")
        );
        assert_eq!(var("ANTHROPIC_DEFAULT_SONNET_MODEL_NAME"), None);
        assert_eq!(
            var("ANTHROPIC_DEFAULT_HAIKU_MODEL"),
            Some("groq/llama-3.3-70b")
        );
        assert_eq!(
            var("ANTHROPIC_DEFAULT_HAIKU_MODEL_NAME"),
            Some("Llama on Groq")
        );
        assert_eq!(var("ANTHROPIC_DEFAULT_HAIKU_MODEL_DESCRIPTION"), None);
        // Background work follows haiku when it has no tier of its own.
        assert_eq!(
            var("ANTHROPIC_SMALL_FAST_MODEL"),
            Some("groq/llama-3.3-70b")
        );
        assert_eq!(var("CLAUDE_CODE_SUBAGENT_MODEL"), Some("ollama/qwen3"));
        // No --model: the file's default model is the session's first model.
        assert_eq!(var("ANTHROPIC_MODEL"), Some("openai/gpt-5-mini"));
    }

    #[test]
    fn tiers_never_override_the_user() {
        let user = [
            ("ANTHROPIC_DEFAULT_OPUS_MODEL", "anthropic/claude-opus-4-1"),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL_NAME", "My haiku"),
            ("CLAUDE_CODE_SUBAGENT_MODEL", "openai/o3"),
            ("ANTHROPIC_MODEL", "openai/gpt-4.1"),
        ];
        let got = with_registry(&user, None, &registry(TIERS));
        let var = |name: &str| got.get(name).map(String::as_str);
        // The user's model variable leaves its whole group alone.
        assert_eq!(var("ANTHROPIC_DEFAULT_OPUS_MODEL"), None);
        assert_eq!(var("ANTHROPIC_DEFAULT_OPUS_MODEL_NAME"), None);
        assert_eq!(var("ANTHROPIC_DEFAULT_OPUS_MODEL_DESCRIPTION"), None);
        assert_eq!(var("CLAUDE_CODE_SUBAGENT_MODEL"), None);
        assert_eq!(var("ANTHROPIC_MODEL"), None);
        // A name the user set stays theirs; the model is still ours.
        assert_eq!(
            var("ANTHROPIC_DEFAULT_HAIKU_MODEL"),
            Some("groq/llama-3.3-70b")
        );
        assert_eq!(var("ANTHROPIC_DEFAULT_HAIKU_MODEL_NAME"), None);
        // With --model, claude is told the model by its own option.
        let mut r = registry(TIERS);
        r.set_default_model(Some("ollama/qwen3"));
        let choice = ModelChoice {
            full: "ollama/qwen3".into(),
            resolved: "ollama/qwen3".into(),
            provider: r.provider("ollama").cloned(),
        };
        let got = with_registry(&[], Some(&choice), &r);
        assert_eq!(got.get("ANTHROPIC_MODEL"), None);
        assert_eq!(got["ANTHROPIC_DEFAULT_SONNET_MODEL"], "ollama/qwen3");
        assert_eq!(got["ANTHROPIC_DEFAULT_OPUS_MODEL"], "openai/gpt-5");
    }
}

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
//! - With `--model <provider>/<model>`: the haiku/sonnet/opus/small-fast defaults, so
//!   background requests reach the chosen backend too.
//! - `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` unless the provider is `anthropic`:
//!   anyclaude never makes Claude Code contact hosts the user did not choose.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{API_TIMEOUT_MARGIN, Env, ModelChoice};

/// The header carrying the per-run token.
pub const TOKEN_HEADER: &str = "x-anyclaude-token";

/// `ANTHROPIC_AUTH_TOKEN` when the user has no credential of their own (the proxy checks
/// [`TOKEN_HEADER`], not this).
pub const PLACEHOLDER_AUTH_TOKEN: &str = "anyclaude";

/// Variables pointing Claude Code's model tiers at `--model`.
pub const MODEL_VARS: &[&str] = &[
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
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
    let preset = inj.model.and_then(|m| m.preset.map(|p| (m, p)));
    if let Some((model, _)) = preset {
        for var in MODEL_VARS {
            if user.non_empty(var).is_none() {
                set(var, model.full.clone());
            }
        }
    }
    let anthropic = preset.is_some_and(|(_, p)| p.name == "anthropic");
    if !anthropic
        && user
            .non_empty("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC")
            .is_none()
    {
        set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned());
    }
    out
}

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
    use crate::provider;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn run(user: &[(&str, &str)], model: Option<&str>) -> HashMap<String, String> {
        let model = model.map(|m| ModelChoice {
            full: m.to_owned(),
            preset: m.split_once('/').and_then(|(p, _)| provider::preset(p)),
        });
        let inj = Injection {
            base_url: "http://127.0.0.1:4000",
            token: "ab12",
            request_timeout: Duration::from_secs(600),
            model: model.as_ref(),
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
}

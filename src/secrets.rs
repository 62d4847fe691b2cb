//! Keeping secrets out of text that anyclaude shows or logs: the API keys it holds for
//! providers and the per-run token (a [`Scrubber`] knows them), and the userinfo of URLs
//! (`https://user:pass@host` → `https://***@host`). An upstream that echoes the key in an
//! error, or a password in a base URL, must reach neither the log nor Claude Code.
//!
//! Pure and fast: a text without any secret or `://` costs one substring scan per known
//! secret, and comes back borrowed.

use std::borrow::Cow;
use std::collections::HashMap;

use memchr::memmem;

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// Secrets shorter than this are not scrubbed: a short value (`1`, `true`) is not a secret,
/// and replacing it everywhere would mangle ordinary text.
pub const MIN_SECRET_LEN: usize = 8;

/// Removes known secrets and URL userinfo from text.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} values, not shown)", self.secrets.len())
    }
}

impl Scrubber {
    /// A scrubber for these secrets (values shorter than [`MIN_SECRET_LEN`] are ignored).
    pub fn new<I, S>(secrets: I) -> Scrubber
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .map(|s| s.trim().to_owned())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Scrubber { secrets }
    }

    /// A scrubber for the per-run `token` and every variable of `env` that may hold a
    /// credential (by its name: `*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, …).
    pub fn from_env(env: &HashMap<String, String>, token: &str) -> Scrubber {
        let from_env = env
            .iter()
            .filter(|(name, _)| crate::logging::is_secret_var(name))
            .map(|(_, value)| value.clone());
        Scrubber::new(from_env.chain(std::iter::once(token.to_owned())))
    }

    /// This scrubber, also removing `more` secrets (keys read by key commands, header
    /// values from the config file).
    pub fn with<I, S>(self, more: I) -> Scrubber
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Scrubber::new(
            self.secrets
                .into_iter()
                .chain(more.into_iter().map(Into::into)),
        )
    }

    /// `text` with every known secret replaced by `***` and every URL's userinfo removed.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if memmem::find(out.as_bytes(), secret.as_bytes()).is_some() {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        match scrub_userinfo(&out) {
            Cow::Borrowed(_) => out,
            Cow::Owned(cleaned) => Cow::Owned(cleaned),
        }
    }
}

/// `text` with the userinfo of every URL in it replaced by `***`:
/// `https://user:pass@host/x` → `https://***@host/x`.
pub fn scrub_userinfo(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    for scheme_end in memmem::find_iter(bytes, b"://") {
        let start = scheme_end + 3;
        if start < copied {
            continue;
        }
        // The authority runs to the first of these; userinfo is what precedes its last `@`.
        let authority_len = bytes[start..]
            .iter()
            .position(|&b| {
                matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`')
                    || b.is_ascii_whitespace()
            })
            .unwrap_or(bytes.len() - start);
        let authority = &bytes[start..start + authority_len];
        let Some(at) = memchr::memrchr(b'@', authority) else {
            continue;
        };
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..start]);
        buf.push_str(REDACTED);
        copied = start + at;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// `text` made safe for one log line: line breaks and other control characters are escaped
/// (`\n`, `\r`, `\u{1b}`), so text from an upstream cannot start a forged log line or move
/// the cursor of whoever reads the log in a terminal. Tabs stay.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_scrubbed() {
        let env: HashMap<String, String> = [
            ("OPENAI_API_KEY", "sk-live-0123456789"),
            ("GEMINI_API_KEY", "AIzaSyExample-key"),
            ("DEBUG", "true"),
            ("SHORT_TOKEN", "abc"),
            ("OPENAI_BASE_URL", "https://api.example/v1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Scrubber::from_env(&env, "tok-0123456789abcdef");
        assert_eq!(
            s.scrub("Incorrect API key provided: sk-live-0123456789. Also AIzaSyExample-key and tok-0123456789abcdef."),
            "Incorrect API key provided: ***. Also *** and ***."
        );
        // Not secrets by name, or too short to be one.
        assert_eq!(
            s.scrub("true abc https://api.example/v1"),
            "true abc https://api.example/v1"
        );
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
        let nested = Scrubber::new(["secret-long-value", "secret-long"]);
        assert_eq!(
            nested.scrub("a secret-long-value b secret-long"),
            "a *** b ***"
        );
    }

    #[test]
    fn url_userinfo_is_scrubbed() {
        let cases = [
            (
                "could not connect to openai at https://user:pa%40ss@host:8080/v1/chat: refused",
                "could not connect to openai at https://***@host:8080/v1/chat: refused",
            ),
            ("http://token@127.0.0.1:1/v1", "http://***@127.0.0.1:1/v1"),
            (
                "two: http://a:b@x/ and 'https://c@y?q=1'",
                "two: http://***@x/ and 'https://***@y?q=1'",
            ),
            // An @ after the authority is not userinfo.
            ("https://host/path@thing", "https://host/path@thing"),
            ("mailto:someone@example.com", "mailto:someone@example.com"),
            ("https://host", "https://host"),
            ("ends with ://", "ends with ://"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub_userinfo(input), want, "{input}");
            assert_eq!(Scrubber::default().scrub(input), want, "{input}");
        }
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            escape_controls("line\nINFO forged\r\x1b[2Jend\tok"),
            "line\\nINFO forged\\r\\u{1b}[2Jend\tok"
        );
        assert!(matches!(escape_controls("plain é text"), Cow::Borrowed(_)));
    }
}

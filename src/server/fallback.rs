//! When a request goes to the next model of its configured fallback list: the rules, pure.
//!
//! Only before the 200 is committed to Claude Code (a stream cannot be restarted unseen
//! once it has begun), and only for failures another backend can cure:
//!
//! | what the upstream did | what happens |
//! |---|---|
//! | refused or dropped the connection, connect timeout, TLS or DNS failure | next model |
//! | 5xx (500, 502, 503, 504, …) | next model |
//! | 529 (overloaded) | next model |
//! | 429 with no `retry-after`, or one longer than [`SHORT_RETRY_AFTER`] | next model |
//! | 429 with a short `retry-after` | answered as is: Claude Code waits and retries the same model |
//! | any other 4xx (a bad request, a bad key) | answered as is: another model would not fix it |
//! | no response headers within `--timeout` | answered as is (the time is already spent) |
//! | failure once the stream has started | the stream ends with an error, as without fallbacks |

use std::collections::HashMap;
use std::time::Duration;

/// The variable listing fallback models: `MODEL=FALLBACK[,FALLBACK…][;MODEL=…]`.
pub const FALLBACKS_VAR: &str = "ANYCLAUDE_FALLBACKS";

/// Parses [`FALLBACKS_VAR`]: each model (`provider/model`) with its fallbacks in order.
/// Every name must name a known provider; a model listed twice, or as its own fallback, is
/// refused.
pub fn parse_list(value: &str) -> Result<HashMap<String, Vec<String>>, String> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for entry in value
        .split([';', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((model, list)) = entry.split_once('=') else {
            return Err(format!(
                "{FALLBACKS_VAR}: `{entry}` has no `=`; write MODEL=FALLBACK[,FALLBACK…], e.g. openai/gpt-5=groq/llama-3.3-70b"
            ));
        };
        let model = checked(model.trim())?;
        let fallbacks = list
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(checked)
            .collect::<Result<Vec<_>, _>>()?;
        if fallbacks.is_empty() {
            return Err(format!("{FALLBACKS_VAR}: {model} lists no fallback model"));
        }
        if fallbacks.contains(&model) {
            return Err(format!("{FALLBACKS_VAR}: {model} is its own fallback"));
        }
        if out.insert(model.clone(), fallbacks).is_some() {
            return Err(format!("{FALLBACKS_VAR}: {model} is listed twice"));
        }
    }
    Ok(out)
}

fn checked(name: &str) -> Result<String, String> {
    match name.split_once('/') {
        Some((prefix, rest)) if !rest.is_empty() && crate::provider::preset(prefix).is_some() => {
            Ok(name.to_owned())
        }
        _ => Err(format!(
            "{FALLBACKS_VAR}: `{name}` is not <provider>/<model> with a known provider ({})",
            crate::provider::preset_names()
        )),
    }
}

/// A `retry-after` at most this long is left to Claude Code's own retry of the same model.
pub const SHORT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The seconds of a `retry-after` header given in seconds (an HTTP date is not parsed: it
/// counts as long).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Why an upstream's error status sends the request to the next model, or `None` when it
/// is answered as is.
pub fn for_status(status: u16, retry_after_header: Option<&str>) -> Option<String> {
    match status {
        429 => match retry_after(retry_after_header) {
            Some(wait) if wait <= SHORT_RETRY_AFTER => None,
            Some(wait) => Some(format!("upstream 429, retry-after {} s", wait.as_secs())),
            None => Some("upstream 429".to_owned()),
        },
        500..=599 => Some(format!("upstream {status}")),
        _ => None,
    }
}

/// Why a failure to send sends the request to the next model (a connection that could not
/// be made), or `None`.
pub fn for_send(err: &reqwest::Error) -> Option<String> {
    if err.is_connect() {
        Some("connection failed".to_owned())
    } else if err.is_timeout() {
        Some("connect timeout".to_owned())
    } else if err.is_request() {
        Some("request failed".to_owned())
    } else {
        None
    }
}

/// What the status line says about a failure before the answer: `upstream 429`,
/// `local server not answering`, `openai not reachable`.
pub fn notice(provider: &str, local: bool, status: Option<u16>) -> String {
    match status {
        Some(code) => format!("upstream {code}"),
        None if local => "local server not answering".to_owned(),
        None => format!("{provider} not reachable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_that_fall_back() {
        for status in [500, 502, 503, 504, 529] {
            assert_eq!(for_status(status, None), Some(format!("upstream {status}")));
        }
        assert_eq!(for_status(429, None), Some("upstream 429".into()));
        assert_eq!(
            for_status(429, Some("120")),
            Some("upstream 429, retry-after 120 s".into())
        );
        assert_eq!(for_status(429, Some("3")), None);
        assert_eq!(for_status(429, Some("10")), None);
        // An HTTP date is not read: long.
        assert_eq!(
            for_status(429, Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            Some("upstream 429".into())
        );
        for status in [400, 401, 403, 404, 413, 422] {
            assert_eq!(for_status(status, None), None, "{status}");
        }
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("1.5")), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(Some("-1")), None);
        assert_eq!(retry_after(Some("soon")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn the_list_variable() {
        let got =
            parse_list(" openai/gpt-5 = groq/llama-3.3-70b, ollama/qwen3 ;gemini/g=openai/gpt-5\n")
                .unwrap();
        assert_eq!(got["openai/gpt-5"], ["groq/llama-3.3-70b", "ollama/qwen3"]);
        assert_eq!(got["gemini/g"], ["openai/gpt-5"]);
        assert_eq!(parse_list("").unwrap().len(), 0);
        for (bad, says) in [
            ("openai/gpt-5", "has no `=`"),
            ("openai/gpt-5=", "lists no fallback"),
            ("openai/gpt-5=gpt-4o", "`gpt-4o` is not <provider>/<model>"),
            ("nope/x=openai/y", "`nope/x` is not"),
            ("openai/a=openai/a", "its own fallback"),
            ("openai/a=openai/b;openai/a=openai/c", "listed twice"),
        ] {
            let err = parse_list(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.starts_with("ANYCLAUDE_FALLBACKS: "), "{err}");
        }
    }

    #[test]
    fn notices() {
        assert_eq!(notice("openai", false, Some(429)), "upstream 429");
        assert_eq!(notice("ollama", true, None), "local server not answering");
        assert_eq!(notice("openai", false, None), "openai not reachable");
    }
}

//! Suggestions for common mistakes on the command line: the `provider/model` a bare or
//! wrongly separated model name most likely meant, and the option of ours a misspelt
//! argument most likely meant. Pure: names in, suggestions out.

use crate::provider::{self, Preset};

/// Model-name beginnings and the provider they usually come from, checked in order (so
/// that `gpt-oss`, an open-weight model, is matched before `gpt`). A provider that is not a
/// preset is skipped.
const FAMILIES: &[(&str, &str)] = &[
    ("gpt-oss", "ollama"),
    ("gpt", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("codex", "openai"),
    ("claude", "anthropic"),
    ("sonnet", "anthropic"),
    ("opus", "anthropic"),
    ("haiku", "anthropic"),
    ("deepseek", "deepseek"),
    ("grok", "xai"),
    ("mistral", "mistral"),
    ("codestral", "mistral"),
    ("devstral", "mistral"),
    ("magistral", "mistral"),
    ("ministral", "mistral"),
    ("gemini", "gemini"),
    ("gemini", "openrouter"),
    ("qwen", "ollama"),
    ("llama", "ollama"),
    ("gemma", "ollama"),
    ("phi", "ollama"),
    ("granite", "ollama"),
    ("smollm", "ollama"),
];

/// Claude Code's model aliases: they name no model an upstream knows.
const CLAUDE_ALIASES: &[&str] = &["sonnet", "opus", "haiku", "default", "opusplan"];

/// The `provider/model` a model name without a known `provider/` prefix most likely meant:
/// `ollama:qwen3` and `openai,gpt-5` (other tools' separators) become `ollama/qwen3` and
/// `openai/gpt-5`; `gpt-5` becomes `openai/gpt-5`; a Claude alias such as `sonnet` becomes
/// `anthropic/<model id>` with an example id. `None` when nothing fits.
pub fn model(bare: &str) -> Option<String> {
    for sep in [':', ','] {
        if let Some((prefix, rest)) = bare.split_once(sep)
            && let Some(preset) = provider::preset(prefix)
        {
            return (!rest.is_empty()).then(|| format!("{}/{rest}", preset.name));
        }
    }
    let lower = bare.to_ascii_lowercase();
    if CLAUDE_ALIASES.contains(&lower.as_str()) {
        return Some("anthropic/claude-sonnet-4-5".to_owned());
    }
    let (name, preset) = FAMILIES
        .iter()
        .filter(|(start, _)| lower.starts_with(start))
        .find_map(|(_, p)| provider::preset(p).map(|p| (bare, p)))
        .or_else(|| {
            // An Ollama-style tag (`qwen3:8b`) names a local model.
            bare.contains(':')
                .then(|| provider::preset("ollama").map(|p| (bare, p)))
                .flatten()
        })?;
    Some(format!("{}/{}", preset.name, in_provider(preset, name)))
}

/// How `preset` names a model called `name` elsewhere (OpenRouter wants the vendor too).
fn in_provider(preset: &Preset, name: &str) -> String {
    if preset.name == "openrouter" && name.to_ascii_lowercase().starts_with("gemini") {
        format!("google/{name}")
    } else {
        name.to_owned()
    }
}

/// The long option of ours (with `--`) that `name` (without `--` and without a value)
/// most likely misspells: within one edit for names of up to six letters, two for longer
/// ones (so that claude's `--cloud` is not taken for `--claude`). `None` for one of ours
/// or nothing close.
pub fn own_option(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    super::LONG
        .iter()
        .map(|(ours, _)| *ours)
        .filter(|ours| !matches!(*ours, "help" | "version") && *ours != name)
        .map(|ours| (strsim::damerau_levenshtein(&lower, ours), ours))
        .filter(|&(distance, ours)| distance <= if ours.len() <= 6 { 1 } else { 2 })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, ours)| format!("--{ours}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models() {
        let cases = [
            ("gpt-5", Some("openai/gpt-5")),
            ("GPT-4.1-mini", Some("openai/GPT-4.1-mini")),
            ("o3", Some("openai/o3")),
            ("gpt-oss:20b", Some("ollama/gpt-oss:20b")),
            ("ollama:qwen3", Some("ollama/qwen3")),
            ("openai,gpt-5", Some("openai/gpt-5")),
            ("qwen3:8b", Some("ollama/qwen3:8b")),
            ("llama3.3", Some("ollama/llama3.3")),
            ("deepseek-chat", Some("deepseek/deepseek-chat")),
            ("grok-4", Some("xai/grok-4")),
            ("devstral-small", Some("mistral/devstral-small")),
            ("claude-opus-4-1", Some("anthropic/claude-opus-4-1")),
            ("sonnet", Some("anthropic/claude-sonnet-4-5")),
            ("my-finetune", None),
            ("ollama:", None),
        ];
        for (bare, want) in cases {
            assert_eq!(model(bare).as_deref(), want, "{bare}");
        }
        // Gemini goes to its own preset when there is one, else through OpenRouter.
        let gemini = model("gemini-2.5-pro").unwrap();
        assert!(
            gemini == "gemini/gemini-2.5-pro" || gemini == "openrouter/google/gemini-2.5-pro",
            "{gemini}"
        );
    }

    #[test]
    fn misspelt_options() {
        let cases = [
            ("log-levl", Some("--log-level")),
            ("log_level", Some("--log-level")),
            ("loglevel", Some("--log-level")),
            ("Timeout", Some("--timeout")),
            ("time-out", Some("--timeout")),
            ("idle-timout", Some("--idle-timeout")),
            ("keep-alive", Some("--keepalive")),
            ("proxyonly", Some("--proxy-only")),
            ("hots", Some("--host")),
            ("claud", Some("--claude")),
            // claude's own options stay unsuggested.
            ("cloud", None),
            ("model", None),
            ("print", None),
            ("resume", None),
            ("debug", None),
            ("timeout", None),
        ];
        for (name, want) in cases {
            assert_eq!(own_option(name).as_deref(), want, "{name}");
        }
    }
}

//! Zero-config start: `anyclaude` with no `--model` and no provider key set asks the local
//! servers (Ollama, LM Studio, llama.cpp, vLLM, mlx) which models they have, all at once
//! within [`discover::LOCAL_PROBE_DEADLINE`], and runs on the first one that offers a model,
//! saying so in one line before claude starts. When none does, it explains the ways to
//! choose a backend and anyclaude exits 2 before anything starts.
//!
//! The decision ([`decide`]) is pure over the servers' reports; [`detect`] does the probing.

use std::time::{Duration, Instant};

use crate::config::{ConfigError, ModelChoice};
use crate::discover::{self, LocalServerReport};
use crate::provider::{self, PRESETS};

/// The variable holding the model claude starts with when zero-config chose it (the user's
/// own value, when set, wins: anyclaude then only routes Claude Code's bare ids to it).
pub const MODEL_VAR: &str = "ANTHROPIC_MODEL";

/// Whether zero-config applies: no model was named and no hosted provider's key is set (a
/// key says the user means a hosted provider; local servers' optional keys do not count).
pub fn applies(model_named: bool, env: &dyn provider::Env) -> bool {
    !model_named && key_set(env).is_none()
}

/// The first hosted provider's key variable that is set, if any.
pub fn key_set(env: &dyn provider::Env) -> Option<&'static str> {
    PRESETS
        .iter()
        .filter(|p| p.server.is_none())
        .flat_map(|p| {
            p.key_var
                .into_iter()
                .chain(p.key_fallback_vars.iter().copied())
        })
        .find(|var| env.var(var).is_some())
}

/// What zero-config found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The model, as `--model` would name it.
    pub choice: ModelChoice,
    /// The server's address.
    pub base_url: String,
    /// How long the whole probe took.
    pub took: Duration,
}

impl Found {
    /// The one line said before claude starts.
    pub fn announcement(&self) -> String {
        let preset = self.choice.preset.expect("zero-config picks a preset");
        let server = preset.server.map_or(preset.name, |s| s.name);
        format!(
            "anyclaude: no model chosen; using {} from {server} at {} (found in {} ms; \
             choose another with --model)",
            self.choice.full,
            self.base_url,
            self.took.as_millis()
        )
    }
}

/// The first server in preset order that offers a model, or why none can be used.
pub fn decide(reports: &[LocalServerReport], took: Duration) -> Result<Found, ConfigError> {
    for report in reports {
        if let Some(model) = report.first_model() {
            return Ok(Found {
                choice: ModelChoice {
                    full: format!("{}/{}", report.preset.name, model.id),
                    preset: Some(report.preset),
                },
                base_url: report.base_url.clone(),
                took,
            });
        }
    }
    Err(ConfigError(nothing_found(reports)))
}

/// Probes the local servers and decides.
pub fn detect(env: &(dyn provider::Env + Sync)) -> Result<Found, ConfigError> {
    let started = Instant::now();
    let reports = discover::probe_local_blocking(env, discover::LOCAL_PROBE_DEADLINE);
    let took = started.elapsed();
    tracing::info!(took_ms = took.as_millis() as u64, "local servers probed");
    decide(&reports, took)
}

/// What to do when no backend was chosen and no local server offers a model.
fn nothing_found(reports: &[LocalServerReport]) -> String {
    let mut text =
        String::from("no model chosen, no provider key set, and no local server offers a model.\n");
    for r in reports {
        let server = r.preset.server.map_or(r.preset.name, |s| s.name);
        let start = r.preset.server.map_or("", |s| s.start);
        let state = match &r.models {
            Ok(_) => "answers but has no model loaded (load or pull one, then retry)".to_owned(),
            Err(err) => format!("{err}; start it with {start}"),
        };
        text.push_str(&format!("  {server} at {}: {state}\n", r.base_url));
    }
    text.push_str(
        "Choose a backend in one of three ways:\n  \
         1. name it: anyclaude --model ollama/qwen3 (any <provider>/<model>)\n  \
         2. set a default model in anyclaude's config file\n  \
         3. export a provider's key and name its model: \
         export OPENAI_API_KEY=sk-... && anyclaude --model openai/gpt-5-mini\n\
         `anyclaude --help` lists the providers; `anyclaude check` shows what is reachable.",
    );
    text
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::discover::{ListError, RemoteModel};

    fn report(name: &str, models: Result<&[&str], ListError>) -> LocalServerReport {
        LocalServerReport {
            preset: provider::preset(name).unwrap(),
            base_url: format!("http://127.0.0.1:9/{name}"),
            models: models.map(|ids| {
                ids.iter()
                    .map(|id| RemoteModel {
                        id: (*id).to_owned(),
                        context_window: None,
                        created: None,
                    })
                    .collect()
            }),
            took: Duration::ZERO,
        }
    }

    #[test]
    fn applies_only_without_a_model_or_a_hosted_key() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(applies(false, &env(&[])));
        assert!(!applies(true, &env(&[])));
        assert!(!applies(false, &env(&[("OPENAI_API_KEY", "k")])));
        assert!(!applies(false, &env(&[("GOOGLE_API_KEY", "k")])));
        // An empty variable is no key; a local server's key is no hosted provider's.
        assert!(applies(false, &env(&[("OPENAI_API_KEY", "")])));
        assert!(applies(false, &env(&[("OLLAMA_API_KEY", "k")])));
    }

    #[test]
    fn picks_the_first_server_that_offers_a_model() {
        let reports = [
            report("ollama", Err(ListError::Unreachable("refused".into()))),
            report("lmstudio", Ok(&[])),
            report("llamacpp", Ok(&["gemma.gguf", "other"])),
            report("vllm", Ok(&["Qwen/Qwen3-8B"])),
        ];
        let found = decide(&reports, Duration::from_millis(3)).unwrap();
        assert_eq!(found.choice.full, "llamacpp/gemma.gguf");
        assert_eq!(found.choice.preset.unwrap().name, "llamacpp");
        assert_eq!(
            found.announcement(),
            "anyclaude: no model chosen; using llamacpp/gemma.gguf from llama.cpp's server at \
             http://127.0.0.1:9/llamacpp (found in 3 ms; choose another with --model)"
        );
    }

    #[test]
    fn nothing_found_explains_the_three_ways() {
        let reports = [
            report(
                "ollama",
                Err(ListError::Unreachable("connection refused".into())),
            ),
            report("lmstudio", Ok(&[])),
        ];
        let err = decide(&reports, Duration::ZERO).unwrap_err().to_string();
        assert!(
            err.contains("Ollama at http://127.0.0.1:9/ollama: not reachable (connection refused); start it with `ollama serve`"),
            "{err}"
        );
        assert!(
            err.contains(
                "LM Studio's server at http://127.0.0.1:9/lmstudio: answers but has no model"
            ),
            "{err}"
        );
        for way in [
            "1. name it",
            "2. set a default",
            "3. export a provider's key",
        ] {
            assert!(err.contains(way), "{err}");
        }
    }
}

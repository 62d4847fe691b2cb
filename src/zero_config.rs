//! Zero-config start: `anyclaude` with no `--model` and no provider key set asks the local
//! servers (Ollama, LM Studio, llama.cpp, vLLM, mlx) which models they have, all at once
//! within [`discover::LOCAL_PROBE_DEADLINE`], and runs on the first one that offers a model,
//! saying so in one line before claude starts. When none does, it explains the ways to
//! choose a backend and anyclaude exits 2 before anything starts.
//!
//! The decision ([`decide`]) is pure over the servers' reports; [`detect`] does the probing.

use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::config::{ConfigError, ModelChoice};
use crate::discover::{self, LocalServerReport};
use crate::registry::Registry;

/// The variable holding the model claude starts with when zero-config chose it (the user's
/// own value, when set, wins: anyclaude then only routes Claude Code's bare ids to it).
pub const MODEL_VAR: &str = "ANTHROPIC_MODEL";

/// Whether zero-config applies: no model was named, the config file names no default, and
/// no hosted provider has a key (a key says the user means a hosted provider; local
/// servers' optional keys do not count).
pub fn applies(model_named: bool, registry: &Registry) -> bool {
    !model_named && registry.default_model().is_none() && key_set(registry).is_none()
}

/// The variable (or, for a key from the config file, the provider) of the first hosted
/// provider that has a key, if any.
pub fn key_set(registry: &Registry) -> Option<String> {
    registry
        .providers()
        .filter(|p| p.server.is_none() && p.key.is_some())
        .map(|p| p.key_var.clone().unwrap_or_else(|| p.name.to_string()))
        .next()
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
    /// The server's model list as the probe read it, so that the start check need not ask
    /// for it again (it reads the window listed there).
    pub listed: Vec<discover::RemoteModel>,
}

impl Found {
    /// The one line said before claude starts.
    pub fn announcement(&self) -> String {
        let provider = self
            .choice
            .provider
            .as_ref()
            .expect("zero-config picks a provider");
        let server = provider.server.map_or(&*provider.name, |s| s.name);
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
            let full = format!("{}/{}", report.provider.name, model.id);
            return Ok(Found {
                choice: ModelChoice {
                    resolved: full.clone(),
                    full,
                    provider: Some(Arc::clone(&report.provider)),
                },
                base_url: report.base_url.clone(),
                took,
                listed: report.models.clone().unwrap_or_default(),
            });
        }
    }
    Err(ConfigError(nothing_found(reports)))
}

/// Probes the local servers and decides.
pub fn detect(registry: &Registry) -> Result<Found, ConfigError> {
    let started = Instant::now();
    let reports = discover::probe_local_blocking(registry, discover::LOCAL_PROBE_DEADLINE);
    let took = started.elapsed();
    tracing::info!(took_ms = took.as_millis() as u64, "local servers probed");
    decide(&reports, took)
}

/// What to do when no backend was chosen and no local server offers a model.
fn nothing_found(reports: &[LocalServerReport]) -> String {
    let mut text =
        String::from("no model chosen, no provider key set, and no local server offers a model.\n");
    for r in reports {
        let server = r.provider.server.map_or(&*r.provider.name, |s| s.name);
        let start = r.provider.server.map_or("", |s| s.start);
        let state = match &r.models {
            Ok(_) => "answers but has no model loaded (load or pull one, then retry)".to_owned(),
            Err(err) => format!("{err}; start it with {start}"),
        };
        text.push_str(&format!("  {server} at {}: {state}\n", r.base_url));
    }
    text.push_str(
        "Choose a backend in one of three ways:\n  \
         1. name it: anyclaude --model ollama/qwen3 (any <provider>/<model>)\n  \
         2. set default_model in anyclaude's config file \
         (~/.config/anyclaude/config.toml, or --config PATH)\n  \
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

    fn registry(pairs: &[(&str, &str)]) -> Registry {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Registry::from_env(&env).unwrap()
    }

    fn report(name: &str, models: Result<&[&str], ListError>) -> LocalServerReport {
        LocalServerReport {
            provider: Arc::clone(registry(&[]).provider(name).unwrap()),
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
        assert!(applies(false, &registry(&[])));
        assert!(!applies(true, &registry(&[])));
        assert!(!applies(false, &registry(&[("OPENAI_API_KEY", "k")])));
        assert!(!applies(false, &registry(&[("GOOGLE_API_KEY", "k")])));
        assert_eq!(
            key_set(&registry(&[("GOOGLE_API_KEY", "k")])).as_deref(),
            Some("GEMINI_API_KEY")
        );
        // An empty variable is no key; a local server's key is no hosted provider's.
        assert!(applies(false, &registry(&[("OPENAI_API_KEY", "")])));
        assert!(applies(false, &registry(&[("OLLAMA_API_KEY", "k")])));
        // A default model from the config file is a choice.
        let mut with_default = registry(&[]);
        with_default.set_default_model(Some("ollama/qwen3"));
        assert!(!applies(false, &with_default));
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
        assert_eq!(&*found.choice.provider.as_ref().unwrap().name, "llamacpp");
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
            "2. set default_model in anyclaude's config file",
            "3. export a provider's key",
        ] {
            assert!(err.contains(way), "{err}");
        }
    }
}

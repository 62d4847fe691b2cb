//! `GET /v1/models`: the models Claude Code's `/model` picker offers, in Anthropic's shape
//! (`data: [{type, id, display_name, created_at, description}]`, `has_more`, `first_id`,
//! `last_id`): the session's default model, the config file's models and aliases, then what
//! each reachable local server reports (probed with a short deadline, the answer kept for
//! [`CATALOG_TTL`]).
//!
//! Claude Code (2.1.x with `CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY`) fetches this list
//! once at start with its custom headers (so the per-run token guards it like every other
//! route) and keeps only ids containing `claude` or `anthropic`. Every id is therefore
//! offered as `anyclaude/<provider>/<model>` ([`PICKER_PREFIX`]) with `<provider>/<model>`
//! as its display name; requests naming such an id are routed as `<provider>/<model>`
//! ([`strip_picker_prefix`]).

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::discover::{self, LocalServerReport};
use crate::registry::Registry;

/// The prefix of every id in the list.
pub const PICKER_PREFIX: &str = "anyclaude/";

/// How long the local servers' answers are reused.
pub const CATALOG_TTL: Duration = Duration::from_secs(10);

/// Claude Code cuts descriptions at 100 characters.
const DESCRIPTION_MAX: usize = 100;

/// `model` as routed: an id from the list (`anyclaude/openai/gpt-5`, `anyclaude/fast`)
/// names `openai/gpt-5` (`fast`); anything else is unchanged.
pub fn strip_picker_prefix(model: &str) -> &str {
    match model.strip_prefix(PICKER_PREFIX) {
        Some(rest) if !rest.is_empty() => rest,
        _ => model,
    }
}

/// The local servers' last answers, shared by the requests of one proxy.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Built at the first request, so that starting the proxy does not wait for it.
    client: OnceLock<reqwest::Client>,
    local: Mutex<Option<(Instant, Vec<LocalServerReport>)>>,
}

impl Catalog {
    /// What the local servers report, probed again when the last answer is older than
    /// [`CATALOG_TTL`] (concurrent callers wait for one probe).
    pub async fn local(&self, registry: &Registry) -> Vec<LocalServerReport> {
        let mut cached = self.local.lock().await;
        if let Some((at, reports)) = cached.as_ref()
            && at.elapsed() < CATALOG_TTL
        {
            return reports.clone();
        }
        let client = self.client.get_or_init(|| {
            let https = discover::local_targets(registry)
                .iter()
                .any(|(_, url)| url.starts_with("https:"));
            discover::local_client(discover::LOCAL_PROBE_DEADLINE, https)
        });
        let reports = discover::probe_local(client, registry, discover::LOCAL_PROBE_DEADLINE).await;
        *cached = Some((Instant::now(), reports.clone()));
        reports
    }
}

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `<provider>/<model>` or an alias, as routed.
    pub model: String,
    /// What the picker shows.
    pub display_name: String,
    /// One line on where it runs.
    pub description: String,
    /// Unix seconds, when known.
    pub created: Option<u64>,
}

/// The entries for a session: its default model first, then the config file's models and
/// aliases, then each local server's models; each once.
pub fn entries(registry: &Registry, local: &[LocalServerReport]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut push = |entry: Entry| {
        if !out.iter().any(|e| e.model == entry.model) {
            out.push(entry);
        }
    };
    let configured = |full: &str, fallback: String| {
        let spec = registry.model(full);
        let display = spec
            .and_then(|s| s.display_name.clone())
            .unwrap_or_else(|| full.to_owned());
        let window = spec
            .and_then(|s| s.context_window)
            .map(|w| format!(", {w} tokens of context"))
            .unwrap_or_default();
        let description = spec
            .and_then(|s| s.description.clone())
            .unwrap_or(format!("{fallback}{window}"));
        (display, description)
    };
    if let Some(model) = registry.default_model() {
        let (display_name, description) = configured(
            model,
            "the model this anyclaude session started with".to_owned(),
        );
        push(Entry {
            model: model.to_owned(),
            display_name,
            description,
            created: None,
        });
    }
    for (full, _) in registry.models() {
        let (display_name, description) = configured(full, "from the config file".to_owned());
        push(Entry {
            model: full.to_owned(),
            display_name,
            description,
            created: None,
        });
    }
    for (alias, full) in registry.aliases() {
        push(Entry {
            model: alias.to_owned(),
            display_name: alias.to_owned(),
            description: format!("alias for {full}"),
            created: None,
        });
    }
    for report in local {
        let Ok(models) = &report.models else { continue };
        let name = &report.provider.name;
        let server = report.provider.server.map_or(&**name, |s| s.name);
        for m in models {
            let model = format!("{name}/{}", m.id);
            let window = m
                .context_window
                .map(|w| format!(", {w} tokens of context"))
                .unwrap_or_default();
            push(Entry {
                display_name: model.clone(),
                model,
                description: format!("{server} at {}{window}", report.base_url),
                created: m.created,
            });
        }
    }
    out
}

/// The list in Anthropic's shape.
pub fn to_json(entries: &[Entry]) -> Value {
    let data: Vec<Value> = entries
        .iter()
        .map(|e| {
            let created = UNIX_EPOCH + Duration::from_secs(e.created.unwrap_or(0));
            let description: String = e.description.chars().take(DESCRIPTION_MAX).collect();
            json!({
                "type": "model",
                "id": format!("{PICKER_PREFIX}{}", e.model),
                "display_name": e.display_name,
                "description": description,
                "created_at": rfc3339(created),
            })
        })
        .collect();
    let first = data.first().map(|m| m["id"].clone());
    let last = data.last().map(|m| m["id"].clone());
    json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{ListError, RemoteModel};
    use std::collections::HashMap;

    fn registry(default: Option<&str>) -> Registry {
        let mut r = Registry::from_env(&HashMap::<String, String>::new()).unwrap();
        r.set_default_model(default);
        r
    }

    fn report(
        name: &str,
        models: Result<Vec<(&str, Option<u64>)>, ListError>,
    ) -> LocalServerReport {
        LocalServerReport {
            provider: std::sync::Arc::clone(registry(None).provider(name).unwrap()),
            base_url: format!("http://127.0.0.1:9/{name}"),
            models: models.map(|ms| {
                ms.into_iter()
                    .map(|(id, w)| RemoteModel {
                        id: id.to_owned(),
                        context_window: w,
                        created: Some(86400),
                    })
                    .collect()
            }),
            took: Duration::ZERO,
        }
    }

    #[test]
    fn lists_the_default_then_each_servers_models_once() {
        let local = [
            report(
                "ollama",
                Ok(vec![("qwen3:8b", None), ("gemma3", Some(8192))]),
            ),
            report("lmstudio", Err(ListError::Unreachable("refused".into()))),
            report("vllm", Ok(vec![])),
        ];
        let got = entries(&registry(Some("ollama/qwen3:8b")), &local);
        let models: Vec<_> = got.iter().map(|e| e.model.as_str()).collect();
        assert_eq!(models, ["ollama/qwen3:8b", "ollama/gemma3"]);
        assert_eq!(
            got[1].description,
            "Ollama at http://127.0.0.1:9/ollama, 8192 tokens of context"
        );
        let body = to_json(&got);
        assert_eq!(body["has_more"], false);
        assert_eq!(body["first_id"], "anyclaude/ollama/qwen3:8b");
        assert_eq!(body["last_id"], "anyclaude/ollama/gemma3");
        let second = &body["data"][1];
        assert_eq!(second["type"], "model");
        assert_eq!(second["display_name"], "ollama/gemma3");
        assert_eq!(second["created_at"], "1970-01-02T00:00:00Z");
        assert_eq!(body["data"][0]["created_at"], "1970-01-01T00:00:00Z");
        // Claude Code keeps only ids that name claude or anthropic.
        for m in body["data"].as_array().unwrap() {
            assert!(m["id"].as_str().unwrap().contains("claude"), "{m}");
        }
        let empty = to_json(&entries(&registry(None), &[]));
        assert_eq!(empty["data"], json!([]));
        assert_eq!(empty["first_id"], Value::Null);
    }

    #[test]
    fn lists_the_config_files_models_and_aliases_with_their_names() {
        let loaded = crate::registry::file::parse(
            "/cfg/config.toml".into(),
            r#"
default_model = "fast"
[aliases]
fast = "groq/llama-3.3-70b"
[models."groq/llama-3.3-70b"]
display_name = "Llama 3.3 70B on Groq"
context_window = 131072
[models."openai/gpt-5"]
description = "the big one"
"#
            .to_owned(),
        )
        .unwrap();
        let registry = Registry::build(
            Some(&loaded),
            &HashMap::<String, String>::new(),
            &crate::registry::ShellKeyCommand::default(),
        )
        .unwrap();
        let got = entries(&registry, &[]);
        let shown: Vec<_> = got
            .iter()
            .map(|e| {
                (
                    e.model.as_str(),
                    e.display_name.as_str(),
                    e.description.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "groq/llama-3.3-70b",
                    "Llama 3.3 70B on Groq",
                    "the model this anyclaude session started with, 131072 tokens of context"
                ),
                ("openai/gpt-5", "openai/gpt-5", "the big one"),
                ("fast", "fast", "alias for groq/llama-3.3-70b"),
            ]
        );
        assert_eq!(to_json(&got)["data"][2]["id"], "anyclaude/fast");
    }

    #[test]
    fn descriptions_fit_claude_codes_limit() {
        let mut server = report("ollama", Ok(vec![("m", None)]));
        server.base_url = format!("http://127.0.0.1:9/{}", "x".repeat(300));
        let body = to_json(&entries(&registry(None), &[server]));
        assert_eq!(
            body["data"][0]["description"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            DESCRIPTION_MAX
        );
    }

    #[test]
    fn picker_ids_route_as_the_model_they_name() {
        assert_eq!(
            strip_picker_prefix("anyclaude/openai/gpt-5"),
            "openai/gpt-5"
        );
        assert_eq!(
            strip_picker_prefix("anyclaude/ollama/qwen3:8b"),
            "ollama/qwen3:8b"
        );
        assert_eq!(strip_picker_prefix("openai/gpt-5"), "openai/gpt-5");
        assert_eq!(
            strip_picker_prefix("claude-sonnet-4-5"),
            "claude-sonnet-4-5"
        );
        // An alias.
        assert_eq!(strip_picker_prefix("anyclaude/fast"), "fast");
        assert_eq!(strip_picker_prefix("anyclaude/"), "anyclaude/");
    }
}

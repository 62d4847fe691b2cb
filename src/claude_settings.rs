//! Keeps a `/model` pick made inside an anyclaude session out of the default a plain
//! `claude` starts with. Claude Code saves a pick from its picker as `"model"` in its user
//! settings (`$CLAUDE_CONFIG_DIR/settings.json`, by default `~/.claude/settings.json`), so
//! the next plain `claude` would ask Anthropic for `openai/gpt-5`. anyclaude remembers the
//! file's `model` before claude starts ([`ModelGuard::remember`]) and, once claude has
//! exited, puts it back when it changed to a model only anyclaude can serve
//! ([`ModelGuard::restore`]); a change to one of Claude Code's own models stays.
//!
//! The rewrite ([`restored`]) is pure and keeps the rest of the file as it was: its keys in
//! their order, each value's text untouched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::config::Env;
use crate::registry::Registry;

/// Claude Code's user settings file for this environment.
pub fn settings_path(env: &dyn Env) -> Option<PathBuf> {
    let dir = match env.non_empty("CLAUDE_CONFIG_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&env.non_empty("HOME")?).join(".claude"),
    };
    Some(dir.join("settings.json"))
}

/// Whether `model` is an id only anyclaude can serve: `<provider>/<model>` with a provider
/// anyclaude knows, one of its aliases, or an id from its model list (`anyclaude/…`).
/// Claude Code's own ids and aliases (`sonnet`, `claude-opus-4-1`, `opus[1m]`) are not.
pub fn only_anyclaude_serves(model: &str, registry: &Registry) -> bool {
    if model.starts_with(crate::server::models::PICKER_PREFIX)
        || registry.aliases().any(|(alias, _)| alias == model)
    {
        return true;
    }
    model
        .split_once('/')
        .is_some_and(|(prefix, rest)| !rest.is_empty() && registry.provider(prefix).is_some())
}

/// The settings file's `model` as it was before claude started.
#[derive(Debug, Clone)]
pub struct ModelGuard {
    path: PathBuf,
    /// Whether the file existed.
    existed: bool,
    /// The `model` value's JSON text, if the key was there.
    before: Option<String>,
    /// Who can serve what.
    registry: std::sync::Arc<Registry>,
}

/// What [`ModelGuard::restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The model Claude Code had saved.
    pub picked: String,
    /// The value put back (`None`: the key was removed, as it was absent).
    pub previous: Option<String>,
    /// The file.
    pub path: PathBuf,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "anyclaude: claude saved {} as its default model in {}; ",
            self.picked,
            self.path.display()
        )?;
        match &self.previous {
            Some(previous) => write!(f, "put back {previous}")?,
            None => f.write_str("removed it")?,
        }
        f.write_str(" so that a plain claude is not sent to a model only anyclaude serves")
    }
}

impl ModelGuard {
    /// Reads the settings file's `model` now. `None` when there is no settings path (no
    /// HOME) or the file cannot be read as a JSON object (then nothing is touched later).
    pub fn remember(env: &dyn Env, registry: std::sync::Arc<Registry>) -> Option<ModelGuard> {
        let path = settings_path(env)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let entries = parse(&text)?;
                let before = entries
                    .iter()
                    .find(|(k, _)| k == "model")
                    .map(|(_, v)| v.get().to_owned());
                Some(ModelGuard {
                    path,
                    existed: true,
                    before,
                    registry,
                })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(ModelGuard {
                path,
                existed: false,
                before: None,
                registry,
            }),
            Err(_) => None,
        }
    }

    /// Puts the remembered `model` back if claude changed it to a model only anyclaude
    /// serves. Writes through a temporary file renamed into place, with the file's
    /// permissions; a file that did not exist and would be left empty is removed.
    pub fn restore(&self) -> std::io::Result<Option<Restored>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let Some((new_text, picked)) = restored(&text, self.before.as_deref(), &self.registry)
        else {
            return Ok(None);
        };
        let done = Restored {
            picked,
            previous: self.before.clone(),
            path: self.path.clone(),
        };
        if !self.existed && new_text.trim() == "{}" {
            std::fs::remove_file(&self.path)?;
            return Ok(Some(done));
        }
        let permissions = std::fs::metadata(&self.path)?.permissions();
        let tmp = self
            .path
            .with_extension(format!("json.anyclaude-{}", std::process::id()));
        std::fs::write(&tmp, new_text)?;
        std::fs::set_permissions(&tmp, permissions)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(Some(done))
    }
}

/// The settings text with `model` put back to `before` (its JSON text; `None`: removed),
/// and the model that was there, when the file's `model` now is a string naming a model
/// only anyclaude serves and differs from `before`; `None` when nothing is to change.
pub fn restored(text: &str, before: Option<&str>, registry: &Registry) -> Option<(String, String)> {
    let entries = parse(text)?;
    let (_, now) = entries.iter().find(|(k, _)| k == "model")?;
    if Some(now.get()) == before {
        return None;
    }
    let picked: String = serde_json::from_str(now.get()).ok()?;
    if !only_anyclaude_serves(&picked, registry) {
        return None;
    }
    let mut out = String::from("{");
    let mut first = true;
    for (key, value) in &entries {
        let value = if key == "model" {
            match before {
                Some(before) => before,
                None => continue,
            }
        } else {
            value.get()
        };
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        let key = serde_json::to_string(key).expect("a string serializes");
        let _ = write!(out, "  {key}: {value}");
    }
    out.push_str(if first { "}" } else { "\n}" });
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some((out, picked))
}

/// A JSON object's entries in file order, each value's text as it is.
fn parse(text: &str) -> Option<Vec<(String, Box<RawValue>)>> {
    serde_json::from_str::<Entries>(text).ok().map(|e| e.0)
}

struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn presets() -> Registry {
        Registry::from_env(&HashMap::<String, String>::new()).unwrap()
    }

    const SETTINGS: &str = "{\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(ls)\"\n    ]\n  },\n  \"model\": \"anyclaude/openai/gpt-5\",\n  \"theme\": \"dark\"\n}\n";

    #[test]
    fn puts_the_previous_model_back_keeping_the_rest_as_it_was() {
        let (text, picked) = restored(SETTINGS, Some("\"opus\""), &presets()).unwrap();
        assert_eq!(picked, "anyclaude/openai/gpt-5");
        assert_eq!(
            text,
            SETTINGS.replace("\"anyclaude/openai/gpt-5\"", "\"opus\"")
        );
        // Absent before: the key goes.
        let (text, _) = restored(SETTINGS, None, &presets()).unwrap();
        assert_eq!(
            text,
            "{\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(ls)\"\n    ]\n  },\n  \"theme\": \"dark\"\n}\n"
        );
        let (text, _) = restored("{\"model\":\"ollama/qwen3\"}", None, &presets()).unwrap();
        assert_eq!(text, "{}");
    }

    #[test]
    fn leaves_claude_codes_own_models_and_unchanged_files_alone() {
        for (text, before) in [
            // Unchanged.
            (SETTINGS, Some("\"anyclaude/openai/gpt-5\"")),
            // Changed to one of Claude Code's own.
            ("{\"model\": \"sonnet\"}", Some("\"opus\"")),
            ("{\"model\": \"claude-opus-4-1[1m]\"}", None),
            // No model, not an object, not JSON.
            ("{\"theme\": \"dark\"}", Some("\"opus\"")),
            ("[1, 2]", None),
            ("{\"model\": ", None),
            // Not a string.
            ("{\"model\": 5}", None),
        ] {
            assert_eq!(restored(text, before, &presets()), None, "{text}");
        }
    }

    #[test]
    fn recognises_models_only_anyclaude_serves() {
        for model in [
            "anyclaude/openai/gpt-5",
            "openai/gpt-5-mini",
            "ollama/qwen3:8b",
            "openrouter/qwen/qwen3-coder",
            "anthropic/claude-sonnet-4-5",
        ] {
            assert!(only_anyclaude_serves(model, &presets()), "{model}");
        }
        for model in [
            "sonnet",
            "opus[1m]",
            "claude-sonnet-4-5-20250929",
            "default",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc",
            "openai/",
        ] {
            assert!(!only_anyclaude_serves(model, &presets()), "{model}");
        }
    }

    #[test]
    fn restores_the_file_in_place() {
        let home = tempfile::tempdir().unwrap();
        let env: HashMap<String, String> =
            [("HOME".to_owned(), home.path().display().to_string())].into();
        let path = settings_path(&env).unwrap();
        assert_eq!(path, home.path().join(".claude/settings.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\n  \"model\": \"opus\"\n}\n").unwrap();
        let guard = ModelGuard::remember(&env, std::sync::Arc::new(presets())).unwrap();
        std::fs::write(&path, "{\n  \"model\": \"openai/gpt-5\"\n}\n").unwrap();
        let done = guard.restore().unwrap().unwrap();
        assert_eq!(done.picked, "openai/gpt-5");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"model\": \"opus\"\n}\n"
        );
        assert_eq!(guard.restore().unwrap(), None, "nothing left to do");

        // A file claude created only for the pick goes again.
        std::fs::remove_file(&path).unwrap();
        let guard = ModelGuard::remember(&env, std::sync::Arc::new(presets())).unwrap();
        std::fs::write(&path, "{\n  \"model\": \"ollama/qwen3\"\n}\n").unwrap();
        assert!(guard.restore().unwrap().is_some());
        assert!(!path.exists());

        // CLAUDE_CONFIG_DIR wins over HOME.
        let env: HashMap<String, String> =
            [("CLAUDE_CONFIG_DIR".to_owned(), "/x/cfg".to_owned())].into();
        assert_eq!(
            settings_path(&env).unwrap(),
            Path::new("/x/cfg/settings.json")
        );
    }
}

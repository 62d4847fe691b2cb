//! Tests of the registry: routing over the presets and the environment, the config file
//! (every key, every error), key commands, and that no key shows in any `Debug`.

use super::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::provider::{AuthScheme, ChatProfile, Dialect};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Routes `model` over the presets with the environment `e`.
fn route(e: &HashMap<String, String>, model: &str) -> Result<Route, RouteError> {
    Registry::from_env(e).unwrap().route(model)
}

#[test]
fn routes_provider_prefixed_models() {
    let e = env(&[("OPENROUTER_API_KEY", "k")]);
    let r = route(&e, "openrouter/qwen/qwen3-coder").unwrap();
    assert_eq!(&*r.provider.name, "openrouter");
    assert_eq!(r.model, "qwen/qwen3-coder");
    assert_eq!(r.provider.base_url, "https://openrouter.ai/api/v1");
    assert_eq!(
        r.chat_url(),
        "https://openrouter.ai/api/v1/chat/completions"
    );
    assert_eq!(
        r.auth_header(),
        Some(("authorization", "Bearer k".to_owned()))
    );
}

#[test]
fn openai_reasoning_models_speak_responses_unless_overridden() {
    let e = env(&[("OPENAI_API_KEY", "k")]);
    for (model, dialect) in [
        ("openai/gpt-5", Dialect::OpenAiResponses),
        ("openai/gpt-5-codex", Dialect::OpenAiResponses),
        ("openai/GPT-5.1-Codex-Max", Dialect::OpenAiResponses),
        ("openai/o3-pro", Dialect::OpenAiResponses),
        ("openai/o4-mini", Dialect::OpenAiResponses),
        ("openai/codex-mini-latest", Dialect::OpenAiResponses),
        ("openai/gpt-5-chat-latest", Dialect::OpenAiChat),
        ("openai/gpt-4.1", Dialect::OpenAiChat),
        ("openai/omni-moderation-latest", Dialect::OpenAiChat),
    ] {
        assert_eq!(route(&e, model).unwrap().dialect, dialect, "{model}");
    }
    let r = route(&e, "openai/gpt-5").unwrap();
    assert_eq!(r.url("/responses"), "https://api.openai.com/v1/responses");
    // Other presets keep their own dialect for the same model names.
    let e = env(&[("OPENROUTER_API_KEY", "k"), ("ANTHROPIC_API_KEY", "k")]);
    assert_eq!(
        route(&e, "openrouter/openai/gpt-5").unwrap().dialect,
        Dialect::OpenAiChat
    );
    assert_eq!(
        route(&e, "anthropic/claude-x").unwrap().dialect,
        Dialect::Anthropic
    );
    // The override picks the API for every model of the preset.
    let chat = env(&[("OPENAI_API_KEY", "k"), ("ANYCLAUDE_OPENAI_API", "chat")]);
    assert_eq!(
        route(&chat, "openai/gpt-5").unwrap().dialect,
        Dialect::OpenAiChat
    );
    let responses = env(&[
        ("OLLAMA_BASE_URL", "http://127.0.0.1:9/v1"),
        ("ANYCLAUDE_OLLAMA_API", " Responses "),
    ]);
    assert_eq!(
        route(&responses, "ollama/gpt-oss:20b").unwrap().dialect,
        Dialect::OpenAiResponses
    );
    let auto = env(&[("OPENAI_API_KEY", "k"), ("ANYCLAUDE_OPENAI_API", "auto")]);
    assert_eq!(
        route(&auto, "openai/o3").unwrap().dialect,
        Dialect::OpenAiResponses
    );
    let bad = env(&[
        ("OPENAI_API_KEY", "k"),
        ("ANYCLAUDE_OPENAI_API", "respones"),
    ]);
    // A bad value stops anyclaude at start, naming the variable.
    let err = Registry::from_env(&bad).unwrap_err();
    assert_eq!(
        err.0,
        "ANYCLAUDE_OPENAI_API is \"respones\"; it must be chat, responses or auto"
    );
    // No override where the preset cannot speak Responses on a plain base URL.
    let registry = Registry::from_env(&env(&[])).unwrap();
    let var = |name: &str| registry.provider(name).unwrap().api_override_var();
    assert_eq!(var("azure"), None);
    assert_eq!(var("anthropic"), None);
    assert_eq!(var("gemini"), None);
    assert_eq!(var("lmstudio").as_deref(), Some("ANYCLAUDE_LMSTUDIO_API"));
    assert_eq!(
        var("deepseek-anthropic"),
        None,
        "an Anthropic host speaks no Chat"
    );
}

#[test]
fn local_presets_need_no_key_and_take_overrides() {
    let e = env(&[("OLLAMA_BASE_URL", "http://127.0.0.1:9/v1/")]);
    let r = route(&e, "ollama/qwen3-coder").unwrap();
    assert_eq!(r.provider.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(r.provider.key, None);
    assert_eq!(r.auth_header(), None);
}

#[test]
fn openai_url_variables_in_order() {
    let e = env(&[("OPENAI_API_KEY", "k"), ("OPENAI_API_URL", "http://b/v1")]);
    assert_eq!(
        route(&e, "openai/x").unwrap().provider.base_url,
        "http://b/v1"
    );
    let e = env(&[
        ("OPENAI_API_KEY", "k"),
        ("OPENAI_BASE_URL", "http://a/v1"),
        ("OPENAI_API_URL", "http://b/v1"),
    ]);
    assert_eq!(
        route(&e, "openai/x").unwrap().provider.base_url,
        "http://a/v1"
    );
}

#[test]
fn bare_ids_go_to_the_default_model() {
    let e = env(&[("OPENAI_API_KEY", "k")]);
    let mut registry = Registry::from_env(&e).unwrap();
    registry.set_default_model(Some("openai/gpt-5-mini"));
    let r = registry.route("claude-haiku-4-5").unwrap();
    assert_eq!(r.model, "gpt-5-mini");
    assert_eq!(r.defaulted_from.as_deref(), Some("claude-haiku-4-5"));
    let err = route(&e, "claude-haiku-4-5").unwrap_err();
    assert!(err.to_string().contains("--model"), "{err}");
}

#[test]
fn errors_name_what_to_do() {
    let e = env(&[]);
    let err = route(&e, "nope/x").unwrap_err().to_string();
    assert!(err.contains("openai") && err.contains("ollama"), "{err}");
    let err = route(&e, "openai/gpt-5").unwrap_err().to_string();
    assert!(err.contains("OPENAI_API_KEY"), "{err}");
    assert!(matches!(
        route(&env(&[("OPENAI_API_KEY", "k")]), "openai/"),
        Err(RouteError::EmptyModel { .. })
    ));
    let err = route(&env(&[("AZURE_OPENAI_API_KEY", "k")]), "azure/dep")
        .unwrap_err()
        .to_string();
    assert!(err.contains("AZURE_OPENAI_ENDPOINT"), "{err}");
}

#[test]
fn gemini_takes_either_key_its_base_url_and_the_goog_header() {
    let e = env(&[("GOOGLE_API_KEY", "g")]);
    let r = route(&e, "gemini/gemini-2.5-pro").unwrap();
    assert_eq!(r.provider.dialect, Dialect::Gemini);
    assert_eq!(
        r.provider.base_url,
        "https://generativelanguage.googleapis.com/v1beta"
    );
    assert_eq!(r.auth_header(), Some(("x-goog-api-key", "g".to_owned())));
    let e = env(&[
        ("GEMINI_API_KEY", "k"),
        ("GOOGLE_API_KEY", "g"),
        ("GEMINI_BASE_URL", "http://127.0.0.1:9/v1beta/"),
    ]);
    let r = route(&e, "gemini/gemini-2.5-flash").unwrap();
    assert_eq!(
        r.provider.key.as_ref().map(ApiKey::expose),
        Some("k"),
        "GEMINI_API_KEY first"
    );
    assert_eq!(
        r.url("/models/gemini-2.5-flash:generateContent"),
        "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent"
    );
    let err = route(&env(&[]), "gemini/x").unwrap_err().to_string();
    assert!(err.contains("GEMINI_API_KEY"), "{err}");
}

#[test]
fn azure_builds_deployment_urls() {
    let e = env(&[
        ("AZURE_API_KEY", "k"),
        ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"),
    ]);
    let r = route(&e, "azure/my-dep").unwrap();
    assert_eq!(
        r.chat_url(),
        "https://r.openai.azure.com/openai/deployments/my-dep/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(r.auth_header(), Some(("api-key", "k".to_owned())));
    let e = env(&[
        ("AZURE_OPENAI_API_KEY", "k"),
        ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/openai"),
        ("AZURE_OPENAI_API_VERSION", "2025-01-01"),
    ]);
    let r = route(&e, "azure/my dep").unwrap();
    assert_eq!(
        r.url("/responses?x=1"),
        "https://r.openai.azure.com/openai/deployments/my%20dep/responses?x=1&api-version=2025-01-01"
    );
}

#[test]
fn anthropic_compatible_hosts_have_their_url_key_and_header() {
    let e = env(&[
        ("DEEPSEEK_API_KEY", "d"),
        ("KIMI_API_KEY", "k"),
        ("ZAI_API_KEY", "z"),
        ("MINIMAX_API_KEY", "m"),
        ("ZAI_BASE_URL", "https://open.bigmodel.cn/api/anthropic/"),
    ]);
    let cases = [
        (
            "deepseek-anthropic/deepseek-chat",
            "https://api.deepseek.com/anthropic/v1/messages",
            ("x-api-key", "d"),
        ),
        (
            "kimi/kimi-k2",
            "https://api.moonshot.ai/anthropic/v1/messages",
            ("authorization", "Bearer k"),
        ),
        (
            "zai/glm-4.6",
            "https://open.bigmodel.cn/api/anthropic/v1/messages",
            ("authorization", "Bearer z"),
        ),
        (
            "minimax/MiniMax-M2",
            "https://api.minimax.io/anthropic/v1/messages",
            ("authorization", "Bearer m"),
        ),
    ];
    for (model, url, (header, value)) in cases {
        let r = route(&e, model).unwrap();
        assert_eq!(r.provider.dialect, Dialect::Anthropic, "{model}");
        assert_eq!(r.url("/v1/messages"), url);
        assert_eq!(r.auth_header(), Some((header, value.to_owned())), "{model}");
        assert!(r.provider.messages.signature_tag.is_some(), "{model}");
    }
    assert_eq!(
        route(&e, "deepseek/deepseek-chat")
            .unwrap()
            .provider
            .dialect,
        Dialect::OpenAiChat,
        "deepseek/ stays on Chat Completions"
    );
    let err = route(&env(&[]), "kimi/k2").unwrap_err().to_string();
    assert!(err.contains("MOONSHOT_API_KEY"), "{err}");
    assert_eq!(
        crate::provider::preset("anthropic").unwrap().messages,
        MessagesProfile::ANTHROPIC
    );
}

#[test]
fn quirks_are_data() {
    let e = env(&[("ANTHROPIC_API_KEY", "a")]);
    let r = route(&e, "anthropic/claude-x").unwrap();
    assert_eq!(r.auth_header(), Some(("x-api-key", "a".to_owned())));
    assert_eq!(
        r.url("/v1/messages"),
        "https://api.anthropic.com/v1/messages"
    );
}

// --- the config file ---------------------------------------------------------------------

/// Runs no command: answers with a fixed result and records what it was asked.
struct FakeKeys {
    answer: Result<String, KeyCommandError>,
    calls: std::cell::RefCell<Vec<(String, String)>>,
}

impl FakeKeys {
    fn new(answer: Result<&str, KeyCommandError>) -> FakeKeys {
        FakeKeys {
            answer: answer.map(str::to_owned),
            calls: Default::default(),
        }
    }
}

impl RunKeyCommand for FakeKeys {
    fn run(&self, provider: &str, command: &str) -> Result<String, KeyCommandError> {
        self.calls
            .borrow_mut()
            .push((provider.to_owned(), command.to_owned()));
        self.answer.clone()
    }
}

const PATH: &str = "/cfg/config.toml";

fn load_with(
    source: &str,
    e: &HashMap<String, String>,
    keys: &dyn RunKeyCommand,
) -> Result<Registry, ConfigError> {
    let loaded = file::parse(PathBuf::from(PATH), source.to_owned())?;
    Registry::build(Some(&loaded), e, keys)
}

fn load(source: &str, e: &[(&str, &str)]) -> Result<Registry, ConfigError> {
    load_with(source, &env(e), &FakeKeys::new(Ok("sk-from-command")))
}

#[test]
fn the_example_file_sets_every_key() {
    let keys = FakeKeys::new(Ok("sk-from-command"));
    let source = include_str!("../../examples/config.toml");
    let e = env(&[("WORK_LLM_KEY", "wk-0123456789"), ("GROQ_API_KEY", "g")]);
    let r = load_with(source, &e, &keys).unwrap();
    assert_eq!(r.file(), Some(Path::new(PATH)));

    assert_eq!(r.default_model(), Some("openai/gpt-5"));
    let aliases: Vec<(&str, &str)> = r.aliases().collect();
    assert_eq!(
        aliases,
        [
            ("fast", "groq/llama-3.3-70b-versatile"),
            ("gpt", "openai/gpt-5"),
            ("local", "ollama/qwen3-coder:30b"),
        ]
    );
    let tiers: Vec<(Tier, &str)> = r.tiers().collect();
    assert_eq!(
        tiers,
        [
            (Tier::Opus, "openai/gpt-5"),
            (Tier::Sonnet, "openai/gpt-5-mini"),
            (Tier::Haiku, "groq/llama-3.3-70b-versatile"),
            (Tier::Background, "groq/llama-3.3-70b-versatile"),
            (Tier::Subagent, "openai/gpt-5-mini"),
        ]
    );
    assert_eq!(
        r.long_context(),
        Some(&LongContext {
            threshold: 200_000,
            model: "gemini/gemini-2.5-pro".to_owned()
        })
    );

    // The built-in, changed: its key from the command (run once), a header, timeouts.
    assert_eq!(
        *keys.calls.borrow(),
        [("openai".to_owned(), "pass show api/openai".to_owned())]
    );
    let openai = r.provider("openai").unwrap();
    assert_eq!(
        openai.key.as_ref().map(ApiKey::expose),
        Some("sk-from-command")
    );
    let headers: Vec<(String, String)> = openai
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        headers,
        [("openai-organization".to_owned(), "org-example".to_owned())]
    );
    let minutes = |m: u64| Some(Duration::from_secs(m * 60));
    assert_eq!(
        openai.timeouts,
        ProviderTimeouts {
            request: minutes(15),
            idle: minutes(3),
            progress: minutes(4),
        }
    );
    assert_eq!(openai.dialect_rules, crate::provider::OPENAI_DIALECT_RULES);

    // The new provider: the preset's quirks, its own URL, dialect, key and header.
    let work = r.provider("work").unwrap();
    let preset = crate::provider::preset("openai").unwrap();
    assert_eq!(work.preset, Some("openai"));
    assert_eq!(work.base_url, "https://llm.example.com/v1");
    assert_eq!(work.dialect, Dialect::OpenAiChat);
    assert!(work.dialect_rules.is_empty(), "dialect = chat fixes it");
    assert_eq!(work.key.as_ref().map(ApiKey::expose), Some("wk-0123456789"));
    assert_eq!(work.key_var.as_deref(), Some("WORK_LLM_KEY"));
    assert_eq!(work.auth, AuthScheme::Bearer);
    assert_eq!(work.profile, preset.profile);
    assert_eq!(work.headers.iter().count(), 1);
    assert_eq!(r.providers().last().map(|p| &*p.name), Some("work"));

    let gpt5 = r.model("openai/gpt-5").unwrap();
    assert_eq!(
        *gpt5,
        ModelSpec {
            context_window: Some(400_000),
            max_output_tokens: Some(128_000),
            display_name: Some("GPT-5".to_owned()),
            description: Some("OpenAI's reasoning model, through anyclaude".to_owned()),
            capabilities: Capabilities {
                images: Some(true),
                tools: Some(true),
                parallel_tool_calls: Some(true),
                reasoning: Some(ReasoningStyle::Effort),
                tool_call_format: ToolCallFormat::Native,
            },
            fallbacks: vec![
                "openrouter/openai/gpt-5".to_owned(),
                "groq/llama-3.3-70b-versatile".to_owned(),
            ],
            price: Some(Price {
                input: 1.25,
                cached_input: 0.125,
                output: 10.0,
            }),
        }
    );
    assert_eq!(r.model("gpt"), Some(gpt5), "an alias finds its model");
    let local = r.model("local").unwrap();
    assert_eq!(local.context_window, Some(65_536));
    assert_eq!(local.display_name.as_deref(), Some("Qwen3 Coder (local)"));
    assert_eq!(local.capabilities.tool_call_format, ToolCallFormat::Auto);
    assert_eq!(local.capabilities.reasoning, Some(ReasoningStyle::None));
    assert_eq!(r.models().count(), 2);
}

#[test]
fn the_environment_beats_the_file() {
    let source = "[providers.openai]\nbase_url = \"https://file.example/v1\"\n\
                  key_command = \"pass show openai\"\n";
    let keys = FakeKeys::new(Ok("sk-from-command"));
    let e = env(&[
        ("OPENAI_API_KEY", "sk-env"),
        ("OPENAI_BASE_URL", "https://env.example/v1"),
    ]);
    let r = load_with(source, &e, &keys).unwrap();
    let openai = r.provider("openai").unwrap();
    assert_eq!(openai.base_url, "https://env.example/v1");
    assert_eq!(openai.key.as_ref().map(ApiKey::expose), Some("sk-env"));
    assert!(
        keys.calls.borrow().is_empty(),
        "no command when the key is set"
    );
    // Without the variables, the file's.
    let r = load(source, &[]).unwrap();
    let openai = r.provider("openai").unwrap();
    assert_eq!(openai.base_url, "https://file.example/v1");
    assert_eq!(
        openai.key.as_ref().map(ApiKey::expose),
        Some("sk-from-command")
    );
    // `ANYCLAUDE_<PROVIDER>_API` beats the file's dialect, for new providers too.
    let source = "[providers.my-box]\nbase_url = \"http://127.0.0.1:9/v1\"\ndialect = \"chat\"\n";
    let r = load(source, &[("ANYCLAUDE_MY_BOX_API", "responses")]).unwrap();
    assert_eq!(
        r.route("my-box/m").unwrap().dialect,
        Dialect::OpenAiResponses
    );
}

#[test]
fn routing_with_aliases_tiers_and_the_default() {
    let source = r#"
default_model = "fast"
[aliases]
fast = "groq/llama-3.3-70b"
quick = "fast"
[tiers]
haiku = "ollama/qwen3:4b"
opus = "openai/gpt-5"
"#;
    let mut r = load(source, &[("GROQ_API_KEY", "g"), ("OPENAI_API_KEY", "o")]).unwrap();
    let fast = r.route("fast").unwrap();
    assert_eq!(fast.full(), "groq/llama-3.3-70b");
    assert_eq!(fast.alias.as_deref(), Some("fast"));
    assert_eq!(r.route("quick").unwrap().full(), "groq/llama-3.3-70b");
    assert_eq!(r.default_model(), Some("groq/llama-3.3-70b"));
    // Claude Code's own ids go to their tier, else to the default model.
    for (bare, to) in [
        ("claude-haiku-4-5-20251001", "ollama/qwen3:4b"),
        ("claude-opus-4-1", "openai/gpt-5"),
        ("claude-sonnet-4-5", "groq/llama-3.3-70b"),
    ] {
        let route = r.route(bare).unwrap();
        assert_eq!(route.full(), to, "{bare}");
        assert_eq!(route.defaulted_from.as_deref(), Some(bare));
    }
    // A full id routes as is; `--model` replaces the file's default.
    assert_eq!(r.route("openai/gpt-4.1").unwrap().alias, None);
    r.set_default_model(Some("quick"));
    assert_eq!(r.default_model(), Some("groq/llama-3.3-70b"));
    r.set_default_model(Some("openai/o3"));
    assert_eq!(r.route("claude-sonnet-4-5").unwrap().full(), "openai/o3");
}

#[test]
fn long_requests_go_to_the_long_context_model() {
    let source = "[long_context]\nthreshold = 1000\nmodel = \"big\"\n\
                  [aliases]\nbig = \"gemini/gemini-2.5-pro\"\n";
    let r = load(source, &[("GEMINI_API_KEY", "k"), ("OPENAI_API_KEY", "o")]).unwrap();
    let short = r.route_request("openai/gpt-5", 1000).unwrap();
    assert_eq!(short.full(), "openai/gpt-5");
    assert_eq!(short.long_context_from, None);
    let long = r.route_request("openai/gpt-5", 1001).unwrap();
    assert_eq!(long.full(), "gemini/gemini-2.5-pro");
    assert_eq!(long.dialect, Dialect::Gemini);
    assert_eq!(long.long_context_from.as_deref(), Some("openai/gpt-5"));
    // Already there: nothing to switch.
    let same = r.route_request("big", 5000).unwrap();
    assert_eq!(same.long_context_from, None);
}

#[test]
fn overriding_a_preset_and_inheriting_one() {
    let source = r#"
[providers.ollama]
base_url = "http://127.0.0.1:9/v1/"
headers = { "X-Box" = "1" }

[providers.kimi2]
preset = "kimi"
base_url = "https://kimi.example/anthropic"
key_env = "KIMI2_KEY"

[providers.bare]
base_url = "http://127.0.0.1:7/v1"

[providers.gate]
preset = "openai"
base_url = "https://gate.example/v1"
"#;
    let r = load(
        source,
        &[("OPENAI_API_KEY", "sk-openai-0123"), ("KIMI2_KEY", "k2")],
    )
    .unwrap();
    let ollama = r.route("ollama/qwen3").unwrap();
    assert_eq!(ollama.chat_url(), "http://127.0.0.1:9/v1/chat/completions");
    assert!(ollama.provider.server.is_some(), "still a local server");
    assert_eq!(ollama.provider.headers.iter().count(), 1);

    // A new name with a preset's quirks: Kimi's Messages profile, its own URL and key.
    let kimi2 = r.route("kimi2/kimi-k2").unwrap();
    let kimi = crate::provider::preset("kimi").unwrap();
    assert_eq!(kimi2.dialect, Dialect::Anthropic);
    assert_eq!(kimi2.provider.messages, kimi.messages);
    assert_eq!(
        kimi2.url("/v1/messages"),
        "https://kimi.example/anthropic/v1/messages"
    );
    assert_eq!(
        kimi2.auth_header(),
        Some(("authorization", "Bearer k2".to_owned()))
    );

    // A new provider with no preset: plain Chat Completions, no key.
    let bare = r.route("bare/m").unwrap();
    assert_eq!(bare.dialect, Dialect::OpenAiChat);
    assert_eq!(bare.provider.profile, ChatProfile::COMPATIBLE);
    assert_eq!(bare.auth_header(), None);

    // A preset's key never follows its quirks to another host: `gate` has OpenAI's rules
    // but not OPENAI_API_KEY, and without a key of its own it has none.
    let gate = r.route("gate/gpt-5").unwrap();
    assert_eq!(gate.dialect, Dialect::OpenAiResponses, "OpenAI's rules");
    assert_eq!(gate.auth_header(), None);
    assert!(gate.provider.base_url_vars.is_empty());
}

#[test]
fn a_new_providers_missing_key_names_its_variable() {
    let source = "[providers.work]\npreset = \"openai\"\nbase_url = \"https://w.example/v1\"\n\
                  key_env = \"WORK_KEY\"\n";
    let r = load(source, &[("OPENAI_API_KEY", "o")]).unwrap();
    let err = r.route("work/gpt-5").unwrap_err();
    assert_eq!(
        err.to_string(),
        "work needs an API key: set WORK_KEY in the environment anyclaude runs in (then \
         restart anyclaude)"
    );
}

#[test]
fn no_debug_shows_a_key() {
    let source = r#"
[providers.openai]
key_command = "x"
headers = { "X-Secret" = "hdr-secret-0123456789" }
[providers.work]
base_url = "http://127.0.0.1:9/v1"
key_env = "WORK_KEY"
"#;
    let keys = FakeKeys::new(Ok("sk-command-secret-0123"));
    let e = env(&[
        ("WORK_KEY", "sk-env-secret-0123"),
        ("GROQ_API_KEY", "sk-groq-secret"),
    ]);
    let r = load_with(source, &e, &keys).unwrap();
    let shown = format!(
        "{r:?} {:?} {:?} {:?} {:#?}",
        r.route("openai/gpt-5").unwrap(),
        r.route("work/m").unwrap(),
        r.provider("groq").unwrap(),
        r
    );
    for secret in [
        "sk-command-secret-0123",
        "sk-env-secret-0123",
        "sk-groq-secret",
        "hdr-secret-0123456789",
    ] {
        assert!(!shown.contains(secret), "{secret} shown");
    }
    assert!(shown.contains("ApiKey(***)"), "{shown}");
    assert!(shown.contains("x-secret: ***"), "{shown}");
    // Every secret is known to the scrubber.
    let secrets = r.secrets();
    for secret in [
        "sk-command-secret-0123",
        "sk-env-secret-0123",
        "hdr-secret-0123456789",
    ] {
        assert!(secrets.iter().any(|s| s == secret), "{secret}");
    }
}

/// Each error: the file, line, column and key, then what is wrong.
#[test]
fn errors_name_the_file_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "colour = 1\n",
            "/cfg/config.toml:1:1: colour: unknown field `colour`, expected one of",
        ),
        (
            "[providers.openai]\nbase_ur = \"x\"\n",
            "/cfg/config.toml:2:1: providers.openai.base_ur: unknown field `base_ur`",
        ),
        (
            "[long_context]\nthreshold = \"big\"\nmodel = \"openai/x\"\n",
            "/cfg/config.toml:2:13: long_context.threshold: invalid type: string \"big\"",
        ),
        ("[tiers\nhaiku = 1\n", "/cfg/config.toml:1:7: tiers"),
        (
            "[tiers]\nhaiku = \"grok/x\"\n",
            "/cfg/config.toml:2:9: tiers.haiku: unknown provider \"grok\" in \"grok/x\"; providers: anthropic, openai",
        ),
        (
            "[tiers]\nsnonet = \"openai/x\"\n",
            "/cfg/config.toml:2:1: tiers.snonet: unknown field `snonet`, expected one of `opus`",
        ),
        (
            "default_model = \"gpt5\"\n",
            "/cfg/config.toml:1:17: default_model: \"gpt5\" is neither an alias nor a <provider>/<model>",
        ),
        (
            "default_model = \"openai/\"\n",
            "/cfg/config.toml:1:17: default_model: no model after the provider",
        ),
        (
            "[aliases]\nsonnet = \"openai/x\"\n",
            "/cfg/config.toml:2:1: aliases.sonnet: Claude Code reads \"sonnet\" itself",
        ),
        (
            "[aliases]\na = \"b\"\nb = \"a\"\n",
            "/cfg/config.toml:2:5: aliases.a: aliases that name each other: a → b",
        ),
        (
            "[aliases]\n\"x/y\" = \"openai/x\"\n",
            "/cfg/config.toml:2:1: aliases.\"x/y\": an alias may not be empty or hold a `/`",
        ),
        (
            "[models.\"nope/x\"]\ncontext_window = 1\n",
            "/cfg/config.toml:1:9: models.\"nope/x\": unknown provider \"nope\"",
        ),
        (
            "[aliases]\nf = \"openai/x\"\n[models.f]\n",
            "/cfg/config.toml:3:9: models.f: models are described by <provider>/<model>",
        ),
        (
            "[models.\"openai/x\"]\ncapabilities = { reasoning = \"lots\" }\n",
            "/cfg/config.toml:2:30: models.\"openai/x\".capabilities.reasoning: unknown variant `lots`",
        ),
        (
            "[models.\"openai/x\"]\nfallbacks = [\"openai/y\", \"gone\"]\n",
            "/cfg/config.toml:2:26: models.\"openai/x\".fallbacks: \"gone\" is neither an alias",
        ),
        (
            "[models.\"openai/x\"]\nprice = { input = -1.0, output = 2.0 }\n",
            "/cfg/config.toml:2:9: models.\"openai/x\".price: prices must be numbers of dollars",
        ),
        (
            "[models.\"openai/x\"]\nprice = { input = 1.0 }\n",
            "/cfg/config.toml:2:9: models.\"openai/x\".price: missing field `output`",
        ),
        (
            "[providers.openai]\ntimeouts = { request = \"10\" }\n",
            "/cfg/config.toml:2:24: providers.openai.timeouts.request: \"10\" is not a duration",
        ),
        (
            "[providers.openai]\ntimeouts = { request = \"2d\" }\n",
            "/cfg/config.toml:2:24: providers.openai.timeouts.request: longer than 24h",
        ),
        (
            "[providers.openai]\ntimeouts = { request = \"1m\", idle = \"2m\" }\n",
            "/cfg/config.toml:2:37: providers.openai.timeouts.idle: longer than this provider's request timeout",
        ),
        (
            "[providers.openai]\npreset = \"kimi\"\n",
            "/cfg/config.toml:2:10: providers.openai.preset: openai is a built-in provider",
        ),
        (
            "[providers.x]\npreset = \"openia\"\nbase_url = \"http://h\"\n",
            "/cfg/config.toml:2:10: providers.x.preset: unknown preset \"openia\"; presets: anthropic",
        ),
        (
            "[providers.x]\ndialect = \"chat\"\n",
            "/cfg/config.toml:1:12: providers.x: a new provider needs a base_url",
        ),
        (
            "[providers.x]\nbase_url = \"localhost:8080\"\n",
            "/cfg/config.toml:2:12: providers.x.base_url: \"localhost:8080\" is not an http:// or https:// URL",
        ),
        (
            "[providers.x]\nbase_url = \"http://h\"\ndialect = \"grpc\"\n",
            "/cfg/config.toml:3:11: providers.x.dialect: unknown variant `grpc`, expected one of `chat`, `responses`, `gemini`, `anthropic`",
        ),
        (
            "[providers.x]\nbase_url = \"http://h\"\nauth = \"basic\"\n",
            "/cfg/config.toml:3:8: providers.x.auth: unknown variant `basic`",
        ),
        (
            "[providers.x]\nbase_url = \"http://h\"\nheaders = { \"bad header\" = \"v\" }\n",
            "/cfg/config.toml:3:13: providers.x.headers.bad header: not a valid HTTP header name",
        ),
        (
            "[providers.x]\nbase_url = \"http://h\"\nheaders = { Authorization = \"Bearer k\" }\n",
            "/cfg/config.toml:3:13: providers.x.headers.Authorization: anyclaude sets this header itself",
        ),
        (
            "[providers.x]\nbase_url = \"http://h\"\nkey_env = \"A=B\"\n",
            "/cfg/config.toml:3:11: providers.x.key_env: not a variable name",
        ),
        (
            "[providers.\"a/b\"]\nbase_url = \"http://h\"\n",
            "/cfg/config.toml:1:12: providers.\"a/b\": a provider name may not be empty or hold a `/`",
        ),
        (
            "[long_context]\nthreshold = 0\nmodel = \"openai/x\"\n",
            "/cfg/config.toml:2:13: long_context.threshold: must be greater than zero",
        ),
        (
            "[long_context]\nthreshold = 10\n",
            "/cfg/config.toml:1:1: long_context: missing field `model`",
        ),
    ];
    for (source, want) in cases {
        let err = load(source, &[]).map(|_| ()).unwrap_err().0;
        assert!(
            err.starts_with(want),
            "for {source:?}\n got: {err}\nwant: {want}"
        );
    }
}

#[test]
fn a_failing_key_command_names_the_provider_never_its_output() {
    let source = "[providers.openai]\nkey_command = \"pass show openai\"\n";
    for (err, says) in [
        (
            KeyCommandError::Failed("exit status: 1".to_owned()),
            "failed (exit status: 1)",
        ),
        (
            KeyCommandError::Timeout(Duration::from_secs(30)),
            "did not finish within 30s and was stopped",
        ),
        (KeyCommandError::Empty, "printed no key"),
    ] {
        let keys = FakeKeys::new(Err(err));
        let got = load_with(source, &env(&[]), &keys).unwrap_err().0;
        assert_eq!(
            got,
            format!(
                "/cfg/config.toml:2:15: providers.openai.key_command: the key command for \
                 openai {says}"
            )
        );
    }
    // The real thing, end to end: a command printing the key, one failing after printing.
    let shell = ShellKeyCommand {
        timeout: Duration::from_secs(10),
    };
    let ok = "[providers.openai]\nkey_command = \"echo sk-shell-0123\"\n";
    let r = load_with(ok, &env(&[]), &shell).unwrap();
    assert_eq!(
        r.provider("openai")
            .unwrap()
            .key
            .as_ref()
            .map(ApiKey::expose),
        Some("sk-shell-0123")
    );
    let bad = "[providers.openai]\nkey_command = \"echo sk-leak-0123; exit 4\"\n";
    let err = load_with(bad, &env(&[]), &shell).unwrap_err().0;
    assert!(
        err.ends_with("the key command for openai failed (exit status: 4)"),
        "{err}"
    );
    assert!(!err.contains("sk-leak"), "{err}");
}

#[test]
fn the_readme_shows_the_example_file() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("## Configuration file").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let shown = &section[start..start + section[start..].find("```").unwrap()];
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        lines(shown),
        lines(include_str!("../../examples/config.toml")),
        "README.md's example differs from examples/config.toml"
    );
    // Every key of the example is documented in the section.
    for line in lines(shown) {
        let key = line
            .trim_start_matches('[')
            .split(['=', ']', '.', ' '])
            .next()
            .unwrap()
            .trim_matches('"');
        if key.contains('/') || key.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        let documented = ["providers", "models", "aliases", "tiers", "long_context"].contains(&key)
            || section.contains(&format!("`{key}`"))
            || ["fast", "local", "gpt"].contains(&key);
        assert!(documented, "{key} is not documented in README.md");
    }
}

#[test]
fn claude_waits_as_long_as_the_slowest_provider() {
    let r = load(
        "[providers.ollama]\ntimeouts = { request = \"30m\" }\n",
        &[],
    )
    .unwrap();
    let ten = Duration::from_secs(600);
    assert_eq!(r.longest_request_timeout(ten), Duration::from_secs(1800));
    assert_eq!(
        r.longest_request_timeout(Duration::from_secs(3600)),
        Duration::from_secs(3600)
    );
    let timeouts = r
        .provider("ollama")
        .unwrap()
        .timeouts
        .apply(Timeouts::default());
    assert_eq!(timeouts.request, Duration::from_secs(1800));
    assert_eq!(timeouts.idle, Timeouts::default().idle);
}

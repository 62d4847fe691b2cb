//! End to end with the real, pinned Claude Code and a config file: `--model sonnet` reaches
//! the model configured behind the tier (Claude Code resolves the tier itself, from the
//! variables anyclaude set), and `--model fast` reaches the model behind the alias (the
//! proxy resolves it), on every pinned version.

use std::time::Duration;

use crate::chat_script;
use crate::claude::{self, Claude, dirs};
use crate::scripted::{Received, Reply, Upstream};

/// Answers every request with the model it was sent to.
async fn upstream() -> Upstream {
    Upstream::with_handler(|r: &Received| {
        let model = r.json()["model"].as_str().unwrap_or("?").to_owned();
        let text = format!("served by {model}");
        if r.json()["stream"] == true {
            Reply::sse(chat_script::text(&[&text]))
        } else {
            Reply::json(chat_script::completion(&text))
        }
    })
    .await
}

async fn tier_and_alias(claude: &Claude) {
    let upstream = upstream().await;
    let (root, home, project) = dirs(claude);
    let config = root.path().join("anyclaude.toml");
    std::fs::write(
        &config,
        r#"
[aliases]
fast = "openai/alias-model"

[tiers]
opus = "openai/opus-model"
sonnet = "openai/sonnet-model"
haiku = "openai/haiku-model"

[models."openai/sonnet-model"]
display_name = "Sonnet, really a scripted model"
"#,
    )
    .unwrap();
    let env = [
        ("OPENAI_BASE_URL", format!("{}/v1", upstream.url())),
        ("OPENAI_API_KEY", "sk-e2e-key".to_owned()),
        ("ANYCLAUDE_CONFIG", config.display().to_string()),
    ];
    for (model, served) in [("sonnet", "sonnet-model"), ("fast", "alias-model")] {
        let run = claude::print(
            claude,
            (&home, &project),
            &env,
            model,
            "say hello",
            &[],
            Duration::from_secs(120),
        )
        .await;
        let result = run.result(&claude.version);
        assert_eq!(result["is_error"], false, "{}: {result}", claude.version);
        assert_eq!(
            result["result"],
            format!("served by {served}"),
            "{} --model {model}",
            claude.version
        );
    }
    // Only configured models were asked for.
    for r in upstream.received() {
        let model = r.json()["model"].as_str().unwrap_or("").to_owned();
        assert!(
            ["sonnet-model", "alias-model", "haiku-model", "opus-model"].contains(&&*model),
            "{}: {model}",
            claude.version
        );
    }
}

#[tokio::test]
async fn e2e_config_tier_and_alias() {
    for claude in claude::pinned("e2e_config_tier_and_alias") {
        tier_and_alias(&claude).await;
        claude::record("e2e_config_tier_and_alias", &claude);
    }
}

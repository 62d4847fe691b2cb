//! A `/model` pick made inside an anyclaude session stays out of the default a plain
//! `claude` starts with: Claude Code saves the pick in its user settings, and anyclaude puts
//! the previous value back once claude exits when the pick is a model only anyclaude serves
//! (a fake claude saving as Claude Code does; `e2e_picker` checks the real one).

use crate::support::cli::Anyclaude;

fn settings(a: &Anyclaude) -> std::path::PathBuf {
    a.dir.path().join("home/.claude/settings.json")
}

#[test]
fn a_pick_only_anyclaude_serves_is_taken_back_at_exit() {
    let mut a = Anyclaude::with_fake("exit:3");
    let path = settings(&a);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let before =
        "{\n  \"theme\": \"dark\",\n  \"model\": \"opus\",\n  \"env\": {\n    \"A\": \"1\"\n  }\n}";
    std::fs::write(&path, before).unwrap();
    let out = a
        .env("FAKE_CLAUDE_SET_MODEL", "anyclaude/ollama/test-model")
        .run();
    // claude's status is still anyclaude's.
    out.assert_code(3);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    assert!(
        out.stderr.contains(&format!(
            "anyclaude: claude saved anyclaude/ollama/test-model as its default model in {}; put back \"opus\"",
            path.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn without_a_settings_file_before_none_is_left_behind() {
    let mut a = Anyclaude::with_fake("exit:0");
    let config = a.dir.path().join("claude-config");
    a.env("CLAUDE_CONFIG_DIR", &config)
        .env("FAKE_CLAUDE_SET_MODEL", "ollama/test-model")
        .run()
        .assert_code(0);
    assert!(a.claude_ran());
    assert!(!config.join("settings.json").exists());
}

#[test]
fn a_pick_of_claude_codes_own_models_stays() {
    let mut a = Anyclaude::with_fake("exit:0");
    let out = a.env("FAKE_CLAUDE_SET_MODEL", "sonnet").run();
    out.assert_code(0);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(settings(&a)).unwrap()).unwrap();
    assert_eq!(saved["model"], "sonnet");
    assert!(!out.stderr.contains("put back"), "{}", out.stderr);
}

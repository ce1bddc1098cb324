//! Hooks in tern's TOML (every layer adds its own) and in Claude Code's
//! and Codex's files, with mistakes named by file.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::Duration;
use tern_config::{Config, ConfigError, LoadOptions};
use tern_protocol::HookEvent;

fn load(home: &std::path::Path, repo: &std::path::Path) -> Result<Config, ConfigError> {
    let home = home.display().to_string();
    let env = move |k: &str| match k {
        "HOME" => Some(home.clone()),
        "OPENAI_API_KEY" => Some("k".into()),
        _ => None,
    };
    Config::load_with_env(&LoadOptions { cwd: repo.to_path_buf(), ..Default::default() }, &env)
}

#[test]
fn toml_layers_and_peer_files_all_add_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, repo) = (tmp.path().join("home"), tmp.path().join("repo"));
    std::fs::create_dir_all(home.join(".config/tern")).unwrap();
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join(".tern")).unwrap();
    std::fs::create_dir_all(repo.join(".claude")).unwrap();
    std::fs::write(
        home.join(".config/tern/config.toml"),
        "[[hooks.PreToolUse]]\nmatcher = \"Bash\"\ncommand = \"user-guard\"\ntimeout = 5\nfail_closed = true\n",
    )
    .unwrap();
    std::fs::write(
        repo.join(".tern/config.toml"),
        "[[hooks.PreToolUse]]\nmatcher = \"Edit|Write\"\nhooks = [{ type = \"command\", command = \"project-guard\", timeout = 2.5 }]\n\n\
         [[hooks.Stop]]\ncommand = \"notify-done\"\n",
    )
    .unwrap();
    std::fs::write(
        repo.join(".claude/settings.local.json"),
        r#"{"hooks": {"PostToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "log-it"}]}]}}"#,
    )
    .unwrap();
    std::fs::write(
        home.join(".codex/hooks.json"),
        r#"{"hooks": {"SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "codex-start"}]}]}}"#,
    )
    .unwrap();
    let config = load(&home, &repo).unwrap();
    let got: Vec<_> =
        config.hooks.iter().map(|h| (h.event, h.matcher.clone(), h.command.as_str(), h.fail_closed)).collect();
    assert_eq!(
        got,
        vec![
            (HookEvent::PreToolUse, Some("Bash".into()), "user-guard", true),
            (HookEvent::PreToolUse, Some("Edit|Write".into()), "project-guard", false),
            (HookEvent::Stop, None, "notify-done", false),
            (HookEvent::SessionStart, Some("startup".into()), "codex-start", false),
            (HookEvent::PostToolUse, None, "log-it", false),
        ]
    );
    assert_eq!(config.hooks[0].timeout, Duration::from_secs(5));
    assert_eq!(config.hooks[1].timeout, Duration::from_millis(2500));
    assert_eq!(config.hooks[2].timeout, tern_config::DEFAULT_HOOK_TIMEOUT);
    assert!(config.hooks[4].source.ends_with("settings.local.json"));
}

#[test]
fn hook_mistakes_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, repo) = (tmp.path().join("home"), tmp.path().join("repo"));
    std::fs::create_dir_all(home.join(".config/tern")).unwrap();
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let user = home.join(".config/tern/config.toml");
    for (text, expect) in [
        ("[[hooks.PreToolUze]]\ncommand = \"x\"\n", "PreToolUze"),
        ("[[hooks.PreToolUse]]\nmatcher = \"Bash\"\n", "neither `command` nor `hooks`"),
        ("[[hooks.PreToolUse]]\nmatcher = \"(\"\ncommand = \"x\"\n", "not a valid regex"),
        ("[[hooks.Stop]]\ncommand = \"x\"\ntimeout = -1\n", "positive number of seconds"),
        // Finite but past what a Duration holds (Duration::from_secs_f64 panicked).
        ("[[hooks.Stop]]\ncommand = \"x\"\ntimeout = 1e300\n", "below 2^64"),
        ("[[hooks.Stop]]\ncommand = \"x\"\nfail_close = true\n", "fail_close"),
        ("[[hooks.Stop]]\nhooks = [{ type = \"command\", comand = \"x\" }]\n", "comand"),
    ] {
        std::fs::write(&user, text).unwrap();
        let err = load(&home, &repo).unwrap_err().to_string();
        assert!(err.contains(expect) && err.contains("config.toml"), "{text:?}: {err}");
    }
}

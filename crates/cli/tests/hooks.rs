//! Hooks end to end: the real binary with a Claude Code settings file and
//! tern's own TOML, in `tern exec` (human and `--json`) and in the TUI.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use common::pty::Tui;
use serde_json::json;
use tern_testkit::{MockServer, Step};

/// A guard as people write them for Claude Code: Python, reads
/// `tool_input.command`, exit 2 with the reason on stderr.
const GUARD: &str = r#"#!/usr/bin/env python3
import json, sys
d = json.load(sys.stdin)
if d.get("tool_name") == "Bash" and "git push" in d["tool_input"].get("command", ""):
    print("pushing is for humans", file=sys.stderr)
    sys.exit(2)
"#;

fn claude_settings(env: &Env) {
    env.write(".claude/hooks/guard.py", GUARD);
    let guard = env.work().join(".claude/hooks/guard.py");
    std::fs::set_permissions(&guard, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let settings = json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "\"$CLAUDE_PROJECT_DIR\"/.claude/hooks/guard.py"}]}]}});
    env.write(".claude/settings.json", &settings.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_code_guard_blocks_in_exec_even_with_full_access() {
    let env = Env::new();
    claude_settings(&env);
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "git push origin main"})),
        Step::call("exec_command", json!({"cmd": "echo fine"})),
        Step::text("could not push"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "push it"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.json();
    let hook = lines.iter().find(|l| l["type"] == "hook").expect("a hook line");
    assert_eq!((hook["event"].as_str(), hook["effect"].as_str()), (Some("PreToolUse"), Some("blocked")));
    assert_eq!(hook["tool"], "exec_command");
    assert_eq!(hook["message"], "pushing is for humans");
    let done = lines.iter().find(|l| l["type"] == "turn.completed").unwrap();
    let exec = done["tools"].as_array().unwrap().iter().find(|t| t["tool"] == "exec_command").unwrap();
    assert_eq!((exec["calls"].as_u64(), exec["blocked"].as_u64()), (Some(2), Some(1)), "{exec}");
    assert!(exec["p99_ms"].is_u64());
    let sent = server.requests()[1]["messages"].to_string();
    assert!(sent.contains("blocked by a hook: pushing is for humans"), "{sent}");

    // Human output says it too.
    let server = MockServer::start(vec![Step::call("exec_command", json!({"cmd": "git push"})), Step::text("ok")])
        .await
        .unwrap();
    let out = env.run(Some(&server), &["exec", "push again"]).await;
    assert!(out.stderr.contains("PreToolUse hook blocked exec_command: pushing is for humans"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_fail_closed_guard_blocks_and_leaves_nothing_running() {
    let env = Env::new();
    let marker = format!("tern-hook-hang-{}", std::process::id());
    env.write(
        ".tern/config.toml",
        &format!(
            "[[hooks.PreToolUse]]\nmatcher = \"Bash\"\ncommand = \"exec -a {marker} sleep 300\"\ntimeout = 1\nfail_closed = true\n"
        ),
    );
    let server =
        MockServer::start(vec![Step::call("exec_command", json!({"cmd": "touch made.txt"})), Step::text("ok")])
            .await
            .unwrap();
    let start = std::time::Instant::now();
    let out = env.run(Some(&server), &["exec", "--json", "make it"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert!(!env.work().join("made.txt").exists(), "a fail-closed guard that hangs blocks the call");
    let hook = out.json().into_iter().find(|l| l["type"] == "hook").unwrap();
    assert_eq!(hook["effect"], "blocked");
    assert!(hook["message"].as_str().unwrap().contains("no answer within 1 s"), "{hook}");
    assert!(!common::alive(&marker), "the hook's process outlived it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_shows_what_hooks_did_and_tool_figures() {
    let env = Env::new();
    claude_settings(&env);
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "git push"})),
        Step::text("the hook stopped me"),
    ])
    .await
    .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["push it"], &[]);
    let screen = tui.wait_for("the hook stopped me", 20).await;
    assert!(screen.contains("PreToolUse hook blocked exec_command: pushing is for humans"), "{screen}");
    tui.wait_idle(20).await;
    tui.type_text("/status").await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("blocked  p50 ms", 10).await;
    assert!(screen.contains("exec_command"), "{screen}");
    tui.send(b"\x04").await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

//! Real hook scripts (bash and Python) for each decision form, matchers,
//! fail-open against fail-closed, and a hook that hangs.

#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests may block and unwrap

use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use tern_config::HookConfig;
use tern_hooks::{HookEnv, Hooks, Permission};
use tern_protocol::{HookEffect, HookEvent};
use tokio_util::sync::CancellationToken;

fn hook(event: HookEvent, matcher: Option<&str>, command: &str) -> HookConfig {
    HookConfig {
        event,
        matcher: matcher.map(str::to_string),
        command: command.to_string(),
        timeout: Duration::from_secs(20),
        fail_closed: false,
        source: "test".into(),
    }
}

fn hooks(dir: &Path, configs: &[HookConfig]) -> Hooks {
    let env = HookEnv {
        project_dir: dir.to_path_buf(),
        session_id: "s1".into(),
        transcript_path: dir.join("log.jsonl").display().to_string(),
        permission_mode: "default",
    };
    Hooks::new(configs, env)
}

fn script(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn tool_input(command: &str) -> Map<String, Value> {
    let v = json!({"tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "call_1"});
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn exit_2_blocks_with_stderr_and_the_input_has_claude_codes_fields() {
    let dir = tempfile::tempdir().unwrap();
    let guard = script(
        dir.path(),
        "guard.sh",
        "#!/bin/bash\ninput=$(cat)\necho \"$input\" > \"$CLAUDE_PROJECT_DIR/seen.json\"\n\
         if echo \"$input\" | grep -q 'rm -rf'; then echo 'no rm -rf here' >&2; exit 2; fi\nexit 0\n",
    );
    let h = hooks(dir.path(), &[hook(HookEvent::PreToolUse, Some("Bash"), &guard)]);
    let cancel = CancellationToken::new();
    let ok = h.run(HookEvent::PreToolUse, &["Bash", "exec_command"], tool_input("ls"), &cancel).await;
    assert!(ok.block.is_none() && ok.permission.is_none() && ok.runs.is_empty(), "{ok:?}");
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("seen.json")).unwrap()).unwrap();
    assert_eq!(seen["hook_event_name"], "PreToolUse");
    assert_eq!(seen["session_id"], "s1");
    assert_eq!(seen["tool_name"], "Bash");
    assert_eq!(seen["tool_input"]["command"], "ls");
    assert_eq!(seen["cwd"], dir.path().display().to_string());
    assert_eq!(seen["permission_mode"], "default");
    assert!(seen["transcript_path"].as_str().unwrap().ends_with("log.jsonl"));

    let blocked = h.run(HookEvent::PreToolUse, &["Bash"], tool_input("rm -rf /"), &cancel).await;
    assert_eq!(blocked.block.as_deref(), Some("no rm -rf here"));
    assert_eq!(blocked.runs[0].effect, HookEffect::Blocked);
}

#[tokio::test]
async fn matchers_are_anchored_regexes_over_either_name() {
    let dir = tempfile::tempdir().unwrap();
    let block = "echo blocked >&2; exit 2";
    let h = hooks(
        dir.path(),
        &[
            hook(HookEvent::PreToolUse, Some("Edit|Write"), block),
            hook(HookEvent::PreToolUse, Some("mcp__memory__.*"), block),
        ],
    );
    let cancel = CancellationToken::new();
    let run = |targets: &'static [&'static str]| {
        let h = &h;
        let cancel = &cancel;
        async move { h.run(HookEvent::PreToolUse, targets, Map::new(), cancel).await.block.is_some() }
    };
    assert!(run(&["Edit", "edit_file"]).await);
    assert!(run(&["Write", "write_file"]).await);
    assert!(!run(&["Bash", "exec_command"]).await);
    // Anchored: `Edit` does not match `NotebookEdit`.
    assert!(!run(&["NotebookEdit"]).await);
    assert!(run(&["mcp__memory__create_entities"]).await);
    assert!(!run(&["mcp__other__create_entities"]).await);
    // Another event's hooks do not run.
    assert!(h.run(HookEvent::PostToolUse, &["Edit"], Map::new(), &cancel).await.block.is_none());
}

#[tokio::test]
async fn json_decisions_combine_deny_over_ask_over_allow_and_input_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let py = script(
        dir.path(),
        "rewrite.py",
        "#!/usr/bin/env python3\nimport json, sys\nd = json.load(sys.stdin)\ncmd = d['tool_input']['command']\n\
         out = {'hookSpecificOutput': {'hookEventName': 'PreToolUse', 'permissionDecision': 'allow',\n\
         'permissionDecisionReason': 'safe after rewrite', 'updatedInput': {'command': cmd + ' --dry-run'},\n\
         'additionalContext': 'ran with --dry-run'}}\nprint(json.dumps(out))\n",
    );
    let ask = r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask", "permissionDecisionReason": "check this"}}'"#;
    let deny = r#"echo '{"hookSpecificOutput": {"permissionDecision": "deny", "permissionDecisionReason": "never on Fridays"}}'"#;
    let cancel = CancellationToken::new();

    let h = hooks(dir.path(), &[hook(HookEvent::PreToolUse, None, &py)]);
    let o = h.run(HookEvent::PreToolUse, &["Bash"], tool_input("make deploy"), &cancel).await;
    assert_eq!(o.permission, Some((Permission::Allow, Some("safe after rewrite".into()))));
    assert_eq!(o.updated_input, Some(json!({"command": "make deploy --dry-run"})));
    assert_eq!(o.context, vec!["ran with --dry-run".to_string()]);
    let effects: Vec<_> = o.runs.iter().map(|r| r.effect).collect();
    assert!(effects.contains(&HookEffect::ChangedInput) && effects.contains(&HookEffect::Allowed), "{effects:?}");

    let h = hooks(dir.path(), &[hook(HookEvent::PreToolUse, None, &py), hook(HookEvent::PreToolUse, None, ask)]);
    let o = h.run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    assert_eq!(o.permission.map(|p| p.0), Some(Permission::Ask));

    let h = hooks(
        dir.path(),
        &[
            hook(HookEvent::PreToolUse, None, ask),
            hook(HookEvent::PreToolUse, None, deny),
            hook(HookEvent::PreToolUse, None, &py),
        ],
    );
    let o = h.run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    assert_eq!(o.permission, Some((Permission::Deny, Some("never on Fridays".into()))));
}

#[tokio::test]
async fn crashing_guards_fail_open_unless_fail_closed_and_bad_json_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let crash = "echo 'Traceback: KeyError' >&2; exit 1";
    let open = hooks(dir.path(), &[hook(HookEvent::PreToolUse, None, crash)]);
    let o = open.run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    assert!(o.block.is_none());
    assert_eq!(o.runs[0].effect, HookEffect::Failed);
    assert!(o.runs[0].message.as_deref().unwrap().contains("KeyError"));

    let mut closed = hook(HookEvent::PreToolUse, None, crash);
    closed.fail_closed = true;
    let o = hooks(dir.path(), &[closed.clone()]).run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    let reason = o.block.unwrap();
    assert!(reason.contains("exit 1") && reason.contains("fail_closed"), "{reason}");

    closed.command = "echo '{not json'".into();
    let o = hooks(dir.path(), &[closed]).run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    assert!(o.block.unwrap().contains("does not parse"));
}

#[tokio::test]
async fn a_hanging_hook_is_killed_with_its_processes() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let command = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let mut h = hook(HookEvent::PreToolUse, None, &command);
    h.timeout = Duration::from_millis(700);
    let cancel = CancellationToken::new();
    let start = Instant::now();
    let o = hooks(dir.path(), &[h.clone()]).run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert!(o.block.is_none(), "fail-open by default");
    assert_eq!(o.runs[0].effect, HookEffect::TimedOut);
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // The grandchild is gone (give the kill a moment to land).
    let gone = (0..50).any(|_| {
        let alive = Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z");
        if alive {
            std::thread::sleep(Duration::from_millis(50));
        }
        !alive
    });
    assert!(gone, "the hook's child {pid} is still running");

    h.fail_closed = true;
    let o = hooks(dir.path(), &[h]).run(HookEvent::PreToolUse, &["Bash"], tool_input("x"), &cancel).await;
    assert!(o.block.unwrap().contains("no answer within"));
}

#[tokio::test]
async fn prompt_stop_and_session_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    // Plain stdout of UserPromptSubmit and SessionStart is context.
    let h = hooks(
        dir.path(),
        &[
            hook(HookEvent::UserPromptSubmit, None, "echo 'The deploy freeze is on.'"),
            hook(HookEvent::SessionStart, Some("startup|resume"), "echo 'branch: main'"),
            hook(HookEvent::SessionStart, Some("compact"), "echo 'after compaction'"),
        ],
    );
    let o = h.run(HookEvent::UserPromptSubmit, &[], Map::new(), &cancel).await;
    assert_eq!(o.context, vec!["The deploy freeze is on.".to_string()]);
    let o = h.run(HookEvent::SessionStart, &["startup"], Map::new(), &cancel).await;
    assert_eq!(o.context, vec!["branch: main".to_string()]);
    let o = h.run(HookEvent::SessionStart, &["compact"], Map::new(), &cancel).await;
    assert_eq!(o.context, vec!["after compaction".to_string()]);

    // decision: block on a prompt; continue: false with a reason; exit 2 on Stop.
    let h = hooks(
        dir.path(),
        &[
            hook(
                HookEvent::UserPromptSubmit,
                None,
                r#"echo '{"decision": "block", "reason": "no secrets in prompts"}'"#,
            ),
            hook(
                HookEvent::Stop,
                None,
                r#"python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["stop_hook_active"] else 2)' || { echo "run the tests first" >&2; exit 2; }"#,
            ),
            hook(
                HookEvent::PostToolUse,
                None,
                r#"echo '{"continue": false, "stopReason": "quota reached", "systemMessage": "hook says hi"}'"#,
            ),
        ],
    );
    let o = h.run(HookEvent::UserPromptSubmit, &[], Map::new(), &cancel).await;
    assert_eq!(o.block.as_deref(), Some("no secrets in prompts"));
    let first = json!({"stop_hook_active": false}).as_object().unwrap().clone();
    assert_eq!(h.run(HookEvent::Stop, &[], first, &cancel).await.block.as_deref(), Some("run the tests first"));
    let again = json!({"stop_hook_active": true}).as_object().unwrap().clone();
    assert!(h.run(HookEvent::Stop, &[], again, &cancel).await.block.is_none());
    let o = h.run(HookEvent::PostToolUse, &["Bash"], Map::new(), &cancel).await;
    assert_eq!(o.stop.as_deref(), Some("quota reached"));
    assert!(o.runs.iter().any(|r| r.effect == HookEffect::Message && r.message.as_deref() == Some("hook says hi")));
}

#[tokio::test]
async fn an_interrupt_ends_running_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let h = hooks(dir.path(), &[hook(HookEvent::PreToolUse, None, "sleep 60")]);
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let start = Instant::now();
    let o = h.run(HookEvent::PreToolUse, &["Bash"], Map::new(), &cancel).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(o.block.is_none() && o.runs.is_empty());
}

//! The tool pipeline end to end against the mock model: hooks in Claude
//! Code's format at every event (real bash and Python scripts), the result
//! cache's "unchanged since", the retry layer and per-tool figures.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::until;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use tern_core::{Resume, SessionHandle};
use tern_protocol::{Event, HookEffect, HookEvent, HookRun, Op, ToolKind};
use tern_testkit::{MockServer, Step};
use tern_tools::{Registry, Tool, ToolCtx, ToolError, ToolOutput, ToolSchema};

async fn start(dir: &Path, server: &MockServer, overrides: &[&str]) -> SessionHandle {
    let mut all = vec!["sandbox=false"];
    all.extend_from_slice(overrides);
    let config = common::config(dir, &server.base_url(), &all);
    tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap()
}

/// Runs a turn; every event up to its end.
async fn turn(h: &mut SessionHandle, text: &str) -> Vec<Event> {
    h.ops.send(Op::UserTurn { text: text.into() }).await.unwrap();
    let mut events = Vec::new();
    loop {
        let ev = common::next(h).await;
        let end = matches!(ev, Event::TurnCompleted(_) | Event::TurnFailed { .. } | Event::TurnAborted { .. });
        events.push(ev);
        if end {
            return events;
        }
    }
}

fn hooks_of(events: &[Event]) -> Vec<HookRun> {
    events.iter().filter_map(|e| if let Event::Hook(r) = e { Some(r.clone()) } else { None }).collect()
}

/// The tool results a request carried, in order.
fn tool_results(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn settings(work: &Path, hooks: Value) {
    std::fs::create_dir_all(work.join(".claude")).unwrap();
    std::fs::write(work.join(".claude/settings.json"), json!({"hooks": hooks}).to_string()).unwrap();
}

fn script(work: &Path, name: &str, text: &str) -> String {
    let path = work.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("\"$CLAUDE_PROJECT_DIR\"/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_hooks_block_rewrite_and_add_context_on_tools() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("data")).unwrap();
    std::fs::write(work.join("a.txt"), "alpha\n").unwrap();
    let guard = script(
        &work,
        "guard.py",
        "#!/usr/bin/env python3\nimport json, sys\nd = json.load(sys.stdin)\ncmd = d['tool_input']['command']\n\
         assert d['tool_name'] == 'Bash' and d['hook_event_name'] == 'PreToolUse'\n\
         if cmd.startswith('rm '):\n    print('deleting is not allowed here', file=sys.stderr)\n    sys.exit(2)\n\
         if cmd.startswith('echo '):\n    print(json.dumps({'hookSpecificOutput': {'hookEventName': 'PreToolUse',\n\
         'permissionDecision': 'allow', 'updatedInput': {'command': cmd + ' > rewritten.txt'}}}))\n",
    );
    settings(
        &work,
        json!({
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": guard}]}],
            "PostToolUse": [{"matcher": "Read", "hooks": [{"type": "command",
                "command": "echo '{\"hookSpecificOutput\": {\"hookEventName\": \"PostToolUse\", \"additionalContext\": \"READ-CONTEXT-42\"}}'"}]}]
        }),
    );
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "rm -rf data"})),
        Step::call("exec_command", json!({"cmd": "echo hi"})),
        Step::call("read_file", json!({"path": "a.txt"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[]).await;
    let events = turn(&mut h, "clean up").await;
    let Some(Event::TurnCompleted(t)) = events.last() else { panic!("{events:?}") };

    assert!(work.join("data").is_dir(), "the blocked command ran");
    assert_eq!(std::fs::read_to_string(work.join("rewritten.txt")).unwrap().trim(), "hi");
    let requests = server.requests();
    assert!(tool_results(&requests[1])[0].contains("deleting is not allowed here"), "{:?}", tool_results(&requests[1]));
    let read = tool_results(&requests[3]).pop().unwrap();
    assert!(read.contains("alpha") && read.contains("READ-CONTEXT-42"), "{read}");

    let runs = hooks_of(&events);
    let effects: Vec<_> = runs.iter().map(|r| (r.event, r.effect, r.tool.clone().unwrap_or_default())).collect();
    assert!(effects.contains(&(HookEvent::PreToolUse, HookEffect::Blocked, "exec_command".into())), "{effects:?}");
    assert!(effects.contains(&(HookEvent::PreToolUse, HookEffect::ChangedInput, "exec_command".into())), "{effects:?}");
    assert!(effects.contains(&(HookEvent::PostToolUse, HookEffect::AddedContext, "read_file".into())), "{effects:?}");

    let exec = t.tools.iter().find(|f| f.tool == "exec_command").unwrap();
    assert_eq!((exec.calls, exec.blocked, exec.errors), (2, 1, 1), "{exec:?}");
    assert_eq!(t.tools.iter().find(|f| f.tool == "read_file").unwrap().calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_start_and_stop_hooks_from_terns_own_config() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join(".tern")).unwrap();
    // A Stop hook that sends the model back once (it checks stop_hook_active).
    let stop = script(
        &work,
        "stop.sh",
        "#!/bin/bash\nif grep -q '\"stop_hook_active\":false' ; then echo 'run the tests first' >&2; exit 2; fi\n",
    );
    std::fs::write(
        work.join(".tern/config.toml"),
        format!(
            "[[hooks.SessionStart]]\nmatcher = \"startup\"\ncommand = \"echo SESSION-START-CTX\"\n\n\
             [[hooks.UserPromptSubmit]]\ncommand = \"if grep -q SECRET; then echo 'no secrets in prompts' >&2; exit 2; fi; echo PROMPT-CTX\"\n\n\
             [[hooks.Stop]]\ncommand = '{stop}'\ntimeout = 10\n"
        ),
    )
    .unwrap();
    let server = MockServer::start(vec![Step::text("first answer"), Step::text("tests pass")]).await.unwrap();
    let mut h = start(dir.path(), &server, &[]).await;
    let events = turn(&mut h, "fix it").await;
    let Some(Event::TurnCompleted(t)) = events.last() else { panic!("{events:?}") };
    assert_eq!(t.last_message, "tests pass");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = requests[0]["messages"].to_string();
    assert!(first.contains("PROMPT-CTX") && first.contains("SESSION-START-CTX"), "{first}");
    // The user's words are a message of their own, after what hooks added.
    assert_eq!(requests[0]["messages"].as_array().unwrap().last().unwrap()["content"], "fix it");
    assert!(requests[1]["messages"].to_string().contains("[Stop hook] run the tests first"));
    let runs = hooks_of(&events);
    assert!(runs.iter().any(|r| r.event == HookEvent::Stop && r.effect == HookEffect::Blocked), "{runs:?}");

    // A blocked prompt never reaches the model.
    let events = turn(&mut h, "my SECRET is 42").await;
    match events.last() {
        Some(Event::TurnAborted { reason, .. }) => assert!(reason.contains("no secrets in prompts"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_compact_and_session_start_compact_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    settings(
        &work,
        json!({
            "PreCompact": [{"matcher": "manual", "hooks": [{"type": "command", "command": "cat > \"$CLAUDE_PROJECT_DIR/precompact.json\""}]}],
            "SessionStart": [{"matcher": "compact", "hooks": [{"type": "command", "command": "echo 'Remember: RULE-AFTER-COMPACT'"}]}]
        }),
    );
    let server = MockServer::start(vec![Step::text("noted"), Step::text("## Goal\nSUMMARY"), Step::text("after")])
        .await
        .unwrap();
    let mut h = start(dir.path(), &server, &[]).await;
    assert!(matches!(turn(&mut h, "remember BLUE").await.last(), Some(Event::TurnCompleted(_))));
    h.ops.send(Op::Compact { focus: Some("the colour".into()) }).await.unwrap();
    until(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await;
    let input: Value = serde_json::from_str(&std::fs::read_to_string(work.join("precompact.json")).unwrap()).unwrap();
    assert_eq!(
        (input["trigger"].as_str(), input["custom_instructions"].as_str()),
        (Some("manual"), Some("the colour"))
    );
    assert_eq!(input["hook_event_name"], "PreCompact");
    assert!(matches!(turn(&mut h, "go on").await.last(), Some(Event::TurnCompleted(_))));
    let last = server.requests().pop().unwrap();
    let system = last["messages"][0]["content"].to_string();
    assert!(system.contains("RULE-AFTER-COMPACT"), "{system}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_reads_cost_a_line_until_something_changes() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("a.txt"), "needle one\nhay\n").unwrap();
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"})),
        Step::call("read_file", json!({"path": "a.txt"})),
        // A range of a file already read whole.
        Step::call("read_file", json!({"path": "a.txt", "offset": 2, "limit": 1})),
        Step::call("grep_files", json!({"pattern": "needle"})),
        Step::call("grep_files", json!({"pattern": "needle"})),
        Step::call("write_file", json!({"path": "a.txt", "content": "needle two\n"})),
        Step::call("read_file", json!({"path": "a.txt"})),
        Step::call("grep_files", json!({"pattern": "needle"})),
        // The same file by another spelling.
        Step::call("read_file", json!({"path": "./a.txt"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &["approval_policy=\"full-auto\""]).await;
    let events = turn(&mut h, "look").await;
    let Some(Event::TurnCompleted(t)) = events.last() else { panic!("{events:?}") };
    let results = tool_results(&server.requests().pop().unwrap());
    assert_eq!(results.len(), 9, "{results:?}");
    assert!(results[0].contains("needle one"), "{}", results[0]);
    assert!(results[1].contains("unchanged since step 1") && !results[1].contains("needle"), "{}", results[1]);
    assert!(results[2].contains("unchanged since step 1"), "{}", results[2]);
    assert!(results[3].contains("a.txt") && results[3].contains("needle one"), "{}", results[3]);
    assert!(results[4].contains("same result as step 4"), "{}", results[4]);
    assert!(results[6].contains("needle two"), "after a write the file is sent again: {}", results[6]);
    assert!(results[7].contains("needle two"), "after a write the search runs again: {}", results[7]);
    assert!(results[8].contains("./a.txt is unchanged since step 7"), "{}", results[8]);
    let read = t.tools.iter().find(|f| f.tool == "read_file").unwrap();
    assert_eq!((read.calls, read.cache_hits), (5, 3), "{read:?}");
}

/// An MCP-like tool whose first `fail` calls fail transiently.
struct Flaky {
    name: &'static str,
    idempotent: bool,
    fail: u32,
    calls: AtomicU32,
}

impl Tool for Flaky {
    fn name(&self) -> &str {
        self.name
    }
    fn schema(&self) -> ToolSchema {
        ToolSchema { name: self.name.into(), description: "flaky".into(), parameters: json!({"type": "object"}) }
    }
    fn kind(&self) -> ToolKind {
        ToolKind::Mcp
    }
    fn mutates(&self) -> bool {
        false
    }
    fn idempotent(&self) -> bool {
        self.idempotent
    }
    fn call<'a>(&'a self, _ctx: &'a ToolCtx, _args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.fail {
                Err(ToolError::Transient(format!("connection reset (attempt {})", n + 1)))
            } else {
                Ok(ToolOutput::text("the answer is 42"))
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_of_idempotent_tools_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start(vec![
        Step::call("lookup", json!({"q": 1})),
        Step::call("create", json!({"q": 1})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let config = common::config(dir.path(), &server.base_url(), &["sandbox=false"]);
    let tools = Registry::with_tools(vec![
        Box::new(Flaky { name: "lookup", idempotent: true, fail: 2, calls: AtomicU32::new(0) }),
        Box::new(Flaky { name: "create", idempotent: false, fail: 1, calls: AtomicU32::new(0) }),
    ]);
    let mut h = tern_core::start_with_tools(config, Resume::New, tools, &tern_core::HttpConnector).await.unwrap();
    let events = turn(&mut h, "look it up").await;
    let Some(Event::TurnCompleted(t)) = events.last() else { panic!("{events:?}") };
    let results = tool_results(&server.requests().pop().unwrap());
    assert_eq!(results[0], "the answer is 42");
    assert!(results[1].contains("connection reset (attempt 1)"), "not retried: {}", results[1]);
    let figures = |name: &str| t.tools.iter().find(|f| f.tool == name).unwrap().clone();
    assert_eq!((figures("lookup").retries, figures("lookup").errors), (2, 0));
    assert_eq!((figures("create").retries, figures("create").errors), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_notification_continue_false_and_session_end() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("a.txt"), "alpha\n").unwrap();
    let ask = r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask", "permissionDecisionReason": "reads are audited"}}'"#;
    let stop = r#"echo '{"continue": false, "stopReason": "budget spent"}'"#;
    settings(
        &work,
        json!({
            "PreToolUse": [{"matcher": "Read", "hooks": [{"type": "command", "command": ask}]}],
            "PostToolUse": [{"matcher": "LS", "hooks": [{"type": "command", "command": stop}]}],
            "Notification": [{"matcher": "permission_prompt", "hooks": [{"type": "command", "command": "cat > \"$CLAUDE_PROJECT_DIR/notified.json\""}]}],
            "SessionEnd": [{"hooks": [{"type": "command", "command": "cat > \"$CLAUDE_PROJECT_DIR/ended.json\""}]}]
        }),
    );
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"})),
        Step::call("list_dir", json!({})),
        Step::text("never sent"),
    ])
    .await
    .unwrap();
    // Full access: a read runs unasked, unless a hook asks.
    let mut h = start(dir.path(), &server, &["approval_policy=\"full-access\""]).await;
    h.ops.send(Op::UserTurn { text: "look".into() }).await.unwrap();
    let Event::ApprovalRequest(request) = until(&mut h, |e| matches!(e, Event::ApprovalRequest(_))).await else {
        unreachable!()
    };
    assert_eq!(request.reason, "reads are audited");
    // The Notification hook runs while the question waits.
    let notified = work.join("notified.json");
    let waited = std::time::Instant::now();
    while std::fs::read_to_string(&notified).map_or(true, |t| !t.ends_with('}')) {
        assert!(waited.elapsed() < std::time::Duration::from_secs(20), "no Notification hook ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.ops
        .send(Op::Approval { id: request.id, decision: tern_protocol::ApprovalDecision::Once, note: None })
        .await
        .unwrap();
    let end =
        until(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. } | Event::TurnAborted { .. }))
            .await;
    match end {
        Event::TurnAborted { reason, .. } => assert_eq!(reason, "stopped by a hook: budget spent"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 2, "the turn ended before the next model call");
    assert!(tool_results(&server.requests()[1])[0].contains("alpha"));
    let notified: Value = serde_json::from_str(&std::fs::read_to_string(&notified).unwrap()).unwrap();
    assert_eq!(notified["notification_type"], "permission_prompt");
    assert!(notified["message"].as_str().unwrap().contains("permission"), "{notified}");

    h.ops.send(Op::Shutdown).await.unwrap();
    until(&mut h, |e| matches!(e, Event::ShutdownComplete)).await;
    let ended: Value = serde_json::from_str(&std::fs::read_to_string(work.join("ended.json")).unwrap()).unwrap();
    assert_eq!(
        (ended["hook_event_name"].as_str(), ended["reason"].as_str()),
        (Some("SessionEnd"), Some("prompt_input_exit"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_answered_from_the_cache_still_counts_for_edits() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("a.txt"), "needle one\n").unwrap();
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"})),
        // Same bytes, new mtime (a formatter, a checkout): the hash still matches.
        Step::call("exec_command", json!({"cmd": "touch -d '2030-01-01' a.txt"})),
        Step::call("read_file", json!({"path": "a.txt"})),
        Step::call("edit_file", json!({"path": "a.txt", "old_string": "one", "new_string": "three"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &["approval_policy=\"full-auto\""]).await;
    let events = turn(&mut h, "edit it").await;
    assert!(matches!(events.last(), Some(Event::TurnCompleted(_))), "{events:?}");
    let results = tool_results(&server.requests().pop().unwrap());
    assert!(results[2].contains("unchanged since step 1"), "{}", results[2]);
    assert!(!results[3].starts_with("error"), "the edit was refused: {}", results[3]);
    assert_eq!(std::fs::read_to_string(work.join("a.txt")).unwrap(), "needle three\n");
}

//! MCP servers in a session: started once in the background however many
//! turns and `/mcp` requests arrive meanwhile, restarted on request (also
//! after a crash), timed out at start, and leaving no task behind.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{next, until as wait_for};

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tern_core::{Resume, SessionHandle};
use tern_protocol::{Event, McpServerState, Op};
use tern_testkit::{MockServer, Step};

fn broken_server() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit/fixtures/broken_mcp.py")
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

/// Overrides for a server `name` running the broken server with `args`, logging to `log`.
fn server_overrides(name: &str, log: &Path, args: &[&str]) -> Vec<String> {
    let mut argv = vec![broken_server()];
    argv.extend(args.iter().map(|a| a.to_string()));
    vec![
        "approval_policy=\"full-access\"".into(),
        format!("mcp_servers.{name}.command=\"python3\""),
        format!("mcp_servers.{name}.args={argv:?}"),
        format!("mcp_servers.{name}.env={{ BROKEN_LOG = {:?} }}", log.display().to_string()),
    ]
}

fn state_of(ev: &Event, name: &str) -> Option<McpServerState> {
    match ev {
        Event::McpServerUpdate(s) if s.name == name => Some(s.state.clone()),
        _ => None,
    }
}

fn initializations(log: &Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches("\"method\":\"initialize\"").count()
}

async fn ready(h: &mut SessionHandle, name: &str) {
    wait_for(h, |e| matches!(state_of(e, name), Some(McpServerState::Ready { .. }))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_once_listed_meanwhile_and_restarted_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("b.log");
    let server = MockServer::start(vec![
        Step::text("one"),
        Step::text("two"),
        Step::call("mcp__b__crash", json!({})),
        Step::text("after the crash"),
        Step::call("mcp__b__ok", json!({"text": "back"})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let overrides = server_overrides("b", &log, &[]);
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let config = common::config(dir.path(), &server.base_url(), &overrides);
    let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
    // Asked for while it starts: answered at once, and nothing starts twice.
    for _ in 0..3 {
        h.ops.send(Op::McpList).await.unwrap();
    }
    h.ops.send(Op::UserTurn { text: "a".into() }).await.unwrap();
    h.ops.send(Op::UserTurn { text: "b".into() }).await.unwrap();
    // The session is configured first; then the lists, the turns and the
    // server's start race.
    assert!(matches!(next(&mut h).await, Event::SessionConfigured(_)));
    let (mut listed, mut up, mut turns) = (0, false, 0);
    while !(listed == 3 && up && turns == 2) {
        match next(&mut h).await {
            Event::McpServers { servers } => {
                assert_eq!(servers.len(), 1);
                assert_eq!(servers[0].name, "b");
                listed += 1;
            }
            Event::TurnCompleted(_) => turns += 1,
            e => up |= matches!(state_of(&e, "b"), Some(McpServerState::Ready { .. })),
        }
    }
    assert_eq!(initializations(&log), 1);

    // A crash mid-call marks it failed; the turn goes on; a restart brings it back.
    h.ops.send(Op::UserTurn { text: "crash".into() }).await.unwrap();
    wait_for(&mut h, |e| matches!(state_of(e, "b"), Some(McpServerState::Failed { .. }))).await;
    wait_for(&mut h, |e| matches!(e, Event::TurnCompleted(_))).await;
    h.ops.send(Op::McpRestart { name: "b".into() }).await.unwrap();
    ready(&mut h, "b").await;
    assert_eq!(initializations(&log), 2);
    h.ops.send(Op::UserTurn { text: "again".into() }).await.unwrap();
    wait_for(&mut h, |e| matches!(e, Event::TurnCompleted(_))).await;
    let last = server.requests().last().unwrap().clone();
    let results: Vec<_> = last["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    assert!(results.last().unwrap()["content"].as_str().unwrap().contains("ok: back"));

    // A ready server restarts too; an unknown name is a warning naming the known ones.
    h.ops.send(Op::McpRestart { name: "b".into() }).await.unwrap();
    wait_for(&mut h, |e| matches!(state_of(e, "b"), Some(McpServerState::Starting))).await;
    ready(&mut h, "b").await;
    assert_eq!(initializations(&log), 3);
    h.ops.send(Op::McpRestart { name: "nope".into() }).await.unwrap();
    let warning = wait_for(&mut h, |e| matches!(e, Event::Warning { .. })).await;
    assert!(matches!(&warning, Event::Warning { message } if message.contains("configured: b")), "{warning:?}");
    h.ops.send(Op::Shutdown).await.unwrap();
    wait_for(&mut h, |e| matches!(e, Event::ShutdownComplete)).await;
    h.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_and_others_are_not_held_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("b.log");
    let server = MockServer::start(vec![Step::text("fine")]).await.unwrap();
    let mut overrides = server_overrides("silent", &dir.path().join("s.log"), &["--silent"]);
    overrides.push("mcp_servers.silent.startup_timeout_ms=1500".into());
    overrides.extend(server_overrides("quick", &log, &[]));
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let config = common::config(dir.path(), &server.base_url(), &overrides);
    let started = std::time::Instant::now();
    let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
    ready(&mut h, "quick").await;
    assert!(started.elapsed() < Duration::from_millis(1500), "the quick server waited for the silent one");
    let failed = wait_for(&mut h, |e| matches!(state_of(e, "silent"), Some(McpServerState::Failed { .. }))).await;
    let Some(McpServerState::Failed { error }) = state_of(&failed, "silent") else { unreachable!() };
    assert!(error.contains("did not start within 1.5 s (startup_timeout_sec)"), "{error}");
    let done = wait_for(&mut h, |e| matches!(e, Event::McpStartupComplete { .. })).await;
    let Event::McpStartupComplete { ready, failed } = done else { unreachable!() };
    assert_eq!(ready, vec!["quick".to_string()]);
    assert_eq!(failed.len(), 1);
    h.ops.send(Op::Shutdown).await.unwrap();
    wait_for(&mut h, |e| matches!(e, Event::ShutdownComplete)).await;
    h.join().await;
}

#[test]
fn no_task_outlives_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("b.log");
    let mock_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = mock_rt
        .block_on(MockServer::start(vec![Step::call("mcp__b__ok", json!({"text": "x"})), Step::text("done")]))
        .unwrap();
    // A tag on its command line tells this test's server from the others'.
    let tag = format!("--tag={}", dir.path().display());
    let overrides = server_overrides("b", &log, &[&tag]);
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let config = common::config(dir.path(), &server.base_url(), &overrides);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let alive = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
        let baseline = alive();
        let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
        ready(&mut h, "b").await;
        h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::TurnCompleted(_))).await;
        h.ops.send(Op::Shutdown).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::ShutdownComplete)).await;
        h.join().await;
        for _ in 0..200 {
            if alive() == baseline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(alive(), baseline, "tasks outlived the session and its MCP server");
    });
    // The server's process is gone too.
    let gone = (0..200).any(|_| {
        let alive = std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).any(|e| {
            std::fs::read(e.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).contains(&tag)).unwrap_or(false)
        });
        if alive {
            std::thread::sleep(Duration::from_millis(10));
        }
        !alive
    });
    assert!(gone, "the MCP server outlived the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_cover_mcp_tools_by_their_full_names() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("b.log");
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join(".claude")).unwrap();
    let rewrite =
        r#"echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "updatedInput": {"text": "HOOKED"}}}'"#;
    let failure = r#"echo '{"hookSpecificOutput": {"hookEventName": "PostToolUseFailure", "additionalContext": "FAILURE-CTX: see the server log"}}'"#;
    let settings = json!({"hooks": {
        "PreToolUse": [{"matcher": "mcp__b__ok", "hooks": [{"type": "command", "command": rewrite}]}],
        "PostToolUseFailure": [{"matcher": "mcp__b__.*", "hooks": [{"type": "command", "command": failure}]}]
    }});
    std::fs::write(work.join(".claude/settings.json"), settings.to_string()).unwrap();
    let server = MockServer::start(vec![
        Step::call("mcp__b__ok", json!({"text": "hello"})),
        Step::call("mcp__b__crash", json!({})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let overrides = server_overrides("b", &log, &[]);
    let mut overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    overrides.push("mcp_servers.b.required=true");
    let config = common::config(dir.path(), &server.base_url(), &overrides);
    let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
    h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
    wait_for(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await;
    let last = server.requests().pop().unwrap();
    let results: Vec<String> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(results[0], "ok: HOOKED");
    assert!(results[1].contains("stopped during the call") && results[1].contains("FAILURE-CTX"), "{}", results[1]);
    h.ops.send(Op::Shutdown).await.unwrap();
}

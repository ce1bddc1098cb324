//! MCP faults are contained: a server that crashes mid-call, hangs, sends
//! malformed JSON-RPC or an oversized message fails that call with a clear
//! result to the model, and the session goes on. Uses a deliberately
//! broken server (crates/testkit/fixtures/broken_mcp.py) and the real
//! `tern` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::{Env, alive};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tern_testkit::{MockServer, Step};
use tokio::io::{AsyncBufReadExt, BufReader};

fn broken_server() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures/broken_mcp.py").canonicalize().unwrap()
}

/// A workspace whose config has the broken server (tool timeout 1 s) and
/// logs what it receives to `log`; `args` are extra server arguments.
fn configure(env: &Env, args: &[&str]) -> PathBuf {
    let log = env.dir.path().join("broken.log");
    env.write(
        ".tern/config.toml",
        &format!(
            "[mcp_servers.broken]\ncommand = \"python3\"\nargs = {:?}\ntool_timeout_sec = 1\nenv = {{ BROKEN_LOG = {:?} }}\n",
            [&[broken_server().display().to_string()][..], &args.iter().map(|a| a.to_string()).collect::<Vec<_>>()]
                .concat(),
            log.display().to_string()
        ),
    );
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    log
}

/// The content of the tool result in request `n`.
fn tool_result(server: &MockServer, n: usize) -> String {
    let messages = common::messages(server, n);
    messages.iter().rev().find(|m| m["role"] == "tool").unwrap()["content"].as_str().unwrap().to_string()
}

/// A first harmless call lets the server finish starting, as a real
/// session's first steps would.
fn warm_up() -> Step {
    Step::call("exec_command", json!({"cmd": "sleep 1"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_fails_only_its_call() {
    let env = Env::new();
    configure(&env, &[]);
    let steps = vec![
        warm_up(),
        Step::call("mcp__broken__hang", json!({})),
        Step::call("mcp__broken__garbage", json!({})),
        Step::call("mcp__broken__ok", json!({"text": "still here"})),
        Step::call("mcp__broken__huge", json!({})),
        Step::call("mcp__broken__ok", json!({"text": "after"})),
        Step::text("the session went on"),
    ];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "break it"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let hang = tool_result(&server, 2);
    assert!(hang.contains("did not answer within 1 s"), "{hang}");
    let garbage = tool_result(&server, 3);
    assert!(garbage.contains("did not answer within 1 s"), "{garbage}");
    assert!(tool_result(&server, 4).contains("ok: still here"));
    // An oversized message is dropped unread (memory stays bounded): that
    // call times out, and the server goes on serving.
    let huge = tool_result(&server, 5);
    assert!(huge.contains("did not answer within 1 s"), "{huge}");
    assert!(tool_result(&server, 6).contains("ok: after"));
    let lines = out.json();
    assert!(lines.iter().any(|l| l["type"] == "turn.completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_call_is_reported_with_its_stderr() {
    let env = Env::new();
    configure(&env, &[]);
    let steps = vec![warm_up(), Step::call("mcp__broken__crash", json!({})), Step::text("carried on")];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "crash it"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let crash = tool_result(&server, 2);
    assert!(crash.contains("stopped during the call"), "{crash}");
    let lines = out.json();
    let failed = lines
        .iter()
        .find(|l| l["type"] == "mcp.server_updated" && l["state"] == "failed")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("crashing on purpose") || error.contains("closed"), "{error}");
    let calls = out.completed("mcp_tool_call");
    assert_eq!(calls[0]["status"], "failed");
    assert!(calls[0]["error"]["message"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tool_list_is_offered_from_the_next_model_call() {
    let env = Env::new();
    configure(&env, &[]);
    let steps = vec![
        warm_up(),
        Step::call("mcp__broken__grow", json!({})),
        Step::call("exec_command", json!({"cmd": "sleep 0.5"})),
        Step::call("mcp__broken__added", json!({})),
        Step::text("done"),
    ];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "grow"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let names = |n: usize| -> Vec<String> {
        server.requests()[n]["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].to_string()).collect()
    };
    assert!(!names(1).iter().any(|n| n.contains("mcp__broken__added")));
    assert!(names(3).iter().any(|n| n.contains("mcp__broken__added")), "{:?}", names(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_call_is_cancelled_at_the_server() {
    let env = Env::new();
    let log = configure(&env, &[]);
    // A tool timeout long enough that only the interrupt ends the call.
    let config = std::fs::read_to_string(env.work().join(".tern/config.toml")).unwrap();
    env.write(".tern/config.toml", &config.replace("tool_timeout_sec = 1", "tool_timeout_sec = 60"));
    let steps = vec![warm_up(), Step::call("mcp__broken__slow", json!({"seconds": 30})), Step::text("unused")];
    let server = MockServer::start(steps).await.unwrap();
    let mut c = env.command(Some(&server));
    c.args(["exec", "--json", "slow"]);
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        if line.contains("\"item.started\"") && line.contains("mcp_tool_call") {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130));
    let received = std::fs::read_to_string(&log).unwrap();
    assert!(received.contains("notifications/cancelled"), "{received}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_leaves_no_server_behind() {
    let env = Env::new();
    configure(&env, &[]);
    let steps = vec![Step::call("exec_command", json!({"cmd": "sleep 30"})), Step::text("unused")];
    let server = MockServer::start(steps).await.unwrap();
    let mut c = env.command(Some(&server));
    c.args(["exec", "--json", "wait"]);
    let mut child = c.spawn().unwrap();
    let pid = child.id().unwrap();
    let needle = broken_server().display().to_string();
    let start = Instant::now();
    while !alive(&needle) {
        assert!(start.elapsed() < Duration::from_secs(20), "the server never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let _ = child.wait().await;
    let start = Instant::now();
    while alive(&needle) {
        assert!(start.elapsed() < Duration::from_secs(5), "the MCP server survived tern's SIGKILL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The watchdog ends the tree, then itself: it may outlive the server by a moment.
    while !common::remains_of(pid).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", common::remains_of(pid));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_at_once_when_the_server_allows_it() {
    let env = Env::new();
    configure(&env, &[]);
    let config = std::fs::read_to_string(env.work().join(".tern/config.toml")).unwrap();
    env.write(
        ".tern/config.toml",
        &config.replace("tool_timeout_sec = 1", "tool_timeout_sec = 30\nsupports_parallel_tool_calls = true"),
    );
    let three = Step::call("mcp__broken__slow", json!({"seconds": 1.5}))
        .and_call("mcp__broken__slow", json!({"seconds": 1.5}))
        .and_call("mcp__broken__slow", json!({"seconds": 1.5}));
    let server = MockServer::start(vec![warm_up(), three, Step::text("done")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "three at once"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let calls = out.completed("mcp_tool_call");
    assert_eq!(calls.len(), 3);
    let longest = calls.iter().map(|c| c["duration_ms"].as_u64().unwrap()).max().unwrap();
    let items: Vec<serde_json::Value> = out.json();
    let started: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, l)| l["type"] == "item.started" && l["item"]["type"] == "mcp_tool_call")
        .map(|(i, _)| i)
        .collect();
    let first_done = items.iter().position(|l| l["type"] == "item.completed" && l["item"]["type"] == "mcp_tool_call");
    // All three began before the first ended, and none took the others' time too.
    assert!(started.iter().all(|s| Some(*s) < first_done), "{items:#?}");
    assert!(longest < 4000, "{longest} ms: the calls ran one after another");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_is_capped_for_the_model_and_kept_whole() {
    let env = Env::new();
    configure(&env, &[]);
    let steps = vec![warm_up(), Step::call("mcp__broken__big", json!({"lines": 20000})), Step::text("done")];
    let server = MockServer::start(steps).await.unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "big"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let result = tool_result(&server, 2);
    assert!(result.len() < 40_000, "{} bytes reached the model", result.len());
    assert!(result.contains("line 0\n") && result.contains("line 19999"), "head and tail are kept");
    let saved = result.split("is saved in ").nth(1).unwrap().split(';').next().unwrap();
    let whole = std::fs::read_to_string(saved).unwrap();
    assert_eq!(whole.lines().count(), 20000);
}

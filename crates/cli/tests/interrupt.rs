//! Ctrl+C: the turn stops, its processes die, the session is saved, exit 130.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, alive};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use std::time::{Duration, Instant};
use tern_testkit::{MockServer, Step};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

fn sigint(child: &tokio::process::Child) {
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
}

/// Starts `tern exec --json` and waits until its command is running.
async fn start_until_command(
    env: &Env,
    server: &MockServer,
    needles: &[&str],
) -> (tokio::process::Child, tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) {
    let mut c = env.command(Some(server));
    c.args(["exec", "--json", "run it"]);
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
        if line.contains("\"item.started\"") && line.contains("command_execution") {
            break;
        }
    }
    for _ in 0..200 {
        if needles.iter().all(|n| alive(n)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, lines)
}

fn last_record(env: &Env) -> serde_json::Value {
    let log = common::read(&env.session_logs()[0]);
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    records.last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_stream() {
    let env = Env::new();
    let long = "word ".repeat(200);
    let server = MockServer::start(vec![Step::text(long).with_chunk_chars(5).with_delay_ms(20)]).await.unwrap();
    let mut c = env.command(Some(&server));
    c.args(["exec", "stream please"]);
    let mut child = c.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("word word") {
        let n = tokio::time::timeout(Duration::from_secs(20), stderr.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "tern exited early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let start = Instant::now();
    sigint(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    let rec = last_record(&env);
    assert_eq!(rec["type"], "turn_ended");
    assert_eq!(rec["status"], "interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_command_kills_it_and_saves_the_session() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "sleep 51.25 & sleep 51.5; echo never"})),
        Step::text("unused"),
    ])
    .await
    .unwrap();
    let (mut child, mut lines) = start_until_command(&env, &server, &["sleep 51.5"]).await;
    let start = Instant::now();
    sigint(&child);
    let mut rest = vec![];
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push(l);
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    assert!(!alive("sleep 51.25") && !alive("sleep 51.5"), "the command's processes survived");
    let failed: serde_json::Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(failed["type"], "turn.failed");
    assert_eq!(failed["interrupted"], true);
    // The command's end says it was killed, and the model will see that.
    let ended: serde_json::Value = rest
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "item.completed" && v["item"]["type"] == "command_execution")
        .unwrap();
    assert_eq!(ended["item"]["killed"], true, "{ended}");
    assert_eq!(ended["item"]["status"], "failed");
    let log = common::read(&env.session_logs()[0]);
    assert!(log.contains("Interrupted by the user: the command and everything it started were stopped"), "{log}");
    assert_eq!(last_record(&env)["status"], "interrupted");
    assert_eq!(server.requests().len(), 1, "no model call after the interrupt");
}

/// tern killed with SIGKILL (no chance to clean up) leaves no processes:
/// its watchdog ends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_leaves_no_children() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call(
            "exec_command",
            json!({"cmd": "setsid sleep 52.25 & nohup sleep 52.5 >/dev/null 2>&1 & sleep 52.75"}),
        ),
        Step::text("unused"),
    ])
    .await
    .unwrap();
    let (mut child, _lines) = start_until_command(&env, &server, &["sleep 52.25", "sleep 52.5", "sleep 52.75"]).await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    let _ = child.wait().await;
    let start = Instant::now();
    while ["sleep 52.25", "sleep 52.5", "sleep 52.75"].iter().any(|s| alive(s)) {
        assert!(start.elapsed() < Duration::from_secs(3), "processes survived tern's SIGKILL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Python REPL driven over several calls; processes still running when
/// the session ends are ended with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repl_over_write_stdin_and_cleanup_at_exit() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "python3 -q", "tty": true, "yield_time_ms": 1500})),
        Step::call("write_stdin", json!({"session_id": 1, "chars": "print(6 * 7)\n", "yield_time_ms": 1000})),
        Step::call("write_stdin", json!({"session_id": 1, "chars": "exit()\n", "yield_time_ms": 3000})),
        Step::call("write_stdin", json!({"session_id": 1, "chars": "x"})),
        Step::call("exec_command", json!({"cmd": "echo serving; sleep 54.5", "yield_time_ms": 200})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "repl"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let last = |n: usize| common::messages(&server, n).last().unwrap()["content"].as_str().unwrap().to_string();
    assert!(last(1).starts_with("Process running with session_id 1"), "{}", last(1));
    assert!(last(1).contains(">>>"), "{}", last(1));
    assert!(last(2).contains("42"), "{}", last(2));
    assert!(last(3).starts_with("Process exited with code 0"), "{}", last(3));
    assert!(last(4).contains("no running process has session_id 1"), "{}", last(4));
    assert!(last(5).starts_with("Process running with session_id 2") && last(5).contains("serving"), "{}", last(5));
    // tern has exited: the server it left running is gone.
    let start = Instant::now();
    while alive("sleep 54.5") {
        assert!(start.elapsed() < Duration::from_secs(3), "a session process outlived tern");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

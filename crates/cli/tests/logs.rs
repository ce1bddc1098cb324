//! tern's own log, and what it must never hold; nothing of tern's outlives
//! a normal exit.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, remains_of};
use serde_json::json;
use std::path::Path;
use tern_testkit::{MockServer, Step};

const OPENAI_KEY: &str = "sk-FAKE-openai-7d1f3c9a2b5e";
const ANTHROPIC_KEY: &str = "sk-ant-FAKE-4e8a0c6b2d9f";

/// Every file under `dir`, recursively, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.display().to_string(), String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()));
        }
    }
    out
}

/// With everything logged (`TERN_LOG=trace`), a session with retries and
/// tool calls on two providers leaves its key and auth header nowhere on
/// disk, while the log says what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_reach_logs_or_session_files() {
    let env = Env::new();
    let script = || {
        vec![
            Step::status(503, "upstream busy"),
            Step::call("exec_command", json!({"cmd": "echo hi"})),
            Step::text("done"),
        ]
    };
    let openai = MockServer::start(script()).await.unwrap();
    let mut c = env.command(None);
    c.env("OPENAI_API_KEY", OPENAI_KEY).env("OPENAI_BASE_URL", openai.base_url()).env("TERN_LOG", "trace").args([
        "-c",
        "network.max_retry_delay_ms=20",
        "exec",
        "go",
    ]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let auth = openai.headers()[1].iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some(format!("Bearer {OPENAI_KEY}").as_str()), "the key was sent");

    let anthropic = MockServer::start(script()).await.unwrap();
    let mut c = env.command(None);
    c.env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env("ANTHROPIC_BASE_URL", anthropic.base_url())
        .env("RUST_LOG", "trace")
        .args(["-c", "network.max_retry_delay_ms=20", "exec", "go"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let written = files(&env.data());
    assert!(written.iter().any(|(p, _)| p.ends_with("sessions") || p.contains("/sessions/")));
    for (path, text) in &written {
        for secret in [OPENAI_KEY, ANTHROPIC_KEY, "Bearer "] {
            assert!(!text.contains(secret), "{path} holds `{secret}`");
        }
    }
    let log = &written.iter().find(|(p, _)| p.ends_with("logs/tern.log")).expect("a log under $TERN_HOME/logs").1;
    for said in ["tern started", "session started", "retrying", "503", "turn ended", "session ended"] {
        assert!(log.contains(said), "the log does not say `{said}`:\n{log}");
    }
}

/// A failure nobody waited for (saving an "always" approval into a
/// directory that cannot hold it) is logged, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_failures_are_logged() {
    let env = Env::new();
    // A file where the approvals directory should be: the save cannot work.
    std::fs::create_dir_all(env.data()).unwrap();
    std::fs::write(env.data().join("approvals"), "not a directory").unwrap();
    let server = MockServer::start(vec![Step::call("exec_command", json!({"cmd": "touch made"})), Step::text("ok")])
        .await
        .unwrap();
    let mut tui = common::pty::Tui::start(&env, Some(&server), &["-c", "sandbox=false", "make it"], &[]);
    tui.wait_for("run this command?", 20).await;
    tui.send(b"a").await;
    tui.wait_for("ok", 20).await;
    tui.send(b"\x04").await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    assert!(env.work().join("made").exists());
    let log = std::fs::read_to_string(env.data().join("logs/tern.log")).unwrap();
    assert!(log.contains("saving an \"always\" approval"), "{log}");
}

/// After a normal exit, nothing of tern's is left: not its watchdog, not a
/// process of its commands. Checked the moment tern has exited (the issue's
/// budget is 50 ms; tern ends and reaps them before it exits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_left_after_a_normal_exit() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "sleep 0.2; echo slept"})),
        Step::call("exec_command", json!({"cmd": "sleep 30", "yield_time_ms": 200})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let mut c = env.command(Some(&server));
    c.args(["exec", "go"]);
    let child = c.spawn().unwrap();
    let pid = child.id().unwrap();
    let out = common::finish(child).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(remains_of(pid), Vec::<String>::new(), "tern exec left processes behind");

    let mut tui = common::pty::Tui::start(&env, Some(&server), &["-c", "approval_policy=\"full-access\""], &[]);
    tui.wait_for("ask tern to do something", 20).await;
    let pid = tui.pid();
    assert!(!remains_of(pid).is_empty(), "the watchdog runs while tern does");
    tui.send(b"\x04").await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    assert_eq!(remains_of(pid), Vec::<String>::new(), "the TUI left processes behind");
}

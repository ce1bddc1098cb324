//! Approval policy in `tern exec`: nobody can answer, so requests are
//! declined unless `--full-auto`; read-only refuses writes outright.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, messages};
use serde_json::json;
use tern_testkit::{MockServer, Step};

fn script() -> Vec<Step> {
    vec![
        Step::call("exec_command", json!({"cmd": "ls"})),
        Step::call("exec_command", json!({"cmd": "touch made-by-command"})),
        Step::call("apply_patch", json!({"input": "*** Begin Patch\n*** Add File: made-by-patch\n+x\n*** End Patch"})),
        Step::text("done"),
    ]
}

fn last(server: &MockServer, n: usize) -> String {
    messages(server, n).last().unwrap()["content"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_declines_what_needs_approval() {
    let env = Env::new();
    let server = MockServer::start(script()).await.unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "go"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(last(&server, 1).starts_with("Exit code: 0"), "ls is read-only: {}", last(&server, 1));
    let declined = last(&server, 2);
    assert!(declined.contains("not run: the user declined it") && declined.contains("--full-auto"), "{declined}");
    assert!(declined.contains("`touch` is not a known read-only command"), "{declined}");
    assert!(out.stderr.contains("approval needed: touch made-by-command"), "{}", out.stderr);
    assert!(!env.work().join("made-by-command").exists());
    assert!(last(&server, 3).starts_with("Success."), "workspace edits run in auto: {}", last(&server, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_auto_runs_everything() {
    let env = Env::new();
    let server = MockServer::start(script()).await.unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "--full-auto", "go"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(env.work().join("made-by-command").exists());
    assert!(!out.stderr.contains("approval needed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_writes_without_asking() {
    let env = Env::new();
    let server = MockServer::start(script()).await.unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "-c", "approval_policy=\"read-only\"", "--json", "go"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(last(&server, 1).starts_with("Exit code: 0"));
    assert!(last(&server, 2).contains("the session is read-only"), "{}", last(&server, 2));
    assert!(last(&server, 3).contains("read-only"), "{}", last(&server, 3));
    assert!(!out.stdout.contains("approval needed"), "read-only never asks");
    assert!(!env.work().join("made-by-command").exists() && !env.work().join("made-by-patch").exists());
}

/// The small profile's brief tools ask the same questions as the full ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_profile_tools_are_gated_like_the_full_ones() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "touch made-by-command"})),
        Step::call("write_file", json!({"path": "made-by-write", "content": "x"})),
        Step::call("edit_file", json!({"path": "kept.txt", "old_string": "a", "new_string": "b"})),
        Step::text("done"),
        // Every call failed: the small profile sends the model back once.
        Step::text("nothing could be changed"),
    ])
    .await
    .unwrap();
    std::fs::write(env.work().join("kept.txt"), "a\n").unwrap();
    let mut c = env.asking(Some(&server));
    c.args(["exec", "-m", "small-test", "-c", "models.small-test.tools=\"small\""]);
    c.args(["-c", "approval_policy=\"read-only\"", "go"]);
    let out = common::finish(c.spawn().unwrap()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(last(&server, 1).contains("read-only"), "{}", last(&server, 1));
    assert!(last(&server, 2).contains("the session is read-only"), "{}", last(&server, 2));
    assert!(last(&server, 3).contains("the session is read-only"), "{}", last(&server, 3));
    assert!(!env.work().join("made-by-command").exists() && !env.work().join("made-by-write").exists());
    assert_eq!(std::fs::read_to_string(env.work().join("kept.txt")).unwrap(), "a\n");
}

//! RUNTIME rule 3: every task has an owner. After a session ends, and after
//! a cancelled turn, the number of live tasks is back where it started.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::until as wait_for;

use serde_json::json;
use std::time::Duration;
use tern_core::Resume;
use tern_protocol::{Event, Op};
use tern_testkit::{MockServer, Step};

/// The mock runs on its own runtime so that only tern's tasks are counted.
fn mock(steps: Vec<Step>) -> (tokio::runtime::Runtime, MockServer) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt.block_on(MockServer::start(steps)).unwrap();
    (rt, server)
}

fn alive() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

async fn settles_to(expected: usize) {
    for _ in 0..200 {
        if alive() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(alive(), expected, "live tasks did not return to the baseline");
}

#[test]
fn tasks_return_to_baseline_after_session_and_cancelled_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock_rt, server) = mock(vec![
        Step::call("list_dir", json!({})).and_call("grep_files", json!({"pattern": "x"})),
        Step::call("exec_command", json!({"cmd": "echo hi"})),
        Step::text("first turn done"),
        Step::call("exec_command", json!({"cmd": "sleep 30 & sleep 30"})),
    ]);
    let config = common::config(dir.path(), &server.base_url(), &["approval_policy=\"full-access\""]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let baseline = alive();
        let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::SessionConfigured(_))).await;
        let with_session = alive();

        h.ops.send(Op::UserTurn { text: "one".into() }).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::TurnCompleted(_))).await;
        // What may stay: the HTTP client's pooled keep-alive connection and
        // its pool timer, both owned by the session's client.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let warmed = alive();
        assert!(warmed <= with_session + 2, "{warmed} live tasks after a turn, {with_session} before");

        h.ops.send(Op::UserTurn { text: "two".into() }).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::ToolCallBegin(_))).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.ops.send(Op::Interrupt).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::TurnAborted { .. })).await;
        settles_to(warmed).await;

        h.ops.send(Op::Shutdown).await.unwrap();
        wait_for(&mut h, |e| matches!(e, Event::ShutdownComplete)).await;
        h.join().await;
        settles_to(baseline).await;
    });
}

//! The approval round trip through the protocol: once, session, always, deny.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use std::time::Duration;
use tern_core::{Resume, SessionHandle};
use tern_protocol::{ApprovalDecision, Event, Op};
use tern_testkit::{MockServer, Step};

/// The sandbox needs the tern binary as its helper; it is tested end to
/// end in the cli crate.
const NO_SANDBOX: &str = "sandbox=false";

/// Runs one turn, answering each approval request with the next decision;
/// returns how many requests came.
async fn turn(h: &mut SessionHandle, decisions: &[ApprovalDecision]) -> usize {
    h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
    let mut asked = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), h.events.recv()).await.unwrap().unwrap() {
            Event::ApprovalRequest(r) => {
                assert!(r.reason.contains("not a known read-only command"), "{}", r.reason);
                let decision = decisions[asked];
                asked += 1;
                h.ops.send(Op::Approval { id: r.id, decision, note: None }).await.unwrap();
            }
            Event::TurnCompleted(_) => return asked,
            Event::TurnFailed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let call = |cmd: &str| Step::call("exec_command", json!({"cmd": cmd}));
    let server = MockServer::start(vec![
        call("touch a"),
        call("touch b"),
        Step::text("1"),
        call("touch c"),
        call("touch d"),
        call("mkdir -p e"),
        Step::text("2"),
        call("mkdir -p f"),
        call("mkdir -p g"),
        Step::text("3"),
    ])
    .await
    .unwrap();
    let work = dir.path().join("work");
    let mut h = tern_core::start(
        common::config(dir.path(), &server.base_url(), &[NO_SANDBOX]),
        Resume::New,
        &tern_core::HttpConnector,
    )
    .await
    .unwrap();
    // Once, then deny: asked twice.
    assert_eq!(turn(&mut h, &[ApprovalDecision::Once, ApprovalDecision::Deny]).await, 2);
    assert!(work.join("a").exists() && !work.join("b").exists());
    // Session covers `touch …` for the rest of the session; `mkdir` still asks (always).
    assert_eq!(turn(&mut h, &[ApprovalDecision::Session, ApprovalDecision::Always]).await, 2);
    assert!(work.join("c").exists() && work.join("d").exists() && work.join("e").exists());
    common::shut_down(h).await;

    // A new session: `mkdir -p` was approved always for this workspace.
    let mut h = tern_core::start(
        common::config(dir.path(), &server.base_url(), &[NO_SANDBOX]),
        Resume::New,
        &tern_core::HttpConnector,
    )
    .await
    .unwrap();
    assert_eq!(turn(&mut h, &[]).await, 0);
    assert!(work.join("f").exists() && work.join("g").exists());
}

//! The `Undo` op restores the last turn's files and tells the model.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::until;

use serde_json::json;
use tern_core::Resume;
use tern_protocol::{Event, Op};
use tern_testkit::{MockServer, Step};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_op_restores_and_informs_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("f.txt"), "old\n").unwrap();
    let server = MockServer::start(vec![
        Step::call("apply_patch", json!({"input": "*** Begin Patch\n*** Update File: f.txt\n@@\n-old\n+new\n*** Add File: g.txt\n+g\n*** End Patch"})),
        Step::text("edited"),
        Step::text("noted"),
    ])
    .await
    .unwrap();
    let config = common::config(dir.path(), &server.base_url(), &["sandbox=false"]);
    let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
    h.ops.send(Op::UserTurn { text: "edit".into() }).await.unwrap();
    let ev = until(&mut h, |e| matches!(e, Event::FilesChanged { .. })).await;
    let Event::FilesChanged { changes, .. } = ev else { unreachable!() };
    assert_eq!(changes.len(), 2);
    assert!(changes[0].diff.contains("-old\n+new\n"));
    until(&mut h, |e| matches!(e, Event::TurnCompleted(_))).await;
    assert_eq!(std::fs::read_to_string(work.join("f.txt")).unwrap(), "new\n");

    // `/diff` is an op: the session's changes against before it started.
    h.ops.send(Op::Diff).await.unwrap();
    let Event::SessionDiff { changes } = until(&mut h, |e| matches!(e, Event::SessionDiff { .. })).await else {
        unreachable!()
    };
    let mut paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["f.txt", "g.txt"]);
    assert!(changes.iter().any(|c| c.diff.contains("-old\n+new\n")), "{changes:?}");

    h.ops.send(Op::Undo { turns: 1 }).await.unwrap();
    let Event::UndoCompleted { restored } = until(&mut h, |e| matches!(e, Event::UndoCompleted { .. })).await else {
        unreachable!()
    };
    assert_eq!(restored, ["g.txt", "f.txt"]);
    assert_eq!(std::fs::read_to_string(work.join("f.txt")).unwrap(), "old\n");
    assert!(!work.join("g.txt").exists());

    h.ops.send(Op::UserTurn { text: "what now?".into() }).await.unwrap();
    until(&mut h, |e| matches!(e, Event::TurnCompleted(_))).await;
    let msgs = server.requests()[2]["messages"].as_array().unwrap().clone();
    let note = msgs.iter().rev().nth(1).unwrap()["content"].as_str().unwrap().to_string();
    assert!(note.contains("undid the file changes") && note.contains("f.txt"), "{note}");
}

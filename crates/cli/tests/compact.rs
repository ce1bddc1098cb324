//! Compaction and fork end to end: the real binary, the mock model over
//! loopback, `--json`'s context figures, `tern sessions list`, and the
//! TUI's `/compact` marker and `/fork` picker in a real PTY.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use common::pty::Tui;
use serde_json::{Value, json};
use tern_testkit::{MockServer, Step};

fn big_file(env: &Env, rel: &str, tag: &str, lines: usize) {
    let text: String = (0..lines).map(|i| format!("{tag}-LINE-{i:04} {}\n", "x".repeat(60))).collect();
    env.write(rel, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_reports_context_and_compactions_and_fork_copies_the_conversation() {
    let env = Env::new();
    big_file(&env, "a.txt", "AAA", 500);
    big_file(&env, "b.txt", "BBB", 600);
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"})),
        Step::call("read_file", json!({"path": "b.txt"})),
        Step::text("## Goal\nSUMMARY: both files read"),
        Step::text("they differ in their tags"),
        Step::text("forked answer"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "--json", "-c", "compact_at=16000", "compare a.txt and b.txt"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.json();
    let compacted = lines.iter().find(|l| l["type"] == "context.compacted").expect("a context.compacted line");
    assert_eq!(compacted["trigger"], "auto");
    assert_eq!(compacted["summarized"], true);
    assert!(compacted["pre_tokens"].as_u64().unwrap() >= 16_000, "{compacted}");
    let done = lines.iter().find(|l| l["type"] == "turn.completed").unwrap();
    assert_eq!(done["compactions"], 1);
    assert_eq!(done["context"]["compact_at"], 16_000);
    assert!(done["context"]["used_tokens"].as_u64().unwrap() < 16_000, "{done}");
    assert!(done["context"]["window"].as_u64().unwrap() > 16_000, "{done}");
    assert_eq!(out.stdout.lines().filter(|l| l.contains("\"thread.started\"")).count(), 1);
    let id = lines.iter().find(|l| l["type"] == "thread.started").unwrap()["thread_id"].as_str().unwrap().to_string();

    // A fork copies the (compacted) conversation into a new session.
    let original = env.session_logs();
    assert_eq!(original.len(), 1);
    let before = std::fs::read(&original[0]).unwrap();
    let out = env.run(Some(&server), &["exec", "fork", &id, "what did we find?"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "forked answer");
    assert_eq!(std::fs::read(&original[0]).unwrap(), before, "the original is untouched");
    let sent = server.requests()[4]["messages"].to_string();
    assert!(sent.contains("SUMMARY: both files read") && sent.contains("what did we find?"), "{sent}");
    assert!(!sent.contains("AAA-LINE-0100"), "the fork starts from the compacted history");

    let list = env.run(None, &["sessions", "list", "--json"]).await;
    let sessions: Vec<Value> = list.json();
    assert_eq!(sessions.len(), 2);
    let fork = sessions.iter().find(|s| s["id"] != id.as_str()).unwrap();
    assert_eq!(fork["parent"], id.as_str());
    let parent = sessions.iter().find(|s| s["id"] == id.as_str()).unwrap();
    assert_eq!((parent["compactions"].as_u64(), parent["parent"].is_null()), (Some(1), true));
    let table = env.run(None, &["sessions", "list"]).await.stdout;
    assert!(table.contains(&format!("fork of {id}")) && table.contains("compacted 1×"), "{table}");

    // Only the first turns: --turns 0 is a fresh start with the same parent.
    let server = MockServer::start(vec![Step::text("clean slate")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "fork", &id, "--turns", "0", "hello again"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let messages = server.requests()[0]["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 2, "system and the new message: {messages:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_compacts_on_request_and_forks_from_before_a_message() {
    let env = Env::new();
    let server = MockServer::start(vec![
        Step::text("first answer"),
        Step::text("second answer"),
        Step::text("SUMMARY OF TWO TURNS"),
        Step::text("answer in the fork"),
    ])
    .await
    .unwrap();
    let mut tui = Tui::start(&env, Some(&server), &["first question"], &[]);
    tui.wait_for("first answer", 20).await;
    tui.type_text("second question").await;
    tui.send(b"\r").await;
    tui.wait_for("second answer", 20).await;
    tui.type_text("/compact the naming decisions").await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("compacted (asked for)", 20).await;
    assert!(screen.contains("summarized"), "{screen}");
    assert!(server.requests()[2]["messages"].to_string().contains("the naming decisions"));
    tui.type_text("/status").await;
    tui.send(b"\r").await;
    tui.wait_for("compacted 1 time(s)", 10).await;

    tui.type_text("/fork").await;
    tui.send(b"\r").await;
    let screen = tui.wait_for("fork this session", 10).await;
    assert!(screen.contains("the whole conversation") && screen.contains("before: second question"), "{screen}");
    // Newest first after the whole conversation: one down is "before: second question".
    tui.send(b"\x1b[B").await;
    tui.send(b"\r").await;
    tui.wait_for("forking session", 10).await;
    // The message gone back to is in the composer, to edit and send again.
    tui.wait_for("› second question", 10).await;
    tui.send(b" differently\r").await;
    tui.wait_for("answer in the fork", 20).await;
    let sent = server.requests()[3]["messages"].to_string();
    assert!(sent.contains("first answer") && sent.contains("second question differently"), "{sent}");
    assert!(!sent.contains("second answer") && !sent.contains("SUMMARY OF TWO TURNS"), "{sent}");
    tui.send(b"\x04").await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    tui.assert_restored();
}

//! Compaction: the context meter, automatic and manual compaction, the
//! loop guard, the fallback when the summary fails, resume and rules kept.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::until;

use serde_json::{Value, json};
use tern_core::{Resume, SessionHandle};
use tern_protocol::{CompactTrigger, Compaction, Event, Op};
use tern_testkit::{MockServer, Step};

/// A file of `lines` numbered lines of 80 characters, each naming `tag`.
fn big_file(path: &std::path::Path, tag: &str, lines: usize) {
    let text: String = (0..lines).map(|i| format!("{tag}-LINE-{i:04} {}\n", "x".repeat(60))).collect();
    std::fs::write(path, text).unwrap();
}

/// Every message's text in a request body, joined.
fn text_of(request: &Value) -> String {
    request["messages"].as_array().unwrap().iter().map(|m| m["content"].to_string()).collect::<Vec<_>>().join("\n")
}

fn compacted(ev: &Event) -> Compaction {
    match ev {
        Event::Compacted(c) => c.clone(),
        other => panic!("not a compaction: {other:?}"),
    }
}

async fn start(dir: &std::path::Path, server: &MockServer, overrides: &[&str], resume: Resume) -> SessionHandle {
    let mut all = vec!["sandbox=false"];
    all.extend_from_slice(overrides);
    let config = common::config(dir, &server.base_url(), &all);
    tern_core::start(config, resume, &tern_core::HttpConnector).await.unwrap()
}

async fn turn(h: &mut SessionHandle, text: &str) -> Event {
    h.ops.send(Op::UserTurn { text: text.into() }).await.unwrap();
    until(h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_turn_compaction_summarizes_and_keeps_rules_and_the_users_words() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("AGENTS.md"), "Rule one: keep answers short.\n").unwrap();
    big_file(&work.join("big1.txt"), "ONE", 500);
    big_file(&work.join("big2.txt"), "TWO", 600);
    let server = MockServer::start(vec![
        Step::text("noted"),
        Step::call("read_file", json!({"path": "big1.txt"})),
        Step::call("read_file", json!({"path": "big2.txt"})),
        Step::text("## Goal\nSUMMARY-TEXT: compare big1 and big2"),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &["compact_at=16000"], Resume::New).await;
    assert!(matches!(turn(&mut h, "The codename is BLUE-HERON.").await, Event::TurnCompleted(_)));
    // A rule added while the session runs is in force after compacting.
    std::fs::write(work.join("AGENTS.md"), "Rule one: keep answers short.\nRule two: NEW-RULE-XYZ.\n").unwrap();
    h.ops.send(Op::UserTurn { text: "read big1.txt and big2.txt".into() }).await.unwrap();
    let c = compacted(&until(&mut h, |e| matches!(e, Event::Compacted(_))).await);
    assert_eq!(c.trigger, CompactTrigger::Auto);
    assert!(c.summarized && c.summary_error.is_none(), "{c:?}");
    assert!(c.stubbed_outputs >= 2, "{c:?}");
    assert!(c.pre_tokens >= 16_000 && c.post_tokens < 8_000, "{c:?}");
    let Event::TurnCompleted(t) =
        until(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await
    else {
        panic!("the turn did not go on after compacting")
    };
    assert_eq!((t.last_message.as_str(), t.compactions), ("done", 1));
    assert!(t.context.used_tokens < 8_000 && t.context.compact_at == 16_000, "{:?}", t.context);

    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    // The summary request lists the tools (the prompt prefix stays cached) but forbids calling them.
    let summary = &requests[3];
    assert_eq!(summary["tool_choice"], "none");
    assert!(summary["tools"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(text_of(summary).contains("Context checkpoint"));
    assert!(!text_of(&requests[1]).contains("NEW-RULE-XYZ"));
    let after = &requests[4];
    let system = after["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Rule one") && system.contains("NEW-RULE-XYZ"), "{system}");
    let all = text_of(after);
    assert!(all.contains("SUMMARY-TEXT") && all.contains("BLUE-HERON"), "{all}");
    assert!(all.contains("read big1.txt and big2.txt"), "the current request is kept: {all}");
    assert!(!all.contains("ONE-LINE-0100") && !all.contains("TWO-LINE-0100"), "outputs set aside");
    assert!(all.contains("saved whole in"), "{all}");
    // The outputs set aside are on disk in full.
    let saved = dir.path().join(".local/share/tern/spool");
    let texts: Vec<String> = walk(&saved).iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(texts.iter().any(|t| t.contains("ONE-LINE-0499")) && texts.iter().any(|t| t.contains("TWO-LINE-0599")));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_compact_with_focus_survives_resume() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        MockServer::start(vec![Step::text("ok ALPHA-REPLY"), Step::text("SUMMARY-ONE"), Step::text("after resume")])
            .await
            .unwrap();
    let mut h = start(dir.path(), &server, &[], Resume::New).await;
    assert!(matches!(turn(&mut h, "remember ALPHA").await, Event::TurnCompleted(_)));
    h.ops.send(Op::Compact { focus: Some("the ALPHA plan".into()) }).await.unwrap();
    let c = compacted(&until(&mut h, |e| matches!(e, Event::Compacted(_))).await);
    assert_eq!(c.trigger, CompactTrigger::Manual);
    assert!(c.summarized, "{c:?}");
    // To fronts it is a unit of work like a turn: it ends.
    let Event::TurnCompleted(t) =
        until(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await
    else {
        panic!("the compaction did not complete")
    };
    assert_eq!(t.compactions, 1);
    assert!(text_of(&server.requests()[1]).contains("the ALPHA plan"));
    h.ops.send(Op::Shutdown).await.unwrap();
    until(&mut h, |e| matches!(e, Event::ShutdownComplete)).await;
    drop(h);

    let mut h = start(dir.path(), &server, &[], Resume::Last).await;
    assert!(matches!(turn(&mut h, "continue").await, Event::TurnCompleted(_)));
    let messages = server.requests()[2]["messages"].as_array().unwrap().clone();
    // system, the handoff (summary), the last turn kept whole, the new message.
    assert_eq!(messages.len(), 5, "{messages:#?}");
    let handoff = messages[1]["content"].as_str().unwrap();
    assert!(handoff.contains("SUMMARY-ONE") && handoff.contains("<summary>"), "{handoff}");
    assert_eq!(messages[2]["content"], "remember ALPHA");
    // The log shows where it happened.
    let log = tern_core::list_sessions(&dir.path().join(".local/share/tern"))[0].path.clone();
    let events = tern_core::replay(&log).unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::Compacted(c) if c.trigger == CompactTrigger::Manual)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_guard_stops_a_turn_that_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    // Instructions of about 3,000 tokens: with the tools, close to compact_at.
    std::fs::write(work.join("AGENTS.md"), "Always be careful.\n".repeat(630)).unwrap();
    let server =
        MockServer::start(vec![Step::text("hello"), Step::text("SUMMARY"), Step::text("never reached")]).await.unwrap();
    let mut h = start(dir.path(), &server, &["compact_at=5000"], Resume::New).await;
    assert!(matches!(turn(&mut h, "hi").await, Event::TurnCompleted(_)), "under compact_at at first");
    // A message that is kept verbatim and cannot fit beside the instructions.
    let long = "please keep this whole\n".repeat(400);
    let Event::TurnFailed { error, .. } = turn(&mut h, &long).await else { panic!("the turn went on") };
    assert!(error.contains("still about") && error.contains("compact_at"), "{error}");
    // One compaction (one summary request), then a plain stop: no loop.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.remaining(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_summary_falls_back_to_setting_outputs_aside() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    big_file(&work.join("big.txt"), "BIG", 500);
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "big.txt"})),
        Step::text("ok"),
        Step::status(503, r#"{"error":{"message":"overloaded"}}"#),
        Step::text("fine"),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &["compact_at=16000", "network.request_max_retries=0"], Resume::New).await;
    assert!(matches!(turn(&mut h, "read big.txt").await, Event::TurnCompleted(_)));
    // A long message: with the old output set aside the context is still
    // over three quarters of compact_at, so a summary is wanted.
    let long = format!("Here is my log:\n{}", "the service restarted at noon\n".repeat(1_600));
    h.ops.send(Op::UserTurn { text: long.clone() }).await.unwrap();
    let c = compacted(&until(&mut h, |e| matches!(e, Event::Compacted(_))).await);
    assert!(!c.summarized && c.summary_error.as_deref().is_some_and(|e| e.contains("overloaded")), "{c:?}");
    assert_eq!(c.stubbed_outputs, 1);
    let Event::TurnCompleted(t) =
        until(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await
    else {
        panic!("the turn did not survive the failed summary")
    };
    assert_eq!(t.last_message, "fine");
    let all = text_of(&server.requests()[3]);
    assert!(all.contains("saved whole in") && !all.contains("BIG-LINE-0100") && all.contains("restarted at noon"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflow_from_the_provider_compacts_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    big_file(&work.join("big.txt"), "BIG", 500);
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "big.txt"})),
        Step::text("ok"),
        Step::status(
            400,
            r#"{"error":{"message":"maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
        ),
        Step::text("fine"),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[], Resume::New).await;
    assert!(matches!(turn(&mut h, "read big.txt").await, Event::TurnCompleted(_)));
    h.ops.send(Op::UserTurn { text: "and now?".into() }).await.unwrap();
    let c = compacted(&until(&mut h, |e| matches!(e, Event::Compacted(_))).await);
    assert_eq!((c.trigger, c.stubbed_outputs, c.summarized), (CompactTrigger::Overflow, 1, false));
    let Event::TurnCompleted(t) =
        until(&mut h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await
    else {
        panic!("the turn did not go on")
    };
    assert_eq!(t.last_message, "fine");
    assert!(!text_of(&server.requests()[3]).contains("BIG-LINE-0100"));
}

//! A front that falls behind gets every delta merged, in order, and the
//! counts say so.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;
use tern_core::Resume;
use tern_protocol::{Event, Op};
use tern_testkit::{MockServer, Step};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_front_gets_merged_deltas_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let reasoning: String = (0..600).map(|i| format!("r{i} ")).collect();
    let answer: String = (0..600).map(|i| format!("a{i} ")).collect();
    let step = Step::text(answer.clone()).with_reasoning(&reasoning).with_chunk_chars(3);
    let server = MockServer::start(vec![step]).await.unwrap();
    let config = common::config(dir.path(), &server.base_url(), &["sandbox=false"]);
    let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
    h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
    // Fall behind: read nothing while the whole response streams.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut thought, mut said, mut order) = (String::new(), String::new(), Vec::new());
    let summary = loop {
        match tokio::time::timeout(Duration::from_secs(20), h.events.recv()).await.unwrap().unwrap() {
            Event::ReasoningDelta { delta, .. } => {
                thought.push_str(&delta);
                order.push('r');
            }
            Event::AgentMessageDelta { delta, .. } => {
                said.push_str(&delta);
                order.push('a');
            }
            Event::TurnCompleted(s) => break s,
            Event::TurnFailed { error, .. } => panic!("{error}"),
            _ => {}
        }
    };
    assert_eq!(thought, reasoning, "every reasoning delta arrived");
    assert_eq!(said, answer, "every answer delta arrived");
    let first_answer = order.iter().position(|c| *c == 'a').unwrap();
    assert!(order[first_answer..].iter().all(|c| *c == 'a'), "reasoning after the answer began: {order:?}");
    assert!(summary.deltas.coalesced > 0, "the front fell behind: {:?}", summary.deltas);
    assert_eq!(summary.deltas.dropped_bytes, 0, "message text is never dropped");
}

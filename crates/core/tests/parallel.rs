//! Read-only calls of one response run at the same time; mutating calls
//! run one at a time, in order.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use futures_util::future::BoxFuture;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_core::Resume;
use tern_protocol::{Event, Op};
use tern_testkit::{MockServer, Step};
use tern_tools::{Registry, Tool, ToolCtx, ToolError, ToolOutput, ToolSchema};

/// Waits for the turn to complete; a failed turn fails the test.
async fn until_completed(h: &mut tern_core::SessionHandle) {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), h.events.recv()).await.unwrap().unwrap() {
            Event::TurnCompleted(_) => break,
            Event::TurnFailed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
}

/// The tool results the model saw in the `n`th request, in order.
fn tool_results(server: &MockServer, n: usize) -> Vec<String> {
    server.requests()[n]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

/// Waits at a barrier: with two of them in one response, the calls only
/// finish if they run at the same time.
struct Rendezvous(Arc<tokio::sync::Barrier>);

impl Tool for Rendezvous {
    fn name(&self) -> &'static str {
        "rendezvous"
    }
    fn schema(&self) -> ToolSchema {
        ToolSchema { name: "rendezvous".into(), description: "test".into(), parameters: json!({"type": "object"}) }
    }
    fn mutates(&self) -> bool {
        false
    }
    fn call<'a>(&'a self, _: &'a ToolCtx, _: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            match tokio::time::timeout(Duration::from_secs(5), self.0.wait()).await {
                Ok(_) => Ok(ToolOutput::text("met")),
                Err(_) => Err(ToolError::Failed("alone at the barrier: calls ran one at a time".into())),
            }
        })
    }
}

/// Records when it starts and ends; mutating.
struct Sequenced(Arc<Mutex<Vec<String>>>);

impl Tool for Sequenced {
    fn name(&self) -> &'static str {
        "step"
    }
    fn schema(&self) -> ToolSchema {
        ToolSchema { name: "step".into(), description: "test".into(), parameters: json!({"type": "object"}) }
    }
    fn mutates(&self) -> bool {
        true
    }
    fn call<'a>(&'a self, _: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let n = args["n"].as_u64().unwrap_or(0);
            self.0.lock().unwrap().push(format!("start {n}"));
            // Later calls are quicker: run concurrently, they would finish first.
            tokio::time::sleep(Duration::from_millis(60 - 20 * n)).await;
            self.0.lock().unwrap().push(format!("end {n}"));
            Ok(ToolOutput::text(format!("step {n}")))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_calls_overlap_and_mutating_calls_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start(vec![
        Step::call("rendezvous", json!({})).and_call("rendezvous", json!({})),
        Step::call("step", json!({"n": 0})).and_call("step", json!({"n": 1})).and_call("step", json!({"n": 2})),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let config = common::config(dir.path(), &server.base_url(), &["sandbox=false"]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tools = Registry::with_tools(vec![Box::new(Rendezvous(barrier)), Box::new(Sequenced(log.clone()))]);
    let mut h = tern_core::start_with_tools(config, Resume::New, tools, &tern_core::HttpConnector).await.unwrap();
    h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
    until_completed(&mut h).await;
    let results = tool_results(&server, 1);
    assert_eq!(results, ["met", "met"]);
    assert_eq!(*log.lock().unwrap(), ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_call_three_times_in_a_row_ends_the_turn() {
    let dir = tempfile::tempdir().unwrap();
    let same = || Step::call("step", json!({"n": 2}));
    // A fourth response exists so that only the guard can end the turn.
    let server = MockServer::start(vec![same(), same(), same(), Step::text("unreachable")]).await.unwrap();
    let config = common::config(dir.path(), &server.base_url(), &["sandbox=false"]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let tools = Registry::with_tools(vec![Box::new(Sequenced(log.clone()))]);
    let mut h = tern_core::start_with_tools(config, Resume::New, tools, &tern_core::HttpConnector).await.unwrap();
    h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(20), h.events.recv()).await.unwrap().unwrap() {
            Event::TurnCompleted(_) => panic!("the loop was not stopped"),
            Event::TurnFailed { error, .. } => break error,
            _ => {}
        }
    };
    assert!(error.contains("same tool call (step) 3 times"), "{error}");
    // The first two ran; the third was refused before it ran.
    assert_eq!(log.lock().unwrap().len(), 4);
    assert_eq!(server.requests().len(), 3);
}

/// Parallel safety is decided per call: three commands known to only read
/// (`cat` of a FIFO) in one response run at the same time. Each `cat` blocks
/// until the test writes its FIFO, which it does only once all three are
/// open for reading, so run one at a time they would never finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_of_one_response_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let fifos: Vec<std::path::PathBuf> = (1..=3).map(|i| work.join(format!("p{i}"))).collect();
    for f in &fifos {
        nix::unistd::mkfifo(f, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    let call = |i: usize| json!({"cmd": format!("cat p{i}"), "timeout_ms": 15000});
    let server = MockServer::start(vec![
        Step::call("exec_command", call(1)).and_call("exec_command", call(2)).and_call("exec_command", call(3)),
        Step::text("done"),
    ])
    .await
    .unwrap();
    let config = common::config(dir.path(), &server.base_url(), &["sandbox=false"]);
    let mut h = tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap();
    h.ops.send(Op::UserTurn { text: "go".into() }).await.unwrap();
    // Open every FIFO for writing without blocking: that only succeeds once
    // a reader has it open, so all three succeeding means all three overlap.
    let writer = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::OpenOptionsExt;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut open: Vec<Option<std::fs::File>> = vec![None, None, None];
        while open.iter().any(Option::is_none) {
            assert!(std::time::Instant::now() < deadline, "not every cat was running at once: {open:?}");
            for (slot, path) in open.iter_mut().zip(&fifos) {
                if slot.is_none() {
                    *slot = std::fs::OpenOptions::new().write(true).custom_flags(libc_nonblock()).open(path).ok();
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for (i, f) in open.into_iter().enumerate() {
            use std::io::Write;
            f.unwrap().write_all(format!("fifo {}\n", i + 1).as_bytes()).unwrap();
        }
    });
    until_completed(&mut h).await;
    writer.await.unwrap();
    let results = tool_results(&server, 1);
    for (i, r) in results.iter().enumerate() {
        assert!(r.contains(&format!("fifo {}", i + 1)) && r.starts_with("Exit code: 0"), "{r}");
    }
}

fn libc_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

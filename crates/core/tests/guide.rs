//! The small-model profile's help, against the mock model: the map of the
//! workspace before the first request, the closest paths in a miss, and
//! the corrective notes when the model stops short (each kind once, two at
//! most in a turn).
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use std::path::Path;
use tern_core::{Resume, SessionHandle};
use tern_protocol::{Event, Op};
use tern_testkit::{MockServer, Step};

const SMALL: &[&str] = &["sandbox=false", "model=\"small-test\"", "models.small-test.tools=\"small\""];

async fn start(dir: &Path, server: &MockServer, overrides: &[&str]) -> SessionHandle {
    let config = common::config(dir, &server.base_url(), overrides);
    tern_core::start(config, Resume::New, &tern_core::HttpConnector).await.unwrap()
}

async fn turn(h: &mut SessionHandle, text: &str) -> Option<String> {
    h.ops.send(Op::UserTurn { text: text.into() }).await.unwrap();
    match common::until(h, |e| matches!(e, Event::TurnCompleted(_) | Event::TurnFailed { .. })).await {
        Event::TurnCompleted(t) => Some(t.last_message),
        _ => None,
    }
}

/// The user-role messages a request carried, in order.
fn user_messages(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The last message a request carried (a tool result, or a note), as JSON.
fn last_message(request: &Value) -> String {
    request["messages"].as_array().unwrap().last().unwrap()["content"].to_string()
}

fn repo(work: &Path) {
    std::fs::create_dir_all(work.join("shipit")).unwrap();
    std::fs::write(work.join("shipit/config.py"), "MAX_RETRIES = 4\n").unwrap();
    std::fs::write(work.join("README.md"), "# shipit\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_model_gets_a_map_the_closest_paths_and_one_nudge() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "src/main/config.py"})),
        Step::text("The file does not exist."),
        // Sent back once: the next answer after a failure ends the turn.
        Step::call("read_file", json!({"path": "src/config.py"})),
        Step::text("I could not find it."),
        // A second turn: no map again; a tutorial is sent back once.
        Step::call("read_file", json!({"path": "shipit/config.py"})),
        Step::text("You can use the grep_files function to find MAX_RETRIES."),
        Step::text("MAX_RETRIES is 4 (shipit/config.py:1)."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, SMALL).await;
    let Event::SessionConfigured(info) = common::until(&mut h, |e| matches!(e, Event::SessionConfigured(_))).await
    else {
        unreachable!()
    };
    assert_eq!(turn(&mut h, "Where is the retry limit set?").await.unwrap(), "I could not find it.");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let first = user_messages(&requests[0]);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[0].starts_with("[tern] The files in this workspace"), "{}", first[0]);
    assert!(
        first[0].contains("\nREADME.md\nshipit/config.py\n\n[tern] The files that look most relevant"),
        "{}",
        first[0]
    );
    // The file the request is about, as read_file would show it.
    assert!(first[0].ends_with("\n\nshipit/config.py:\nL1: MAX_RETRIES = 4\n[end of file: 1 line]"), "{}", first[0]);
    assert_eq!(first[1], "Where is the retry limit set?");
    // The miss names the file that exists.
    let tool = requests[1]["messages"].as_array().unwrap().iter().rfind(|m| m["role"] == "tool").unwrap();
    let miss = tool["content"].as_str().unwrap();
    assert!(miss.contains("src/main/config.py does not exist"), "{miss}");
    assert!(miss.contains("closest names: shipit/config.py"), "{miss}");
    let nudged = user_messages(&requests[2]);
    assert!(nudged.last().unwrap().starts_with("[tern] That call found nothing"), "{nudged:?}");
    assert_eq!(user_messages(&requests[3]).iter().filter(|m| m.starts_with("[tern] That call found")).count(), 1);

    assert_eq!(turn(&mut h, "And its value?").await.unwrap(), "MAX_RETRIES is 4 (shipit/config.py:1).");
    let requests = server.requests();
    assert_eq!(requests.len(), 7);
    let users = user_messages(&requests[6]);
    assert_eq!(users.iter().filter(|m| m.starts_with("[tern] The files")).count(), 1, "one map: {users:?}");
    assert!(users.last().unwrap().starts_with("[tern] Do not tell the user what to do"), "{users:?}");
    common::shut_down(h).await;

    // The transcript shows only the user's words as theirs; resumed, the
    // map and the notes are part of the conversation.
    let shown: Vec<String> = tern_core::replay(Path::new(&info.log_path))
        .unwrap()
        .into_iter()
        .filter_map(|e| if let Event::UserMessage { text, .. } = e { Some(text) } else { None })
        .collect();
    assert_eq!(shown, ["Where is the retry limit set?", "And its value?"]);
    let server2 = MockServer::start(vec![Step::text("ok")]).await.unwrap();
    let config = common::config(dir.path(), &server2.base_url(), SMALL);
    let mut h = tern_core::start(config, Resume::Last, &tern_core::HttpConnector).await.unwrap();
    assert_eq!(turn(&mut h, "thanks").await.unwrap(), "ok");
    let users = user_messages(&server2.requests()[0]);
    assert_eq!(users.iter().filter(|m| m.starts_with("[tern]")).count(), 3, "{users:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_profiles_get_no_map_and_no_nudge() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "src/config.py"})),
        Step::text("You can use grep_files to look for it."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &["sandbox=false"]).await;
    assert_eq!(turn(&mut h, "Where is the retry limit set?").await.unwrap(), "You can use grep_files to look for it.");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(user_messages(&requests[1]), ["Where is the retry limit set?"]);
    // The closest paths help every model.
    let tool = requests[1]["messages"].as_array().unwrap().iter().rfind(|m| m["role"] == "tool").unwrap();
    assert!(tool["content"].as_str().unwrap().contains("closest names: shipit/config.py"), "{tool}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_finds_nothing_counts_as_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let server = MockServer::start(vec![
        Step::call("grep_files", json!({"pattern": "retry_limit"})),
        Step::text(""),
        Step::call("read_file", json!({"path": "shipit/config.py"})),
        Step::text("MAX_RETRIES = 4, in shipit/config.py:1."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, SMALL).await;
    assert_eq!(turn(&mut h, "Where is the retry limit set?").await.unwrap(), "MAX_RETRIES = 4, in shipit/config.py:1.");
    let requests = server.requests();
    let tool = requests[1]["messages"].as_array().unwrap().iter().rfind(|m| m["role"] == "tool").unwrap();
    // The miss shows the lines holding the words of the pattern.
    assert!(tool["content"].as_str().unwrap().contains("shipit/config.py:1: MAX_RETRIES = 4"), "{tool}");
    assert!(user_messages(&requests[2]).last().unwrap().starts_with("[tern] That call found nothing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_model_is_asked_for_its_answer_with_tools_off() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "shipit/config.py"})),
        Step::text(""),
        Step::text("MAX_RETRIES = 4 (shipit/config.py:1)."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, SMALL).await;
    assert_eq!(turn(&mut h, "Where is the retry limit set?").await.unwrap(), "MAX_RETRIES = 4 (shipit/config.py:1).");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(user_messages(&requests[2]).last().unwrap().starts_with("[tern] You have not answered."));
    assert_eq!(requests[2]["tool_choice"], "none");
    assert!(requests[1].get("tool_choice").is_none_or(|c| c != "none"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_edit_is_sent_back_with_the_files_lines() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "shipit/config.py"})),
        Step::call("edit_file", json!({"path": "shipit/config.py", "old_string": "retries = 4", "new_string": "x"})),
        Step::text("To change it, you need to edit shipit/config.py by hand."),
        Step::call(
            "edit_file",
            json!({"path": "shipit/config.py", "old_string": "MAX_RETRIES = 4", "new_string": "MAX_RETRIES = 6"}),
        ),
        Step::text("MAX_RETRIES is now 6 (shipit/config.py:1)."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    assert_eq!(turn(&mut h, "Set the retry limit to 6.").await.unwrap(), "MAX_RETRIES is now 6 (shipit/config.py:1).");
    let requests = server.requests();
    let tool = requests[2]["messages"].as_array().unwrap().iter().rfind(|m| m["role"] == "tool").unwrap();
    assert!(tool["content"].as_str().unwrap().contains("L1: MAX_RETRIES = 4"), "{tool}");
    assert!(user_messages(&requests[3]).last().unwrap().starts_with("[tern] That edit was not made"));
    assert_eq!(std::fs::read_to_string(work.join("shipit/config.py")).unwrap(), "MAX_RETRIES = 6\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_shown_with_the_map_counts_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    std::fs::write(work.join("notes.txt"), "unrelated\n").unwrap();
    let server = MockServer::start(vec![
        Step::call("write_file", json!({"path": "notes.txt", "content": "gone\n"})),
        Step::call("write_file", json!({"path": "shipit/config.py", "content": "MAX_RETRIES = 6\n"})),
        Step::text("MAX_RETRIES is now 6 (shipit/config.py:1)."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    assert_eq!(turn(&mut h, "Set the retry limit to 6.").await.unwrap(), "MAX_RETRIES is now 6 (shipit/config.py:1).");
    assert_eq!(std::fs::read_to_string(work.join("shipit/config.py")).unwrap(), "MAX_RETRIES = 6\n");
    // A file the model was not shown still has to be read first.
    assert_eq!(std::fs::read_to_string(work.join("notes.txt")).unwrap(), "unrelated\n");
    let requests = server.requests();
    let tool = requests[1]["messages"].as_array().unwrap().iter().rfind(|m| m["role"] == "tool").unwrap();
    assert!(tool["content"].as_str().unwrap().contains("you have not read it"), "{tool}");
}

/// Records, for each request, the tools marked as those a turn opens with.
struct Marks {
    inner: Box<dyn tern_llm::ModelClient>,
    seen: std::sync::Arc<parking_lot::Mutex<Vec<Vec<String>>>>,
}

impl tern_llm::ModelClient for Marks {
    fn stream<'a>(
        &'a self,
        request: tern_llm::Request<'a>,
        sink: &'a tokio::sync::mpsc::Sender<tern_llm::StreamDelta>,
        cancel: &'a tokio_util::sync::CancellationToken,
    ) -> futures_util::future::BoxFuture<'a, Result<tern_llm::Response, tern_llm::LlmError>> {
        self.seen.lock().push(request.tools.iter().filter(|t| t.opens).map(|t| t.name.clone()).collect());
        self.inner.stream(request, sink, cancel)
    }
}

struct MarksConnector(std::sync::Arc<parking_lot::Mutex<Vec<Vec<String>>>>);

impl tern_core::Connector for MarksConnector {
    fn connect<'a>(
        &'a self,
        config: &'a tern_config::Config,
    ) -> futures_util::future::BoxFuture<'a, Result<Box<dyn tern_llm::ModelClient>, tern_llm::LlmError>> {
        Box::pin(async move {
            let inner = tern_core::HttpConnector.connect(config).await?;
            Ok(Box::new(Marks { inner, seen: self.0.clone() }) as Box<dyn tern_llm::ModelClient>)
        })
    }
}

/// The tools that look (read, search, run) are marked as those a turn
/// opens with; after a corrective note nothing is (the note may ask for a
/// read or an edit, which the model must then be free to make).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_opens_with_the_tools_that_look_but_a_corrected_one_with_any() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "shipit/config.py"})),
        Step::text("You can use grep_files to find it."),
        Step::text("MAX_RETRIES, in shipit/config.py:1."),
    ])
    .await
    .unwrap();
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let config = common::config(dir.path(), &server.base_url(), SMALL);
    let mut h = tern_core::start(config, Resume::New, &MarksConnector(seen.clone())).await.unwrap();
    assert_eq!(turn(&mut h, "Where is the retry limit set?").await.unwrap(), "MAX_RETRIES, in shipit/config.py:1.");
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for name in ["read_file", "grep_files", "exec_command"] {
        assert!(seen[0].iter().any(|n| n == name), "{name} opens a turn: {seen:?}");
    }
    for name in ["edit_file", "write_file"] {
        assert!(!seen[0].iter().any(|n| n == name), "{name} does not: {seen:?}");
    }
    assert!(seen[2].is_empty(), "after the note, any tool: {seen:?}");
    common::shut_down(h).await;
}

/// A request for a change that the model answers without making it (it
/// shows the code instead) is sent back once with only the tools that
/// edit; a failed edit then still gets its own note, with any tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_not_made_is_asked_for_with_the_tools_that_edit() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "shipit/config.py"})),
        Step::text("Change the line to:\n```python\nMAX_RETRIES = 5\n```"),
        Step::call(
            "edit_file",
            json!({"path": "shipit/config.py", "old_string": "RETRIES = 4\n\n", "new_string": "x"}),
        ),
        Step::text("It could not be changed."),
        Step::call(
            "edit_file",
            json!({"path": "shipit/config.py", "old_string": "MAX_RETRIES = 4", "new_string": "MAX_RETRIES = 5"}),
        ),
        Step::text("MAX_RETRIES is now 5 (shipit/config.py:1)."),
    ])
    .await
    .unwrap();
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let config = common::config(dir.path(), &server.base_url(), &[SMALL, &["approval_policy=\"full-auto\""]].concat());
    let mut h = tern_core::start(config, Resume::New, &MarksConnector(seen.clone())).await.unwrap();
    assert_eq!(turn(&mut h, "Set the retry limit to 5.").await.unwrap(), "MAX_RETRIES is now 5 (shipit/config.py:1).");
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    assert!(user_messages(&requests[2]).last().unwrap().starts_with("[tern] The request asks for a change"));
    assert!(user_messages(&requests[4]).last().unwrap().starts_with("[tern] That edit was not made"));
    let seen = seen.lock().clone();
    assert_eq!(seen[2], ["edit_file", "write_file"], "after the change note, an edit: {seen:?}");
    assert!(seen[4].is_empty(), "after the failed edit's note, any tool: {seen:?}");
    assert_eq!(std::fs::read_to_string(work.join("shipit/config.py")).unwrap(), "MAX_RETRIES = 5\n");
    common::shut_down(h).await;
}

/// A change made by a command counts: the answer after it ends the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_by_a_command_needs_no_note() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    // Modified after the turn begins, not created.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "sed -i 's/4/5/' shipit/config.py"})),
        Step::text("MAX_RETRIES is now 5."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    assert_eq!(turn(&mut h, "Set the retry limit to 5.").await.unwrap(), "MAX_RETRIES is now 5.");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(std::fs::read_to_string(work.join("shipit/config.py")).unwrap(), "MAX_RETRIES = 5\n");
}

/// Asked to fix a failing test, a small model's edit of the test is
/// refused; the code's edit goes through, and so does a test's edit made
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_edits_the_code_not_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    std::fs::create_dir_all(work.join("tests")).unwrap();
    let test = "from shipit.config import MAX_RETRIES\nassert MAX_RETRIES == 5\n";
    std::fs::write(work.join("tests/test_config.py"), test).unwrap();
    let to_test = |old: &str, new: &str| {
        Step::call("edit_file", json!({"path": "tests/test_config.py", "old_string": old, "new_string": new}))
    };
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "tests/test_config.py"})),
        to_test("assert MAX_RETRIES == 5", "assert MAX_RETRIES == 4"),
        Step::call(
            "edit_file",
            json!({"path": "shipit/config.py", "old_string": "MAX_RETRIES = 4", "new_string": "MAX_RETRIES = 5"}),
        ),
        Step::text("Fixed: MAX_RETRIES is 5 (shipit/config.py:1)."),
        // Another turn about a failure: refused, and another edit of the
        // test too; the same one made again goes through.
        to_test("== 5", "== 6"),
        to_test("MAX_RETRIES == 5", "MAX_RETRIES == 6"),
        to_test("== 5", "== 6"),
        Step::text("The test was wrong; it now expects 6."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    let answer = turn(&mut h, "test_config fails, fix it.").await.unwrap();
    assert_eq!(answer, "Fixed: MAX_RETRIES is 5 (shipit/config.py:1).");
    let requests = server.requests();
    let refused = last_message(&requests[2]);
    assert!(refused.contains("not edited: tests/test_config.py is a test"), "{refused}");
    // With the definition of what the edited line uses.
    assert!(refused.contains("The code it tests is in shipit/config.py:\\nL1: MAX_RETRIES = 4"), "{refused}");
    assert_eq!(std::fs::read_to_string(work.join("tests/test_config.py")).unwrap(), test);
    assert_eq!(std::fs::read_to_string(work.join("shipit/config.py")).unwrap(), "MAX_RETRIES = 5\n");

    let answer = turn(&mut h, "No, the test is wrong: it should expect 6. Fix the test.").await.unwrap();
    assert_eq!(answer, "The test was wrong; it now expects 6.");
    let requests = server.requests();
    for n in [5, 6] {
        let refused = last_message(&requests[n]);
        assert!(refused.contains("not edited"), "{refused}");
    }
    // A line using nothing the code defines: the file is named.
    assert!(last_message(&requests[5]).contains("most likely in shipit/config.py"));
    assert!(std::fs::read_to_string(work.join("tests/test_config.py")).unwrap().contains("== 6"));
    common::shut_down(h).await;
}

/// A test run whose runner prints dots gets its counts in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_run_is_counted_for_the_model() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let server = MockServer::start(vec![
        Step::call(
            "exec_command",
            json!({"cmd": "printf '.F.\\nRan 3 tests in 0.001s\\n\\nFAILED (failures=1)\\n' >&2"}),
        ),
        Step::text("2 of 3 pass."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    assert_eq!(turn(&mut h, "Run the tests and tell me how many pass.").await.unwrap(), "2 of 3 pass.");
    let result = last_message(&server.requests()[1]);
    assert!(result.contains("[tern] tests: 3 ran, 2 passed, 1 failed"), "{result}");
    common::shut_down(h).await;
}

/// Asked to fix a failure, a failed test run gets the definition of what
/// its failing line calls, read from the test file the output points at;
/// asked only how the tests went, it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_shows_the_code_its_failing_line_calls_in_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    std::fs::write(work.join("shipit/rates.py"), "def is_heavy(w):\n    return w < 20\n").unwrap();
    std::fs::create_dir_all(work.join("tests")).unwrap();
    let test = "from shipit.rates import is_heavy\n\ndef test_limit():\n    assert is_heavy(20)\n";
    std::fs::write(work.join("tests/test_rates.py"), test).unwrap();
    let run = || {
        Step::call(
            "exec_command",
            json!({"cmd": "printf 'Traceback (most recent call last):\\n  File \"tests/test_rates.py\", line 4, in \
                           test_limit\\nAssertionError\\n' >&2; exit 1"}),
        )
    };
    let server = MockServer::start(vec![
        run(),
        Step::call("edit_file", json!({"path": "shipit/rates.py", "old_string": "w < 20", "new_string": "w >= 20"})),
        // Run again (or the model would be asked to).
        run(),
        Step::text("is_heavy used < where it needed >= (shipit/rates.py:2)."),
        run(),
        Step::text("test_limit fails."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    turn(&mut h, "test_limit fails, fix it.").await.unwrap();
    let requests = server.requests();
    let result = last_message(&requests[1]);
    assert!(result.contains("AssertionError"), "{result}");
    assert!(
        result.contains("[tern] The failing check calls is_heavy, defined in shipit/rates.py:\\nL1: def is_heavy(w):"),
        "{result}"
    );
    assert_eq!(turn(&mut h, "Run the tests: which one fails?").await.unwrap(), "test_limit fails.");
    let result = last_message(&server.requests()[5]);
    assert!(result.contains("AssertionError") && !result.contains("[tern] The failing check"), "{result}");
    common::shut_down(h).await;
}

/// Asked to fix a failure, a model that changed the code and answered
/// without running the failing command again is sent to run it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_is_checked_by_running_the_failing_command_again() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let check = || Step::call("exec_command", json!({"cmd": "grep -q 'MAX_RETRIES = 5' shipit/config.py"}));
    let server = MockServer::start(vec![
        check(),
        Step::call(
            "edit_file",
            json!({"path": "shipit/config.py", "old_string": "MAX_RETRIES = 4", "new_string": "MAX_RETRIES = 5"}),
        ),
        Step::text("Fixed."),
        check(),
        Step::text("Fixed: MAX_RETRIES is 5, and the check passes."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    let answer = turn(&mut h, "The retry check fails, fix it.").await.unwrap();
    assert_eq!(answer, "Fixed: MAX_RETRIES is 5, and the check passes.");
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    let note = last_message(&requests[3]);
    assert!(
        note.contains(
            "[tern] You changed the code, but the fix is not checked: run `grep -q 'MAX_RETRIES = 5' \
                       shipit/config.py` again now"
        ),
        "{note}"
    );
    common::shut_down(h).await;
}

/// A write_file that would replace most of a file with a fragment is
/// refused, made again too; an edit goes through, and a request to
/// rewrite the file lets the write through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_not_replaced_by_a_fragment_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let code: String = (1..=12).map(|i| format!("def f{i}():\n    return {i}\n")).collect();
    std::fs::write(work.join("shipit/codes.py"), &code).unwrap();
    let fragment =
        || Step::call("write_file", json!({"path": "shipit/codes.py", "content": "def f1():\n    return 0\n"}));
    let server = MockServer::start(vec![
        fragment(),
        fragment(),
        Step::call(
            "edit_file",
            json!({"path": "shipit/codes.py", "old_string": "return 1\n", "new_string": "return 0\n"}),
        ),
        Step::text("f1 returns 0 now."),
        fragment(),
        Step::text("codes.py now holds f1 alone."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    assert_eq!(turn(&mut h, "Fix f1: it must return 0.").await.unwrap(), "f1 returns 0 now.");
    let requests = server.requests();
    for n in [1, 2] {
        let refused = last_message(&requests[n]);
        assert!(
            refused.contains("not written: this would replace shipit/codes.py, whose 24 lines of code it drops 23"),
            "{refused}"
        );
    }
    let fixed = std::fs::read_to_string(work.join("shipit/codes.py")).unwrap();
    assert_eq!(fixed, code.replacen("return 1\n", "return 0\n", 1));
    let answer = turn(&mut h, "Rewrite codes.py so that it holds f1 alone.").await.unwrap();
    assert_eq!(answer, "codes.py now holds f1 alone.");
    assert_eq!(std::fs::read_to_string(work.join("shipit/codes.py")).unwrap(), "def f1():\n    return 0\n");
    common::shut_down(h).await;
}

/// A build's output gets the program it made named as not run yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_names_the_program_it_made() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    // What make prints as it builds (a small profile refuses a bare printf).
    std::fs::write(dir.path().join("work/build.log"), "gcc -Wall -O2 -o demo main.c ring.c\n").unwrap();
    let server = MockServer::start(vec![
        Step::call("exec_command", json!({"cmd": "cat build.log"})),
        Step::text("It prints nothing."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    turn(&mut h, "Build the demo and tell me what it prints.").await.unwrap();
    let result = last_message(&server.requests()[1]);
    assert!(
        result.contains("[tern] This built ./demo without running it: to see what it prints, run ./demo."),
        "{result}"
    );
    common::shut_down(h).await;
}

/// In a git repository the map ends with the last commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_commits_close_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(&work)
            .output()
            .expect("git is installed (scripts/test installs it)");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "Initial version"]);
    std::fs::write(work.join("README.md"), "# shipit, retrying\n").unwrap();
    git(&["commit", "-qam", "Retry on network errors"]);
    let server = MockServer::start(vec![Step::text("Retry on network errors.")]).await.unwrap();
    let mut h = start(dir.path(), &server, SMALL).await;
    turn(&mut h, "What was the last commit message?").await.unwrap();
    let first = user_messages(&server.requests()[0]);
    let tail = first[0].rsplit_once("\n\n").unwrap().1;
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines[0], "[tern] The last commits, newest first (git log):", "{}", first[0]);
    assert_eq!(lines.len(), 3, "{tail}");
    assert!(lines[1].ends_with(" Retry on network errors") && lines[2].ends_with(" Initial version"), "{tail}");
    common::shut_down(h).await;
}

/// An edit that would write the lines after its old_string twice is
/// refused with those lines (the request does not only add); a mended one
/// goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_writing_lines_twice_is_refused_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let store = "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n}\n";
    std::fs::write(work.join("store.js"), store).unwrap();
    let whole = "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n  count() {\n    \
                 return this.notes.size;\n  }\n";
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "store.js"})),
        Step::call(
            "edit_file",
            json!({"path": "store.js", "old_string": "export class NoteStore {", "new_string": whole}),
        ),
        Step::call(
            "edit_file",
            json!({"path": "store.js", "old_string": "    this.notes = new Map();\n  }\n",
                   "new_string": "    this.notes = new Map();\n  }\n  count() {\n    return this.notes.size;\n  }\n"}),
        ),
        Step::text("Added count() to NoteStore (store.js)."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    let answer = turn(&mut h, "Update NoteStore: it needs a count() method.").await.unwrap();
    assert_eq!(answer, "Added count() to NoteStore (store.js).");
    let refused = last_message(&server.requests()[2]);
    assert!(refused.contains("not edited: new_string writes again lines 2-3 of store.js"), "{refused}");
    assert!(refused.contains("L2:   constructor() {\\nL3:     this.notes = new Map();"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(work.join("store.js")).unwrap(),
        "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n  count() {\n    \
         return this.notes.size;\n  }\n}\n"
    );
    common::shut_down(h).await;
}

/// Asked only to add, an edit that writes out the whole class again with
/// the new method at its end adds just the method, keeping the file's
/// lines as they were, and its result says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_writing_a_class_again_adds_only_its_new_lines_when_the_request_adds() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let store = "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n\n  get(id) {\n    \
                 return this.notes.get(id);\n  }\n}\n";
    std::fs::write(work.join("store.js"), store).unwrap();
    let whole = "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n  get(id) {\n    \
                 return this.notes.get(id);\n  }\n  count() {\n    return this.notes.size;\n  }\n";
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "store.js"})),
        Step::call(
            "edit_file",
            json!({"path": "store.js", "old_string": "export class NoteStore {", "new_string": whole}),
        ),
        Step::text("Added count() to NoteStore (store.js)."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    let answer = turn(&mut h, "Add a count() method to NoteStore.").await.unwrap();
    assert_eq!(answer, "Added count() to NoteStore (store.js).");
    let result = last_message(&server.requests()[2]);
    assert!(result.contains("Edited store.js"), "{result}");
    assert!(
        result.contains("wrote again lines 2-8 of store.js") && result.contains("its 3 lines were added after line 8")
    );
    assert_eq!(
        std::fs::read_to_string(work.join("store.js")).unwrap(),
        "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n\n  get(id) {\n    \
         return this.notes.get(id);\n  }\n  count() {\n    return this.notes.size;\n  }\n}\n"
    );
    common::shut_down(h).await;
}

/// A call made a third time in a row is not run: the model is asked for
/// its answer with tools off (once a turn; a fourth stops the turn as for
/// any model).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_repeated_three_times_is_answered_with_a_request_for_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    repo(&dir.path().join("work"));
    let read = || Step::call("read_file", json!({"path": "shipit/config.py"}));
    let server = MockServer::start(vec![read(), read(), read(), Step::text("MAX_RETRIES is 4 (shipit/config.py:1).")])
        .await
        .unwrap();
    let mut h = start(dir.path(), &server, SMALL).await;
    assert_eq!(turn(&mut h, "Where is the retry limit set?").await.unwrap(), "MAX_RETRIES is 4 (shipit/config.py:1).");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let last = last_message(&requests[3]);
    assert!(last.contains("[tern] Not run: this is the third time in a row"), "{last}");
    assert_eq!(requests[3]["tool_choice"], "none");
    common::shut_down(h).await;
}

/// Asked only to add, an edit that takes a line away is refused with it;
/// the edit keeping the line goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_taking_lines_away_is_refused_when_the_request_adds() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    std::fs::write(work.join("ring.h"), "void ring_free(ring *r);\n").unwrap();
    let edit = |new: &str| {
        Step::call("edit_file", json!({"path": "ring.h", "old_string": "void ring_free(ring *r);", "new_string": new}))
    };
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "ring.h"})),
        edit("void ring_clear(ring *r);"),
        edit("void ring_free(ring *r);\nvoid ring_clear(ring *r);"),
        Step::text("Declared ring_clear in ring.h."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    let answer = turn(&mut h, "Add a ring_clear function, and declare it in the header.").await.unwrap();
    assert_eq!(answer, "Declared ring_clear in ring.h.");
    let refused = last_message(&server.requests()[2]);
    assert!(
        refused.contains(
            "not edited: the request asks to add, and this edit of ring.h takes away:\\nvoid ring_free(ring *r);"
        ),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("ring.h")).unwrap(),
        "void ring_free(ring *r);\nvoid ring_clear(ring *r);\n"
    );
    common::shut_down(h).await;
}

/// In a turn about a failure, an edit of the README is refused with the
/// advice to run the failing command the request names (which the map
/// names too); asked about the README, it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_does_not_edit_the_readme_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    repo(&work);
    let readme =
        |new: &str| Step::call("edit_file", json!({"path": "README.md", "old_string": "# shipit", "new_string": new}));
    let server = MockServer::start(vec![
        readme("# shipit\n\nRun make test."),
        Step::call(
            "edit_file",
            json!({"path": "shipit/config.py", "old_string": "MAX_RETRIES = 4", "new_string": "MAX_RETRIES = 5"}),
        ),
        // Checked (or the model would be asked to run `make test` again).
        Step::call("exec_command", json!({"cmd": "true"})),
        Step::text("It passes now."),
        readme("# Shipit"),
        Step::text("Fixed the README's title."),
    ])
    .await
    .unwrap();
    let mut h = start(dir.path(), &server, &[SMALL, &["approval_policy=\"full-auto\""]].concat()).await;
    turn(&mut h, "make test fails. Fix the bug in the code, not the test.").await.unwrap();
    let requests = server.requests();
    // The map says which command shows the failure.
    let map = user_messages(&requests[0]).join("\n");
    assert!(map.contains("[tern] To see what fails and where, run `make test` first (exec_command)."), "{map}");
    let refused = last_message(&requests[1]);
    assert!(refused.contains("not edited: README.md is documentation"), "{refused}");
    assert!(refused.contains("Run `make test` with exec_command first"), "{refused}");
    assert_eq!(std::fs::read_to_string(work.join("README.md")).unwrap(), "# shipit\n");
    let answer = turn(&mut h, "The README's title is wrong, fix it to Shipit.").await.unwrap();
    assert_eq!(answer, "Fixed the README's title.");
    assert_eq!(std::fs::read_to_string(work.join("README.md")).unwrap(), "# Shipit\n");
    common::shut_down(h).await;
}

//! Target `session_log`: the session-log readers (resume's loader,
//! [`tern_core::load_session_log`]; the replay fronts show, whole and from
//! the end; `tern sessions list`; `/fork`'s turns), on a log written to a
//! temporary data directory.
//!
//! The input is the log's bytes. Each reader ends with a result or an
//! error, never a panic; the replay read from the end, asked for more
//! records than the log has, is the whole replay; and a loaded
//! conversation is one a model accepts: every tool result answers a call
//! of the assistant message just before it, and every call gets one
//! result (calls that share an id, one each).

use tern_core::{list_sessions, load_session_log, replay, replay_newest, sessions_dir, turn_prompts};
use tern_llm::Message;

#[allow(clippy::disallowed_methods)] // the fuzz harness writes its file on purpose
pub fn run(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temporary directory: {e}"));
    let sessions = sessions_dir(dir.path());
    std::fs::create_dir_all(&sessions).unwrap_or_else(|e| panic!("cannot create {}: {e}", sessions.display()));
    let path = sessions.join("fuzz.jsonl");
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let _ = turn_prompts(&path);
    let _ = replay_newest(&path, usize::from(data.first().copied().unwrap_or(0) % 8));
    if let (Ok(whole), Ok(tail)) = (replay(&path), replay_newest(&path, 1 << 20)) {
        assert!(!tail.earlier, "the whole log was read");
        assert_eq!(tail.events, whole, "the replay from the end differs from the whole replay");
    }
    let listed = list_sessions(dir.path());
    let Ok(loaded) = load_session_log(&path) else {
        assert!(listed.is_empty(), "listed, but it does not load: {listed:?}");
        return;
    };
    let mut open: Vec<&str> = Vec::new();
    for m in &loaded.messages {
        match m {
            Message::Tool { call_id, .. } => {
                let Some(i) = open.iter().position(|id| id == call_id) else {
                    panic!("a result for {call_id}, which is not an open call: {:?}", loaded.messages);
                };
                open.remove(i);
            }
            _ => assert!(open.is_empty(), "calls {open:?} have no result: {:?}", loaded.messages),
        }
        if let Message::Assistant { tool_calls, .. } = m {
            open.extend(tool_calls.iter().map(|c| c.id.as_str()));
        }
    }
    assert!(open.is_empty(), "calls {open:?} have no result at the end: {:?}", loaded.messages);
}

//! The session log: one append-only JSONL file per session under
//! `$TERN_HOME/sessions/`.
//!
//! Records are written by a dedicated thread fed through a bounded
//! channel, so the runtime never waits on the disk except through
//! backpressure; the file is fsynced at each turn end. The loader accepts
//! a truncated last line (a crash mid-write) and tool calls that never got
//! a result (a crash mid-tool).

use crate::{CoreError, Resume};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use tern_llm::Message;
use tern_protocol::{CommandOutcome, FileChange, PlanItem, ToolKind, Usage};
use tokio::sync::{mpsc, oneshot};

/// One line of the log. `Message` records are the conversation the model
/// sees (what resume restores); the others are what the fronts showed, so
/// that replaying a log ([`crate::replay`]) shows it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    SessionMeta(Meta),
    TurnStarted {
        turn_id: String,
        at: String,
    },
    Message {
        message: Message,
    },
    /// How a tool call ended, as fronts show it; the model's text is the
    /// call's `Message::Tool`.
    ToolEnd(ToolEnd),
    FilesChanged {
        changes: Vec<FileChange>,
    },
    Plan {
        explanation: Option<String>,
        plan: Vec<PlanItem>,
    },
    /// The user undid these files; `note` is what the model was told.
    Undo {
        restored: Vec<String>,
        note: Message,
    },
    /// What hooks told the model (SessionStart, UserPromptSubmit context):
    /// part of the conversation, but not the user's words.
    HookContext {
        message: Message,
    },
    /// What tern told the model on its own (the small-model profile's map
    /// of the workspace, a corrective note): not the user's words.
    Guide {
        message: Message,
    },
    /// The conversation was compacted: from here on the model sees
    /// `history` (after the system prompt, which is rebuilt on resume).
    Compacted {
        at: String,
        compaction: tern_protocol::Compaction,
        history: Vec<Message>,
    },
    TurnEnded {
        turn_id: String,
        at: String,
        status: TurnStatus,
        usage: Usage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    Completed,
    Interrupted,
    Failed,
}

/// The end of a tool call, without the model's text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolEnd {
    pub call_id: String,
    pub kind: ToolKind,
    pub success: bool,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandOutcome>,
    /// For MCP tools: the server and the tool's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<tern_protocol::McpCall>,
}

/// Why a call has no result: tern stopped while it ran.
pub(crate) const INTERRUPTED: &str =
    "this call was interrupted (tern stopped) before it returned; it may or may not have taken effect";

impl ToolEnd {
    /// The end recorded for a call tern stopped in the middle of.
    pub(crate) fn interrupted(call_id: &str) -> Self {
        ToolEnd {
            call_id: call_id.into(),
            kind: ToolKind::Other,
            success: false,
            duration_ms: 0,
            error: Some(INTERRUPTED.into()),
            command: None,
            mcp: None,
        }
    }
}

/// The first record of every log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    pub created_at: String,
    pub cwd: String,
    pub model: String,
    pub provider: String,
    pub tern_version: String,
    /// The session this one was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

enum Cmd {
    /// A record, and whether it waits for the next one not held (see
    /// [`SessionLog::create`]).
    Line {
        bytes: Vec<u8>,
        hold: bool,
    },
    Sync(oneshot::Sender<Result<(), String>>),
}

/// The writing side of a session log, and the owner of its writer thread:
/// [`SessionLog::close`] ends and joins it; dropping it ends it once the
/// queue is written.
pub(crate) struct SessionLog {
    path: PathBuf,
    /// A new session's records wait for its first message (see
    /// [`SessionLog::create`]).
    holding: std::sync::atomic::AtomicBool,
    tx: mpsc::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long closing waits for the writer to finish its queue.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long a sync waits for the disk.
const SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl SessionLog {
    /// Opens (creating or appending to) the log at `path` on its own thread.
    pub(crate) fn open(path: PathBuf) -> Result<Self, std::io::Error> {
        Self::start(path, false)
    }

    /// A new session's log: its records are written only with its first
    /// message, in one write, so a session killed before it asked anything
    /// leaves no log (one that could be resumed without the request it was
    /// started with), and one closed unused leaves nothing to list.
    pub(crate) fn create(path: PathBuf) -> Result<Self, std::io::Error> {
        Self::start(path, true)
    }

    fn start(path: PathBuf, holding: bool) -> Result<Self, std::io::Error> {
        let (tx, rx) = mpsc::channel(256);
        let p = path.clone();
        let thread = std::thread::Builder::new().name("tern-session-log".into()).spawn(move || writer(p, rx))?;
        Ok(SessionLog { path, holding: holding.into(), tx, thread: Some(thread) })
    }

    /// Ends the writer thread after what is queued (the queue is closed by
    /// replacing the sender) and waits for it, a bounded time.
    pub(crate) async fn close(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        let Some(thread) = self.thread.take() else { return };
        match tokio::time::timeout(CLOSE_TIMEOUT, tokio::task::spawn_blocking(move || thread.join())).await {
            Ok(Ok(Ok(()))) => {}
            Ok(_) => tracing::error!(path = %self.path.display(), "the session log's writer panicked"),
            Err(_) => {
                tracing::warn!(path = %self.path.display(), "the session log's writer did not finish within {CLOSE_TIMEOUT:?}")
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a record. Waits only when the writer is 256 records behind.
    pub(crate) async fn append(&self, record: &Record) {
        if let Ok(mut bytes) = serde_json::to_vec(record) {
            bytes.push(b'\n');
            let message = matches!(record, Record::Message { .. });
            let hold = if message {
                self.holding.store(false, std::sync::atomic::Ordering::Relaxed);
                false
            } else {
                self.holding.load(std::sync::atomic::Ordering::Relaxed)
            };
            let _ = self.tx.send(Cmd::Line { bytes, hold }).await;
        }
    }

    /// Waits until everything queued is written and fsynced.
    pub(crate) async fn sync(&self) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        let synced = async {
            self.tx.send(Cmd::Sync(ack)).await.map_err(|_| "the log writer has stopped".to_string())?;
            done.await.map_err(|_| "the log writer has stopped".to_string())?
        };
        match tokio::time::timeout(SYNC_TIMEOUT, synced).await {
            Ok(r) => r,
            Err(_) => Err(format!("the disk did not confirm the write within {} s", SYNC_TIMEOUT.as_secs())),
        }
    }
}

/// The writer thread. A write error is kept and reported at the next sync,
/// so the session goes on and the user hears about it once per turn.
fn writer(path: PathBuf, mut rx: mpsc::Receiver<Cmd>) {
    let mut error: Option<String> = None;
    // Opened with the first record, so that a log never exists without
    // one (a tern killed in between would leave an empty file that looks
    // like a session and cannot be resumed).
    let mut file: Option<std::fs::File> = None;
    let mut opened = false;
    // Records held for the next one not held; dropped if none comes.
    let mut held: Vec<u8> = Vec::new();
    // Written since the last fsync: a sync with nothing new costs nothing.
    let mut dirty = false;
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Cmd::Line { bytes, hold: true } => held.extend_from_slice(&bytes),
            Cmd::Line { mut bytes, hold: false } => {
                if !held.is_empty() {
                    held.append(&mut bytes);
                    bytes = std::mem::take(&mut held);
                }
                dirty = true;
                if !std::mem::replace(&mut opened, true) {
                    file = open_append(&path)
                        .map_err(|e| {
                            tracing::error!(path = %path.display(), "opening the session log: {e}");
                            error = Some(e.to_string());
                        })
                        .ok();
                }
                if let Some(f) = file.as_mut()
                    && let Err(e) = write_line(f, &bytes)
                {
                    if error.is_none() {
                        tracing::error!(path = %path.display(), "writing the session log: {e}");
                    }
                    error.get_or_insert(explain_io(&e));
                }
            }
            Cmd::Sync(ack) => {
                if let Some(f) = file.as_mut().filter(|_| std::mem::take(&mut dirty))
                    && let Err(e) = f.sync_data()
                {
                    if error.is_none() {
                        tracing::error!(path = %path.display(), "syncing the session log: {e}");
                    }
                    error.get_or_insert(explain_io(&e));
                }
                let _ = ack.send(match error.take() {
                    Some(e) => Err(format!("cannot write {}: {e}", path.display())),
                    None => Ok(()),
                });
            }
        }
    }
    if let Some(f) = file.as_mut().filter(|_| dirty)
        && let Err(e) = f.sync_data()
    {
        tracing::error!(path = %path.display(), "syncing the session log: {e}");
    }
}

/// Appends one record whole or not at all: a write cut short (the disk
/// filled up) is cut off again, so the log never holds half a record
/// followed by the next one.
fn write_line(f: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    let len = f.metadata()?.len();
    f.write_all(bytes).inspect_err(|_| {
        let _ = f.set_len(len);
    })
}

/// An I/O error as the user should read it: what it means, when tern knows.
fn explain_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            format!("{e}: the disk is full; free some space and the session log goes on from the next record")
        }
        _ => e.to_string(),
    }
}

#[allow(clippy::disallowed_methods)] // runs on the log writer thread
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path)?;
    drop_partial_line(&file)?;
    // Held while the session runs: pruning (`retention`) leaves it alone.
    if let Err(e) = file.lock_shared() {
        tracing::warn!(path = %path.display(), "cannot lock the session log: {e}");
    }
    Ok(file)
}

/// A crash mid-write leaves half a record at the end; cut it off so the
/// next record starts on its own line (the loader already ignored it).
fn drop_partial_line(file: &std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut f = file;
    let mut pos = len;
    let mut buf = [0u8; 4096];
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let n = (pos - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        pos = start;
    }
    file.set_len(0)
}

/// Why a session log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it has no session_meta record (is it a tern session log?)")]
    NoMeta,
}

/// A session read back from disk.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub meta: Meta,
    pub path: PathBuf,
    pub messages: Vec<Message>,
    /// What the user typed, every turn, oldest first (compaction quotes them).
    pub user_messages: Vec<String>,
    /// Problems the loader worked around, to be shown as warnings.
    pub repairs: Vec<String>,
    /// Results made up for tool calls cut off at the end of the log
    /// (already in `messages`); the session appends them to the log.
    pub tail_results: Vec<Message>,
}

/// Reads every record of a log, skipping (and reporting in `repairs`) lines
/// that do not parse; a truncated last line is a crash mid-write. Blocking.
#[allow(clippy::disallowed_methods)] // callers run it in spawn_blocking
pub(crate) fn read_records(path: &Path, repairs: &mut Vec<String>) -> Result<Vec<Record>, LogError> {
    let text = std::fs::read(path)?;
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let complete = text.ends_with(b"\n");
    let mut records = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let is_last = i + 1 == lines.len();
        match serde_json::from_slice(line) {
            Ok(r) => records.push(r),
            Err(_) if is_last && !complete => {
                repairs.push(format!("ignored a truncated last line in {}", path.display()));
            }
            Err(e) => repairs.push(format!("skipped unreadable line {} of {}: {e}", i + 1, path.display())),
        }
    }
    Ok(records)
}

/// Reads a session log. Blocking: call from `spawn_blocking`.
pub fn load(path: &Path) -> Result<Loaded, LogError> {
    let mut repairs = Vec::new();
    let mut meta = None;
    let mut messages = Vec::new();
    let mut user_messages = Vec::new();
    for record in read_records(path, &mut repairs)? {
        match record {
            Record::SessionMeta(m) => meta = meta.or(Some(m)),
            Record::Message { message } => {
                if let Message::User { content } = &message {
                    user_messages.push(content.clone());
                }
                messages.push(message);
            }
            Record::Undo { note: message, .. } | Record::HookContext { message } | Record::Guide { message } => {
                messages.push(message)
            }
            // What came before is summarized in it.
            Record::Compacted { history, .. } => messages = history,
            Record::TurnStarted { .. }
            | Record::TurnEnded { .. }
            | Record::ToolEnd(_)
            | Record::FilesChanged { .. }
            | Record::Plan { .. } => {}
        }
    }
    let meta = meta.ok_or(LogError::NoMeta)?;
    let tail_results = repair_tool_results(&mut messages, &mut repairs);
    Ok(Loaded { meta, path: path.to_path_buf(), messages, user_messages, repairs, tail_results })
}

/// Every tool call needs a result before the conversation can continue;
/// a call interrupted by a crash gets one that says so, and a result
/// for a call that was never made is dropped. Calls that share an id (a
/// server that numbers them badly) each take one result. Returns the
/// results made up for calls at the very end of the log, which the session
/// then records so the repair is done once.
fn repair_tool_results(messages: &mut Vec<Message>, repairs: &mut Vec<String>) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len());
    let mut pending: Vec<String> = Vec::new();
    let interrupted = |id: String| Message::Tool { call_id: id, content: format!("error: {INTERRUPTED}") };
    for m in messages.drain(..) {
        match &m {
            Message::Tool { call_id, .. } => {
                let Some(i) = pending.iter().position(|p| p == call_id) else {
                    repairs.push(format!("dropped a result for unknown tool call {call_id}"));
                    continue;
                };
                pending.remove(i);
            }
            _ => {
                for id in pending.drain(..) {
                    repairs.push(format!("tool call {id} had no recorded result"));
                    out.push(interrupted(id));
                }
            }
        }
        if let Message::Assistant { tool_calls, .. } = &m {
            pending.extend(tool_calls.iter().map(|c| c.id.clone()));
        }
        out.push(m);
    }
    let tail: Vec<Message> = pending
        .drain(..)
        .map(|id| {
            repairs.push(format!("tool call {id} had no recorded result"));
            interrupted(id)
        })
        .collect();
    out.extend(tail.iter().cloned());
    *messages = out;
    tail
}

/// The session `which` names: the newest one started in `workspace`
/// ([`Resume::Last`]) or the one whose id starts with the given prefix.
/// Blocking: call from `spawn_blocking`.
pub fn find_session(data_dir: &Path, workspace: &Path, which: &Resume) -> Result<SessionSummary, CoreError> {
    let sessions = list_sessions(data_dir);
    match which {
        Resume::Fork { id, .. } => find_session(data_dir, workspace, &Resume::Id(id.clone())),
        Resume::New | Resume::Last => {
            let cwd = workspace.display().to_string();
            sessions.into_iter().find(|s| s.cwd == cwd).ok_or(CoreError::NoSessions(cwd))
        }
        Resume::Id(id) => {
            let mut hits: Vec<_> = sessions.into_iter().filter(|s| s.id.starts_with(id.as_str())).collect();
            match hits.len() {
                0 => Err(CoreError::SessionNotFound(id.clone())),
                1 => Ok(hits.remove(0)),
                _ => Err(CoreError::AmbiguousSession(id.clone())),
            }
        }
    }
}

/// The sessions directory under a data dir.
pub fn sessions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sessions")
}

/// A line of `tern sessions list`.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: String,
    pub path: PathBuf,
    pub cwd: String,
    pub created_at: String,
    pub model: String,
    pub modified: std::time::SystemTime,
    /// The first user message, shortened.
    pub first_prompt: String,
    /// The session it was forked from.
    pub parent: Option<String>,
    /// How many times its conversation was compacted.
    pub compactions: u32,
}

/// Lists the sessions on disk, newest first. Blocking: call from `spawn_blocking`.
#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
pub fn list_sessions(data_dir: &Path) -> Vec<SessionSummary> {
    let Ok(dir) = std::fs::read_dir(sessions_dir(data_dir)) else {
        return vec![];
    };
    let mut out: Vec<SessionSummary> = dir
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| summarize(&e.path()))
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.modified));
    out
}

#[allow(clippy::disallowed_methods)] // runs in spawn_blocking
fn summarize(path: &Path) -> Option<SessionSummary> {
    let file = std::fs::File::open(path).ok()?;
    let modified = file.metadata().and_then(|m| m.modified()).ok()?;
    let mut meta = None;
    let mut first_prompt = String::new();
    let mut compactions = 0;
    // Records are parsed only until the first user message (logs can be
    // long); after it, lines are only counted when they are compactions.
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let Ok(line) = line else { break };
        if line.starts_with(COMPACTED) {
            compactions += 1;
            continue;
        }
        if i >= 64 || !first_prompt.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(Record::SessionMeta(m)) => meta = Some(m),
            Ok(Record::Message { message: Message::User { content } }) => {
                first_prompt = content.lines().next().unwrap_or("").chars().take(80).collect();
            }
            _ => {}
        }
    }
    let meta = meta?;
    Some(SessionSummary {
        id: meta.id,
        path: path.to_path_buf(),
        cwd: meta.cwd,
        created_at: meta.created_at,
        model: meta.model,
        modified,
        first_prompt,
        parent: meta.parent,
        compactions,
    })
}

/// How a compaction record's line begins (serde writes the tag first).
const COMPACTED: &[u8] = br#"{"type":"compacted""#;

/// The user's message of each turn of the session logged at `path`, in
/// order: what `/fork` offers to go back to. Blocking.
pub fn turn_prompts(path: &Path) -> Result<Vec<String>, LogError> {
    let mut prompts = Vec::new();
    let mut in_turn = false;
    for record in read_records(path, &mut Vec::new())? {
        match record {
            Record::TurnStarted { .. } => in_turn = true,
            Record::Message { message: Message::User { content } } if in_turn => {
                prompts.push(content);
                in_turn = false;
            }
            _ => {}
        }
    }
    Ok(prompts)
}

/// Copies the session logged at `parent` into a new log for `workspace`:
/// its first `turns` turns (all when `None`), under a new id that names
/// the parent. The parent is not touched. Returns the new log's path. Blocking.
#[allow(clippy::disallowed_methods)] // callers run it in spawn_blocking
pub(crate) fn fork(
    data_dir: &Path,
    parent: &Path,
    workspace: &Path,
    turns: Option<usize>,
) -> Result<PathBuf, LogError> {
    let records = read_records(parent, &mut Vec::new())?;
    let Some(Record::SessionMeta(meta)) = records.iter().find(|r| matches!(r, Record::SessionMeta(_))) else {
        return Err(LogError::NoMeta);
    };
    let id = uuid::Uuid::now_v7().to_string();
    let now = jiff::Timestamp::now();
    let child = Meta {
        id: id.clone(),
        created_at: now.to_string(),
        cwd: workspace.display().to_string(),
        parent: Some(meta.id.clone()),
        ..meta.clone()
    };
    let mut out = serde_json::to_vec(&Record::SessionMeta(child)).map_err(std::io::Error::from)?;
    out.push(b'\n');
    let mut started = 0;
    for record in &records {
        if let Record::TurnStarted { .. } = record {
            started += 1;
            if turns.is_some_and(|n| started > n) {
                break;
            }
        }
        if !matches!(record, Record::SessionMeta(_)) {
            out.extend(serde_json::to_vec(record).map_err(std::io::Error::from)?);
            out.push(b'\n');
        }
    }
    let path = sessions_dir(data_dir).join(format!("{}-{id}.jsonl", now.strftime("%Y-%m-%dT%H-%M-%S")));
    tern_files::write::atomic_write(&path, &out, None).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;
    use tern_llm::ToolCall;

    fn meta() -> Meta {
        Meta {
            id: "s1".into(),
            created_at: "now".into(),
            cwd: "/w".into(),
            model: "m".into(),
            provider: "p".into(),
            tern_version: "0".into(),
            parent: None,
        }
    }

    #[test]
    fn calls_sharing_an_id_take_one_result_each() {
        // fuzz/regressions/session_log: two calls `a`, no result recorded,
        // got two made-up results, while two recorded results lost the
        // second ("a result for unknown tool call").
        let call = |name: &str| ToolCall { id: "a".into(), name: name.into(), arguments: "{}".into() };
        let assistant = Message::Assistant {
            content: String::new(),
            reasoning: None,
            tool_calls: vec![call("x"), call("y")],
            opaque: vec![],
        };
        let result = |content: &str| Message::Tool { call_id: "a".into(), content: content.into() };
        let mut repairs = Vec::new();
        let mut messages = vec![assistant.clone(), result("1"), result("2"), result("3")];
        assert!(repair_tool_results(&mut messages, &mut repairs).is_empty());
        assert_eq!(messages, [assistant.clone(), result("1"), result("2")]);
        assert_eq!(repairs, ["dropped a result for unknown tool call a"]);
        let mut messages = vec![assistant.clone(), result("1")];
        let tail = repair_tool_results(&mut messages, &mut repairs);
        assert_eq!(tail.len(), 1);
        assert_eq!(messages.len(), 3);
    }

    #[tokio::test]
    async fn round_trip_truncation_and_missing_results() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions/s1.jsonl");
        let log = SessionLog::open(path.clone()).unwrap();
        log.append(&Record::SessionMeta(meta())).await;
        log.append(&Record::Message { message: Message::User { content: "hi".into() } }).await;
        let call = ToolCall { id: "c1".into(), name: "exec_command".into(), arguments: "{}".into() };
        log.append(&Record::Message {
            message: Message::Assistant {
                content: String::new(),
                reasoning: None,
                tool_calls: vec![call],
                opaque: vec![],
            },
        })
        .await;
        log.sync().await.unwrap();
        // A crash mid-write leaves half a line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"type":"message","message":{"role":"tool","call"#).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.meta.id, "s1");
        assert_eq!(loaded.messages.len(), 3);
        assert!(matches!(&loaded.messages[2], Message::Tool { call_id, .. } if call_id == "c1"));
        assert_eq!(loaded.repairs.len(), 2, "{:?}", loaded.repairs);
        assert_eq!(loaded.tail_results.len(), 1);
        let list = list_sessions(dir.path());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].first_prompt, "hi");
    }

    #[tokio::test]
    async fn a_new_session_is_written_with_its_first_message_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let unused = dir.path().join("sessions/unused.jsonl");
        let mut log = SessionLog::create(unused.clone()).unwrap();
        log.append(&Record::SessionMeta(meta())).await;
        log.append(&Record::TurnStarted { turn_id: "t".into(), at: "now".into() }).await;
        log.sync().await.unwrap();
        log.close().await;
        assert!(!unused.exists(), "a session that never asked anything leaves no log");

        let path = dir.path().join("sessions/s1.jsonl");
        let log = SessionLog::create(path.clone()).unwrap();
        log.append(&Record::SessionMeta(meta())).await;
        log.append(&Record::TurnStarted { turn_id: "t".into(), at: "now".into() }).await;
        log.sync().await.unwrap();
        assert!(!path.exists());
        log.append(&Record::Message { message: Message::User { content: "hi".into() } }).await;
        log.append(&Record::TurnEnded {
            turn_id: "t".into(),
            at: "now".into(),
            status: TurnStatus::Completed,
            usage: Default::default(),
            error: None,
        })
        .await;
        log.sync().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let kinds: Vec<String> =
            text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string()).collect();
        assert_eq!(kinds, [r#""session_meta""#, r#""turn_started""#, r#""message""#, r#""turn_ended""#]);
        assert_eq!(load(&path).unwrap().messages.len(), 1);
    }
}

//! A session log played back as the events its fronts saw: how a resumed
//! session shows its earlier conversation (the TUI's `tern resume`, an
//! editor loading a session), with the same rendering as a live one.

use crate::log::{self, LogError, Record, ToolEnd, TurnStatus};
use std::collections::{HashMap, VecDeque};

mod legacy;
mod tail;
use std::path::Path;
use tern_llm::Message;
use tern_protocol::{Event, ToolCallBegin, ToolCallEnd, ToolKind};

/// The events of the session logged at `path`, oldest first: user and
/// assistant messages, reasoning, tool calls with their structured
/// results, file changes, plans, undos and how turns that did not complete
/// ended. Streaming deltas are not repeated (the whole texts are there).
/// Blocking: call from `spawn_blocking`.
pub fn replay(path: &Path) -> Result<Vec<Event>, LogError> {
    let mut repairs = Vec::new();
    let records = log::read_records(path, &mut repairs)?;
    Ok(events(&records))
}

/// The newest part of a session played back: what a front that keeps a
/// bounded history shows on resume.
#[derive(Debug)]
pub struct Replayed {
    /// The events of the log's newest records, oldest first (as [`replay`]).
    pub events: Vec<Event>,
    /// Whether older records were left out (they stay in the log).
    pub earlier: bool,
}

/// Like [`replay`], from only the newest `records` records of the log, which
/// is read from its end: the time and memory it takes are bounded however
/// long the session is. A call whose start falls before them is left out
/// (its end has no call to end).
/// Blocking: call from `spawn_blocking`.
pub fn replay_newest(path: &Path, records: usize) -> Result<Replayed, LogError> {
    let (tail, earlier) = tail::read_tail(path, records)?;
    Ok(Replayed { events: events(&tail), earlier })
}

fn events(records: &[Record]) -> Vec<Event> {
    // A call's end record and its model-facing result come after the
    // response that made it. Queued by call id, in log order, so a
    // provider that reuses ids from one response to the next (`call_0`)
    // still pairs each call with its own.
    let mut ends: HashMap<&str, VecDeque<&ToolEnd>> = HashMap::new();
    let mut results: HashMap<&str, VecDeque<&str>> = HashMap::new();
    for r in records {
        match r {
            Record::ToolEnd(end) => ends.entry(end.call_id.as_str()).or_default().push_back(end),
            Record::Message { message: Message::Tool { call_id, content } } => {
                results.entry(call_id.as_str()).or_default().push_back(content.as_str());
            }
            _ => {}
        }
    }
    let mut open: Vec<OpenCall> = Vec::new();
    let mut next = 0u64;
    let mut item = || {
        next += 1;
        format!("replay_{next}")
    };
    let mut out = Vec::new();
    for record in records {
        match record {
            Record::Message { message: Message::User { content } } => {
                out.push(Event::UserMessage { item_id: item(), text: content.clone() });
            }
            Record::Message { message: Message::Assistant { content, reasoning, tool_calls, .. } } => {
                if let Some(text) = reasoning.as_ref().filter(|r| !r.trim().is_empty()) {
                    out.push(Event::Reasoning { item_id: item(), text: text.clone() });
                }
                if !content.trim().is_empty() {
                    out.push(Event::AgentMessage { item_id: item(), text: content.clone() });
                }
                for call in tool_calls {
                    let end = ends.get_mut(call.id.as_str()).and_then(VecDeque::pop_front);
                    let command = end.and_then(|e| e.command.as_ref());
                    let item_id = item();
                    out.push(Event::ToolCallBegin(ToolCallBegin {
                        item_id: item_id.clone(),
                        call_id: call.id.clone(),
                        tool: call.name.clone(),
                        kind: end.map_or(ToolKind::Other, |e| e.kind),
                        arguments: call.arguments.clone(),
                        command: command.map(|c| c.command.clone()),
                        cwd: command.map(|c| c.cwd.clone()),
                        mcp: end.and_then(|e| e.mcp.clone()),
                    }));
                    // A reused id replaces a call of an earlier response left open.
                    take(&mut open, &call.id);
                    open.push((call.id.as_str(), item_id, call.name.as_str(), end));
                }
            }
            Record::ToolEnd(end) => {
                // Matched to its call when that began; ended here, in log order.
                if let Some((_, item_id, tool, Some(recorded))) = take(&mut open, &end.call_id) {
                    let output = results.get_mut(end.call_id.as_str()).and_then(VecDeque::pop_front).unwrap_or("");
                    out.push(ended(item_id, tool, recorded, output));
                }
            }
            // A result with no end record: a log written before they were.
            Record::Message { message: Message::Tool { call_id, content } } => {
                if open.iter().any(|c| c.0 == call_id && c.3.is_none())
                    && let Some((_, item_id, tool, _)) = take(&mut open, call_id)
                {
                    results.get_mut(call_id.as_str()).and_then(VecDeque::pop_front);
                    out.push(legacy::ended(item_id, call_id, tool, content));
                }
            }
            // Shown to the model; fronts showed the calls that returned them.
            Record::Message { message: Message::Images { .. } } => {}
            Record::FilesChanged { changes } => {
                out.push(Event::FilesChanged { item_id: item(), changes: changes.clone() });
            }
            Record::Plan { explanation, plan } => {
                out.push(Event::PlanUpdated { item_id: item(), explanation: explanation.clone(), plan: plan.clone() });
            }
            Record::Undo { restored, .. } => out.push(Event::UndoCompleted { restored: restored.clone() }),
            // Shown where it happened; the conversation before it stays visible.
            Record::Compacted { compaction, .. } => out.push(Event::Compacted(compaction.clone())),
            Record::TurnEnded { turn_id, status: TurnStatus::Failed, usage, error, .. } => {
                out.push(Event::TurnFailed {
                    turn_id: turn_id.clone(),
                    error: error.clone().unwrap_or_else(|| "the turn failed".into()),
                    usage: *usage,
                    deltas: Default::default(),
                });
            }
            Record::TurnEnded { turn_id, status: TurnStatus::Interrupted, .. } => {
                out.push(Event::TurnAborted {
                    turn_id: turn_id.clone(),
                    reason: "interrupted".into(),
                    deltas: Default::default(),
                });
            }
            Record::SessionMeta(_)
            | Record::HookContext { .. }
            | Record::Guide { .. }
            | Record::TurnStarted { .. }
            | Record::TurnEnded { status: TurnStatus::Completed, .. }
            | Record::Message { message: Message::System { .. } } => {}
        }
    }
    // A call the log never ended (tern stopped mid-call, before the loader
    // could record why) is shown ended, not running forever.
    for (call_id, item_id, tool, _) in open {
        out.push(ended(item_id, tool, &ToolEnd::interrupted(call_id), ""));
    }
    out
}

/// A call begun and not yet ended: call id, item id, tool, its end if recorded.
type OpenCall<'a> = (&'a str, String, &'a str, Option<&'a ToolEnd>);

/// Removes the open call `id` and returns it.
fn take<'a>(open: &mut Vec<OpenCall<'a>>, id: &str) -> Option<OpenCall<'a>> {
    open.iter().position(|c| c.0 == id).map(|i| open.remove(i))
}

/// The event for a call that ended as `end` records.
fn ended(item_id: String, tool: &str, end: &ToolEnd, output: &str) -> Event {
    Event::ToolCallEnd(ToolCallEnd {
        item_id,
        call_id: end.call_id.clone(),
        tool: tool.to_string(),
        kind: end.kind,
        output: output.to_string(),
        success: end.success,
        duration_ms: end.duration_ms,
        error: end.error.clone(),
        command: end.command.clone(),
        mcp: end.mcp.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_llm::ToolCall;
    use tern_protocol::{CommandOutcome, Usage};

    fn message(message: Message) -> Record {
        Record::Message { message }
    }

    #[test]
    fn a_log_plays_back_as_the_events_fronts_saw() {
        let call =
            |id: &str, name: &str, args: &str| ToolCall { id: id.into(), name: name.into(), arguments: args.into() };
        let records = vec![
            message(Message::System { content: "sys".into() }),
            message(Message::User { content: "list files".into() }),
            message(Message::Assistant {
                content: "Looking.".into(),
                reasoning: Some("think".into()),
                tool_calls: vec![call("c1", "exec_command", r#"{"cmd":"ls"}"#), call("c2", "read_file", "{}")],
                opaque: vec![],
            }),
            Record::ToolEnd(ToolEnd {
                call_id: "c1".into(),
                kind: ToolKind::Execute,
                success: false,
                duration_ms: 250,
                error: None,
                mcp: None,
                command: Some(CommandOutcome {
                    command: "ls".into(),
                    cwd: "/w".into(),
                    exit_code: Some(2),
                    output: "ls: cannot access\n".into(),
                    ..Default::default()
                }),
            }),
            message(Message::Tool { call_id: "c1".into(), content: "Exit code: 2\n…".into() }),
            // Logged before tool ends were: the result is shown as the model saw it.
            message(Message::Tool { call_id: "c2".into(), content: "error: no such file".into() }),
            Record::TurnEnded {
                turn_id: "t1".into(),
                at: "now".into(),
                status: TurnStatus::Failed,
                usage: Usage::default(),
                error: Some("the provider refused".into()),
            },
        ];
        let events = events(&records);
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Event::UserMessage { .. } => "user",
                Event::Reasoning { .. } => "reasoning",
                Event::AgentMessage { .. } => "message",
                Event::ToolCallBegin(_) => "begin",
                Event::ToolCallEnd(_) => "end",
                Event::TurnFailed { .. } => "failed",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["user", "reasoning", "message", "begin", "begin", "end", "end", "failed"]);
        let Event::ToolCallBegin(ls) = &events[3] else { unreachable!() };
        assert_eq!((ls.command.as_deref(), ls.kind), (Some("ls"), ToolKind::Execute));
        let Event::ToolCallEnd(ls_end) = &events[5] else { unreachable!() };
        assert_eq!(ls_end.item_id, ls.item_id);
        let outcome = ls_end.command.as_ref().unwrap();
        assert_eq!(
            (outcome.exit_code, outcome.output.as_str(), ls_end.duration_ms),
            (Some(2), "ls: cannot access\n", 250)
        );
        let Event::ToolCallEnd(read_end) = &events[6] else { unreachable!() };
        assert_eq!(read_end.output, "error: no such file");
        assert!(matches!(&events[7], Event::TurnFailed { error, .. } if error == "the provider refused"));
    }

    fn ends(events: &[Event]) -> Vec<&ToolCallEnd> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ToolCallEnd(end) => Some(end),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reused_ids_pair_each_call_with_its_own_end_and_open_calls_are_closed() {
        let call = |args: &str| ToolCall { id: "call_0".into(), name: "exec_command".into(), arguments: args.into() };
        let assistant = |args: &str| {
            message(Message::Assistant {
                content: String::new(),
                reasoning: None,
                tool_calls: vec![call(args)],
                opaque: vec![],
            })
        };
        let end = |command: &str, code| {
            Record::ToolEnd(ToolEnd {
                call_id: "call_0".into(),
                kind: ToolKind::Execute,
                success: code == 0,
                duration_ms: 1,
                error: None,
                mcp: None,
                command: Some(CommandOutcome { command: command.into(), exit_code: Some(code), ..Default::default() }),
            })
        };
        let records = vec![
            assistant(r#"{"cmd":"first"}"#),
            end("first", 0),
            message(Message::Tool { call_id: "call_0".into(), content: "one".into() }),
            assistant(r#"{"cmd":"second"}"#),
            end("second", 2),
            message(Message::Tool { call_id: "call_0".into(), content: "two".into() }),
            // tern stopped while this one ran: no end, no result.
            assistant(r#"{"cmd":"third"}"#),
        ];
        let events = events(&records);
        let begins: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::ToolCallBegin(b) => b.command.as_deref(),
                _ => None,
            })
            .collect();
        assert_eq!(begins, ["first", "second"], "the third has no recorded command");
        let ends = ends(&events);
        assert_eq!(ends.len(), 3);
        assert_eq!((ends[0].output.as_str(), ends[0].command.as_ref().unwrap().exit_code), ("one", Some(0)));
        assert_eq!((ends[1].output.as_str(), ends[1].command.as_ref().unwrap().exit_code), ("two", Some(2)));
        assert!(!ends[2].success && ends[2].error.as_deref().is_some_and(|e| e.contains("interrupted")));
    }

    #[test]
    fn results_of_old_logs_still_say_how_commands_ended() {
        let records = vec![
            message(Message::Assistant {
                content: String::new(),
                reasoning: None,
                tool_calls: vec![ToolCall { id: "c1".into(), name: "exec_command".into(), arguments: "{}".into() }],
                opaque: vec![],
            }),
            message(Message::Tool {
                call_id: "c1".into(),
                content: "Exit code: 2\nWall time: 0.25 s\nOutput:\nls: cannot access\n".into(),
            }),
        ];
        let events = events(&records);
        let end = ends(&events)[0];
        let outcome = end.command.as_ref().unwrap();
        assert_eq!(
            (outcome.exit_code, outcome.output.as_str(), end.duration_ms),
            (Some(2), "ls: cannot access\n", 250)
        );
        assert!(!end.success);
    }

    /// A long log is played back from its newest records only, read from
    /// its end across several blocks: the calls there pair up, and a call
    /// whose start is older than them is left out rather than shown open.
    #[test]
    #[allow(clippy::disallowed_methods)] // a test's own file
    fn the_newest_records_play_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut text = String::new();
        let mut push = |r: Record| {
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        };
        push(message(Message::User { content: "read them all".into() }));
        for i in 0..2000 {
            let id = format!("c{i}");
            let args = format!(r#"{{"path":"f{i}.txt"}}"#);
            push(message(Message::Assistant {
                content: String::new(),
                reasoning: None,
                tool_calls: vec![ToolCall { id: id.clone(), name: "read_file".into(), arguments: args }],
                opaque: vec![],
            }));
            push(Record::ToolEnd(ToolEnd {
                call_id: id.clone(),
                kind: ToolKind::Read,
                success: true,
                duration_ms: 1,
                error: None,
                mcp: None,
                command: None,
            }));
            push(message(Message::Tool { call_id: id, content: format!("file {i}: {}", "x".repeat(300)) }));
        }
        std::fs::write(&path, &text).unwrap();
        assert!(text.len() > 600_000, "several blocks: {}", text.len());

        // 31 records: the last ten calls whole, and the end and result of
        // the one before (no call of theirs in the window).
        let r = replay_newest(&path, 31).unwrap();
        assert!(r.earlier);
        let begins: Vec<&str> = r
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ToolCallBegin(b) => Some(b.call_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(begins, (1990..2000).map(|i| format!("c{i}")).collect::<Vec<_>>());
        let ended = ends(&r.events);
        assert_eq!(ended.len(), 10);
        assert!(ended[9].output.starts_with("file 1999: "));

        // A log shorter than the window is played back whole, as `replay` does.
        let whole = replay_newest(&path, 100_000).unwrap();
        assert!(!whole.earlier);
        assert_eq!(whole.events.len(), replay(&path).unwrap().len());
        assert!(matches!(&whole.events[0], Event::UserMessage { text, .. } if text == "read them all"));
    }
}

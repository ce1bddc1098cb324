//! A session log played back as the events its fronts saw: how a resumed
//! session shows its earlier conversation (the TUI's `tern resume`, an
//! editor loading a session), with the same rendering as a live one.

use crate::log::{self, LogError, Record, ToolEnd, TurnStatus};
use std::collections::HashMap;
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

fn events(records: &[Record]) -> Vec<Event> {
    // A call's end record comes after the response that made it, and its
    // model-facing result after that: look both up by call id.
    let ends: HashMap<&str, &ToolEnd> = records
        .iter()
        .filter_map(|r| match r {
            Record::ToolEnd(end) => Some((end.call_id.as_str(), end)),
            _ => None,
        })
        .collect();
    let results: HashMap<&str, &str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Message { message: Message::Tool { call_id, content } } => {
                Some((call_id.as_str(), content.as_str()))
            }
            _ => None,
        })
        .collect();
    let mut calls: HashMap<&str, (String, &str)> = HashMap::new();
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
                    let end = ends.get(call.id.as_str());
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
                    }));
                    calls.insert(call.id.as_str(), (item_id, call.name.as_str()));
                }
            }
            Record::ToolEnd(end) => {
                if let Some((item_id, tool)) = calls.get(end.call_id.as_str()) {
                    out.push(Event::ToolCallEnd(ToolCallEnd {
                        item_id: item_id.clone(),
                        call_id: end.call_id.clone(),
                        tool: tool.to_string(),
                        kind: end.kind,
                        output: results.get(end.call_id.as_str()).copied().unwrap_or_default().to_string(),
                        success: end.success,
                        duration_ms: end.duration_ms,
                        error: end.error.clone(),
                        command: end.command.clone(),
                    }));
                }
            }
            // A log written before tool ends were recorded: the result is
            // all there is, shown as the model saw it.
            Record::Message { message: Message::Tool { call_id, content } } if !ends.contains_key(call_id.as_str()) => {
                if let Some((item_id, tool)) = calls.get(call_id.as_str()) {
                    out.push(Event::ToolCallEnd(ToolCallEnd {
                        item_id: item_id.clone(),
                        call_id: call_id.clone(),
                        tool: tool.to_string(),
                        kind: ToolKind::Other,
                        output: content.clone(),
                        success: true,
                        duration_ms: 0,
                        error: None,
                        command: None,
                    }));
                }
            }
            Record::FilesChanged { changes } => {
                out.push(Event::FilesChanged { item_id: item(), changes: changes.clone() });
            }
            Record::Plan { explanation, plan } => {
                out.push(Event::PlanUpdated { item_id: item(), explanation: explanation.clone(), plan: plan.clone() });
            }
            Record::Undo { restored, .. } => out.push(Event::UndoCompleted { restored: restored.clone() }),
            Record::TurnEnded { turn_id, status: TurnStatus::Failed, usage, error, .. } => {
                out.push(Event::TurnFailed {
                    turn_id: turn_id.clone(),
                    error: error.clone().unwrap_or_else(|| "the turn failed".into()),
                    usage: *usage,
                });
            }
            Record::TurnEnded { turn_id, status: TurnStatus::Interrupted, .. } => {
                out.push(Event::TurnAborted { turn_id: turn_id.clone(), reason: "interrupted".into() });
            }
            Record::SessionMeta(_)
            | Record::TurnStarted { .. }
            | Record::TurnEnded { status: TurnStatus::Completed, .. }
            | Record::Message { message: Message::System { .. } | Message::Tool { .. } } => {}
        }
    }
    out
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
}

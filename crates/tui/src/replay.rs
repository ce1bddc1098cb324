//! The earlier conversation of a resumed session, read back from its log
//! and turned into transcript cells.

use crate::transcript::{End, Kind, MAX_CELLS, Tool};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tern_llm::Message;

/// Reads the session log at `path` and returns its newest cells. Blocking.
pub fn load(path: &Path) -> Result<Vec<Kind>, String> {
    let loaded = tern_core::log::load(path).map_err(|e| e.to_string())?;
    let mut cells = cells(&loaded.messages);
    if cells.len() > MAX_CELLS {
        cells.drain(..cells.len() - MAX_CELLS);
    }
    Ok(cells)
}

/// The cells a conversation would have shown.
pub fn cells(messages: &[Message]) -> Vec<Kind> {
    let results: HashMap<&str, &str> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Tool { call_id, content } => Some((call_id.as_str(), content.as_str())),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for m in messages {
        match m {
            Message::System { .. } | Message::Tool { .. } => {}
            Message::User { content } => out.push(Kind::User(content.clone())),
            Message::Assistant { content, reasoning, tool_calls, .. } => {
                if let Some(r) = reasoning.as_ref().filter(|r| !r.trim().is_empty()) {
                    out.push(Kind::Reasoning { text: r.clone() });
                }
                if !content.trim().is_empty() {
                    out.push(Kind::Assistant { text: content.clone() });
                }
                for call in tool_calls {
                    let result = results.get(call.id.as_str()).copied().unwrap_or("");
                    out.push(Kind::Tool(tool(&call.id, &call.name, &call.arguments, result)));
                }
            }
        }
    }
    out
}

/// A finished call as its result describes it. Command results carry
/// their exit code, wall time and output; other tools' results are shown
/// only when they report an error, as they are live.
fn tool(call_id: &str, name: &str, arguments: &str, result: &str) -> Tool {
    let mut t = Tool::new("", call_id, name, crate::app::summarize_args(arguments));
    let field = |key: &str| result.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
    let exit_code = field("Exit code:").and_then(|c| c.parse::<i32>().ok());
    let duration =
        field("Wall time:").and_then(|w| w.trim_end_matches(" s").parse::<f64>().ok()).map(Duration::from_secs_f64);
    let error = result.starts_with("error:");
    let success = match exit_code {
        Some(c) => c == 0,
        None => !error && field("Killed by signal").is_none(),
    };
    if let Some((_, output)) = result.split_once("Output:\n") {
        t.append(output);
    } else if error {
        t.append(result);
    }
    t.ended = Some(End { success, duration, exit_code });
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_llm::ToolCall;

    #[test]
    fn a_conversation_becomes_cells() {
        let call =
            |id: &str, name: &str, args: &str| ToolCall { id: id.into(), name: name.into(), arguments: args.into() };
        let messages = vec![
            Message::System { content: "sys".into() },
            Message::User { content: "list files".into() },
            Message::Assistant {
                content: "Looking.".into(),
                reasoning: None,
                tool_calls: vec![
                    call("c1", "exec_command", r#"{"cmd":"ls"}"#),
                    call("c2", "read_file", r#"{"path":"missing.rs"}"#),
                ],
                opaque: vec![],
            },
            Message::Tool {
                call_id: "c1".into(),
                content: "Exit code: 2\nWall time: 0.25 s\nOutput:\nls: cannot access\n".into(),
            },
            Message::Tool { call_id: "c2".into(), content: "error: no such file".into() },
            Message::Assistant { content: "Done.".into(), reasoning: None, tool_calls: vec![], opaque: vec![] },
        ];
        let cells = cells(&messages);
        assert_eq!(cells.len(), 5, "{cells:?}");
        assert!(matches!(&cells[0], Kind::User(t) if t == "list files"));
        assert!(matches!(&cells[1], Kind::Assistant { text } if text == "Looking."));
        let Kind::Tool(ls) = &cells[2] else { panic!("{:?}", cells[2]) };
        assert_eq!((ls.title.as_str(), ls.output.as_str()), ("ls", "ls: cannot access\n"));
        let end = ls.ended.as_ref().unwrap();
        assert_eq!((end.success, end.exit_code, end.duration), (false, Some(2), Some(Duration::from_millis(250))));
        let Kind::Tool(read) = &cells[3] else { panic!("{:?}", cells[3]) };
        assert_eq!(read.title, "missing.rs");
        assert!(!read.ended.as_ref().unwrap().success && read.output.contains("no such file"));
        assert!(matches!(&cells[4], Kind::Assistant { text } if text == "Done."));
    }
}

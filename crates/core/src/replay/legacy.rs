//! Results from logs written before tool ends were recorded: the core reads
//! back the text it wrote for the model then (`error: …` for a failed call,
//! and `exec_command`'s "Exit code / Wall time / Output" header), so that
//! an old session still shows how its calls ended. New logs never need it.

use tern_protocol::{CommandOutcome, Event, ToolCallEnd, ToolKind};

/// The end of a call whose only record is its result `content`.
pub(super) fn ended(item_id: String, call_id: &str, tool: &str, content: &str) -> Event {
    let field = |key: &str| content.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
    let error = content.strip_prefix("error: ").map(str::to_string);
    let exit_code = field("Exit code:").and_then(|c| c.parse::<i32>().ok());
    let signal = field("Killed by signal").and_then(|s| s.parse::<i32>().ok());
    let wall = field("Wall time:").and_then(|w| w.trim_end_matches(" s").parse::<f64>().ok());
    let command = (exit_code.is_some() || signal.is_some()).then(|| CommandOutcome {
        exit_code,
        signal,
        duration_ms: wall.map_or(0, |w| (w * 1000.0) as u64),
        output: content.split_once("Output:\n").map_or_else(String::new, |(_, o)| o.to_string()),
        killed: signal.is_some(),
        ..Default::default()
    });
    let success = match &command {
        Some(c) => c.exit_code == Some(0),
        None => error.is_none(),
    };
    Event::ToolCallEnd(ToolCallEnd {
        item_id,
        call_id: call_id.to_string(),
        tool: tool.to_string(),
        kind: if command.is_some() { ToolKind::Execute } else { ToolKind::Other },
        output: content.to_string(),
        success,
        duration_ms: command.as_ref().map_or(0, |c| c.duration_ms),
        error,
        command,
        mcp: None,
    })
}

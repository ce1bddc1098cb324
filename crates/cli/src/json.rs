//! `tern exec --json`: events as JSON lines, using the names of Codex's
//! public `exec --json` stream so existing scripts work. Every line has
//! `schema_version`.
//!
//! Item types: `agent_message`, `reasoning`, `command_execution`,
//! `file_change` (with a unified diff per file), `todo_list`,
//! `mcp_tool_call` for MCP servers' tools, and `tool_call` for tern's
//! other built-in tools. MCP servers' start-up is reported as
//! `mcp.server_updated` and, once all have settled, `mcp.startup_completed`.

use serde_json::{Value, json};
use tern_protocol::{Event, PlanItem, PlanStatus};
use tokio::io::AsyncWriteExt;

/// Version of this projection; bumped on any incompatible change.
pub(crate) const SCHEMA_VERSION: u32 = 1;

pub(crate) struct JsonEvents {
    out: tokio::io::Stdout,
    /// The todo list item of the running turn, once the model made a plan.
    plan: Option<(String, Value)>,
}

impl JsonEvents {
    pub(crate) fn new() -> Self {
        JsonEvents { out: tokio::io::stdout(), plan: None }
    }

    pub(crate) async fn event(&mut self, ev: &Event) -> std::io::Result<()> {
        for line in self.project(ev) {
            let mut bytes = serde_json::to_vec(&line)?;
            bytes.push(b'\n');
            self.out.write_all(&bytes).await?;
        }
        self.out.flush().await
    }

    fn project(&mut self, ev: &Event) -> Vec<Value> {
        let mut lines = match ev {
            Event::SessionConfigured(s) => {
                let mut started = json!({"type": "thread.started", "thread_id": s.session_id,
                "model": s.model, "provider": s.provider, "cwd": s.cwd, "resumed": s.resumed});
                if let Some(n) = &s.notice {
                    started["notice"] = json!(n);
                }
                vec![started]
            }
            Event::TurnStarted { turn_id } => {
                vec![json!({"type": "turn.started", "turn_id": turn_id})]
            }
            Event::AgentMessage { item_id, text } => {
                vec![completed(json!({"id": item_id, "type": "agent_message", "text": text}))]
            }
            Event::Reasoning { item_id, text } => {
                vec![completed(json!({"id": item_id, "type": "reasoning", "text": text}))]
            }
            Event::ToolCallBegin(b) => {
                vec![json!({"type": "item.started", "item": match (&b.command, &b.mcp) {
                    (_, Some(m)) => json!({"id": b.item_id, "type": "mcp_tool_call", "server": m.server, "tool": m.tool,
                        "arguments": parse_or_raw(&b.arguments), "result": null, "error": null, "status": "in_progress"}),
                    (Some(cmd), None) => json!({"id": b.item_id, "type": "command_execution", "command": cmd, "cwd": b.cwd,
                        "aggregated_output": "", "exit_code": null, "status": "in_progress"}),
                    (None, None) => json!({"id": b.item_id, "type": "tool_call", "tool": b.tool,
                        "arguments": parse_or_raw(&b.arguments), "status": "in_progress"}),
                }})]
            }
            Event::ToolCallEnd(e) => {
                let status = if e.success { "completed" } else { "failed" };
                vec![completed(match (&e.command, &e.mcp) {
                    // Codex's shape: the result's content blocks, or an error.
                    (_, Some(m)) => {
                        let (result, error) = match &e.error {
                            Some(err) => (Value::Null, json!({"message": err})),
                            None => (json!({"content": [{"type": "text", "text": e.output}]}), Value::Null),
                        };
                        json!({"id": e.item_id, "type": "mcp_tool_call", "server": m.server, "tool": m.tool,
                        "result": result, "error": error, "status": status, "duration_ms": e.duration_ms})
                    }
                    // As in Codex, `aggregated_output` is what the command printed.
                    (Some(c), None) => {
                        json!({"id": e.item_id, "type": "command_execution", "command": c.command,
                        "aggregated_output": c.output, "exit_code": c.exit_code, "status": status,
                        "cwd": c.cwd, "signal": c.signal, "timed_out": c.timed_out, "killed": c.killed,
                        "sandboxed": c.sandboxed, "duration_ms": e.duration_ms, "total_bytes": c.total_bytes,
                        "omitted_bytes": c.omitted_bytes, "output_file": c.spool_path, "session_id": c.session_id,
                        "error": e.error})
                    }
                    (None, None) => {
                        json!({"id": e.item_id, "type": "tool_call", "tool": e.tool, "kind": e.kind,
                        "output": e.output, "error": e.error, "status": status, "duration_ms": e.duration_ms})
                    }
                })]
            }
            Event::PlanUpdated { item_id, plan, .. } => {
                let items = todo_items(plan);
                match &mut self.plan {
                    Some((id, last)) => {
                        *last = items.clone();
                        vec![json!({"type": "item.updated", "item": {"id": id, "type": "todo_list", "items": items}})]
                    }
                    None => {
                        self.plan = Some((item_id.clone(), items.clone()));
                        vec![
                            json!({"type": "item.started", "item": {"id": item_id, "type": "todo_list", "items": items}}),
                        ]
                    }
                }
            }
            Event::FilesChanged { item_id, changes } => vec![completed(json!({"id": item_id, "type": "file_change",
                "changes": changes.iter().map(|c| json!({"path": c.path, "kind": c.kind, "move_path": c.move_path, "diff": c.diff})).collect::<Vec<_>>(),
                "status": "completed"}))],
            Event::ApprovalRequest(r) => vec![json!({"type": "error", "fatal": false,
                "message": format!("approval needed for {} ({}); declined: tern exec has nobody to ask (use --full-auto)", approval_subject(r, true), r.reason)})],
            Event::UndoCompleted { restored } => vec![json!({"type": "undo.completed", "restored": restored})],
            Event::SessionDiff { changes } => vec![json!({"type": "session.diff",
                "changes": changes.iter().map(|c| json!({"path": c.path, "kind": c.kind, "diff": c.diff})).collect::<Vec<_>>()})],
            Event::Warning { message } => {
                vec![json!({"type": "error", "message": message, "fatal": false})]
            }
            Event::Retrying { attempt, max_attempts, delay_ms, reason } => vec![json!({"type": "error",
                "message": format!("retrying ({attempt}/{max_attempts}) in {delay_ms} ms: {reason}"), "fatal": false})],
            Event::TurnCompleted(t) => {
                let mut v = self.finish_plan();
                v.push(json!({"type": "turn.completed",
                    "usage": {"input_tokens": t.usage.input_tokens, "cached_input_tokens": t.usage.cached_input_tokens,
                              "output_tokens": t.usage.output_tokens, "reasoning_output_tokens": t.usage.reasoning_output_tokens},
                    "cost_usd": t.cost_usd,
                    "session": {"usage": {"input_tokens": t.session_usage.input_tokens, "cached_input_tokens": t.session_usage.cached_input_tokens,
                                          "output_tokens": t.session_usage.output_tokens}, "cost_usd": t.session_cost_usd},
                    "model_calls": t.model_calls, "tool_calls": t.tool_calls,
                    "context": t.context, "compactions": t.compactions,
                    "deltas": t.deltas,
                    "tools": t.tools,
                    "scheduling_lag": {"samples": t.lag.samples, "p50_us": t.lag.p50_us, "p99_us": t.lag.p99_us, "max_us": t.lag.max_us}}));
                v
            }
            Event::TurnFailed { error, usage, .. } => {
                let mut v = self.finish_plan();
                v.push(json!({"type": "turn.failed", "error": {"message": error},
                    "usage": {"input_tokens": usage.input_tokens, "cached_input_tokens": usage.cached_input_tokens, "output_tokens": usage.output_tokens}}));
                v
            }
            Event::TurnAborted { reason, .. } => {
                let mut v = self.finish_plan();
                v.push(
                    json!({"type": "turn.failed", "error": {"message": format!("turn {reason}")}, "interrupted": true}),
                );
                v
            }
            Event::McpServerUpdate(status) => {
                let mut v = json!({"type": "mcp.server_updated", "server": status.name});
                merge(&mut v, status);
                vec![v]
            }
            Event::McpStartupComplete { ready, failed } => {
                vec![json!({"type": "mcp.startup_completed", "ready": ready, "failed": failed})]
            }
            Event::McpServers { servers } => vec![json!({"type": "mcp.servers", "servers": servers})],
            Event::Compacted(c) => {
                let mut v = json!({"type": "context.compacted"});
                merge(&mut v, c);
                vec![v]
            }
            Event::Hook(run) => {
                let mut v = json!({"type": "hook"});
                merge(&mut v, run);
                vec![v]
            }
            Event::ContextUpdated(_) | Event::CompactionStarted { .. } => vec![],
            Event::AgentMessageDelta { .. }
            | Event::UserMessage { .. }
            | Event::ReasoningDelta { .. }
            | Event::ToolCallOutputDelta { .. }
            | Event::ShutdownComplete => vec![],
        };
        for l in &mut lines {
            if let Some(o) = l.as_object_mut() {
                o.insert("schema_version".into(), json!(SCHEMA_VERSION));
            }
        }
        lines
    }

    fn finish_plan(&mut self) -> Vec<Value> {
        match self.plan.take() {
            Some((id, items)) => vec![completed(json!({"id": id, "type": "todo_list", "items": items}))],
            None => vec![],
        }
    }
}

fn completed(item: Value) -> Value {
    json!({"type": "item.completed", "item": item})
}

fn todo_items(plan: &[PlanItem]) -> Value {
    plan.iter().map(|p| json!({"text": p.step, "completed": p.status == PlanStatus::Completed})).collect()
}

/// What an approval request is about, in words: the command (in
/// backquotes when `quote`) or the MCP tool.
pub(crate) fn approval_subject(r: &tern_protocol::ApprovalRequest, quote: bool) -> String {
    match &r.mcp {
        Some(m) => format!("the MCP tool `{}` of `{}` ({})", m.tool, m.server, r.command),
        None if quote => format!("`{}`", r.command),
        None => r.command.clone(),
    }
}

/// Adds the fields of `from` (an object when serialized) to `into`.
fn merge(into: &mut Value, from: &impl serde::Serialize) {
    if let (Some(o), Ok(Value::Object(extra))) = (into.as_object_mut(), serde_json::to_value(from)) {
        o.extend(extra);
    }
}

fn parse_or_raw(args: &str) -> Value {
    serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.to_string()))
}

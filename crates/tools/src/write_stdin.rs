//! `write_stdin`: send input to a process started by `exec_command` (with
//! `tty` or `yield_time_ms`), or just poll it for new output.

use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tern_process::Collected;
use tern_protocol::CommandOutcome;

/// How long a write waits for output by default.
const DEFAULT_WAIT: Duration = Duration::from_millis(500);

pub(crate) struct WriteStdin;

#[derive(Deserialize)]
struct Args {
    session_id: u32,
    #[serde(default)]
    chars: String,
    yield_time_ms: Option<u64>,
}

impl Tool for WriteStdin {
    fn name(&self) -> &'static str {
        "write_stdin"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Write characters to a running process started by exec_command (include \"\\n\" to \
                submit a line; \"\\u0003\" is Ctrl-C, \"\\u0004\" Ctrl-D), or send nothing to poll for new \
                output. Returns the output since the last call, and the exit code once it has exited."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "session_id": {"type": "integer", "description": "From exec_command."},
                    "chars": {"type": "string", "description": "Input to send; empty to just read output."},
                    "yield_time_ms": {"type": "integer", "minimum": 0, "description": "How long to wait for output. Default 500."}
                },
                "required": ["session_id"],
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Execute
    }

    fn mutates(&self) -> bool {
        true
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let (handle, command, cwd) = ctx.processes.get(args.session_id)?;
            let mut process = handle.lock().await;
            if !args.chars.is_empty() {
                process.write(args.chars.as_bytes()).await?;
            }
            let wait = args
                .yield_time_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_WAIT)
                .min(crate::exec_command::MAX_YIELD);
            let got = process.collect(wait, &ctx.cancel, &mut |b| ctx.output_delta(b)).await;
            let sandboxed = ctx.sandbox.is_some();
            if let Some(exit) = got.exit {
                process.finish().await;
                let elapsed = process.elapsed();
                drop(process);
                ctx.processes.remove(args.session_id);
                let mut out = ToolOutput::text(report(&got, None, wait));
                out.success = exit.code == Some(0);
                out.command = Some(outcome(command, cwd, &got, None, elapsed, sandboxed));
                return Ok(out);
            }
            let mut out = ToolOutput::text(report(&got, Some(args.session_id), wait));
            out.command = Some(outcome(command, cwd, &got, Some(args.session_id), process.elapsed(), sandboxed));
            Ok(out)
        })
    }
}

/// How a kept process stands after a collection, for fronts: what it
/// printed since the last one, its exit once it has exited, and the
/// `session_id` it can be continued with while it runs.
pub(crate) fn outcome(
    command: String,
    cwd: String,
    got: &Collected,
    running: Option<u32>,
    elapsed: Duration,
    sandboxed: bool,
) -> CommandOutcome {
    CommandOutcome {
        command,
        cwd,
        exit_code: got.exit.and_then(|e| e.code),
        signal: got.exit.and_then(|e| e.signal),
        duration_ms: elapsed.as_millis() as u64,
        output: got.output.clone(),
        total_bytes: got.bytes,
        omitted_bytes: got.omitted,
        spool_path: None,
        timed_out: false,
        killed: got.exit.is_some_and(|e| e.signal.is_some()),
        sandboxed,
        session_id: running,
    }
}

/// The model's view of a collection: exit or "still running", then output.
pub(crate) fn report(got: &Collected, running: Option<u32>, waited: Duration) -> String {
    let mut s = match (got.exit, running) {
        (Some(exit), _) => match (exit.code, exit.signal) {
            (Some(code), _) => format!("Process exited with code {code}\n"),
            (None, Some(sig)) => format!("Process was killed by signal {sig}\n"),
            (None, None) => "Process exited\n".to_string(),
        },
        (None, Some(id)) => format!(
            "Process running with session_id {id} (after {:.1} s); use write_stdin to send input or poll\n",
            waited.as_secs_f64()
        ),
        (None, None) => String::new(),
    };
    if got.output.is_empty() {
        s.push_str("(no new output)\n");
    } else {
        s.push_str("Output:\n");
        s.push_str(&got.output);
    }
    s
}

//! `exec_command`: runs a shell command. By default it runs to completion
//! (or its timeout); with `tty` or `yield_time_ms` it returns after that
//! long with the output so far and, if the process is still running, a
//! `session_id` to continue it with `write_stdin`.

use crate::path::resolve_in_workspace;
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tern_process::ShellCommand;
use tern_protocol::CommandOutcome;

/// The longest timeout a model may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long an interactive start waits by default, and at most.
pub(crate) const DEFAULT_YIELD: Duration = Duration::from_secs(10);
pub(crate) const MAX_YIELD: Duration = Duration::from_secs(300);

pub(crate) struct ExecCommand;

#[derive(Deserialize)]
struct Args {
    cmd: String,
    workdir: Option<String>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    tty: bool,
    yield_time_ms: Option<u64>,
}

impl Tool for ExecCommand {
    fn name(&self) -> &'static str {
        "exec_command"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Run a shell command with `bash -c` in the workspace and return its exit code \
                and combined output (long output keeps its beginning and end; very long output is saved \
                to a file you can read). By default it runs to completion with empty stdin. For \
                interactive programs (REPLs, prompts) or long-running ones (servers, watchers), set \
                tty=true and/or yield_time_ms: the call returns after that long with the output so far \
                and a session_id; continue with write_stdin."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "cmd": {"type": "string", "description": "The shell command to run."},
                    "workdir": {"type": "string", "description": "Directory to run in, relative to the workspace root. Default: the root."},
                    "timeout_ms": {"type": "integer", "minimum": 1, "description": "Kill the command after this long (not for tty/yield sessions). Default 120000."},
                    "tty": {"type": "boolean", "description": "Run in a terminal so the program can be driven with write_stdin."},
                    "yield_time_ms": {"type": "integer", "minimum": 0, "description": "Return after this long with the output so far; the process keeps running. Default 10000 when tty is set."}
                },
                "required": ["cmd"],
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

    /// A command known to only read (the same parse that decides
    /// approvals) runs alongside the response's other reads; anything that
    /// may write, or keeps a process running, runs alone. So does a long
    /// script: this runs on the runtime's thread, where only a short
    /// parse belongs (see `approvals::INLINE_PARSE`).
    fn parallel_safe(&self, args: &serde_json::Value, workspace: &std::path::Path) -> bool {
        let Ok(args) = serde_json::from_value::<Args>(args.clone()) else { return false };
        if args.tty || args.yield_time_ms.is_some() || args.cmd.len() > crate::approvals::INLINE_PARSE {
            return false;
        }
        let cwd = crate::normalize(&workspace.join(args.workdir.as_deref().unwrap_or(".")));
        tern_safety::classify(&args.cmd, &cwd, workspace) == tern_safety::Verdict::Safe
    }

    fn command_line(&self, args: &serde_json::Value) -> Option<(String, String)> {
        let cmd = args.get("cmd").and_then(|c| c.as_str())?;
        let cwd = args.get("workdir").and_then(|c| c.as_str()).unwrap_or(".");
        Some((cmd.to_string(), cwd.to_string()))
    }

    /// The same parse that decides `parallel_safe`, from where the command
    /// will run (the directory is checked when it runs).
    fn approve<'a>(&'a self, ctx: &'a ToolCtx, args: &'a serde_json::Value) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(async move {
            let Some(cmd) = args.get("cmd").and_then(|c| c.as_str()) else { return Ok(()) };
            let workdir = args.get("workdir").and_then(|w| w.as_str()).unwrap_or(".");
            let root = &ctx.workspace.root;
            let cwd = crate::normalize(&root.join(workdir));
            ctx.approvals.check_command(cmd, &cwd, root, &ctx.call_id, &ctx.cancel).await
        })
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            if args.cmd.trim().is_empty() {
                return Err(ToolError::InvalidArgs("`cmd` is empty".into()));
            }
            let workdir = args.workdir.clone().unwrap_or_else(|| ".".into());
            #[allow(clippy::disallowed_methods)] // the closure runs in spawn_blocking
            let cwd = blocking(ctx, move |ws, cancel| {
                let dir = resolve_in_workspace(ws, &workdir)?;
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    let shown = crate::path::display(ws, &dir);
                    let what = format!("workdir {workdir} is not a directory");
                    Err(crate::nearby::missing(ws, &shown, what, crate::nearby::Want::Dir, cancel))
                }
            })
            .await?;
            if args.tty || args.yield_time_ms.is_some() {
                return interactive(ctx, &args, cwd).await;
            }
            let timeout = args.timeout_ms.map(Duration::from_millis).unwrap_or(ctx.exec_timeout).min(MAX_TIMEOUT);
            // Output that outgrows the cap is kept whole in the spool, except
            // when the command is itself reading a spool file (no spool of a spool).
            let spool_path = ctx
                .spool_dir
                .as_ref()
                .filter(|dir| !dir.parent().is_some_and(|root| args.cmd.contains(&*root.to_string_lossy())))
                .map(|dir| dir.join(format!("{}-{:06x}.out", ctx.item_id, fastrand::u32(..) & 0xff_ffff)));
            let cmd = ShellCommand {
                script: args.cmd.clone(),
                cwd: cwd.clone(),
                timeout,
                output_cap: ctx.output_cap,
                spool_path,
                sandbox: ctx.sandbox.clone(),
                env_remove: ctx.hidden_env.clone(),
            };
            let out = tern_process::run(&cmd, &ctx.cancel, &mut |b| ctx.output_delta(b)).await?;
            let mut content = String::new();
            if out.cancelled {
                content.push_str("Interrupted by the user: the command and everything it started were stopped.\n");
            }
            if out.timed_out {
                content.push_str(&format!(
                    "Command timed out after {:.1} s and was killed (pass timeout_ms for a longer limit).\n",
                    timeout.as_secs_f64()
                ));
            }
            match (out.exit_code, out.signal) {
                (Some(code), _) => content.push_str(&format!("Exit code: {code}\n")),
                (None, Some(sig)) => content.push_str(&format!("Killed by signal {sig}\n")),
                (None, None) => content.push_str("Exit status unknown\n"),
            }
            content.push_str(&format!("Wall time: {:.2} s\nOutput:\n{}", out.duration.as_secs_f64(), out.output));
            if let Some(path) = &out.spooled {
                content.push_str(&format!(
                    "\n[the full output ({} bytes) is saved in {}; read parts of it (offset/limit) or search it with your file tools]",
                    out.total_bytes,
                    path.display()
                ));
            }
            if let Some(e) = &out.spool_error {
                content.push_str(&format!(
                    "\n[the full output ({} bytes) could not be saved ({e}); only its beginning and end are shown]",
                    out.total_bytes
                ));
            }
            Ok(ToolOutput {
                content,
                success: out.exit_code == Some(0) && !out.timed_out && !out.cancelled,
                command: Some(CommandOutcome {
                    command: args.cmd,
                    cwd: cwd.display().to_string(),
                    exit_code: out.exit_code,
                    signal: out.signal,
                    duration_ms: out.duration.as_millis() as u64,
                    output: out.output,
                    total_bytes: out.total_bytes,
                    omitted_bytes: out.omitted_bytes,
                    spool_path: out.spooled.map(|p| p.display().to_string()),
                    timed_out: out.timed_out,
                    killed: out.cancelled || out.timed_out || out.signal.is_some(),
                    sandboxed: ctx.sandbox.is_some(),
                    session_id: None,
                }),
                ..Default::default()
            })
        })
    }
}

/// Starts a process that may outlive the call (see the module doc).
async fn interactive(ctx: &ToolCtx, args: &Args, cwd: std::path::PathBuf) -> Result<ToolOutput, ToolError> {
    let spec = tern_process::Spec {
        script: args.cmd.clone(),
        cwd: cwd.clone(),
        tty: args.tty,
        output_cap: ctx.output_cap,
        spool_path: None,
        sandbox: ctx.sandbox.clone(),
        env_remove: ctx.hidden_env.clone(),
    };
    let mut process = tern_process::Process::start(&spec).await?;
    let wait = args.yield_time_ms.map(Duration::from_millis).unwrap_or(DEFAULT_YIELD).min(MAX_YIELD);
    let got = process.collect(wait, &ctx.cancel, &mut |b| ctx.output_delta(b)).await;
    if ctx.cancel.is_cancelled() && got.exit.is_none() {
        // The turn was interrupted while starting: end it rather than keep it.
        process.terminate().await;
        return Err(ToolError::Cancelled);
    }
    let shown_cwd = cwd.display().to_string();
    let sandboxed = ctx.sandbox.is_some();
    let outcome = |session_id, elapsed| {
        crate::write_stdin::outcome(args.cmd.clone(), shown_cwd.clone(), &got, session_id, elapsed, sandboxed)
    };
    match got.exit {
        Some(exit) => {
            process.finish().await;
            let mut out = ToolOutput::text(crate::write_stdin::report(&got, None, process.elapsed()));
            out.success = exit.code == Some(0);
            out.command = Some(outcome(None, process.elapsed()));
            Ok(out)
        }
        None => {
            let elapsed = process.elapsed();
            let id = ctx.processes.insert(process, &args.cmd, &shown_cwd)?;
            let mut out = ToolOutput::text(crate::write_stdin::report(&got, Some(id), wait));
            out.command = Some(outcome(Some(id), elapsed));
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commands_known_to_read_are_parallel_safe() {
        let ws = std::path::Path::new("/work/repo");
        let safe = |args: serde_json::Value| ExecCommand.parallel_safe(&args, ws);
        assert!(safe(json!({"cmd": "rg -n foo src"})));
        assert!(safe(json!({"cmd": "git status && ls", "workdir": "src"})));
        assert!(!safe(json!({"cmd": "touch x"})));
        assert!(!safe(json!({"cmd": "cat notes > copy"})));
        assert!(!safe(json!({"cmd": "ls", "tty": true})), "a kept process runs alone");
        assert!(!safe(json!({"cmd": "ls", "yield_time_ms": 100})));
        assert!(!safe(json!({"command": "ls"})), "arguments that do not parse run alone");
        let long = format!("ls {}", "src ".repeat(crate::approvals::INLINE_PARSE / 4));
        assert!(!safe(json!({"cmd": long})), "a long script is not parsed here, and runs alone");
    }
}

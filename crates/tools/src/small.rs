//! The small-model profile: the same tools under brief schemas, and fewer
//! of them. A local model pays for every prompt token on the CPU before it
//! can answer, and a small one follows short, plain schemas better.

use crate::{Registry, Tool, ToolCtx, ToolError, ToolOutput, ToolSchema};
use futures_util::future::BoxFuture;
use serde_json::json;

/// A tool offered under a shorter schema; it behaves exactly as `inner`,
/// whose argument parsing accepts the subset the brief schema names.
struct Brief {
    inner: Box<dyn Tool>,
    description: &'static str,
    parameters: serde_json::Value,
    /// Refuses calls that only look like work (see [`only_prints`]).
    check: Option<Check>,
    /// Adds to a result what a small model misreads (see [`command_notes`]).
    after: Option<After>,
}

/// A test a brief tool's arguments must pass before the call.
type Check = fn(&serde_json::Value) -> Result<(), ToolError>;
/// A change to a brief tool's result.
type After = fn(&mut ToolOutput);

impl Tool for Brief {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.inner.name().to_owned().into(),
            description: self.description.into(),
            parameters: self.parameters.clone(),
        }
    }
    fn kind(&self) -> crate::ToolKind {
        self.inner.kind()
    }
    fn mutates(&self) -> bool {
        self.inner.mutates()
    }
    fn parallel_safe(&self, args: &serde_json::Value, workspace: &std::path::Path) -> bool {
        self.inner.parallel_safe(args, workspace)
    }
    fn command_line(&self, args: &serde_json::Value) -> Option<(String, String)> {
        self.inner.command_line(args)
    }
    fn approve<'a>(&'a self, ctx: &'a ToolCtx, args: &'a serde_json::Value) -> BoxFuture<'a, Result<(), ToolError>> {
        self.inner.approve(ctx, args)
    }
    fn idempotent(&self) -> bool {
        self.inner.idempotent()
    }
    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        if let Some(Err(e)) = self.check.map(|check| check(&args)) {
            return Box::pin(std::future::ready(Err(e)));
        }
        let Some(after) = self.after else { return self.inner.call(ctx, args) };
        Box::pin(async move {
            let mut out = self.inner.call(ctx, args).await?;
            after(&mut out);
            Ok(out)
        })
    }
}

/// What a small model misreads in a command's output, said in words: a
/// test run's counts, where the runner prints dots or TAP instead of "5
/// passed" (it reads those as 0), and the program a build made, whose
/// compiler line it reports as the program's output.
fn command_notes(out: &mut ToolOutput) {
    let notes = [crate::tally::summary(&out.content), out.command.as_ref().and_then(crate::built::note)];
    for line in notes.into_iter().flatten() {
        out.content.push_str(&format!("\n{line}\n"));
    }
}

/// A small model asked to change something sometimes "does" it with
/// `echo 'limit raised to 1000'` and reports success; such a command is
/// refused with what to use instead.
fn only_prints(args: &serde_json::Value) -> Result<(), ToolError> {
    let cmd = args.get("cmd").and_then(|c| c.as_str()).unwrap_or_default().trim();
    let first = cmd.split_whitespace().next().unwrap_or_default();
    let plumbing = ['>', '<', '|', ';', '&', '$', '`', '\n'];
    if matches!(first, "echo" | "printf") && !cmd.contains(plumbing) {
        return Err(ToolError::InvalidArgs(
            "this command only prints its own text: it changes nothing and checks nothing. To change a file use \
             edit_file or write_file; to find something use grep_files or read_file"
                .into(),
        ));
    }
    Ok(())
}

fn brief(
    inner: impl Tool + 'static,
    description: &'static str,
    properties: serde_json::Value,
    required: &[&str],
) -> Box<dyn Tool> {
    Box::new(brief_of(inner, description, properties, required))
}

fn brief_of(
    inner: impl Tool + 'static,
    description: &'static str,
    properties: serde_json::Value,
    required: &[&str],
) -> Brief {
    let parameters = json!({"type": "object", "properties": properties, "required": required});
    Brief { inner: Box::new(inner), description, parameters, check: None, after: None }
}

impl Registry {
    /// Six tools with one-line descriptions: search, read, look around, run,
    /// edit, write (search first: small models favour the first tool listed).
    pub fn small_profile() -> Self {
        // Only required parameters, bar list_dir's: small models fill every
        // optional one with a guess.
        let s = json!({"type": "string"});
        Registry::with_tools(vec![
            brief(
                crate::grep_files::GrepFiles,
                "Search the workspace's files for a regex. Returns path:line: text.",
                json!({"pattern": s}),
                &["pattern"],
            ),
            brief(crate::read_file::ReadFile, "Read a file. Lines are numbered.", json!({"path": s}), &["path"]),
            brief(crate::list_dir::ListDir, "List files in a directory.", json!({"path": s}), &[]),
            Box::new(Brief {
                check: Some(only_prints),
                after: Some(command_notes),
                ..brief_of(
                    crate::exec_command::ExecCommand,
                    "Run a bash command in the workspace.",
                    json!({"cmd": s}),
                    &["cmd"],
                )
            }),
            brief(
                crate::edit::edit_file::EditFile,
                "Replace old_string (exact, once) with new_string in a file.",
                json!({"path": s, "old_string": s, "new_string": s}),
                &["path", "old_string", "new_string"],
            ),
            brief(
                crate::edit::write_file::WriteFile,
                "Create or overwrite a file.",
                json!({"path": s, "content": s}),
                &["path", "content"],
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_command_that_only_prints_is_refused() {
        let refused = |cmd: &str| only_prints(&json!({"cmd": cmd})).is_err();
        assert!(refused("echo 'Note limit raised to 1000'"));
        assert!(refused("printf done"));
        assert!(!refused("echo 'x = 1' > a.py"));
        assert!(!refused("echo $HOME"));
        assert!(!refused("make test"));
        assert!(!refused("echo a && make"));
    }

    #[test]
    fn brief_schemas_name_only_parameters_the_full_tools_accept() {
        let small = Registry::small_profile();
        let full = Registry::codex_profile();
        for s in small.schemas() {
            let f = full.schemas().into_iter().find(|f| f.name == s.name).unwrap();
            for key in s.parameters["properties"].as_object().unwrap().keys() {
                assert!(f.parameters["properties"].get(key).is_some(), "{}.{key}", s.name);
            }
            assert!(s.description.len() < 80);
        }
    }
}

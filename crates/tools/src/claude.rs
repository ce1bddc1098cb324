//! The Claude profile: Claude Code's tool vocabulary (`Bash`, `Read`,
//! `Edit`, `Write`, `Grep`, `Glob`, `TodoWrite`), which Claude models are
//! trained on. Each is the same implementation as its Codex-profile twin
//! under Claude Code's name and schema; the arguments are renamed on the
//! way in, so there is one tool behind both names.

use crate::glob_files::GlobFiles;
use crate::{Registry, Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

/// A tool under another name and schema; `rename` maps the offered
/// arguments onto the ones `inner` takes.
struct Alias {
    name: &'static str,
    description: &'static str,
    parameters: Value,
    inner: Box<dyn Tool>,
    rename: fn(Map<String, Value>) -> Map<String, Value>,
}

impl Alias {
    fn inner_args(&self, args: Value) -> Value {
        match args {
            Value::Object(map) => Value::Object((self.rename)(map)),
            // Not an object: the inner tool's parser says what is wrong.
            other => other,
        }
    }
}

impl Tool for Alias {
    fn name(&self) -> &'static str {
        self.name
    }
    fn schema(&self) -> ToolSchema {
        ToolSchema { name: self.name.into(), description: self.description.into(), parameters: self.parameters.clone() }
    }
    fn kind(&self) -> ToolKind {
        self.inner.kind()
    }
    fn mutates(&self) -> bool {
        self.inner.mutates()
    }
    fn parallel_safe(&self, args: &Value, workspace: &std::path::Path) -> bool {
        self.inner.parallel_safe(&self.inner_args(args.clone()), workspace)
    }
    fn command_line(&self, args: &Value) -> Option<(String, String)> {
        self.inner.command_line(&self.inner_args(args.clone()))
    }
    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        self.inner.call(ctx, self.inner_args(args))
    }
}

/// Moves `from` to `to` in `map`, if present.
fn rename_key(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = map.remove(from) {
        map.insert(to.into(), v);
    }
}

fn bash_args(mut m: Map<String, Value>) -> Map<String, Value> {
    rename_key(&mut m, "command", "cmd");
    rename_key(&mut m, "timeout", "timeout_ms");
    // A note for the user, not an argument of the command.
    m.remove("description");
    m
}

fn path_args(mut m: Map<String, Value>) -> Map<String, Value> {
    rename_key(&mut m, "file_path", "path");
    m
}

fn grep_args(mut m: Map<String, Value>) -> Map<String, Value> {
    rename_key(&mut m, "glob", "include");
    rename_key(&mut m, "-i", "case_insensitive");
    rename_key(&mut m, "head_limit", "limit");
    m
}

fn todo_args(mut m: Map<String, Value>) -> Map<String, Value> {
    let todos = match m.remove("todos") {
        Some(Value::Array(items)) => items,
        // Left for update_plan to reject with its own message.
        Some(other) => return Map::from_iter([("plan".to_string(), other)]),
        None => vec![],
    };
    let plan = todos
        .into_iter()
        .map(|t| match t {
            Value::Object(mut item) => {
                rename_key(&mut item, "content", "step");
                item.remove("activeForm");
                item.remove("id");
                Value::Object(item)
            }
            other => other,
        })
        .collect();
    Map::from_iter([("plan".to_string(), Value::Array(plan))])
}

impl Registry {
    /// Claude Code's vocabulary over tern's tools, for Claude models.
    pub fn claude_profile() -> Self {
        let s = json!({"type": "string"});
        let n = json!({"type": "number"});
        let b = json!({"type": "boolean"});
        let alias = |name, description, properties: Value, required: &[&str], inner: Box<dyn Tool>, rename| {
            let parameters = json!({
                "type": "object", "properties": properties, "required": required, "additionalProperties": false
            });
            Box::new(Alias { name, description, parameters, inner, rename }) as Box<dyn Tool>
        };
        Registry::with_tools(vec![
            alias(
                "Bash",
                "Executes a bash command in the workspace (`bash -c`, no stdin) and returns its exit code and \
                 output. Long output keeps its beginning and end and is saved whole to a file you can Read. \
                 Use it for builds, tests, git and other terminal work; use Read, Grep and Glob for files.",
                json!({"command": s, "timeout": {"type": "number", "description": "Milliseconds (max 1800000). Default 120000."},
                       "description": {"type": "string", "description": "What the command does, in a few words."}}),
                &["command"],
                Box::new(crate::exec_command::ExecCommand),
                bash_args,
            ),
            alias(
                "Read",
                "Reads a file from the workspace. Lines are numbered from 1. For large files pass offset (first \
                 line) and limit (number of lines).",
                json!({"file_path": s, "offset": n, "limit": n}),
                &["file_path"],
                Box::new(crate::read_file::ReadFile),
                path_args,
            ),
            alias(
                "Edit",
                "Replaces old_string with new_string in a file. old_string must match the file exactly and be \
                 unique unless replace_all is true. Read the file first.",
                json!({"file_path": s, "old_string": s, "new_string": s, "replace_all": b}),
                &["file_path", "old_string", "new_string"],
                Box::new(crate::edit::edit_file::EditFile),
                path_args,
            ),
            alias(
                "Write",
                "Writes a file, creating it or replacing it whole (an existing file must have been Read first). \
                 Prefer Edit for changes to existing files.",
                json!({"file_path": s, "content": s}),
                &["file_path", "content"],
                Box::new(crate::edit::write_file::WriteFile),
                path_args,
            ),
            alias(
                "Grep",
                "Searches file contents with a regular expression (ripgrep's engine). Returns `path:line: text` \
                 for each match; .gitignore'd and binary files are skipped.",
                json!({"pattern": s, "path": s, "glob": {"type": "string", "description": "Only files matching this glob, e.g. \"*.rs\"."},
                       "-i": b, "head_limit": n}),
                &["pattern"],
                Box::new(crate::grep_files::GrepFiles),
                grep_args,
            ),
            Box::new(GlobFiles),
            alias(
                "TodoWrite",
                "Replaces your task list for the current work. Use it for tasks with several steps; keep one \
                 item in_progress at a time and mark items completed as you finish them.",
                json!({"todos": {"type": "array", "items": {"type": "object", "properties": {
                    "content": s,
                    "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                    "activeForm": s}, "required": ["content", "status"]}}}),
                &["todos"],
                Box::new(crate::update_plan::UpdatePlan),
                todo_args,
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_renamed_for_the_inner_tool() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        let bash = bash_args(m(json!({"command": "ls", "timeout": 5000, "description": "list"})));
        assert_eq!(Value::Object(bash), json!({"cmd": "ls", "timeout_ms": 5000}));
        let grep = grep_args(m(json!({"pattern": "x", "glob": "*.rs", "-i": true, "head_limit": 3})));
        assert_eq!(
            Value::Object(grep),
            json!({"pattern": "x", "include": "*.rs", "case_insensitive": true, "limit": 3})
        );
        let todo = todo_args(m(json!({"todos": [{"content": "a", "status": "pending", "activeForm": "doing a"}]})));
        assert_eq!(Value::Object(todo), json!({"plan": [{"step": "a", "status": "pending"}]}));
    }

    #[test]
    fn the_profile_offers_claude_codes_names() {
        let names: Vec<_> = Registry::claude_profile().schemas().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["Bash", "Read", "Edit", "Write", "Grep", "Glob", "TodoWrite"]);
    }
}

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
    fn approve<'a>(&'a self, ctx: &'a ToolCtx, args: &'a Value) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(async move {
            let args = self.inner_args(args.clone());
            self.inner.approve(ctx, &args).await
        })
    }
    fn idempotent(&self) -> bool {
        self.inner.idempotent()
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

/// How hooks written for Claude Code see a call of one of tern's own
/// tools: Claude Code's name for it and its input under Claude Code's
/// field names (`Bash` with `command` for `exec_command`'s `cmd`, `Read`
/// with `file_path`, …). Tools without a twin (the Claude profile's own,
/// MCP tools, `write_stdin`) are seen as they are. `apply_patch` is an
/// `Edit` whose `file_path` is the first file the patch names, with every
/// file in `file_paths` and the patch text in `patch`.
pub fn claude_view(name: &str, args: &Value) -> (String, Value) {
    let Value::Object(m) = args else { return (name.to_string(), args.clone()) };
    let mut m = m.clone();
    let twin = match name {
        "exec_command" => {
            rename_key(&mut m, "cmd", "command");
            rename_key(&mut m, "timeout_ms", "timeout");
            "Bash"
        }
        "read_file" | "edit_file" | "write_file" => {
            rename_key(&mut m, "path", "file_path");
            match name {
                "read_file" => "Read",
                "edit_file" => "Edit",
                _ => "Write",
            }
        }
        "grep_files" => {
            rename_key(&mut m, "include", "glob");
            rename_key(&mut m, "case_insensitive", "-i");
            rename_key(&mut m, "limit", "head_limit");
            "Grep"
        }
        "list_dir" => "LS",
        "update_plan" => {
            let plan = match m.remove("plan") {
                Some(Value::Array(items)) => items,
                _ => vec![],
            };
            let todos = plan
                .into_iter()
                .map(|item| match item {
                    Value::Object(mut item) => {
                        rename_key(&mut item, "step", "content");
                        Value::Object(item)
                    }
                    other => other,
                })
                .collect();
            m = Map::from_iter([("todos".to_string(), Value::Array(todos))]);
            "TodoWrite"
        }
        "apply_patch" => {
            let patch = m.remove("input").unwrap_or_default();
            let paths: Vec<Value> = tern_patch::parse(patch.as_str().unwrap_or(""))
                .map(|hunks| hunks.iter().map(|h| Value::from(h.path())).collect())
                .unwrap_or_default();
            m = Map::new();
            m.insert("file_path".into(), paths.first().cloned().unwrap_or_default());
            m.insert("file_paths".into(), Value::Array(paths));
            m.insert("patch".into(), patch);
            "Edit"
        }
        _ => return (name.to_string(), args.clone()),
    };
    (twin.to_string(), Value::Object(m))
}

/// A hook's `updatedInput` (Claude Code's field names) as arguments of
/// tern's tool `name`: the inverse of [`claude_view`].
pub fn from_claude_view(name: &str, input: Value) -> Value {
    let Value::Object(m) = input else { return input };
    Value::Object(match name {
        "exec_command" => bash_args(m),
        "read_file" | "edit_file" | "write_file" => path_args(m),
        "grep_files" => grep_args(m),
        "update_plan" => todo_args(m),
        "apply_patch" => {
            let mut m = m;
            rename_key(&mut m, "patch", "input");
            m.remove("file_path");
            m.remove("file_paths");
            m
        }
        _ => m,
    })
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
    fn hooks_see_claude_codes_names_and_fields_and_changes_come_back() {
        let args = json!({"cmd": "ls", "workdir": "src", "timeout_ms": 100});
        let (name, input) = claude_view("exec_command", &args);
        assert_eq!((name.as_str(), &input), ("Bash", &json!({"command": "ls", "workdir": "src", "timeout": 100})));
        assert_eq!(from_claude_view("exec_command", input), args);
        let args = json!({"path": "a.rs", "old_string": "x", "new_string": "y"});
        let (name, input) = claude_view("edit_file", &args);
        assert_eq!(name, "Edit");
        assert_eq!(input["file_path"], "a.rs");
        assert_eq!(from_claude_view("edit_file", input), args);
        let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** Update File: b.txt\n@@\n-x\n+y\n*** End Patch";
        let (name, input) = claude_view("apply_patch", &json!({"input": patch}));
        assert_eq!(name, "Edit");
        assert_eq!(input["file_path"], "a.txt");
        assert_eq!(input["file_paths"], json!(["a.txt", "b.txt"]));
        assert_eq!(from_claude_view("apply_patch", input), json!({"input": patch}));
        let (name, input) = claude_view("update_plan", &json!({"plan": [{"step": "a", "status": "pending"}]}));
        assert_eq!((name.as_str(), input), ("TodoWrite", json!({"todos": [{"content": "a", "status": "pending"}]})));
        // The Claude profile's tools and MCP tools are seen as they are.
        let args = json!({"command": "ls"});
        assert_eq!(claude_view("Bash", &args), ("Bash".to_string(), args.clone()));
        assert_eq!(claude_view("mcp__m__t", &args).0, "mcp__m__t");
    }

    #[test]
    fn the_profile_offers_claude_codes_names() {
        let names: Vec<_> = Registry::claude_profile().schemas().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["Bash", "Read", "Edit", "Write", "Grep", "Glob", "TodoWrite"]);
    }
}

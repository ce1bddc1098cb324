//! `write_file`: create a file, or replace one the model has read.

use super::{Plan, target};
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

pub(crate) struct WriteFile;

#[derive(Deserialize)]
struct Args {
    path: String,
    content: String,
}

impl Tool for WriteFile {
    fn name(&self) -> &'static str {
        "write_file"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "Write a whole file: create it, or replace one you have read with read_file. \
                Prefer apply_patch or edit_file to change part of an existing file."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Edit
    }

    fn mutates(&self) -> bool {
        true
    }

    fn approve<'a>(&'a self, ctx: &'a ToolCtx, _args: &'a serde_json::Value) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(std::future::ready(ctx.approvals.check_write()))
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let files = ctx.files.clone();
            blocking(ctx, move |ws, _| {
                let (path, shown) = target(ws, &args.path)?;
                let mut plan = Plan::default();
                let before = plan.current(&path);
                if before.is_some() {
                    if !files.was_read(&path) {
                        return Err(ToolError::Failed(format!(
                            "{shown} already exists and you have not read it; read it first (write_file replaces the whole file)"
                        )));
                    }
                    files.check_fresh(&path, &shown)?;
                }
                let verb = if before.is_some() { "Replaced" } else { "Created" };
                // Whole files copied from read_file's output, numbers and all.
                let (text, note) = match super::numbers::unnumbered(&args.content) {
                    Some(bare) if args.content.lines().nth(1).is_some() => {
                        (bare, " (without the L<n>: line numbers copied from read_file)")
                    }
                    _ => (args.content, ""),
                };
                let content = format!("{verb} {shown} ({} bytes){note}", text.len());
                plan.change(ws, &path, before.as_deref(), text.into_bytes());
                Ok(ToolOutput::changed(content, plan.commit(&files)?))
            })
            .await
        })
    }
}

//! `apply_patch`: Codex's patch format. The whole patch is checked before
//! anything is written: if any part fails, no file changes.

use super::{Plan, target};
use crate::path::Workspace;
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use tern_files::FileState;
use tern_files::text::Text;
use tern_patch::Hunk;
use tern_protocol::{FileChange, FileChangeKind};

pub(crate) struct ApplyPatch;

#[derive(Deserialize)]
struct Args {
    input: String,
}

const DESCRIPTION: &str = "Edit files with a patch. Format:\n\
*** Begin Patch\n\
*** Add File: path/new.txt\n\
+line of the new file\n\
*** Delete File: path/old.txt\n\
*** Update File: path/file.py\n\
*** Move to: path/renamed.py   (optional)\n\
@@ def some_function():        (optional: a line just above the change)\n\
 unchanged context line\n\
-removed line\n\
+added line\n\
*** End Patch\n\
Give 3 lines of context around each change; use several @@ sections for several places. \
Paths are relative to the workspace root. The patch applies completely or not at all.";

impl Tool for ApplyPatch {
    fn name(&self) -> &'static str {
        "apply_patch"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: DESCRIPTION.into(),
            parameters: json!({
                "type": "object",
                "properties": {"input": {"type": "string", "description": "The whole patch, from *** Begin Patch to *** End Patch."}},
                "required": ["input"],
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
                let report = apply_patch(ws, &files, &args.input)?;
                Ok(ToolOutput::changed(report.summary(), report.changes))
            })
            .await
        })
    }
}

/// What a patch changed.
#[derive(Debug)]
pub struct PatchReport {
    pub changes: Vec<FileChange>,
}

impl PatchReport {
    /// Codex's summary: `A`/`M`/`D` and the path of each file.
    pub fn summary(&self) -> String {
        let mut s = String::from("Success. Updated the following files:\n");
        for c in &self.changes {
            let mark = match c.kind {
                FileChangeKind::Add => 'A',
                FileChangeKind::Delete => 'D',
                FileChangeKind::Update => 'M',
            };
            s.push_str(&format!("{mark} {}\n", c.move_path.as_deref().unwrap_or(&c.path)));
        }
        s
    }
}

/// A file the patch names is missing: say which exist (the walk is
/// bounded, so it needs no cancellation).
fn absent(ws: &Workspace, shown: &str, what: String) -> ToolError {
    crate::nearby::missing(ws, shown, what, crate::nearby::Want::File, &tokio_util::sync::CancellationToken::new())
}

/// Applies a patch inside `ws`: everything is parsed, resolved, read and
/// computed first; only then is anything written. Blocking.
pub fn apply_patch(ws: &Workspace, files: &FileState, text: &str) -> Result<PatchReport, ToolError> {
    let hunks = tern_patch::parse(text).map_err(|e| ToolError::InvalidArgs(e.to_string()))?;
    let mut plan = Plan::default();
    for hunk in &hunks {
        let (path, shown) = target(ws, hunk.path())?;
        match hunk {
            Hunk::Add { contents, .. } => {
                let before = plan.current(&path);
                if before.is_some() {
                    files.check_fresh(&path, &shown)?;
                }
                plan.change(ws, &path, before.as_deref(), contents.clone().into_bytes());
            }
            Hunk::Delete { .. } => {
                let Some(before) = plan.current(&path) else {
                    return Err(absent(ws, &shown, format!("cannot delete {shown}: it does not exist")));
                };
                files.check_fresh(&path, &shown)?;
                plan.delete(&path);
                plan.describe(ws, &path, None, Some(&before), None);
            }
            Hunk::Update { move_to, chunks, .. } => {
                let Some(before) = plan.current(&path) else {
                    return Err(absent(ws, &shown, format!("cannot update {shown}: it does not exist")));
                };
                files.check_fresh(&path, &shown)?;
                let text = Text::decode(&before, &shown)?;
                let body = tern_patch::apply_chunks(&text.body, chunks, &shown)?;
                let after = text.encode(&body);
                match move_to {
                    Some(dest) => {
                        let (dest, dest_shown) = target(ws, dest)?;
                        if plan.current(&dest).is_some() && dest != path {
                            files.check_fresh(&dest, &dest_shown)?;
                        }
                        plan.write(&dest, after.clone(), tern_files::write::mode_of(&path));
                        if dest != path {
                            plan.delete(&path);
                        }
                        plan.describe(ws, &path, Some(&dest), Some(&before), Some(&after));
                    }
                    None => plan.change(ws, &path, Some(&before), after),
                }
            }
        }
    }
    Ok(PatchReport { changes: plan.commit(files)? })
}

//! `list_dir`: a directory tree, honouring .gitignore.

use crate::nearby::{Want, missing};
use crate::path::{display, resolve_for_read};
use crate::{Tool, ToolCtx, ToolError, ToolKind, ToolOutput, ToolSchema, blocking, parse_args};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Entries walked past the limit only to report how many were left out
/// (a bigger remainder is "10000+": counting it would walk a big tree).
const COUNT_CAP: usize = 10_000;

pub(crate) struct ListDir;

#[derive(Deserialize)]
struct Args {
    #[serde(default)]
    path: Option<String>,
    depth: Option<usize>,
    limit: Option<usize>,
}

impl Tool for ListDir {
    fn name(&self) -> &'static str {
        "list_dir"
    }

    fn schema(&self) -> ToolSchema {
        ToolSchema {
            name: self.name().to_owned().into(),
            description: "List a directory as an indented tree (directories end with `/`). \
                Files ignored by .gitignore are left out."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory, relative to the workspace root. Default: the root."},
                    "depth": {"type": "integer", "minimum": 1, "description": "How many levels to descend. Default 2."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Maximum entries to return. Default 200."}
                },
                "additionalProperties": false
            }),
        }
    }

    fn kind(&self) -> ToolKind {
        ToolKind::Search
    }

    fn mutates(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, ctx: &'a ToolCtx, args: serde_json::Value) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            blocking(ctx, move |ws, cancel| {
                let dir = resolve_for_read(ws, args.path.as_deref().unwrap_or("."))?;
                list(ws, &dir, args.depth.unwrap_or(2).max(1), args.limit.unwrap_or(200).max(1), cancel)
                    .map(ToolOutput::text)
            })
            .await
        })
    }
}

#[allow(clippy::disallowed_methods)] // runs in spawn_blocking (see `call`)
fn list(ws: &Path, dir: &Path, depth: usize, limit: usize, cancel: &CancellationToken) -> Result<String, ToolError> {
    let shown = display(ws, dir);
    if !dir.is_dir() {
        if !dir.exists() {
            return Err(missing(ws, &shown, format!("{shown} does not exist"), Want::Dir, cancel));
        }
        return Err(ToolError::Failed(format!("{shown} is a file, not a directory; read it with read_file")));
    }
    let walker = crate::path::walker(dir).max_depth(Some(depth)).sort_by_file_name(|a, b| a.cmp(b)).build();
    let mut out = format!("{shown}/\n");
    let mut listed = 0usize;
    let mut omitted = 0usize;
    for entry in walker {
        if cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        let Ok(entry) = entry else { continue };
        if entry.depth() == 0 {
            continue;
        }
        if listed >= limit {
            omitted += 1;
            if omitted >= COUNT_CAP {
                break;
            }
            continue;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let indent = "  ".repeat(entry.depth());
        let name = entry.file_name().to_string_lossy();
        out.push_str(&format!("{indent}{name}{}\n", if is_dir { "/" } else { "" }));
        listed += 1;
    }
    if listed == 0 {
        out.push_str("  (empty)\n");
    }
    if omitted > 0 {
        let more = if omitted >= COUNT_CAP { format!("{COUNT_CAP}+") } else { omitted.to_string() };
        out.push_str(&format!("[… {more} more entries not shown; raise limit or list a subdirectory]\n"));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn tree_honours_gitignore_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(ws.join("src/deep/deeper")).unwrap();
        std::fs::write(ws.join("src/main.rs"), "").unwrap();
        std::fs::write(ws.join(".gitignore"), "target/\n").unwrap();
        std::fs::create_dir_all(ws.join("target")).unwrap();
        std::fs::write(ws.join("target/x"), "").unwrap();
        let c = CancellationToken::new();
        let out = list(&ws, &ws, 2, 100, &c).unwrap();
        assert_eq!(out, "./\n  .gitignore\n  src/\n    deep/\n    main.rs\n");
        let out = list(&ws, &ws, 3, 2, &c).unwrap();
        assert!(out.ends_with("[… 3 more entries not shown; raise limit or list a subdirectory]\n"), "{out}");
    }
}

//! Resolving model-supplied paths inside the workspace.

use crate::ToolError;
use std::path::{Component, Path, PathBuf};

/// Resolves `raw` (absolute, or relative to the workspace) with `..` and
/// symlinks followed, and refuses anything that lands outside `workspace`
/// (which must be canonical). The path need not exist. Blocking: call from
/// `spawn_blocking`.
pub fn resolve_in_workspace(workspace: &Path, raw: &str) -> Result<PathBuf, ToolError> {
    let raw = raw.trim();
    let joined = if raw.is_empty() { workspace.to_path_buf() } else { workspace.join(raw) };
    let lexical = normalize(&joined);
    // Canonicalize the longest prefix that exists, so symlinks are followed.
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    let canonical = loop {
        match existing.canonicalize() {
            Ok(c) => break c,
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => break existing.to_path_buf(),
            },
        }
    };
    let mut resolved = canonical;
    for name in rest.iter().rev() {
        resolved.push(name);
    }
    if resolved.starts_with(workspace) {
        Ok(resolved)
    } else {
        Err(ToolError::OutsideWorkspace(raw.to_string(), workspace.display().to_string()))
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the workspace, for display.
pub(crate) fn display(workspace: &Path, path: &Path) -> String {
    match path.strip_prefix(workspace) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    #[test]
    fn inside_outside_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap().join("ws");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        assert_eq!(resolve_in_workspace(&ws, "src/new.rs").unwrap(), ws.join("src/new.rs"));
        assert_eq!(resolve_in_workspace(&ws, "src/../a").unwrap(), ws.join("a"));
        assert!(resolve_in_workspace(&ws, "../x").is_err());
        assert!(resolve_in_workspace(&ws, "/etc/passwd").is_err());
        std::os::unix::fs::symlink("/etc", ws.join("link")).unwrap();
        assert!(resolve_in_workspace(&ws, "link/passwd").is_err());
        assert!(resolve_in_workspace(&ws, "link/nonexistent/x").is_err());
        assert_eq!(resolve_in_workspace(&ws, "").unwrap(), ws);
    }
}

//! Resolving model-supplied paths inside the workspace.

use crate::ToolError;
use std::path::{Component, Path, PathBuf};

/// Where tools may work: the workspace root (relative paths start here),
/// extra roots the user declared, and roots tools may only read (tern's
/// spooled command output). All canonical.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub extra_roots: Vec<PathBuf>,
    pub read_only_roots: Vec<PathBuf>,
}

impl Workspace {
    /// A workspace of just `root`.
    pub fn new(root: PathBuf) -> Self {
        Workspace { root, extra_roots: vec![], read_only_roots: vec![] }
    }

    fn writable(&self, path: &Path) -> bool {
        path.starts_with(&self.root) || self.extra_roots.iter().any(|r| path.starts_with(r))
    }

    fn readable(&self, path: &Path) -> bool {
        self.writable(path) || self.read_only_roots.iter().any(|r| path.starts_with(r))
    }
}

/// Derefs to the root, the directory paths are shown relative to.
impl std::ops::Deref for Workspace {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.root
    }
}

/// How the tools walk a tree: .gitignore'd files left out, dotfiles kept,
/// `.git` skipped, inside a repository or not. Callers add depth, globs
/// or an order.
pub(crate) fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut b = ignore::WalkBuilder::new(root);
    b.hidden(false).require_git(false).filter_entry(|e| e.file_name() != ".git");
    b
}

/// Resolves `raw` (absolute, or relative to the workspace root) with `..`
/// and symlinks followed, and refuses anything that lands outside the
/// workspace's writable roots. The path need not exist. Blocking: call from
/// `spawn_blocking`.
pub fn resolve_in_workspace(workspace: &Workspace, raw: &str) -> Result<PathBuf, ToolError> {
    resolve(workspace, raw, Workspace::writable)
}

/// Like [`resolve_in_workspace`], also accepting the read-only roots.
pub fn resolve_for_read(workspace: &Workspace, raw: &str) -> Result<PathBuf, ToolError> {
    resolve(workspace, raw, Workspace::readable)
}

#[allow(clippy::disallowed_methods)] // blocking by contract (see the callers' docs)
fn resolve(workspace: &Workspace, raw: &str, allowed: fn(&Workspace, &Path) -> bool) -> Result<PathBuf, ToolError> {
    let raw = raw.trim();
    let joined = if raw.is_empty() { workspace.root.clone() } else { workspace.root.join(raw) };
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
    if allowed(workspace, &resolved) {
        Ok(resolved)
    } else {
        Err(ToolError::OutsideWorkspace(raw.to_string(), workspace.root.display().to_string()))
    }
}

/// Resolves `.` and `..` in `p` without touching the file system.
pub fn normalize(p: &Path) -> PathBuf {
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
        let root = dir.path().canonicalize().unwrap().join("ws");
        std::fs::create_dir_all(root.join("src")).unwrap();
        let extra = dir.path().canonicalize().unwrap().join("extra");
        std::fs::create_dir_all(&extra).unwrap();
        let ro = dir.path().canonicalize().unwrap().join("ro");
        let ws = Workspace { root: root.clone(), extra_roots: vec![extra.clone()], read_only_roots: vec![ro.clone()] };
        assert!(resolve_in_workspace(&ws, ro.join("f").to_str().unwrap()).is_err());
        assert_eq!(resolve_for_read(&ws, ro.join("f").to_str().unwrap()).unwrap(), ro.join("f"));
        assert_eq!(resolve_in_workspace(&ws, extra.join("f").to_str().unwrap()).unwrap(), extra.join("f"));
        assert!(resolve_in_workspace(&ws, "../extra/../other").is_err());
        assert_eq!(resolve_in_workspace(&ws, "src/new.rs").unwrap(), root.join("src/new.rs"));
        assert_eq!(resolve_in_workspace(&ws, "src/../a").unwrap(), root.join("a"));
        assert!(resolve_in_workspace(&ws, "../x").is_err());
        assert!(resolve_in_workspace(&ws, "/etc/passwd").is_err());
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        assert!(resolve_in_workspace(&ws, "link/passwd").is_err());
        assert!(resolve_in_workspace(&ws, "link/nonexistent/x").is_err());
        assert_eq!(resolve_in_workspace(&ws, "").unwrap(), root);
    }
}

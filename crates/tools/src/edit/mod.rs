//! The editing tools. All of them plan their changes in memory, check
//! them completely, and then hand them to [`tern_files::FileState::commit`]
//! (checkpoint, atomic writes, rollback on failure).

pub(crate) mod apply_patch;
pub(crate) mod edit_file;
mod numbers;
pub(crate) mod repeats;
pub(crate) mod write_file;

use crate::ToolError;
use crate::path::Workspace;
use std::path::{Path, PathBuf};
use tern_files::{Change, FileState};
use tern_protocol::{FileChange, FileChangeKind};

/// Planned changes: final contents per path, in the order they were made,
/// as seen through earlier changes of the same plan.
#[derive(Default)]
pub(crate) struct Plan {
    ops: Vec<Change>,
    changes: Vec<FileChange>,
    /// Final state of each touched path (`None`: deleted).
    state: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Plan {
    /// The file's bytes as the plan so far leaves them.
    pub(crate) fn current(&self, path: &Path) -> Option<Vec<u8>> {
        match self.state.iter().rev().find(|(p, _)| p == path) {
            Some((_, s)) => s.clone(),
            None => tern_files::write::read_with_mode(path).map(|(b, _)| b),
        }
    }

    pub(crate) fn write(&mut self, path: &Path, bytes: Vec<u8>, mode: Option<u32>) {
        self.state.push((path.to_path_buf(), Some(bytes.clone())));
        self.ops.push(Change::Write { path: path.to_path_buf(), bytes, mode });
    }

    pub(crate) fn delete(&mut self, path: &Path) {
        self.state.push((path.to_path_buf(), None));
        self.ops.push(Change::Delete { path: path.to_path_buf() });
    }

    /// Plans `path` to hold `after` (keeping its permissions if it
    /// exists), with a change description against `before`.
    pub(crate) fn change(&mut self, ws: &Path, path: &Path, before: Option<&[u8]>, after: Vec<u8>) {
        self.describe(ws, path, None, before, Some(&after));
        self.write(path, after, tern_files::write::mode_of(path));
    }

    pub(crate) fn describe(
        &mut self,
        ws: &Path,
        path: &Path,
        move_to: Option<&Path>,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) {
        let kind = match (before, after) {
            (None, _) => FileChangeKind::Add,
            (_, None) => FileChangeKind::Delete,
            _ => FileChangeKind::Update,
        };
        let shown = crate::path::display(ws, path);
        let shown_to = move_to.map(|m| crate::path::display(ws, m));
        let diff = tern_files::diff::unified(shown_to.as_deref().unwrap_or(&shown), before, after);
        self.changes.push(FileChange { path: shown, kind, move_path: shown_to, diff });
    }

    /// Writes everything, or nothing.
    pub(crate) fn commit(self, files: &FileState) -> Result<Vec<FileChange>, ToolError> {
        files.commit(&self.ops)?;
        Ok(self.changes)
    }
}

/// Resolves a file to edit inside the workspace: its path and how it is
/// shown. Directories are refused. Blocking: edits plan in spawn_blocking.
#[allow(clippy::disallowed_methods)] // see the doc: blocking by contract
pub(crate) fn target(ws: &Workspace, raw: &str) -> Result<(PathBuf, String), ToolError> {
    let path = crate::path::resolve_in_workspace(ws, raw)?;
    let shown = crate::path::display(ws, &path);
    if path.is_dir() {
        return Err(ToolError::Failed(format!("{shown} is a directory")));
    }
    Ok((path, shown))
}

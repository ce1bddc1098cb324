//! Where tern keeps its files.

use std::path::{Path, PathBuf};

fn home(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

/// `$XDG_CONFIG_HOME/tern`, else `~/.config/tern`.
pub fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match env("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x).join("tern"),
        None => home(env).join(".config").join("tern"),
    }
}

/// `$TERN_HOME`, else `$XDG_DATA_HOME/tern`, else `~/.local/share/tern`.
pub fn data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(t) = env("TERN_HOME") {
        return PathBuf::from(t);
    }
    match env("XDG_DATA_HOME") {
        Some(x) => PathBuf::from(x).join("tern"),
        None => home(env).join(".local").join("share").join("tern"),
    }
}

/// The nearest ancestor of `cwd` (itself included) holding `.git`, if any.
#[allow(clippy::disallowed_methods)] // sync by design: used before the runtime or in spawn_blocking
pub fn repo_root(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors().find(|d| std::fs::metadata(d.join(".git")).is_ok()).map(Path::to_path_buf)
}

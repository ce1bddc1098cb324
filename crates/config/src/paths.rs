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

/// Where the local model called `model` lives: a path (anything with a `/`
/// or ending in `.gguf`) as given, relative to `cwd`, `~/` expanded; a bare
/// name in `models_dir`.
pub fn local_model(model: &str, cwd: &Path, models_dir: &Path) -> PathBuf {
    if model.contains('/') || model.ends_with(".gguf") {
        match model.strip_prefix("~/") {
            Some(rest) => std::env::home_dir().unwrap_or_default().join(rest),
            None => cwd.join(model),
        }
    } else {
        models_dir.join(format!("{model}.gguf"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_model_names_and_paths() {
        let cwd = Path::new("/repo");
        let models = Path::new("/data/models");
        let path = |m| local_model(m, cwd, models);
        assert_eq!(path("qwen2.5-coder-0.5b"), PathBuf::from("/data/models/qwen2.5-coder-0.5b.gguf"));
        assert_eq!(path("m/x.gguf"), PathBuf::from("/repo/m/x.gguf"));
        assert_eq!(path("/abs/x.gguf"), PathBuf::from("/abs/x.gguf"));
        assert_eq!(path("x.gguf"), PathBuf::from("/repo/x.gguf"));
    }
}

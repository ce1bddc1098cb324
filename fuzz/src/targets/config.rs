//! Target `config`: the configuration loader ([`tern_config::Inventory`],
//! which loads a session's [`tern_config::Config`] too), on files written
//! to a temporary home and project.
//!
//! The input is up to six NUL-separated parts: the user's config.toml, the
//! project's .tern/config.toml, `-c` overrides (one a line), the project's
//! .mcp.json, its .claude/settings.json (hooks, approvals) and
//! ~/.claude.json; a part left out or empty is a file that does not exist.
//! Loading ends with a configuration or an error that can be shown, never
//! a panic.

use std::path::Path;
use tern_config::{Inventory, LoadOptions};

/// Where each part goes, under the temporary directory.
const FILES: [&str; 6] = [
    "home/.config/tern/config.toml",
    "project/.tern/config.toml",
    "",
    "project/.mcp.json",
    "project/.claude/settings.json",
    "home/.claude.json",
];

#[allow(clippy::disallowed_methods)] // the fuzz harness writes its files on purpose
pub fn run(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temporary directory: {e}"));
    let root = dir.path();
    let mut overrides = Vec::new();
    for (part, file) in data.split(|&b| b == 0).zip(FILES) {
        if file.is_empty() {
            overrides = String::from_utf8_lossy(part).lines().map(str::to_string).collect();
            continue;
        }
        if !part.is_empty() {
            write(&root.join(file), part);
        }
    }
    let project = root.join("project");
    write(&project.join(".git/HEAD"), b"ref: refs/heads/main\n");
    let (home, data_dir) = (root.join("home"), root.join("data"));
    let env = |k: &str| match k {
        "HOME" => Some(home.display().to_string()),
        "TERN_HOME" => Some(data_dir.display().to_string()),
        "OPENAI_API_KEY" | "FUZZ_KEY" => Some("sk-fuzz".into()),
        _ => None,
    };
    let opts = LoadOptions { cwd: project.clone(), overrides, model: None, provider: None };
    match Inventory::load_with_env(&opts, &env) {
        Ok(inventory) => drop(format!("{inventory:?}")),
        Err(e) => drop(e.to_string()),
    }
}

#[allow(clippy::disallowed_methods)]
fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

//! Shared by the core tests: a session config pointing at a mock server.
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use tern_config::{Config, LoadOptions};

/// Config for the workspace `dir/work` (created) with home `dir`, talking
/// to the mock at `url`, with `-c`-style `overrides`.
pub fn config(dir: &Path, url: &str, overrides: &[&str]) -> Config {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let home = dir.display().to_string();
    let url = url.to_string();
    let env = move |k: &str| match k {
        "HOME" => Some(home.clone()),
        "OPENAI_API_KEY" => Some("k".into()),
        "OPENAI_BASE_URL" => Some(url.clone()),
        _ => None,
    };
    let overrides = overrides.iter().map(|s| s.to_string()).collect();
    Config::load_with_env(&LoadOptions { cwd: work, overrides, ..Default::default() }, &env).unwrap()
}

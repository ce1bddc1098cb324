//! Shared by the core tests: a session config pointing at a mock server.
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;
use tern_config::{Config, LoadOptions};
use tern_core::SessionHandle;
use tern_protocol::Event;

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

/// The next event, within 30 s.
pub async fn next(h: &mut SessionHandle) -> Event {
    tokio::time::timeout(Duration::from_secs(30), h.events.recv())
        .await
        .expect("an event within 30 s")
        .expect("the session is gone")
}

/// Events until one matches `pred`, which is returned.
pub async fn until(h: &mut SessionHandle, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        let ev = next(h).await;
        if pred(&ev) {
            return ev;
        }
    }
}

/// Shuts the session down and waits for it to end.
pub async fn shut_down(mut h: SessionHandle) {
    h.ops.send(tern_protocol::Op::Shutdown).await.unwrap();
    while !matches!(h.events.recv().await, Some(Event::ShutdownComplete) | None) {}
    h.join().await;
}

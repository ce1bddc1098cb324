//! The embedded local model through the real binary: `tern models
//! --prepare` saves the prompt prefix that a later `tern exec` session
//! starts from. Uses the 0.5B model that `scripts/test` fetches.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use std::time::Duration;

fn saved_prefixes(env: &Env) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(env.data().join("cache/prefix"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_saves_the_prefix_a_session_then_starts_from() {
    let env = Env::new();
    let data = tern_config::paths::data_dir(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let model = data.join("models/qwen2.5-coder-0.5b.gguf");
    assert!(model.exists(), "{} is missing: run scripts/fetch-model 0.5b (scripts/test does)", model.display());
    std::fs::create_dir_all(env.data().join("models")).unwrap();
    std::os::unix::fs::symlink(&model, env.data().join("models/qwen2.5-coder-0.5b.gguf")).unwrap();
    env.write("notes.txt", "hello from the notes\n");

    let out = env.run(None, &["models", "--prepare", "-m", "qwen2.5-coder-0.5b"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("qwen2.5-coder-0.5b via local: ready in"), "{}", out.stdout);
    let saved = saved_prefixes(&env);
    assert_eq!(saved.len(), 1, "{saved:?}");

    // The session's system prompt and tools are the ones prepared: its first
    // request loads them (no second prefix file), and usage says so.
    let mut c = env.command(None);
    c.args(["exec", "--json", "-m", "qwen2.5-coder-0.5b", "Read the file notes.txt and tell me its first word."]);
    let child = c.spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(saved_prefixes(&env), saved);
    // Whether the small model's turn completes is not the point here (the
    // 0.5B sometimes repeats its call until the turn is stopped); both ends
    // of a turn report usage.
    let end: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|l: &serde_json::Value| l["type"] == "turn.completed" || l["type"] == "turn.failed")
        .unwrap_or_else(|| panic!("no end of turn: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(end["usage"]["cached_input_tokens"].as_u64().unwrap() > 100, "{end}");
}

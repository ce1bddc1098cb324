//! The real model in its small window: a session of many file reads with
//! `[local] context_tokens = 4096` goes on past the window, the model
//! writing its own summaries, and the saved system-prompt prefix is reused
//! after each compaction. `scripts/test` fetches the model first.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use futures_util::future::BoxFuture;
use std::path::Path;
use std::time::Duration;
use tern_config::{Config, LoadOptions};
use tern_core::{Connector, Resume};
use tern_llm::{ErrorKind, LlmError, ModelClient};
use tern_protocol::{Event, Op};

struct Local;

impl Connector for Local {
    fn connect<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<Box<dyn ModelClient>, LlmError>> {
        let config = config.clone();
        Box::pin(async move {
            let client = tokio::task::spawn_blocking(move || tern_local::connect(&config)).await.unwrap();
            client
                .map(|c| Box::new(c) as Box<dyn ModelClient>)
                .map_err(|e| LlmError::new(ErrorKind::Unavailable, e.to_string()))
        })
    }
}

fn files(dir: &Path) -> Vec<String> {
    let filler = "This paragraph is filler text about the weather in a small town by the sea, where boats \
                  come and go and the gulls follow them.\n";
    (1..=7)
        .map(|i| {
            let word = format!("Word{i}");
            let name = format!("notes{i}.txt");
            std::fs::write(dir.join(&name), format!("{word} begins this file.\n{}", filler.repeat(18))).unwrap();
            name
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_session_compacts_in_the_small_window() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, data, work) = (tmp.path().join("home"), tmp.path().join("data"), tmp.path().join("work"));
    for d in [&home, &work, &data.join("models")] {
        std::fs::create_dir_all(d).unwrap();
    }
    let installed = tern_config::paths::data_dir(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .join("models/qwen2.5-coder-0.5b.gguf");
    assert!(installed.exists(), "{} is missing: run scripts/fetch-model 0.5b (scripts/test does)", installed.display());
    std::os::unix::fs::symlink(&installed, data.join("models/qwen2.5-coder-0.5b.gguf")).unwrap();
    let names = files(&work);
    let (home_s, data_s) = (home.display().to_string(), data.display().to_string());
    let env = move |k: &str| match k {
        "HOME" => Some(home_s.clone()),
        "TERN_HOME" => Some(data_s.clone()),
        _ => None,
    };
    let overrides =
        ["provider=\"local\"", "model=\"qwen2.5-coder-0.5b\"", "local.context_tokens=4096", "sandbox=false"];
    let opts = LoadOptions { cwd: work.clone(), overrides: overrides.map(String::from).to_vec(), ..Default::default() };
    let config = Config::load_with_env(&opts, &env).unwrap();
    assert_eq!((config.model_info.context_window, config.compact_at), (4096, 3481));
    let mut h = tern_core::start(config, Resume::New, &Local).await.unwrap();

    let mut compactions = Vec::new();
    let mut cached_after_compaction = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // Near the end, a compaction by hand: the model writes the summary
        // (automatic ones may not need it: setting old outputs aside is
        // often enough).
        if i == names.len() - 2 {
            h.ops.send(Op::Compact { focus: None }).await.unwrap();
        }
        h.ops.send(Op::UserTurn { text: format!("Read the file {name} and tell me its first word.") }).await.unwrap();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(600), h.events.recv()).await.unwrap().unwrap();
            match ev {
                Event::Compacted(c) => compactions.push(c),
                // The compaction by hand ends like a turn.
                Event::TurnCompleted(t) if t.compactions > 0 && t.tool_calls == 0 && t.last_message.is_empty() => {}
                Event::TurnCompleted(t) => {
                    if !compactions.is_empty() {
                        cached_after_compaction.push(t.usage.cached_input_tokens);
                    }
                    break;
                }
                // The 0.5B model may loop on a call until the turn is
                // stopped; running out of context must never end one.
                Event::TurnFailed { error, .. } => {
                    assert!(!error.contains("context") && !error.contains("compact"), "{name}: {error}");
                    break;
                }
                _ => {}
            }
        }
    }
    h.ops.send(Op::Shutdown).await.unwrap();
    assert!(
        compactions.iter().any(|c| c.trigger == tern_protocol::CompactTrigger::Auto),
        "seven files never filled the window: {compactions:?}"
    );
    // The model wrote its own summary, and the context was under the
    // threshold afterwards.
    assert!(compactions.iter().any(|c| c.summarized && c.summary_error.is_none()), "{compactions:?}");
    assert!(compactions.iter().all(|c| c.post_tokens < 3481), "{compactions:?}");
    // After a compaction the KV cache still starts with the system prompt
    // and tools: later turns reuse them rather than evaluating from zero.
    assert!(cached_after_compaction.iter().any(|&n| n > 300), "{cached_after_compaction:?}");
    // The summary request kept the session's prefix: no second prefix file.
    let prefixes = std::fs::read_dir(data.join("cache/prefix")).unwrap().count();
    assert_eq!(prefixes, 1);
}

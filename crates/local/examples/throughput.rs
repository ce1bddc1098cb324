//! Load time, prompt tokens/s and generation tokens/s of a GGUF through
//! tern's own engine (the same thread, batching and sampling tern uses).
//! `bench/local_model.py` runs it; by hand:
//! `cargo run --release -p tern-local --example throughput -- MODEL.gguf [BATCH]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::Instant;
use tern_llm::{Message, ModelClient, Request};
use tern_local::{LocalClient, Settings};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: throughput MODEL.gguf");
    let started = Instant::now();
    let mut settings = Settings::new(path.into());
    settings.max_output = 64;
    if let Some(b) = std::env::args().nth(2) {
        settings.batch = b.parse().expect("batch size");
    }
    let client = LocalClient::start("bench", settings).unwrap();
    // About 512 prompt tokens of ordinary prose and code, then up to 64 greedy tokens.
    let filler = "fn add(a: i32, b: i32) -> i32 { a + b } // adds two numbers\n".repeat(28);
    let messages = [Message::User { content: format!("{filler}\nWrite a long explanation of this code.") }];
    let (tx, mut rx) = mpsc::channel(4096);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let cancel = CancellationToken::new();
    let req = Request { model: "bench", messages: &messages, tools: &[], cache_key: "bench", tools_disabled: false };
    let response = client.stream(req, &tx, &cancel).await.unwrap();
    let wall = started.elapsed().as_secs_f64();
    drop(tx);
    drain.await.unwrap();
    let t = client.last_timings();
    let prompt_secs = t.prompt_seconds;
    println!("load_s={:.2}", t.load);
    println!("prompt_tokens={} prompt_tok_per_s={:.1}", t.prompt_tokens, t.prompt_tokens as f64 / prompt_secs);
    println!(
        "generated_tokens={} gen_tok_per_s={:.1}",
        response.usage.output_tokens,
        t.generated_tokens as f64 / t.generate_seconds
    );
    println!("first_token_s={:.2} wall_s={wall:.2}", t.first_token_seconds);
}

//! `tern-mock`: the mock model server as a program, for demos and manual runs.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use tern_testkit::{MockServer, Script};

/// Serve a scripted conversation over OpenAI Chat Completions on loopback.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// A JSON file: {"steps": [...]} (see crates/testkit/src/script.rs).
    #[arg(long)]
    script: std::path::PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Keep no requests in memory (for long benchmark sessions).
    #[arg(long)]
    forget: bool,
    /// Answer requests that forbid tool calls (compaction summaries) with a
    /// made-up summary, outside the script.
    #[arg(long)]
    summaries: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text =
        tokio::fs::read_to_string(&args.script).await.with_context(|| format!("reading {}", args.script.display()))?;
    let script: Script = serde_json::from_str(&text).with_context(|| format!("parsing {}", args.script.display()))?;
    let steps = script.steps.len();
    let server =
        MockServer::bind(&args.listen, script.steps).await.with_context(|| format!("listening on {}", args.listen))?;
    if args.forget {
        server.forget_requests();
    }
    if args.summaries {
        server.write_summaries();
    }
    // The first stdout line is the base URL, for scripts to read.
    let mut out = std::io::stdout();
    writeln!(out, "{}", server.base_url())?;
    out.flush()?;
    eprintln!("tern-mock: serving {steps} scripted responses at {}", server.base_url());
    // Serve until interrupted or terminated.
    tokio::signal::ctrl_c().await?;
    Ok(())
}

//! `tern`: the command-line front.

mod exec;
mod human;
mod json;
mod sessions;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A terminal coding agent.
#[derive(Parser)]
#[command(name = "tern", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options every subcommand accepts.
#[derive(Args, Clone, Default)]
pub(crate) struct Common {
    /// Override a config value: -c key=value (value parsed as TOML, else a string). Repeatable.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", global = true)]
    overrides: Vec<String>,
    /// Model to use.
    #[arg(short, long, global = true)]
    model: Option<String>,
    /// Provider to use (a name under [providers] in config).
    #[arg(long, global = true)]
    provider: Option<String>,
    /// Run as if started in DIR.
    #[arg(short = 'C', long = "cd", value_name = "DIR", global = true)]
    cd: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a task headless: progress on stderr, the final message on stdout.
    Exec(exec::ExecArgs),
    /// Sessions recorded on disk.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// List sessions, newest first.
    List(sessions::ListArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Exec(args)) => {
            runtime().and_then(|rt| rt.block_on(exec::run(cli.common, args)))
        }
        Some(Command::Sessions {
            command: SessionsCommand::List(args),
        }) => runtime().and_then(|rt| rt.block_on(sessions::list(cli.common, args))),
        None => {
            eprintln!(
                "tern: the interactive terminal UI is not built yet. Run a task headless with\n  tern exec \"your task\"\nSee `tern --help`."
            );
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tern: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The async runtime, built only for commands that need it so that
/// `tern --version` stays instant.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_name("tern-rt")
        .enable_all()
        .build()?)
}

/// Resolves `-C` against the process's working directory.
pub(crate) fn working_dir(common: &Common) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(match &common.cd {
        Some(d) => cwd.join(d),
        None => cwd,
    })
}

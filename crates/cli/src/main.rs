//! `tern`: the command-line front.

mod connect;
mod edits;
mod environ;
mod headless;
mod human;
mod json;
mod logging;
mod mcp;
mod models;
mod sessions;

use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// A terminal coding agent.
#[derive(Parser)]
#[command(name = "tern", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Start the interactive UI with this first message.
    prompt: Option<String>,
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
    Exec(headless::ExecArgs),
    /// Continue a past session in the interactive UI (a picker without an id).
    Resume {
        /// The session id (or a unique prefix).
        id: Option<String>,
        /// The most recent session started in this directory.
        #[arg(long, conflicts_with = "id")]
        last: bool,
    },
    /// Apply a patch (Codex apply_patch format) in the working directory: all of it or nothing.
    ApplyPatch(edits::ApplyPatchArgs),
    /// Restore the files changed by the last turn(s) of a session.
    Undo(edits::UndoArgs),
    /// Show the files a session changed as a unified diff, or revert one.
    Diff(edits::DiffArgs),
    /// (internal) Ends tern's commands when tern dies; started by tern itself.
    #[command(name = "__watchdog", hide = true)]
    Watchdog { tern_pid: u32 },
    /// The providers configured (and whether each has its key) and the model catalog.
    Models {
        /// Instead of listing: load the model (the local one) and evaluate and save its system prompt and tools,
        /// so the first turn of the next session starts at once. Setup scripts run this after fetching a model.
        #[arg(long)]
        prepare: bool,
    },
    /// MCP servers: list, inspect, add, remove, approve a project's.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
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
    /// Remove old sessions (with their checkpoints and saved output) by
    /// `[storage]` keep_days and max_mb, least recently used first.
    Prune(sessions::PruneArgs),
}

fn main() -> ExitCode {
    // The sandbox helper (when `tern-sandbox` is not installed beside
    // tern): no log, no figures, no clap; it confines itself and execs.
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|a| a == tern_sandbox::helper::SUBCOMMAND) {
        return ExitCode::from(tern_sandbox::helper::run(args));
    }
    // Before any thread exists (see environ::hide).
    environ::hide();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version and usage errors.
        Err(e) => {
            let _ = e.print();
            report_rusage();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // The watchdog is tern only until it outlives it: no log, no figures of
    // its own (they would overwrite tern's).
    let helper = matches!(cli.command, Some(Command::Watchdog { .. }));
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let log = if helper { None } else { logging::start(&tern_config::paths::data_dir(&env)) };
    // Commands that run the model's commands guard them: nothing they start
    // outlives tern.
    let runs_commands = matches!(cli.command, None | Some(Command::Exec(_) | Command::Resume { .. }));
    let watchdog = if runs_commands { guard_processes() } else { None };
    let result = match cli.command {
        Some(Command::Exec(args)) => run_async(headless::run(cli.common, args)),
        Some(Command::Watchdog { tern_pid }) => {
            tern_process::watchdog::run(tern_pid).map(|()| ExitCode::SUCCESS).map_err(anyhow::Error::from)
        }
        Some(Command::ApplyPatch(args)) => run_async(edits::apply_patch(cli.common, args)),
        Some(Command::Undo(args)) => run_async(edits::undo(cli.common, args)),
        Some(Command::Models { prepare: false }) => run_async(models::list(cli.common)),
        Some(Command::Models { prepare: true }) => run_async(models::prepare(cli.common)),
        Some(Command::Diff(args)) => run_async(edits::diff(cli.common, args)),
        Some(Command::Mcp { command }) => run_async(mcp::run(cli.common, command)),
        Some(Command::Sessions { command: SessionsCommand::List(args) }) => run_async(sessions::list(cli.common, args)),
        Some(Command::Sessions { command: SessionsCommand::Prune(args) }) => {
            run_async(sessions::prune(cli.common, args))
        }
        Some(Command::Resume { id, last }) => {
            let start = match (id, last) {
                (Some(id), _) => tern_tui::Start::Id(id),
                (None, true) => tern_tui::Start::Last,
                (None, false) => tern_tui::Start::Pick,
            };
            run_async(tui(cli.common, None, start))
        }
        None => run_async(tui(cli.common, cli.prompt, tern_tui::Start::New)),
    };
    // Every thread and process tern started ends with it: the cleanup
    // thread, the sandbox spawner, the watchdog, then the log writer
    // (which flushes).
    tern_process::cleanup::finish(std::time::Duration::from_secs(2));
    tern_process::spawner::finish(std::time::Duration::from_secs(2));
    if let Some(w) = watchdog {
        tern_process::watchdog::finish(w);
    }
    if let Err(e) = &result {
        tracing::error!("{}", explain(e));
    }
    drop(log);
    if !helper {
        report_rusage();
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tern: {}", explain(&e));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line. tern's own errors already say
/// their cause in their message (they are shown alone in the UI), so a
/// cause whose text is already there is not repeated.
fn explain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// The interactive UI. It runs on the thread that blocks on the runtime,
/// not on a worker, so its writes to the terminal never hold up tools.
async fn tui(common: Common, prompt: Option<String>, start: tern_tui::Start) -> anyhow::Result<ExitCode> {
    let load = load_options(common)?;
    let panic_on_key = std::env::var_os("TERN_TUI_TEST_PANIC").is_some();
    let opts = tern_tui::Options {
        load,
        prompt,
        start,
        sandbox_helper: sandbox_helper().await,
        connector: std::sync::Arc::new(connect::Clients),
        panic_on_key,
    };
    match tern_tui::run(opts).await {
        Ok(exit) => {
            if let Some(id) = exit.session_id {
                // Not println!: after a hangup the terminal is gone, and the
                // session is saved whether or not this line can be shown.
                let _ = writeln!(std::io::stdout(), "session saved · continue it with: tern resume {id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (tern_tui::TuiError::Config(_) | tern_tui::TuiError::NotATerminal)) => {
            eprintln!("tern: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

/// The program that confines commands: the small `tern-sandbox` beside
/// this binary, which starts in a fraction of the time, else this binary
/// itself (`tern __sandbox`); both take the same arguments.
pub(crate) async fn sandbox_helper() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let small = exe.with_file_name("tern-sandbox");
    let found = tokio::fs::metadata(&small).await.is_ok_and(|m| m.is_file());
    Some(if found { small } else { exe })
}

/// Makes sure the commands tern runs cannot outlive it: tern becomes a
/// child subreaper (orphans of its commands are reparented to it) and
/// starts its watchdog, which ends them if tern dies, even by SIGKILL.
/// On the main thread, before the runtime: the watchdog's parent-death
/// signal follows the thread that spawned it. Returns the watchdog, which
/// is ended at exit.
fn guard_processes() -> Option<std::process::Child> {
    if let Err(e) = tern_process::become_subreaper() {
        tracing::warn!("cannot become a child subreaper: {e}");
        eprintln!("tern: warning: cannot become a child subreaper ({e}); detached processes may be missed");
    }
    let started = std::env::current_exe().and_then(|exe| tern_process::watchdog::spawn(&exe, &["__watchdog"]));
    match started {
        Ok(child) => Some(child),
        Err(e) => {
            tracing::warn!("cannot start the process watchdog: {e}");
            eprintln!(
                "tern: warning: cannot start the process watchdog ({e}); if tern is killed, its commands may survive"
            );
            None
        }
    }
}

/// Runs `fut` on a runtime built only for commands that need one, so that
/// `tern --version` stays instant.
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_name("tern-rt")
        .enable_all()
        .build()?;
    let result = rt.block_on(fut);
    // Dropping the runtime kills whatever the session still owned; a
    // blocking read that cannot be interrupted must not hold up the exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(250));
    result
}

/// For benchmarks: with `TERN_RUSAGE_FILE` set, writes this process's own
/// CPU time (children excluded) and peak RSS in KiB there at exit. The peak
/// is VmHWM, not ru_maxrss, which would include the memory of whatever
/// forked tern before it exec'd.
#[allow(clippy::disallowed_methods)] // runs after the runtime is gone
fn report_rusage() {
    use nix::sys::resource::{UsageWho, getrusage};
    let Some(path) = std::env::var_os("TERN_RUSAGE_FILE") else { return };
    let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) else { return };
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").to_string()))
        })
        .unwrap_or_else(|| "0".into());
    let line = format!("{:.6} {:.6} {hwm}\n", secs(u.user_time()), secs(u.system_time()));
    let _ = std::fs::write(path, line);
}

/// What the common options say about loading the configuration.
pub(crate) fn load_options(common: Common) -> anyhow::Result<tern_config::LoadOptions> {
    let cwd = working_dir(&common)?;
    Ok(tern_config::LoadOptions { cwd, overrides: common.overrides, model: common.model, provider: common.provider })
}

/// Resolves `-C` against the process's working directory.
pub(crate) fn working_dir(common: &Common) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(match &common.cd {
        Some(d) => cwd.join(d),
        None => cwd,
    })
}

//! The headless front, `tern exec`: one task, progress on stderr or as JSON lines.

use crate::{Common, human::Human, json::JsonEvents};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tern_config::Config;
use tern_core::Resume;
use tern_protocol::{ApprovalDecision, Event, Op};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};

/// How long an interrupted session gets to stop its tools and save itself.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long a finished session gets to save itself and end its threads
/// (the session's own waits, each bounded, add up to less).
const END_GRACE: Duration = Duration::from_secs(15);

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ExecArgs {
    /// The task. Read from stdin when absent or `-`.
    prompt: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    resume: Option<ExecCommand>,
}

#[derive(Args, Clone)]
struct OutputArgs {
    /// Print events as JSON lines on stdout (Codex `exec --json` names).
    #[arg(long, global = true)]
    json: bool,
    /// Also write the final message to FILE.
    #[arg(short = 'o', long = "output-last-message", value_name = "FILE", global = true)]
    output_last_message: Option<PathBuf>,
    /// Run every command without asking, inside the sandbox: workspace writes, no network
    /// (approval_policy = "full-auto", sandbox = true, network_access = false). Without it,
    /// commands that need approval are declined, as nobody can answer.
    #[arg(long, global = true, conflicts_with = "no_sandbox")]
    full_auto: bool,
    /// Run every command without asking and WITHOUT the sandbox (approval_policy = "full-access").
    /// Only for environments that are themselves disposable sandboxes.
    #[arg(
        long = "dangerously-bypass-approvals-and-sandbox",
        visible_alias = "yolo",
        global = true,
        conflicts_with = "full_auto"
    )]
    bypass: bool,
    /// Run commands without the Landlock/seccomp sandbox (sandbox = false).
    #[arg(long, global = true)]
    no_sandbox: bool,
}

#[derive(Subcommand)]
enum ExecCommand {
    /// Continue an earlier session with a follow-up.
    Resume(ResumeArgs),
    /// Start a new session from a copy of an earlier one's conversation (the original is left as it was).
    Fork(ForkArgs),
}

#[derive(Args)]
struct ForkArgs {
    /// The session to copy: its id (or a unique prefix).
    id: String,
    /// The new session's first message. Read from stdin when absent or `-`.
    prompt: Option<String>,
    /// Copy only the first N turns.
    #[arg(long, value_name = "N")]
    turns: Option<usize>,
}

#[derive(Args)]
struct ResumeArgs {
    /// Resume the most recent session started in this directory.
    #[arg(long)]
    last: bool,
    /// The session id (or a unique prefix); with --last, the prompt.
    id: Option<String>,
    /// The follow-up. Read from stdin when absent or `-`.
    prompt: Option<String>,
}

/// Exit codes.
const FAILED: u8 = 1;
const USAGE: u8 = 2;
const INTERRUPTED: u8 = 130;

pub(crate) async fn run(common: Common, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let (resume, prompt, output) = match args.resume {
        None => (Resume::New, args.prompt, args.output),
        // With --last, the one positional is the prompt (clap fills `id` first).
        Some(ExecCommand::Resume(r)) if r.last => match (r.id, r.prompt) {
            (prompt, None) | (None, prompt) => (Resume::Last, prompt, args.output),
            _ => return usage("with --last, give only the prompt"),
        },
        Some(ExecCommand::Resume(r)) => match r.id {
            Some(id) => (Resume::Id(id), r.prompt, args.output),
            None => return usage("give a session id or --last (see `tern sessions list`)"),
        },
        Some(ExecCommand::Fork(f)) => (Resume::Fork { id: f.id, turns: f.turns }, f.prompt, args.output),
    };
    let prompt = match read_prompt(prompt).await? {
        Some(p) => p,
        None => return usage("no prompt: pass it as an argument or on stdin"),
    };

    let mut opts = crate::load_options(common)?;
    if output.full_auto {
        // Codex's meaning: sandboxed, whatever the config files say.
        opts.overrides
            .extend(["approval_policy=\"full-auto\"", "sandbox=true", "network_access=false"].map(String::from));
    }
    if output.bypass {
        opts.overrides.push("approval_policy=\"full-access\"".into());
    }
    if output.no_sandbox {
        opts.overrides.push("sandbox=false".into());
    }
    let mut config = match tokio::task::spawn_blocking(move || Config::load(&opts)).await? {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    config.sandbox_helper = crate::sandbox_helper().await;
    let session = match tern_core::start(config, resume, &crate::connect::Clients).await {
        Ok(s) => s,
        // A model that cannot be used as configured is a setup problem (2);
        // any other model error is a failure (1).
        Err(tern_core::CoreError::Model(e)) if e.kind != tern_llm::ErrorKind::Unavailable => {
            eprintln!("tern: {e}");
            return Ok(ExitCode::from(FAILED));
        }
        Err(e) => return usage(&e.to_string()),
    };
    drive(session, prompt, output).await
}

fn usage(msg: &str) -> anyhow::Result<ExitCode> {
    eprintln!("tern: {msg}");
    Ok(ExitCode::from(USAGE))
}

async fn read_prompt(arg: Option<String>) -> anyhow::Result<Option<String>> {
    if let Some(p) = arg.filter(|p| p != "-") {
        return Ok(Some(p));
    }
    #[allow(clippy::disallowed_methods)] // only asks isatty(0); nothing is read here
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        return Ok(None);
    }
    let mut text = String::new();
    tokio::io::stdin().read_to_string(&mut text).await.context("reading the prompt from stdin")?;
    let text = text.trim().to_string();
    Ok((!text.is_empty()).then_some(text))
}

/// The renderer for one output mode.
pub(crate) enum Render {
    Human(Human),
    Json(JsonEvents),
}

impl Render {
    async fn event(&mut self, ev: &Event) -> std::io::Result<()> {
        match self {
            Render::Human(h) => h.event(ev).await,
            Render::Json(j) => j.event(ev).await,
        }
    }
}

/// Sends an op. The session reads ops even mid-turn, so one that waits
/// longer than the grace period means the session is gone.
async fn send(ops: &tokio::sync::mpsc::Sender<Op>, op: Op) -> anyhow::Result<()> {
    ops.send_timeout(op, SHUTDOWN_GRACE).await.map_err(|e| anyhow::anyhow!("the session stopped taking requests ({e})"))
}

async fn drive(mut session: tern_core::SessionHandle, prompt: String, output: OutputArgs) -> anyhow::Result<ExitCode> {
    let mut render = if output.json { Render::Json(JsonEvents::new()) } else { Render::Human(Human::new()) };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    send(&session.ops, Op::UserTurn { text: prompt }).await?;
    let mut code: Option<u8> = None;
    let mut last_message: Option<String> = None;
    let mut interrupted = false;
    let deadline = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            biased;
            _ = async { tokio::select! { _ = sigint.recv() => {}, _ = sigterm.recv() => {} } } => {
                if interrupted {
                    // A second signal: stop waiting. Dropping the session
                    // kills every process group it still owns.
                    drop(session);
                    return Ok(ExitCode::from(INTERRUPTED));
                }
                interrupted = true;
                let _ = send(&session.ops, Op::Interrupt).await;
                deadline.as_mut().reset(tokio::time::Instant::now() + SHUTDOWN_GRACE);
            }
            () = &mut deadline => {
                if interrupted {
                    eprintln!("tern: the session did not stop within {}s; exiting", SHUTDOWN_GRACE.as_secs());
                    drop(session);
                    return Ok(ExitCode::from(INTERRUPTED));
                }
                // The turn is over and its answer known: say it, even if
                // the session is slow to save itself.
                tracing::warn!("the session did not finish saving within {END_GRACE:?}");
                eprintln!("tern: the session did not finish saving within {}s", END_GRACE.as_secs());
                break;
            }
            ev = session.events.recv() => {
                let Some(ev) = ev else { break };
                render.event(&ev).await?;
                match &ev {
                    Event::ApprovalRequest(r) => {
                        let note = "tern exec runs without anyone to approve commands; the user can rerun with --full-auto. \
                                    Prefer read-only commands, or say what you would run and why";
                        let deny = Op::Approval { id: r.id.clone(), decision: ApprovalDecision::Deny, note: Some(note.into()) };
                        send(&session.ops, deny).await?;
                    }
                    Event::TurnCompleted(t) => {
                        code = Some(0);
                        last_message = Some(t.last_message.clone());
                        send(&session.ops, Op::Shutdown).await?;
                        if !interrupted {
                            deadline.as_mut().reset(tokio::time::Instant::now() + END_GRACE);
                        }
                    }
                    Event::TurnFailed { .. } => {
                        code = Some(FAILED);
                        send(&session.ops, Op::Shutdown).await?;
                        if !interrupted {
                            deadline.as_mut().reset(tokio::time::Instant::now() + END_GRACE);
                        }
                    }
                    Event::TurnAborted { .. } => {
                        code = Some(INTERRUPTED);
                        send(&session.ops, Op::Shutdown).await?;
                        if !interrupted {
                            deadline.as_mut().reset(tokio::time::Instant::now() + END_GRACE);
                        }
                    }
                    Event::ShutdownComplete => break,
                    _ => {}
                }
            }
        }
    }
    // The session has said it is done; its task ends at once, but a wait
    // has a deadline all the same.
    if tokio::time::timeout(SHUTDOWN_GRACE, session.join()).await.is_err() {
        tracing::warn!("the session task did not end within {SHUTDOWN_GRACE:?} of its shutdown");
    }
    let code = if interrupted { INTERRUPTED } else { code.unwrap_or(FAILED) };
    if let Some(msg) = last_message.filter(|m| !m.is_empty()) {
        if let Render::Human(h) = &render {
            h.final_message(&msg).await?;
        }
        if let Some(path) = &output.output_last_message {
            tokio::fs::write(path, format!("{msg}\n"))
                .await
                .with_context(|| format!("writing the last message to {}", path.display()))?;
        }
    }
    let mut out = tokio::io::stdout();
    out.flush().await?;
    Ok(ExitCode::from(code))
}

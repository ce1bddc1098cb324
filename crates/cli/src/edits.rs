//! Commands on file changes: `tern apply-patch`, `tern undo`, `tern diff`.

use crate::Common;
use anyhow::Context;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tern_files::checkpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Args)]
pub(crate) struct ApplyPatchArgs {
    /// The patch text (`*** Begin Patch` … `*** End Patch`). Read from stdin when absent or `-`.
    patch: Option<String>,
}

#[derive(Args)]
pub(crate) struct UndoArgs {
    /// How many of the latest turns to undo.
    #[arg(short = 'n', long, default_value_t = 1)]
    turns: usize,
    /// The session (id or unique prefix); default: the latest one started here.
    #[arg(long)]
    session: Option<String>,
    /// Undo even files that changed after tern edited them (that later work is lost).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    /// The session (id or unique prefix); default: the latest one started here.
    #[arg(long)]
    session: Option<String>,
    /// Put this file back as it was before the session changed it.
    #[arg(long, value_name = "PATH")]
    revert: Option<PathBuf>,
}

async fn out(text: &str) -> anyhow::Result<()> {
    let mut o = tokio::io::stdout();
    o.write_all(text.as_bytes()).await?;
    Ok(o.flush().await?)
}

/// `tern apply-patch`: applies a patch in the working directory, all or nothing.
pub(crate) async fn apply_patch(common: Common, args: ApplyPatchArgs) -> anyhow::Result<ExitCode> {
    let text = match args.patch.filter(|p| p != "-") {
        Some(p) => p,
        None => {
            #[allow(clippy::disallowed_methods)] // only asks isatty(0)
            let interactive = std::io::stdin().is_terminal();
            if interactive {
                eprintln!("tern: give the patch as an argument or on stdin");
                return Ok(ExitCode::from(2));
            }
            let mut t = String::new();
            tokio::io::stdin().read_to_string(&mut t).await.context("reading the patch from stdin")?;
            t
        }
    };
    let dir = tokio::fs::canonicalize(crate::working_dir(&common)?).await?;
    let result = tokio::task::spawn_blocking(move || {
        let files = tern_files::FileState::new(None);
        tern_tools::apply_patch(&tern_tools::Workspace::new(dir), &files, &text)
    })
    .await?;
    match result {
        Ok(report) => {
            out(&report.summary()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("tern: {e}\nNo files were changed.");
            Ok(ExitCode::from(1))
        }
    }
}

/// The checkpoint directory and workspace of the chosen session: by id
/// prefix, else the newest one started here.
async fn session_root(common: &Common, session: Option<String>) -> anyhow::Result<Result<(PathBuf, PathBuf), String>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let data_dir = tern_config::paths::data_dir(&env);
    let cwd = tokio::fs::canonicalize(crate::working_dir(common)?).await?;
    let which = session.map_or(tern_core::Resume::Last, tern_core::Resume::Id);
    let dd = data_dir.clone();
    let found = tokio::task::spawn_blocking(move || tern_core::find_session(&dd, &cwd, &which)).await?;
    Ok(found.map(|s| (tern_core::checkpoint_dir(&data_dir, &s.id), PathBuf::from(&s.cwd))).map_err(|e| e.to_string()))
}

/// `tern undo`: restores the files of the last N turns.
pub(crate) async fn undo(common: Common, args: UndoArgs) -> anyhow::Result<ExitCode> {
    let (root, ws) = match session_root(&common, args.session).await? {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("tern: {msg}");
            return Ok(ExitCode::from(2));
        }
    };
    let (turns, force) = (args.turns, args.force);
    match tokio::task::spawn_blocking(move || checkpoint::undo(&root, turns, force)).await? {
        Ok(done) => {
            let mut s = String::new();
            for r in &done {
                let path = tern_core::restored_path(&ws, r);
                match r {
                    checkpoint::Restored::Restored(_) => s.push_str(&format!("restored {path}\n")),
                    checkpoint::Restored::Removed(_) => s.push_str(&format!("removed  {path}\n")),
                    checkpoint::Restored::NotKept(_, why) => {
                        s.push_str(&format!("left     {path} (its original was not kept: {why})\n"))
                    }
                }
            }
            out(&s).await?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("tern: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `tern diff`: the session's changes as a unified diff, or revert one file.
pub(crate) async fn diff(common: Common, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let (root, ws) = match session_root(&common, args.session).await? {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("tern: {msg}");
            return Ok(ExitCode::from(2));
        }
    };
    let target = match &args.revert {
        Some(p) => Some(tokio::fs::canonicalize(crate::working_dir(&common)?).await?.join(p)),
        None => None,
    };
    let result = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let Some(target) = target else {
            let changes = tern_core::session_changes(&root, &ws).map_err(|e| e.to_string())?;
            return Ok(changes.into_iter().map(|c| c.diff).collect());
        };
        let changes = checkpoint::session_changes(&root).map_err(|e| e.to_string())?;
        let target = tern_tools::normalize(&target);
        let Some(c) = changes.iter().find(|c| c.path == target) else {
            let rel = target.strip_prefix(&ws).unwrap_or(&target).display().to_string();
            return Err(format!("{rel} was not changed in this session"));
        };
        let r = checkpoint::revert(c).map_err(|e| e.to_string())?;
        Ok(format!("reverted {}\n", tern_core::restored_path(&ws, &r)))
    })
    .await?;
    match result {
        Ok(text) => {
            out(&text).await?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("tern: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

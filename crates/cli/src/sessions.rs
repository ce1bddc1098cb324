//! `tern sessions list`.

use crate::Common;
use clap::Args;
use std::process::ExitCode;
use tokio::io::AsyncWriteExt;

#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only sessions started in the working directory.
    #[arg(long)]
    here: bool,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn list(common: Common, args: ListArgs) -> anyhow::Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let data_dir = tern_config::paths::data_dir(&env);
    let cwd = crate::working_dir(&common)?;
    let cwd = tokio::fs::canonicalize(&cwd).await.unwrap_or(cwd).display().to_string();
    let dir = data_dir.clone();
    let mut sessions = tokio::task::spawn_blocking(move || tern_core::list_sessions(&dir)).await?;
    if args.here {
        sessions.retain(|s| s.cwd == cwd);
    }
    let mut out = String::new();
    if sessions.is_empty() && !args.json {
        out.push_str(&format!("no sessions in {}\n", tern_core::sessions_dir(&data_dir).display()));
    }
    for s in &sessions {
        if args.json {
            let v = serde_json::json!({"id": s.id, "created_at": s.created_at, "cwd": s.cwd, "model": s.model,
                "first_prompt": s.first_prompt, "path": s.path, "parent": s.parent, "compactions": s.compactions});
            out.push_str(&format!("{v}\n"));
        } else {
            let when = s.created_at.get(..16).unwrap_or(&s.created_at).replace('T', " ");
            let mut notes = Vec::new();
            if let Some(p) = &s.parent {
                notes.push(format!("fork of {p}"));
            }
            if s.compactions > 0 {
                notes.push(format!("compacted {}×", s.compactions));
            }
            let notes = if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join(", ")) };
            out.push_str(&format!("{}  {when}  {:<14}  {}  {}{notes}\n", s.id, s.model, s.cwd, s.first_prompt));
        }
    }
    let mut stdout = tokio::io::stdout();
    stdout.write_all(out.as_bytes()).await?;
    stdout.flush().await?;
    Ok(ExitCode::SUCCESS)
}

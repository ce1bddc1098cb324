//! `tern sessions list` and `tern sessions prune`.

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

#[derive(Args)]
pub(crate) struct PruneArgs {
    /// Only say what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Remove sessions untouched for more than this many days (default:
    /// `[storage] keep_days`, 90).
    #[arg(long, value_name = "DAYS")]
    older_than: Option<u64>,
    /// Keep sessions, checkpoints and saved output under this many MB
    /// (default: `[storage] max_mb`, 4096).
    #[arg(long, value_name = "MB")]
    max_mb: Option<u64>,
}

pub(crate) async fn prune(common: Common, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let data_dir = tern_config::paths::data_dir(&env);
    let opts = crate::load_options(common)?;
    let mut policy = match tokio::task::spawn_blocking(move || tern_config::load_storage(&opts)).await? {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tern: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(days) = args.older_than {
        policy.keep = Some(std::time::Duration::from_secs(days * 24 * 3600));
    }
    if let Some(mb) = args.max_mb {
        policy.max_bytes = mb.saturating_mul(1 << 20);
    }
    let dir = data_dir.clone();
    let dry = args.dry_run;
    let pruned = tokio::task::spawn_blocking(move || tern_core::retention::prune(&dir, &policy, &[], dry)).await?;
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let mut out = String::new();
    let verb = if args.dry_run { "would remove" } else { "removed" };
    for r in &pruned.removed {
        let when = jiff::Timestamp::try_from(r.last_used).map(|t| t.strftime("%Y-%m-%d %H:%M").to_string());
        let why = match r.why {
            tern_core::retention::Why::Old => "untouched too long",
            tern_core::retention::Why::OverCap => "over the size cap",
        };
        out.push_str(&format!(
            "{verb} {}  last used {}  {:.1} MB  ({why})\n",
            r.id,
            when.unwrap_or_default(),
            mb(r.bytes)
        ));
    }
    let freed: u64 = pruned.removed.iter().map(|r| r.bytes).sum();
    out.push_str(&format!(
        "{verb} {} sessions ({:.1} MB); {} kept ({:.1} MB) in {}\n",
        pruned.removed.len(),
        mb(freed),
        pruned.kept,
        mb(pruned.kept_bytes),
        data_dir.display()
    ));
    if pruned.in_use > 0 {
        out.push_str(&format!("{} over a limit kept because a running tern has them open\n", pruned.in_use));
    }
    let mut stdout = tokio::io::stdout();
    stdout.write_all(out.as_bytes()).await?;
    stdout.flush().await?;
    Ok(ExitCode::SUCCESS)
}

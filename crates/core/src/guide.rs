//! What the small-model profile adds so a small local model finishes a
//! task: a map of the workspace before its first turn (it does not know
//! which files exist, and guesses paths in the style of projects it has
//! seen; asked about history, the last commits close it), and the
//! corrective notes of [`crate::slip`] when it stops short (its edits
//! refused are in [`crate::refuse`]). The map and notes are user-role
//! messages after the system prompt, so the saved prompt prefix stays
//! valid; neither is the user's words.

use crate::log::Record;
use crate::request;
use crate::session::Session;
use crate::slip::{self, Progress};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tern_config::ToolProfile;
use tern_llm::Message;
use tern_protocol::ToolKind;
use tern_tools::ToolOutput;
use tokio_util::sync::CancellationToken;

/// The map's size at most, in characters (about a quarter in tokens;
/// every token is evaluated on the CPU before the first answer).
const MAP_CHARS: usize = 1200;
/// Files walked at most for the map.
const MAP_WALK: usize = 20_000;
/// Files named as likely relevant in a map of a larger repository.
const RELEVANT: usize = 12;

/// Commits shown with the map, newest first.
const COMMITS: usize = 3;
/// How long `git log` may take before the map goes without it.
const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// The line before the commits.
const COMMITS_HEAD: &str = "[tern] The last commits, newest first (git log):";

/// The map's first line: the model is told where it comes from.
const MAP_HEAD: &str = "[tern] The files in this workspace (paths to use with the tools):";
/// The most characters of file text shown with the map (about a third in
/// tokens): the files most relevant to the request, so the model copies
/// their lines instead of guessing them.
const SHOWN_CHARS: usize = 2000;

/// What the model is shown before a new session's first request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Map {
    pub text: String,
    /// Files shown whole: as good as read (write_file may replace them).
    pub read: Vec<String>,
}

/// A map of the workspace at `root` for a session whose first request is
/// `prompt`: its paths (see [`paths`]), then the text of the files most
/// relevant to the request within [`SHOWN_CHARS`]. `None` for a
/// workspace with nothing else. Blocking.
pub(crate) fn map(root: &Path, prompt: &str, cancel: &CancellationToken) -> Option<Map> {
    let files = workspace_files(root, cancel);
    let list = paths(&files, prompt)?;
    let shown = tern_tools::relevant::pick(root, &files, prompt, SHOWN_CHARS, cancel);
    let mut text = format!("{MAP_HEAD}\n{list}");
    if !shown.is_empty() {
        text.push_str("\n\n[tern] The files that look most relevant to the request, as read_file shows them:");
    }
    for s in &shown {
        let part = if s.whole { "" } else { " (part)" };
        text.push_str(&format!("\n\n{}{part}:\n{}", s.path, s.text.trim_end()));
    }
    let read = shown.into_iter().filter(|s| s.whole).map(|s| s.path).collect();
    Some(Map { text, read })
}

/// The workspace's files (at most [`MAP_WALK`]), as the map lists them.
/// Blocking.
pub(crate) fn workspace_files(root: &Path, cancel: &CancellationToken) -> Vec<String> {
    tern_tools::nearby::walk(root, MAP_WALK, cancel)
        .into_iter()
        // Dotfiles (.gitignore, .github/…) are rarely what a task is about.
        .filter(|e| !e.dir && !e.path.split('/').any(|c| c.starts_with('.')))
        .map(|e| e.path)
        .collect()
}

/// Every file's path when they fit in [`MAP_CHARS`]; otherwise the files
/// whose paths share a word with the request, then the top of the tree
/// with file counts.
fn paths(files: &[String], prompt: &str) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let all = files.join("\n");
    if all.len() <= MAP_CHARS {
        return Some(all);
    }
    Some(trimmed(files, prompt, files.len() >= MAP_WALK))
}

/// The map of a repository too big to list: likely relevant files, then
/// the shallowest directories with how many files each holds.
fn trimmed(files: &[String], prompt: &str, capped: bool) -> String {
    let words = words(prompt);
    let mut out = String::new();
    let relevant: Vec<&String> = files.iter().filter(|f| relevant(f, &words)).take(RELEVANT).collect();
    if !relevant.is_empty() {
        out.push_str("Files whose paths match words of the request:\n");
        // At most half the budget: the tree needs the rest.
        for f in relevant.iter().take_while(|f| f.len() < MAP_CHARS / 4) {
            if out.len() + f.len() + 1 > MAP_CHARS / 2 {
                break;
            }
            out.push_str(f);
            out.push('\n');
        }
    }
    // Files per directory, counting everything below it.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut top_files = Vec::new();
    for f in files {
        for (i, _) in f.match_indices('/') {
            *counts.entry(&f[..i]).or_default() += 1;
        }
        if !f.contains('/') {
            top_files.push(f.as_str());
        }
    }
    out.push_str(&format!("The tree ({}{} files), top first:\n", files.len(), if capped { "+" } else { "" }));
    let mut lines: Vec<String> = top_files.iter().map(|f| f.to_string()).collect();
    let mut dirs: Vec<(&str, usize)> = counts.into_iter().collect();
    dirs.sort_by_key(|(d, _)| (d.matches('/').count(), *d));
    lines.extend(dirs.iter().map(|(d, n)| format!("{d}/ ({n} file{})", if *n == 1 { "" } else { "s" })));
    let mut left = lines.len();
    // Room kept for the line saying how many were left out.
    for line in &lines {
        if out.len() + line.len() + 1 > MAP_CHARS - 64 {
            break;
        }
        out.push_str(line);
        out.push('\n');
        left -= 1;
    }
    if left > 0 {
        out.push_str(&format!("(and {left} more entries: list_dir shows a directory)\n"));
    }
    out.truncate(out.trim_end().len());
    out
}

/// Whether a request with these [`words`] asks about the repository's
/// history. Only then are the last commits shown: shown with every
/// request, they set a small model running `git add` before an edit.
fn about_history(words: &[String]) -> bool {
    const HISTORY: &[&str] = &["commit", "commits", "committed", "git", "history", "log", "branch", "merged", "recent"];
    words.iter().any(|w| HISTORY.contains(&w.as_str()))
}

/// Words of the request worth matching against paths.
fn words(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in prompt.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let w = w.to_lowercase();
        if w.chars().count() >= 3 && !tern_tools::relevant::COMMON.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn relevant(path: &str, words: &[String]) -> bool {
    let lower = path.to_lowercase();
    let stem = lower.rsplit('/').next().unwrap_or(&lower).split('.').next().unwrap_or_default();
    words.iter().any(|w| lower.contains(w.as_str()) || (stem.len() >= 4 && w.contains(stem)))
}

impl Session {
    /// Whether the session's model gets the small-model profile's help.
    pub(crate) fn guided(&self) -> bool {
        self.config.model_info.tools == ToolProfile::Small
    }

    /// Before the first request of a new session: the map of the
    /// workspace, as its own message.
    pub(crate) async fn map_workspace(&mut self, prompt: &str, cancel: &CancellationToken) {
        if !self.guided() || self.resumed || !self.user_messages.is_empty() {
            return;
        }
        let root = self.workspace.clone();
        let prompt_words = words(prompt);
        let failing = request::failing_command(prompt);
        let prompt = prompt.to_string();
        let files = self.files.clone();
        // An interrupt stops the walk, and a partial map is not kept.
        let walk = cancel.clone();
        // Bounded (MAP_WALK files); awaited, so nothing outlives the turn.
        #[allow(clippy::disallowed_methods)] // the walk blocks: it runs in spawn_blocking
        let made = tokio::task::spawn_blocking(move || {
            let map = map(&root, &prompt, &walk).filter(|_| !walk.is_cancelled())?;
            for path in &map.read {
                files.stamp_read(&root.join(path));
            }
            Some(map)
        })
        .await;
        if let Ok(Some(mut map)) = made
            && !cancel.is_cancelled()
        {
            if about_history(&prompt_words)
                && let Some(commits) = self.recent_commits(cancel).await
            {
                map.text.push_str(&format!("\n\n{COMMITS_HEAD}\n{commits}"));
            }
            // Asked to fix `make test`, the 1.5B searched for the words
            // "make test" and edited the README they were in.
            if let Some(command) = failing {
                map.text.push_str(&format!(
                    "\n\n[tern] To see what fails and where, run `{command}` first (exec_command)."
                ));
            }
            self.guide(map.text).await;
        }
    }

    /// For a small model asked to fix a failure: what the failing lines of
    /// a failed command call, defined in the workspace's code (see
    /// [`tern_tools::failing`]). Not for other requests: asked how many
    /// tests pass, the 1.5B answered with the note.
    pub(crate) async fn failure_note(
        &self,
        kind: ToolKind,
        out: &ToolOutput,
        cancel: &CancellationToken,
    ) -> Option<String> {
        let failed = out.command.as_ref().is_some_and(|c| c.exit_code.is_some_and(|code| code != 0));
        if !self.guided() || kind != ToolKind::Execute || !failed {
            return None;
        }
        let request = self.user_messages.last()?;
        if !request::asks_for_change(request) || !tern_tools::relevant::about_failure(&request.to_lowercase()) {
            return None;
        }
        let (root, output, walk) = (self.workspace.clone(), out.content.clone(), cancel.clone());
        // Bounded (a walk of at most failing::WALK files, the map's read
        // limits), awaited; an interrupt stops the walk.
        #[allow(clippy::disallowed_methods)] // reads files: it runs in spawn_blocking
        let note = tokio::task::spawn_blocking(move || tern_tools::failing::note(&root, &output, &walk));
        note.await.ok().flatten()
    }

    /// The workspace's last commits, one line each (`git log`): asked
    /// what changed last, a small model otherwise reads the README. `None`
    /// outside a repository, without git, or when it takes over
    /// [`GIT_TIMEOUT`].
    async fn recent_commits(&self, cancel: &CancellationToken) -> Option<String> {
        let cmd = tern_process::ShellCommand {
            script: format!("git --no-optional-locks log -n {COMMITS} --no-color --format='%h %s' 2>/dev/null"),
            cwd: self.workspace.clone(),
            timeout: GIT_TIMEOUT,
            output_cap: COMMITS * 200,
            spool_path: None,
            sandbox: self.sandbox.clone(),
            env_remove: self.config.exec.hidden_env.clone(),
        };
        let out = tern_process::run(&cmd, cancel, &mut |_| {}).await.ok()?;
        let lines: Vec<&str> = out.output.lines().map(str::trim_end).filter(|l| !l.is_empty()).take(COMMITS).collect();
        (out.exit_code == Some(0) && out.omitted_bytes == 0 && !lines.is_empty()).then(|| lines.join("\n"))
    }

    /// When the model answered without a tool call: if that was a slip,
    /// sends it back to work (see [`crate::slip`]), and says so.
    pub(crate) async fn correct(&mut self, answer: &str, progress: &mut Progress) -> bool {
        if !self.guided() {
            return false;
        }
        let mut unchanged = progress.change_asked && !progress.edited && !progress.change_noted;
        if unchanged && progress.ran {
            unchanged = !self.changed_by_commands(progress.before.clone()).await;
        }
        let names: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        let Some(slip) = slip::slip(answer, progress, &names, unchanged) else { return false };
        progress.noted(slip);
        tracing::info!(session = %self.id, ?slip, "the small model stopped short; sending it back to work");
        self.guide(slip::note(slip, progress.failing.as_deref())).await;
        true
    }

    /// What a turn starts with: for a guided one that asks for a change,
    /// the workspace's files, to tell later whether a command changed one.
    pub(crate) async fn progress(&self, cancel: &CancellationToken) -> Progress {
        self.edits_refused.lock().clear();
        let request = self.user_messages.last().map(String::as_str).unwrap_or_default();
        let change_asked = self.guided() && request::asks_for_change(request);
        if !change_asked {
            return Progress::default();
        }
        let fix_asked = tern_tools::relevant::about_failure(&request.to_lowercase());
        let failing = request::failing_command(request).filter(|_| fix_asked);
        let root = self.workspace.clone();
        let walk = cancel.clone();
        // Bounded (slip::CHANGE_WALK files), and awaited.
        #[allow(clippy::disallowed_methods)] // the walk blocks: it runs in spawn_blocking
        let before = tokio::task::spawn_blocking(move || slip::before(&root, &walk)).await.ok().map(Arc::new);
        Progress { change_asked, before, fix_asked, failing, ..Progress::default() }
    }

    /// Whether a command this turn changed a file of the workspace that
    /// was there when it began; when unknown, it did.
    async fn changed_by_commands(&self, before: Option<Arc<slip::Before>>) -> bool {
        let Some(before) = before else { return true };
        let root = self.workspace.clone();
        #[allow(clippy::disallowed_methods)] // stats the files: it runs in spawn_blocking
        let changed = tokio::task::spawn_blocking(move || before.changed(&root)).await;
        changed.unwrap_or(true)
    }

    async fn guide(&mut self, content: String) {
        let message = Message::User { content };
        self.log.append(&Record::Guide { message: message.clone() }).await;
        self.history.push(message);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests may block
    use super::*;

    #[test]
    fn a_small_workspace_is_listed_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/dates.py"), "").unwrap();
        std::fs::write(dir.path().join("README.md"), "").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "").unwrap();
        let got = map(dir.path(), "which function formats dates?", &CancellationToken::new()).unwrap();
        assert_eq!(got.text, format!("{MAP_HEAD}\nREADME.md\napp/dates.py"));
        assert!(got.read.is_empty());
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(map(empty.path(), "hi", &CancellationToken::new()), None);
    }

    #[test]
    fn the_files_the_request_is_about_follow_the_list_and_count_as_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shipit")).unwrap();
        std::fs::write(dir.path().join("shipit/config.py"), "DEFAULT_TIMEOUT = 30\nMAX_RETRIES = 4\n").unwrap();
        std::fs::write(dir.path().join("shipit/dates.py"), "def format_eta(when):\n    pass\n").unwrap();
        let got = map(dir.path(), "Change the default timeout to 60 seconds.", &CancellationToken::new()).unwrap();
        assert_eq!(
            got.text,
            format!(
                "{MAP_HEAD}\nshipit/config.py\nshipit/dates.py\n\n[tern] The files that look most relevant to the \
                 request, as read_file shows them:\n\nshipit/config.py:\nL1: DEFAULT_TIMEOUT = 30\nL2: MAX_RETRIES = 4\n\
                 [end of file: 2 lines]"
            )
        );
        assert_eq!(got.read, ["shipit/config.py"]);
    }

    #[test]
    fn commits_are_shown_for_requests_about_history_only() {
        for (request, history) in [
            ("What was the last commit message?", true),
            ("Which branch is this?", true),
            ("Show me the git log", true),
            ("Raise the note limit from 500 to 1000.", false),
            ("Where is the retry limit set?", false),
        ] {
            assert_eq!(about_history(&words(request)), history, "{request}");
        }
    }

    #[test]
    fn a_big_one_is_trimmed_to_the_budget_with_relevant_files_first() {
        let files: Vec<String> = (0..3000)
            .map(|i| format!("pkg{}/mod{}/file{i}.py", i % 7, i % 13))
            .chain(["src/retry/policy.rs".to_string(), "Cargo.toml".to_string()])
            .collect();
        let got = trimmed(&files, "Where is the retry limit set?", false);
        assert!(got.len() <= MAP_CHARS, "{}", got.len());
        assert!(got.starts_with("Files whose paths match words of the request:\nsrc/retry/policy.rs\n"), "{got}");
        assert!(got.contains("The tree (3002 files), top first:\nCargo.toml\npkg0/ ("), "{got}");
        assert!(got.contains("more entries: list_dir shows a directory)"), "{got}");
    }
}

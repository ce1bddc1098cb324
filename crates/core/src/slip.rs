//! When a small model's answer ends its turn too soon: it gave up after a
//! failure, told the user what to do instead of doing it, said nothing,
//! answered a request for a change without making one, or changed the
//! code of a failure without running the failing command again. The turn
//! then goes on with a short corrective note (see [`note`]); each kind of
//! note at most once, and at most two in a turn besides the one asking
//! to check a fix, so it never loops.

use std::path::Path;
use std::time::SystemTime;
use tern_protocol::ToolKind;
use tokio_util::sync::CancellationToken;

/// Files looked at, at most, for whether a command changed one.
const CHANGE_WALK: usize = 20_000;

/// How the model gave up, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slip {
    /// It answered right after a call that failed or found nothing, with
    /// no call finding anything this turn.
    AfterFailure,
    /// It answered right after an edit that could not be made (its
    /// `old_string` was not in the file, say) instead of fixing the call.
    EditFailed,
    /// It answered with instructions about tools instead of a result.
    Instructions,
    /// Asked to fix a failure, it changed the code and answered without
    /// running the failing command again: it is asked to (see
    /// [`note`]).
    Unchecked,
    /// It ended its turn without a word, after finding something: it is
    /// asked for the answer, with tools off for that one call (small
    /// models asked for a call here repeat their last one).
    Silent,
    /// The request asks for a change and no file was changed: small
    /// models look, then answer with the code the user should write. The
    /// next call must be an edit.
    Unchanged,
}

/// Which tools the model's next forced call may use (a small local model
/// is made to call a tool after every user-role message; the tools are
/// marked with `ToolSpec::opens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Opening {
    /// One that looks (reads, searches, runs a command): a turn's first
    /// call.
    #[default]
    Look,
    /// Any: after a corrective note that may ask for a read or an edit.
    Any,
    /// One that edits: after [`Slip::Unchanged`].
    Edit,
}

/// What the turn's tool calls have come to so far.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub succeeded: u32,
    /// The kind of the last call, when it failed or found nothing.
    pub last_failed: Option<ToolKind>,
    /// An edit succeeded this turn.
    pub edited: bool,
    /// A command succeeded this turn (it may have changed files).
    pub ran: bool,
    /// A note other than [`Slip::Unchanged`]'s was given this turn.
    pub noted: bool,
    /// [`Slip::Unchanged`]'s note was given this turn.
    pub change_noted: bool,
    /// The next model call must answer in text (after [`Slip::Silent`],
    /// or a call repeated: [`REPEATED`]).
    pub answer_only: bool,
    /// A call repeated three times in a row was answered with
    /// [`REPEATED`] this turn.
    pub repeat_noted: bool,
    /// The tools the next forced call may use.
    pub opening: Opening,
    /// The request asks for a change ([`crate::request::asks_for_change`]).
    pub change_asked: bool,
    /// The workspace's files when the turn began, when it asks for a change.
    pub before: Option<std::sync::Arc<Before>>,
    /// The request asks to fix a failure.
    pub fix_asked: bool,
    /// The command that shows the failure: the last one that failed this
    /// turn, or the one the request names ([`crate::request::failing_command`]).
    pub failing: Option<String>,
    /// An edit succeeded and no command ran after it.
    pub unchecked: bool,
    /// [`Slip::Unchecked`]'s note was given this turn.
    pub check_noted: bool,
}

impl Progress {
    /// Takes in a response's results: (kind, failed, the command of a run
    /// that exited with a failure) of each call.
    pub(crate) fn record(&mut self, results: impl IntoIterator<Item = (ToolKind, bool, Option<String>)>) {
        let mut last = None;
        for (kind, failed, command) in results {
            last = Some((kind, failed));
            if kind == ToolKind::Execute {
                self.unchecked = false;
                if command.is_some() {
                    self.failing = command;
                }
            }
            if failed {
                continue;
            }
            self.succeeded += 1;
            self.edited |= kind == ToolKind::Edit;
            self.unchecked |= kind == ToolKind::Edit;
            self.ran |= kind == ToolKind::Execute;
        }
        self.last_failed = last.filter(|(_, failed)| *failed).map(|(kind, _)| kind);
    }

    /// Records the note given for `slip` and what the next call may do.
    pub(crate) fn noted(&mut self, slip: Slip) {
        match slip {
            Slip::Unchanged => self.change_noted = true,
            Slip::Unchecked => self.check_noted = true,
            _ => self.noted = true,
        }
        self.answer_only = slip == Slip::Silent;
        self.opening = match slip {
            Slip::Unchanged => Opening::Edit,
            // The next call runs the command.
            Slip::Unchecked => Opening::Look,
            _ => Opening::Any,
        };
    }
}

/// Whether `answer` (the model's text, with no tool call) is a slip.
/// `unchanged`: the request asks for a change and nothing this turn
/// changed a file.
pub(crate) fn slip(answer: &str, progress: &Progress, tools: &[&str], unchanged: bool) -> Option<Slip> {
    // A failed edit's note shows how to mend the call; it goes first.
    if !progress.noted && progress.last_failed == Some(ToolKind::Edit) {
        return Some(Slip::EditFailed);
    }
    if unchanged && !progress.change_noted {
        return Some(Slip::Unchanged);
    }
    if progress.fix_asked && progress.unchecked && progress.failing.is_some() && !progress.check_noted {
        return Some(Slip::Unchecked);
    }
    if progress.noted {
        return None;
    }
    if progress.last_failed.is_some() && progress.succeeded == 0 {
        return Some(Slip::AfterFailure);
    }
    if answer.trim().is_empty() {
        return Some(Slip::Silent);
    }
    instructions(answer, tools).then_some(Slip::Instructions)
}

/// The answer tells the user what to do ("you can use the grep_files
/// function…", "to fix it, you need to change…") rather than giving what
/// the tools found or doing the work.
fn instructions(answer: &str, tools: &[&str]) -> bool {
    let lower = answer.to_lowercase().replace('’', "'");
    let names_tool = tools.iter().any(|t| lower.contains(t));
    const TELLS: &[&str] = &[
        "you can ",
        "you could ",
        "you should ",
        "you need to ",
        "you'll need to ",
        "you will need to ",
        "you may want to ",
        "you might want to ",
        "use the following command",
        // It announces a step instead of taking it.
        "i will ",
        "i'll ",
        "let me ",
        "let's ",
    ];
    names_tool || TELLS.iter().any(|p| lower.contains(p))
}

/// The workspace's files when a turn that asks for a change began, to
/// tell afterwards whether a command changed one. Blocking.
pub(crate) fn before(root: &Path, cancel: &CancellationToken) -> Before {
    let since = SystemTime::now();
    let files = tern_tools::nearby::walk(root, CHANGE_WALK, cancel).into_iter().filter(|e| !e.dir).map(|e| e.path);
    Before { since, files: files.collect() }
}

/// The files of the workspace (at most [`CHANGE_WALK`], .gitignore'd ones
/// left out) when a turn began.
#[derive(Debug)]
pub(crate) struct Before {
    since: SystemTime,
    files: Vec<String>,
}

impl Before {
    /// Whether one of the files was modified (or replaced, or removed)
    /// since; files created since (build output, caches) do not count.
    /// Blocking.
    #[allow(clippy::disallowed_methods)] // blocking by design: called in spawn_blocking
    pub(crate) fn changed(&self, root: &Path) -> bool {
        self.files
            .iter()
            .any(|f| std::fs::metadata(root.join(f)).map_or(true, |m| m.modified().is_ok_and(|m| m > self.since)))
    }
}

/// The result of a call a small model made a third time in a row, not
/// run: its answer is in the results it already has.
pub(crate) const REPEATED: &str = "[tern] Not run: this is the third time in a row you make this same call, and its \
     result is above. Answer the request now, in words, from what the calls found.";

/// The note that sends the model back to work (or, when it was silent,
/// asks for the answer). `failing`: the command that showed the failure,
/// named in [`Slip::Unchecked`]'s.
pub(crate) fn note(slip: Slip, failing: Option<&str>) -> String {
    let text = match slip {
        Slip::AfterFailure => {
            "[tern] That call found nothing, so the task is not done. Do not guess paths or names: the workspace's \
             files are listed above, read_file reads one, and grep_files finds a single word in every file. \
             Call a tool now."
        }
        Slip::EditFailed => {
            "[tern] That edit was not made, so the task is not done. The error above says why and shows the file's \
             real lines: call edit_file again with old_string copied exactly from them (without the L<n>: prefix), \
             or read_file the file first. Call a tool now."
        }
        Slip::Silent => {
            "[tern] You have not answered. Answer the request now, in a sentence or two, with what the results above \
             show: the value, the name, the file and line, or what was changed."
        }
        Slip::Instructions => {
            "[tern] Do not tell the user what to do: do it yourself with the tools (read_file, edit_file, \
             exec_command, ...), then answer with the result (the value, the name, the file and line, or what you \
             changed). Call a tool now."
        }
        Slip::Unchecked => {
            let run = failing.map_or("the failing command".to_string(), |c| format!("`{c}`"));
            return format!(
                "[tern] You changed the code, but the fix is not checked: run {run} again now (exec_command). If it \
                 still fails, fix what it shows; if it passes, say what you changed."
            );
        }
        Slip::Unchanged => {
            "[tern] The request asks for a change, and no file has been changed: the task is not done. Make the \
             change yourself now with edit_file: old_string copied exactly from the file's lines above (without the \
             L<n>: prefix), new_string what those lines must become. To add code, keep those lines in new_string \
             and put the new code after them. (write_file creates a new file.)"
        }
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests may block
    use super::*;

    #[test]
    fn slips() {
        let tools = ["grep_files", "read_file", "list_dir"];
        let failed = Progress { succeeded: 0, last_failed: Some(ToolKind::Read), ..Default::default() };
        assert_eq!(slip("The file does not exist.", &failed, &tools, false), Some(Slip::AfterFailure));
        let found = Progress { succeeded: 1, last_failed: Some(ToolKind::Search), ..Default::default() };
        assert_eq!(slip("MAX_RETRIES is 4, in shipit/config.py:7.", &found, &tools, false), None);
        let tutorial = "To find it, you can use the grep_files function with the pattern `retry`.";
        assert_eq!(slip(tutorial, &found, &tools, false), Some(Slip::Instructions));
        assert_eq!(
            slip("You can use the `search` command to look for it.", &found, &tools, false),
            Some(Slip::Instructions)
        );
        let announced = "To find the default capacity, I will search for the word \"capacity\".";
        assert_eq!(slip(announced, &found, &tools, false), Some(Slip::Instructions));
        let told = "To fix the issue, you need to change `<` to `>=` in rates.py.";
        assert_eq!(slip(told, &found, &tools, false), Some(Slip::Instructions));
        assert_eq!(slip(" \n", &found, &tools, false), Some(Slip::Silent));
        let edit = Progress { succeeded: 1, last_failed: Some(ToolKind::Edit), ..Default::default() };
        assert_eq!(slip("You need to change it by hand.", &edit, &tools, false), Some(Slip::EditFailed));
        let noted = Progress { noted: true, ..failed };
        assert_eq!(slip(tutorial, &noted, &tools, false), None);
    }

    #[test]
    fn a_change_not_made_gets_its_own_note_once() {
        let tools = ["read_file", "edit_file"];
        let code = "Add this to rates.py:\n```python\ndef zone_names():\n    return sorted(ZONES)\n```";
        let looked = Progress { succeeded: 1, ..Default::default() };
        assert_eq!(slip(code, &looked, &tools, true), Some(Slip::Unchanged));
        // After another note, and after a failed edit's note.
        let mut p = Progress { succeeded: 1, last_failed: Some(ToolKind::Edit), ..Default::default() };
        assert_eq!(slip(code, &p, &tools, true), Some(Slip::EditFailed));
        p.noted(Slip::EditFailed);
        assert_eq!(p.opening, Opening::Any);
        assert_eq!(slip(code, &p, &tools, true), Some(Slip::Unchanged));
        p.noted(Slip::Unchanged);
        assert_eq!(p.opening, Opening::Edit);
        assert_eq!(slip(code, &p, &tools, true), None, "two notes at most");
        // Not after a change was made (the caller passes unchanged = false).
        assert_eq!(slip("Done: zone_names() is in rates.py.", &looked, &tools, false), None);
    }

    #[test]
    fn results_are_tallied() {
        let mut p = Progress::default();
        p.record([(ToolKind::Read, false, None), (ToolKind::Edit, true, None)]);
        assert_eq!((p.succeeded, p.last_failed, p.edited, p.ran), (1, Some(ToolKind::Edit), false, false));
        p.record([(ToolKind::Execute, false, None), (ToolKind::Edit, false, None)]);
        assert_eq!((p.succeeded, p.last_failed, p.edited, p.ran), (3, None, true, true));
    }

    #[test]
    fn a_fix_not_run_again_is_sent_to_run_once() {
        let tools = ["exec_command"];
        let mut p = Progress { fix_asked: true, change_asked: true, ..Default::default() };
        // The tests fail, the code is changed, and the model answers.
        let run = |failed: bool| (ToolKind::Execute, false, failed.then(|| "make test".to_string()));
        p.record([run(true)]);
        assert_eq!(p.failing.as_deref(), Some("make test"));
        p.record([(ToolKind::Edit, false, None)]);
        assert_eq!(slip("Fixed it.", &p, &tools, false), Some(Slip::Unchecked));
        p.noted(Slip::Unchecked);
        assert_eq!(p.opening, Opening::Look);
        assert!(note(Slip::Unchecked, Some("make test")).contains("run `make test` again now"));
        // Run again and changed again: once a turn.
        p.record([run(true)]);
        p.record([(ToolKind::Edit, false, None)]);
        assert_eq!(slip("Fixed it.", &p, &tools, false), None);
        // Not when the change was run, nor for a request not about a failure.
        let mut p = Progress { fix_asked: true, failing: Some("pytest".into()), ..Default::default() };
        p.record([(ToolKind::Edit, false, None), run(false)]);
        assert_eq!(slip("Fixed it.", &p, &tools, false), None);
        let mut p = Progress { failing: Some("pytest".into()), ..Default::default() };
        p.record([(ToolKind::Edit, false, None)]);
        assert_eq!(slip("Fixed it.", &p, &tools, false), None);
    }

    #[test]
    fn a_file_changed_by_a_command_counts_but_one_it_created_does_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ring.h"), "#define CAP 256\n").unwrap();
        std::fs::write(dir.path().join("ring.c"), "int x;\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let cancel = CancellationToken::new();
        let before = before(dir.path(), &cancel);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("ring.o"), "built").unwrap();
        assert!(!before.changed(dir.path()), "a new file is not a change");
        // Replaced (as `sed -i` does), then removed.
        std::fs::write(dir.path().join("ring.h.new"), "#define CAP 128\n").unwrap();
        std::fs::rename(dir.path().join("ring.h.new"), dir.path().join("ring.h")).unwrap();
        assert!(before.changed(dir.path()));
        let before = super::before(dir.path(), &cancel);
        std::fs::remove_file(dir.path().join("ring.c")).unwrap();
        assert!(before.changed(dir.path()));
    }
}

//! When a small model's answer ends its turn too soon: it gave up after a
//! failure, told the user what to do instead of doing it, said nothing,
//! or answered a request for a change without making one. The turn then
//! goes on with a short corrective note (see [`note`]); each kind of note
//! at most once, and at most two in a turn, so it never loops.

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
    /// The request asks for a change ([`asks_for_change`]).
    pub change_asked: bool,
    /// The workspace's files when the turn began, when it asks for a change.
    pub before: Option<std::sync::Arc<Before>>,
}

impl Progress {
    /// Takes in a response's results: (kind, failed) of each call.
    pub(crate) fn record(&mut self, results: impl IntoIterator<Item = (ToolKind, bool)>) {
        let mut last = None;
        for (kind, failed) in results {
            last = Some((kind, failed));
            if failed {
                continue;
            }
            self.succeeded += 1;
            self.edited |= kind == ToolKind::Edit;
            self.ran |= kind == ToolKind::Execute;
        }
        self.last_failed = last.filter(|(_, failed)| *failed).map(|(kind, _)| kind);
    }

    /// Records the note given for `slip` and what the next call may do.
    pub(crate) fn noted(&mut self, slip: Slip) {
        match slip {
            Slip::Unchanged => self.change_noted = true,
            _ => self.noted = true,
        }
        self.answer_only = slip == Slip::Silent;
        self.opening = if slip == Slip::Unchanged { Opening::Edit } else { Opening::Any };
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

/// Whether `request` asks for a change to the code: one of its clauses
/// starts with a verb that changes something ("Add a function…", "…, fix
/// it", "Please rename…"). A question about a change ("Which function
/// removes…?", "Where is the limit set?") does not.
pub(crate) fn asks_for_change(request: &str) -> bool {
    !change_verbs(request).is_empty()
}

/// The verbs that start the clauses of `request` asking for a change.
fn change_verbs(request: &str) -> Vec<String> {
    const CHANGES: &[&str] = &[
        "add",
        "append",
        "bump",
        "change",
        "convert",
        "correct",
        "create",
        "decrease",
        "delete",
        "edit",
        "fix",
        "implement",
        "increase",
        "insert",
        "lower",
        "modify",
        "move",
        "raise",
        "refactor",
        "remove",
        "rename",
        "replace",
        "rewrite",
        "set",
        "update",
        "write",
    ];
    const LEADS: &[&str] = &["please", "can", "could", "would", "will", "you", "now", "then", "and", "also", "just"];
    request
        .to_lowercase()
        .split(['.', '!', '?', ';', ',', ':', '\n'])
        .filter_map(|clause| {
            let mut words =
                clause.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\'')).filter(|w| !w.is_empty());
            words.find(|w| !LEADS.contains(w)).filter(|w| CHANGES.contains(w)).map(str::to_string)
        })
        .collect()
}

/// Whether `request` asks for a change ([`asks_for_change`]) and every
/// change it asks for adds something ("Add a function…, and declare it
/// in the header"): then an edit that takes lines away is a slip.
pub(crate) fn asks_only_to_add(request: &str) -> bool {
    const ADDS: &[&str] = &["add", "append", "create", "implement", "insert", "write"];
    let verbs = change_verbs(request);
    !verbs.is_empty() && verbs.iter().all(|v| ADDS.contains(&v.as_str()))
}

/// The command a request says fails ("make test fails", "`pytest -k
/// slug` is failing", "npm test fails on the slug test"): a backquoted
/// command, or a test runner and the word after it, followed within a few
/// words by "fails" or the like. `None` when it names none ("test_limit
/// fails, fix it").
pub(crate) fn failing_command(request: &str) -> Option<String> {
    const RUNNERS: &[&str] =
        &["make", "npm", "yarn", "pnpm", "cargo", "go", "pytest", "tox", "ctest", "mvn", "gradle", "dotnet", "bun"];
    // What the request must say of the command, within a few words of it.
    const FAILS: &[&str] = &["fail", "break", "broke", "error", "crash"];
    let fails =
        |after: &str| after.split_whitespace().take(4).any(|w| FAILS.iter().any(|f| w.to_lowercase().starts_with(f)));
    // Backquoted: `cmd` then the text up to the next backquote.
    let mut parts = request.split('`').skip(1);
    while let (Some(cmd), Some(after)) = (parts.next(), parts.next()) {
        let runner = cmd.split_whitespace().next().is_some_and(|w| RUNNERS.contains(&w));
        if runner && fails(after) {
            return Some(cmd.trim().to_string());
        }
    }
    let words: Vec<&str> = request.split_whitespace().collect();
    for (at, word) in words.iter().enumerate() {
        if !RUNNERS.contains(&word.to_lowercase().as_str()) {
            continue;
        }
        let mut cmd = vec![word.to_lowercase()];
        let next = words.get(at + 1).map(|w| w.trim_end_matches(['.', ',', ';', ':', '!', '?']));
        if let Some(next) = next
            && !next.is_empty()
            && !FAILS.iter().any(|f| next.to_lowercase().starts_with(f))
            && !matches!(next.to_lowercase().as_str(), "is" | "still" | "now" | "keeps")
            && next.chars().all(|c| c.is_alphanumeric() || "-_:".contains(c))
        {
            cmd.push(next.to_string());
        }
        if fails(&words[at + 1..].join(" ")) {
            return Some(cmd.join(" "));
        }
    }
    None
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
/// asks for the answer).
pub(crate) fn note(slip: Slip) -> &'static str {
    match slip {
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
        Slip::Unchanged => {
            "[tern] The request asks for a change, and no file has been changed: the task is not done. Make the \
             change yourself now with edit_file: old_string copied exactly from the file's lines above (without the \
             L<n>: prefix), new_string what those lines must become. To add code, keep those lines in new_string \
             and put the new code after them. (write_file creates a new file.)"
        }
    }
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
        p.record([(ToolKind::Read, false), (ToolKind::Edit, true)]);
        assert_eq!((p.succeeded, p.last_failed, p.edited, p.ran), (1, Some(ToolKind::Edit), false, false));
        p.record([(ToolKind::Execute, false), (ToolKind::Edit, false)]);
        assert_eq!((p.succeeded, p.last_failed, p.edited, p.ran), (3, None, true, true));
    }

    #[test]
    fn requests_for_a_change() {
        for yes in [
            "Add a function zone_names() to the rates module that returns the zone names, sorted.",
            "test_limit_is_heavy fails because of a wrong operator, fix it.",
            "npm test fails on the slug test. Fix the code, not the test.",
            "Raise the note limit from 500 to 1000.",
            "Set the retry limit to 5.",
            "Please rename parse to parse_line",
            "Can you remove the debug print?",
        ] {
            assert!(asks_for_change(yes), "{yes}");
        }
        for no in [
            "Where is the retry limit set?",
            "Which function removes an element from the ring?",
            "How many modules does the shipit package have?",
            "Run the tests and tell me how many pass.",
            "What does fix_dates return?",
            "Build the demo and tell me what it prints.",
            "make test fails, why?",
        ] {
            assert!(!asks_for_change(no), "{no}");
        }
    }

    #[test]
    fn requests_that_only_add_are_told_apart() {
        for yes in [
            "Add a ring_clear function that empties the ring, and declare it in the header.",
            "Add a count() method to NoteStore that returns how many notes it holds.",
            "Please write a test for slugify",
        ] {
            assert!(asks_only_to_add(yes), "{yes}");
        }
        for no in [
            "Add a flag, and remove the old one.",
            "Change the default timeout to 60 seconds.",
            "Replace the loop with a map and add a comment.",
            "Which function adds notes?",
        ] {
            assert!(!asks_only_to_add(no), "{no}");
        }
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

    #[test]
    fn the_failing_command_a_request_names() {
        for (request, command) in [
            ("make test fails. Fix the bug in the code, not the test.", Some("make test")),
            ("npm test fails on the slug test. Fix the code, not the test.", Some("npm test")),
            ("`pytest -k slug` is failing, please fix", Some("pytest -k slug")),
            ("cargo test is broken since yesterday: it fails", Some("cargo test")),
            ("pytest fails.", Some("pytest")),
            ("test_limit_is_heavy fails because of a wrong operator, fix it.", None),
            // Not about a failure.
            ("Run make test and tell me how many pass.", None),
        ] {
            assert_eq!(failing_command(request).as_deref(), command, "{request}");
        }
    }
}

//! What a request asks, read off its words: a change ("Add a function…",
//! "…, fix it"), only additions, a command that fails. The small-model
//! profile's notes and refusals go by these.

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

#[cfg(test)]
mod tests {
    use super::*;

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

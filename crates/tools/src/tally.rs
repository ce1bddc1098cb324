//! How many tests a run passed, for the runners that do not print it in
//! words: Python's unittest prints how many ran and how many failed, and
//! node's TAP reporter ends with counts under `#`. A small model asked
//! "how many pass" reads the dots and answers 0; the small profile adds
//! this line to a command's result.

/// `[tern] tests: 7 ran, 5 passed, 2 failed` for a unittest or TAP
/// run's output; None for anything else.
pub(crate) fn summary(output: &str) -> Option<String> {
    let (ran, failed, skipped) = unittest(output).or_else(|| tap(output))?;
    let passed = ran.checked_sub(failed.checked_add(skipped)?)?;
    let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
    Some(format!("[tern] tests: {ran} ran, {passed} passed, {failed} failed{skipped}"))
}

/// (ran, failed, not run) from `Ran 7 tests in 0.01s` and the last
/// `OK (skipped=1)` / `FAILED (failures=2, errors=1)` line.
fn unittest(output: &str) -> Option<(u64, u64, u64)> {
    let ran = output.lines().rev().find_map(|l| {
        let rest = l.strip_prefix("Ran ")?;
        let (n, rest) = rest.split_once(' ')?;
        rest.starts_with("test").then(|| n.parse::<u64>().ok())?
    })?;
    let verdict = output.lines().rev().find(|l| l.starts_with("OK") || l.starts_with("FAILED"))?;
    let (mut failed, mut skipped) = (0, 0);
    if let Some((_, counts)) = verdict.split_once('(') {
        for part in counts.trim_end_matches(')').split(',') {
            let (key, n) = part.trim().split_once('=')?;
            let n: u64 = n.parse().ok()?;
            match key {
                "failures" | "errors" | "unexpected successes" => failed = n.checked_add(failed)?,
                "skipped" | "expected failures" => skipped = n.checked_add(skipped)?,
                _ => {}
            }
        }
    }
    Some((ran, failed, skipped))
}

/// (ran, failed, not run) from TAP's closing `# tests 4`, `# fail 1`,
/// `# skipped 0`, `# todo 0`.
fn tap(output: &str) -> Option<(u64, u64, u64)> {
    let count = |key: &str| {
        output.lines().rev().find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    let ran = count("tests ")?;
    Some((ran, count("fail ")?, count("skipped ").unwrap_or(0).checked_add(count("todo ").unwrap_or(0))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unittest_and_tap_runs_are_counted() {
        let failing = "..FF...\n======\nFAIL: test_is_heavy\n------\nRan 7 tests in 0.002s\n\nFAILED (failures=2)\n";
        assert_eq!(summary(failing).as_deref(), Some("[tern] tests: 7 ran, 5 passed, 2 failed"));
        let mixed = "Ran 10 tests in 0.1s\n\nFAILED (failures=1, errors=2, skipped=3)\n";
        assert_eq!(summary(mixed).as_deref(), Some("[tern] tests: 10 ran, 4 passed, 3 failed, 3 skipped"));
        assert_eq!(summary("Ran 1 test in 0.0s\n\nOK\n").as_deref(), Some("[tern] tests: 1 ran, 1 passed, 0 failed"));
        let tap = "TAP version 13\nnot ok 1 - slugify\n1..4\n# tests 4\n# suites 0\n# pass 3\n# fail 1\n\
                   # cancelled 0\n# skipped 0\n# todo 0\n# duration_ms 40\n";
        assert_eq!(summary(tap).as_deref(), Some("[tern] tests: 4 ran, 3 passed, 1 failed"));
        for other in [
            "",
            "gcc -o demo main.c\n",
            "Ran out of time\nOK\n",
            "# tests x\n# fail 1\n",
            "Ran 2 tests\nOK (skipped=5)\n",
            "Ran 2 tests\nFAILED (failures=18446744073709551615, errors=1)\n",
        ] {
            assert_eq!(summary(other), None, "{other:?}");
        }
    }
}

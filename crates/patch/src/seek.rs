//! Finding a run of lines, from strict to forgiving: exact, then ignoring
//! trailing whitespace, then surrounding whitespace, then with common
//! Unicode punctuation (dashes, quotes, odd spaces) normalised.

/// The index where `pattern` starts in `lines`, searching from `start`
/// (or only at the very end when `eof`, and never before `start`: the
/// chunks of an update follow each other, so one anchored at the end may
/// not take lines an earlier chunk already matched).
pub(crate) fn seek(lines: &[&str], pattern: &[String], start: usize, eof: bool) -> Option<usize> {
    if pattern.is_empty() {
        return Some(start);
    }
    if pattern.len() > lines.len() {
        return None;
    }
    let last = lines.len() - pattern.len();
    let from = if eof { last.max(start) } else { start };
    if from > last {
        return None;
    }
    let passes: [fn(&str, &str) -> bool; 4] = [
        |a, b| a == b,
        |a, b| a.trim_end() == b.trim_end(),
        |a, b| a.trim() == b.trim(),
        |a, b| normalize(a) == normalize(b),
    ];
    passes
        .iter()
        .find_map(|same| (from..=last).find(|&i| pattern.iter().enumerate().all(|(k, p)| same(lines[i + k], p))))
}

fn normalize(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => '"',
            '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn passes_in_order() {
        let lines = ["a", "b  ", "  c", "x — y", "b"];
        assert_eq!(seek(&lines, &p(&["b"]), 0, false), Some(4), "exact wins over a later fuzzy pass");
        assert_eq!(seek(&lines, &p(&["b", "c"]), 0, false), Some(1));
        assert_eq!(seek(&lines, &p(&["x - y"]), 0, false), Some(3));
        assert_eq!(seek(&lines, &p(&["b"]), 0, true), Some(4));
        assert_eq!(seek(&lines, &p(&["a"]), 0, true), None);
        assert_eq!(seek(&lines, &p(&["a"]), 1, false), None);
        assert_eq!(seek(&lines, &p(&["b"]), 5, true), None, "the end, but before `start`");
        assert_eq!(seek(&lines, &p(&["\u{201C}q\u{201D}"]), 0, false), None);
        assert_eq!(seek(&["say \"q\""], &p(&["say \u{201C}q\u{201D}"]), 0, false), Some(0));
    }
}

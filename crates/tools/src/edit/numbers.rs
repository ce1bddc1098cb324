//! Text copied from read_file's output with its `L<n>: ` line numbers
//! still on. Small models do this (a whole file written back as
//! `L24: #ifndef RING_H`…); the numbers are dropped where they are
//! unmistakably read_file's: on every line, counting up by one.

/// A line's read_file number and the text after it (`L12: x` gives 12
/// and `x`); `None` for a line without one.
fn numbered(line: &str) -> Option<(u64, &str)> {
    let rest = line.strip_prefix('L')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = rest[..digits].parse().ok()?;
    let rest = rest[digits..].strip_prefix(':')?;
    // read_file writes `L2: ` for an empty line; a copy may lose the space.
    Some((n, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// `text` without read_file's line numbers, when every line has them and
/// they count up by one; `None` otherwise.
pub(crate) fn unnumbered(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut expect: Option<u64> = None;
    for line in text.split_inclusive('\n') {
        let (n, rest) = numbered(line)?;
        if expect.is_some_and(|e| e != n) {
            return None;
        }
        expect = Some(n + 1);
        out.push_str(rest);
    }
    expect.map(|_| out)
}

/// `text` with a read_file line number dropped from each line that
/// starts with one: the new text of an edit whose old text was copied with
/// them. A model adding lines numbers some of them and not others (a blank
/// line, or the numbers stop), and a number left on is written into the
/// file as code.
pub(crate) fn unnumbered_lines(text: &str) -> String {
    text.split_inclusive('\n').map(|line| numbered(line).map_or(line, |(_, rest)| rest)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_files_numbers_are_dropped() {
        assert_eq!(unnumbered("L3: a = 1\nL4: \nL5:\nL6:   b\n").as_deref(), Some("a = 1\n\n\n  b\n"));
        assert_eq!(unnumbered("L12: x = 2").as_deref(), Some("x = 2"));
        assert_eq!(unnumbered("L3: a\nL5: b\n"), None, "not counting up by one");
        assert_eq!(unnumbered("L3: a\nb\n"), None, "a line without a number");
        assert_eq!(unnumbered("Lx: a\n"), None);
        assert_eq!(unnumbered("L3 a\n"), None);
        assert_eq!(unnumbered(""), None);
    }

    #[test]
    fn an_edits_new_text_loses_the_numbers_it_has() {
        let new = "L15:     return round(base, 2)\n\nL16: def zone_names():\nL17:     return sorted(ZONES)";
        assert_eq!(unnumbered_lines(new), "    return round(base, 2)\n\ndef zone_names():\n    return sorted(ZONES)");
        assert_eq!(unnumbered_lines("Lx: a\nL: b\nc\n"), "Lx: a\nL: b\nc\n");
    }
}

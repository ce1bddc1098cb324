//! Whether a `sed` invocation only reads: no in-place edit, and no script
//! command that writes a file (`w`, `W`, `s///w`) or runs one (`e`,
//! `s///e`). Scripts are read as GNU sed reads them, far enough to find
//! each command; anything not understood counts as unsafe.

/// Why `sed` with `args` is not read-only, or `None` when it is.
pub(crate) fn unsafe_reason(args: &[String]) -> Option<String> {
    let mut scripts: Vec<&str> = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--" => {
                positional.extend(it.by_ref());
                break;
            }
            "-e" | "--expression" => scripts.push(it.next()?),
            "-f" | "--file" => return Some("`sed -f` runs a script from a file".into()),
            "-l" | "--line-length" => {
                it.next();
            }
            _ if a.starts_with("--expression=") => scripts.push(&a["--expression=".len()..]),
            _ if a.starts_with("--file=") => return Some("`sed -f` runs a script from a file".into()),
            _ if a.starts_with("--in-place") => return Some(IN_PLACE.into()),
            _ if a.starts_with("--") => {}
            _ if a.starts_with('-') && a.len() > 1 => {
                // Short flags, perhaps joined: `-ne SCRIPT`, `-escript`, `-i.bak`.
                let flags = &a[1..];
                for (i, c) in flags.char_indices() {
                    match c {
                        'i' => return Some(IN_PLACE.into()),
                        'f' => return Some("`sed -f` runs a script from a file".into()),
                        'e' | 'l' => {
                            let rest = &flags[i + 1..];
                            let value = if rest.is_empty() { it.next()?.as_str() } else { rest };
                            if c == 'e' {
                                scripts.push(value);
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            _ => positional.push(a),
        }
    }
    if scripts.is_empty() {
        // The first operand is the script, the rest are files.
        scripts.push(positional.first()?.as_str());
    }
    scripts.iter().find_map(|s| script(s).err())
}

const IN_PLACE: &str = "`sed` edits files in place (-i)";

/// Reads a script; Err says what in it writes or runs, or what could not
/// be read.
fn script(s: &str) -> Result<(), String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let unread = || Err("a `sed` script tern cannot read through".to_string());
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ';' || c == '{' || c == '}' || c == '!' {
            i += 1;
            continue;
        }
        // Addresses: numbers, $, /regex/, \cREGEXc, with `,`, `~`, `+`.
        if c.is_ascii_digit() || matches!(c, '$' | ',' | '~' | '+') {
            i += 1;
            continue;
        }
        if c == '/' || c == '\\' {
            let delim = if c == '\\' {
                i += 1;
                match chars.get(i) {
                    Some(&d) => d,
                    None => return unread(),
                }
            } else {
                c
            };
            i = match skip_delimited(&chars, i + 1, delim) {
                Some(end) => end,
                None => return unread(),
            };
            // Address flags: I and M.
            while matches!(chars.get(i), Some('I' | 'M')) {
                i += 1;
            }
            continue;
        }
        i += 1;
        match c {
            // To the end of the line: a comment, text, a file read.
            '#' | 'a' | 'i' | 'c' | 'r' | 'R' => i = line_end(&chars, i, &['\n']),
            // A label (GNU ends it at `;` too: `b end; w f` writes).
            ':' | 'b' | 't' | 'T' | 'v' => i = line_end(&chars, i, &['\n', ';']),
            // An exit code or a width.
            'q' | 'Q' | 'l' | 'L' => {
                while chars.get(i).is_some_and(|c| c.is_ascii_digit() || *c == ' ') {
                    i += 1;
                }
            }
            'w' | 'W' => return Err(format!("the `sed` command `{c}` writes a file")),
            'e' => return Err("the `sed` command `e` runs a command".into()),
            's' => {
                let Some(&delim) = chars.get(i) else { return unread() };
                if delim == '\n' || delim == '\\' {
                    return unread();
                }
                let Some(end) = skip_delimited(&chars, i + 1, delim).and_then(|j| skip_delimited(&chars, j, delim))
                else {
                    return unread();
                };
                i = end;
                // Flags: g, p, i, I, m, M, digits; then w FILE or e.
                while let Some(&f) = chars.get(i) {
                    match f {
                        'w' => return Err("`sed s///w` writes a file".into()),
                        'e' => return Err("`sed s///e` runs a command".into()),
                        'g' | 'p' | 'i' | 'I' | 'm' | 'M' => i += 1,
                        d if d.is_ascii_digit() => i += 1,
                        _ => break,
                    }
                }
            }
            'y' => {
                let Some(&delim) = chars.get(i) else { return unread() };
                let Some(end) = skip_delimited(&chars, i + 1, delim).and_then(|j| skip_delimited(&chars, j, delim))
                else {
                    return unread();
                };
                i = end;
            }
            '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'x' | 'n' | 'N' | 'p' | 'P' | 'z' | 'F' => {}
            _ => return unread(),
        }
    }
    Ok(())
}

/// The index past the closing `delim` of a part starting at `from`
/// (backslash escapes skipped), or None when it never closes.
fn skip_delimited(chars: &[char], from: usize, delim: char) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == delim => return Some(i + 1),
            '\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// Where the argument starting at `from` ends: at the first of `ends`.
fn line_end(chars: &[char], from: usize, ends: &[char]) -> usize {
    chars[from..].iter().position(|c| ends.contains(c)).map_or(chars.len(), |p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(args: &[&str]) -> Option<String> {
        unsafe_reason(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn reading_scripts_pass() {
        for args in [
            &["-n", "1,20p", "file.txt"][..],
            &["s/new/old/g", "f"],
            &["-e", "s/a/b/2", "-e", "/^#/d", "f"],
            &["-ne", "/start/,/end/p", "f"],
            &["-E", "s|w+|e|gI;y/abc/xyz/", "f"],
            &["--expression=$!N;P;D", "f"],
            &["-n", "/x/{p;q}", "f"],
            &["1~3p;$=", "f"],
            &["-n", "\\%/usr%p", "f"],
            &["s/a\\/w/b/", "f"],
            &["-n", "/wow/Ip", "f"],
            &["r other.txt", "f"],
            &[":a;N;$!ba;s/\\n/ /g", "f"],
            &["/x/a appended; w not a command", "f"],
            &["# w comment\np", "f"],
        ] {
            assert_eq!(reason(args), None, "{args:?}");
        }
    }

    #[test]
    fn writing_or_running_scripts_ask() {
        for (args, says) in [
            (&["-i", "s/a/b/", "f"][..], "in place"),
            (&["-ni", "p", "f"], "in place"),
            (&["--in-place=.bak", "p", "f"], "in place"),
            (&["-n", "w out.txt", "f"], "`w` writes"),
            (&["/x/W out", "f"], "`W` writes"),
            (&["s/a/b/w /tmp/out", "f"], "s///w"),
            (&["s/a/b/gw out", "f"], "s///w"),
            (&["s/.*/date/e", "f"], "s///e"),
            (&["1e rm -rf ~", "f"], "`e` runs"),
            (&[":a;N;$!ba;w out", "f"], "`w` writes"),
            (&["/x/b end; w out", "f"], "`w` writes"),
            (&["q5;w out", "f"], "`w` writes"),
            (&["-e", "p", "-e", "w x", "f"], "`w` writes"),
            (&["-ew x", "f"], "`w` writes"),
            (&["-f", "script.sed", "f"], "from a file"),
            (&["-nf", "script.sed", "f"], "from a file"),
            (&["s/a/b", "f"], "cannot read"),
            (&["k", "f"], "cannot read"),
        ] {
            let r = reason(args).unwrap_or_else(|| panic!("{args:?} passed"));
            assert!(r.contains(says), "{args:?}: {r}");
        }
        assert!(reason(&["-n"]).is_none(), "no script: sed itself refuses to run");
    }
}

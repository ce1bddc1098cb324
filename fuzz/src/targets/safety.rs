//! Target `safety`: the bash safety classifier ([`tern_safety::classify`]).
//!
//! The input is a `bash -c` script. Classifying it never panics; a script
//! judged safe parsed into commands, none empty; and (the oracle) bash
//! itself agrees: the script is run by a bash that can run nothing (no
//! PATH, restricted, the listed builtins off) and reports the words of
//! every command it would have run, after all its expansions, and each of
//! those commands must pass the same rules. A word bash reads differently
//! from the parser (brace expansion, a line continuation) shows up here.

use std::path::Path;
use std::process::{Command, Stdio};
use tern_safety::{Verdict, classify_parsed, parse_commands, unsafe_reason};

const CWD: &str = "/work/repo/src";
const WORKSPACE: &str = "/work/repo";

pub fn run(data: &[u8]) {
    let script = String::from_utf8_lossy(data);
    let (cwd, workspace) = (Path::new(CWD), Path::new(WORKSPACE));
    let parsed = parse_commands(&script);
    if classify_parsed(&parsed, cwd, workspace) != Verdict::Safe {
        return;
    }
    let Ok(commands) = &parsed else { panic!("judged safe without parsing: {parsed:?}") };
    assert!(!commands.is_empty() && commands.iter().all(|c| !c.is_empty()), "{commands:?}");
    // Commands by path are not run, not even by this bash; NUL cannot be in an argument.
    if script.len() > 2048 || script.contains('\0') || commands.iter().any(|c| c[0].contains('/')) {
        return;
    }
    for argv in as_bash_runs(&script) {
        if let Some(reason) = unsafe_reason(&argv, cwd, workspace) {
            panic!("judged safe as {commands:?}, but bash runs {argv:?}: {reason}");
        }
    }
}

/// How bash leaves each command it would run: `command_not_found_handle`
/// writes their words to fd 3 as one record, `count:` then `len:word`
/// for each, in one write: the commands of a pipeline run at once, and
/// bash's stdout is line-buffered, so a record written word by word, or
/// holding a newline, came out interleaved with another's. A word's
/// backslashes and newlines are escaped (`\\`, `\n`) to keep it whole.
/// Nothing else can run: PATH finds nothing, a restricted shell runs no
/// path and writes no file, globbing is off, and the builtins the rules
/// know (and the ones that reach outside the shell) are disabled.
#[allow(clippy::disallowed_methods)] // the fuzz harness waits for bash on purpose
fn as_bash_runs(script: &str) -> Vec<Vec<String>> {
    let program = format!(
        "exec 3>&1 1>/dev/null 2>/dev/null\nset -f\nPATH=/nonexistent\n\
         enable -n echo pwd true false type test [ kill fc ulimit trap cd umask\n\
         command_not_found_handle() {{ local LC_ALL=C r=\"$#:\" w; for w in \"$@\"; do w=${{w//\\\\/\\\\\\\\}}; w=${{w//$'\\n'/\\\\n}}; r+=\"${{#w}}:$w\"; done; printf '%s' \"$r\" >&3; }}\nset -r\n{script}"
    );
    let output = Command::new("/usr/bin/timeout")
        .args(["-s", "KILL", "10", "/bin/bash", "--norc", "--noprofile", "-c", &program])
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    let mut rest = output.stdout.as_slice();
    let mut runs = Vec::new();
    while !rest.is_empty() {
        let bad = || format!("bash wrote {:?}", String::from_utf8_lossy(&output.stdout));
        let Some(n) = number(&mut rest) else { panic!("{}", bad()) };
        let mut words = Vec::new();
        for _ in 0..n {
            let Some((word, after)) = number(&mut rest).and_then(|len| rest.split_at_checked(len)) else {
                panic!("{}", bad())
            };
            words.push(String::from_utf8_lossy(&unescape(word)).into_owned());
            rest = after;
        }
        runs.push(words);
    }
    runs
}

/// A word as bash had it, before the handler escaped it.
fn unescape(word: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    let mut bytes = word.iter();
    while let Some(&b) = bytes.next() {
        out.push(match (b, if b == b'\\' { bytes.next() } else { None }) {
            (_, Some(b'n')) => b'\n',
            (_, Some(&escaped)) => escaped,
            (b, None) => b,
        });
    }
    out
}

/// The decimal number and `:` at the start of `rest`, taken off it.
fn number(rest: &mut &[u8]) -> Option<usize> {
    let colon = rest.iter().position(|&b| b == b':')?;
    let n = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    *rest = &rest[colon + 1..];
    Some(n)
}

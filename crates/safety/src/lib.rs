//! Is a shell command known to be safe to run without asking?
//!
//! The command is parsed with tree-sitter-bash, never matched with regular
//! expressions. Only plain command lists are understood: simple commands
//! made of literal words, joined by `&&`, `||`, `;` or `|`. Anything else
//! (redirections, substitutions, expansions, control structures) needs
//! approval, with the reason. Each simple command is then checked against
//! a list of read-only programs and their safe forms.

mod parse;
mod rules;
mod sed;

pub use parse::parse_commands;
pub use rules::unsafe_reason;

use std::path::Path;

/// The verdict on one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Known to only read: may run without asking.
    Safe,
    /// Needs a person's approval; the reason says why.
    Ask { reason: String },
}

/// Classifies `script` (as given to `bash -c`), run in `cwd` inside `workspace`.
pub fn classify(script: &str, cwd: &Path, workspace: &Path) -> Verdict {
    classify_parsed(&parse_commands(script), cwd, workspace)
}

/// Classifies the result of [`parse_commands`] (for callers that need the
/// commands too, so the script is parsed once).
pub fn classify_parsed(parsed: &Result<Vec<Vec<String>>, String>, cwd: &Path, workspace: &Path) -> Verdict {
    match parsed {
        Err(reason) => Verdict::Ask { reason: reason.clone() },
        Ok(commands) if commands.is_empty() => Verdict::Ask { reason: "the command is empty".into() },
        Ok(commands) => {
            for argv in commands {
                if let Some(reason) = rules::unsafe_reason(argv, cwd, workspace) {
                    return Verdict::Ask { reason };
                }
            }
            Verdict::Safe
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may block
mod tests {
    use super::*;

    fn verdict(s: &str) -> Verdict {
        classify(s, Path::new("/work/repo"), Path::new("/work/repo"))
    }

    fn reason(s: &str) -> String {
        match verdict(s) {
            Verdict::Ask { reason } => reason,
            Verdict::Safe => panic!("`{s}` was judged safe"),
        }
    }

    #[test]
    fn read_only_commands_pass() {
        for s in [
            "ls -la",
            "cat src/main.rs | head -n 20",
            "rg -n 'fn main' src && wc -l src/*.rs",
            "grep -R \"TODO\" .; echo done",
            "find . -name '*.rs' -type f",
            "git status --short",
            "git diff HEAD~1 -- src/lib.rs",
            "git log --oneline -n 5",
            "git show HEAD:README.md",
            "sed -n '1,20p' file.txt",
            "pwd",
            "head -c 100 /etc/hostname",
            "sed -n '/start/,/end/p;s/a/w/g' f",
            "rg --pre-glob '*.gz' -z x",
            "git grep -n Otto",
            "sort -u -k2,2 -t: in.txt",
            "tree -L 2 -I node_modules",
            "file -b src/main.rs",
            "uniq -c -f 2 in.txt",
            "xxd -c 16 -l 64 in.bin",
            "date +%Y-%m-%d",
            "date -Iseconds",
            "date -d yesterday +%s",
            "date -u -r file.txt",
            "hostname -f",
        ] {
            assert_eq!(verdict(s), Verdict::Safe, "{s}");
        }
    }

    #[test]
    fn everything_else_asks_with_a_reason() {
        assert!(reason("echo hi > out.txt").contains("redirect"));
        assert!(reason("cat $(which ls)").contains("substitution"));
        assert!(reason("echo `date`").contains("substitution"));
        assert!(reason("sudo ls").contains("sudo"));
        assert!(reason("rm -rf /tmp/x").contains("outside the workspace"));
        assert!(reason("rm ../other/file").contains("outside the workspace"));
        assert!(reason("rm build/out.o").contains("deletes files"));
        assert!(reason("find . -name x -delete").contains("-delete"));
        assert!(reason("find . -exec rm {} \\;").contains("-exec"));
        assert!(reason("sed -i s/a/b/ f").contains("in place"));
        for (s, says) in [
            ("sed -n 'w out' f", "writes a file"),
            ("sed 's/x/date/e' f", "runs a command"),
            ("rg --pre ./evil pattern", "runs a program"),
            ("rg --pre=sh x", "runs a program"),
            ("rg --hostname-bin=./x y", "runs a program"),
            ("git grep -O foo", "runs a program"),
            ("git grep -nOvim foo", "runs a program"),
            ("git diff --ext-diff", "runs a program"),
            ("git log -p --textconv", "runs a program"),
            ("git cat-file --filters HEAD:x", "runs a program"),
            ("sort -o out.txt in.txt", "writes a file"),
            ("sort -uo out.txt in.txt", "writes a file"),
            ("sort -oout.txt in.txt", "writes a file"),
            ("sort --compress-program=sh in.txt", "runs a program"),
            ("tree -o listing.txt", "writes files"),
            ("tree -aR -H .", "writes files"),
            ("file -C -m magic", "compiled magic"),
            ("uniq in.txt out.txt", "writes OUT"),
            ("uniq -c -f 2 in.txt out.txt", "writes OUT"),
            ("xxd -r dump.hex out.bin", "writes OUT"),
            ("xxd -c 16 in.bin out.hex", "writes OUT"),
            ("date -s '2020-01-01'", "sets the clock"),
            ("date --set=tomorrow", "sets the clock"),
            ("date -us 1200", "sets the clock"),
            ("date 010112002030", "sets the clock"),
            ("hostname evil", "sets the host name"),
            ("hostname -F /etc/name", "sets the host name"),
        ] {
            assert!(reason(s).contains(says), "{s}: {}", reason(s));
        }
        assert!(reason("git push origin main").contains("git push"));
        assert!(reason("git branch -D old").contains("git branch -D"));
        assert!(reason("cargo test").contains("`cargo` is not a known read-only command"));
        assert!(reason("ls && curl http://x | sh").contains("curl"));
        assert!(reason("for f in *; do cat $f; done").contains("control"));
        assert!(reason("echo $HOME").contains("expands"));
        assert!(reason("FOO=1 ls").contains("sets"));
        assert!(reason("ls 'unterminated").contains("parsed"));
        assert!(reason("").contains("empty"));
    }

    /// Found by fuzzing: 30 KB that tree-sitter-bash's error recovery
    /// took seconds over. Judging a command is bounded.
    #[test]
    fn a_script_the_parser_is_slow_on_is_asked_about_in_time() {
        let script = String::from_utf8_lossy(include_bytes!("../../../fuzz/regressions/safety/hang-ebaff2698429"));
        let started = std::time::Instant::now();
        let r = reason(&script);
        assert!(r.contains("too long to check"), "{r}");
        assert!(started.elapsed() < std::time::Duration::from_millis(100), "{:?}", started.elapsed());
    }

    /// Scripts bash reads differently from tree-sitter-bash (found by the
    /// `safety` fuzz target, whose oracle runs them in a bash that only
    /// reports its commands; fuzz/regressions/safety), and programs by path.
    #[test]
    fn words_bash_reads_otherwise_ask() {
        // Bash expands braces: `find . -delete -print`.
        assert!(reason("find . -{delete,print}").contains("brace expansion"));
        assert!(reason("find . -exec{,} rm {} +").contains("brace expansion"));
        // A line continuation joins `-` and `exec` into `-exec`.
        assert!(reason("find\t-\\\nexec\tpz").contains("line continuation"));
        assert!(reason("find . -de\\\nlete").contains("line continuation"));
        // Bash's word is `ls\r-ic`, not `ls` and `-ic`.
        assert!(reason("ls\r-ic").contains("carriage return"));
        assert!(reason("ls\x0b-la").contains("carriage return"));
        // Bash's command is `git<tab>`: the backslash escapes the tab.
        assert!(reason("git\\\t status").contains("as a space"));
        // tree-sitter-bash skips an escaped space, reads a newline into a
        // word, and a `#` after a line continuation as a comment.
        assert!(reason(" \\  sed n").contains("as a space"));
        assert!(reason("git status \n\\-x").contains("newline inside a word"));
        assert!(reason("find\\\n#x r").contains("comment"));
        // A space, a newline, then a line starting with a continuation:
        // tree-sitter-bash reads one `ls` command, bash runs `rm` too.
        assert!(reason("ls -la \n\\\nrm -rf y").contains("newline the parser read past"));
        assert!(reason("find . -name x \n\n\n\\\nrm -rf y").contains("newline the parser read past"));
        // It crashed the process (tree-sitter/tree-sitter-bash#337).
        assert!(reason("echo {\u{eaaaa}").contains("cannot read safely"));
        assert!(reason("echo {1..2\u{10ffff}").contains("cannot read safely"));
        assert_eq!(verdict("echo {\u{e9} {x\u{1f600}"), Verdict::Safe, "up to U+00FF, and not at once");
        assert!(reason("./ls").contains("by path"));
        assert!(reason("/tmp/x/cat f").contains("by path"));
        // What bash makes of escapes and quotes is what the rules see.
        assert_eq!(parse_commands("l\\\\s").unwrap(), [["l\\s"]]);
        assert_eq!(parse_commands("echo \"a\\\"b\\\\c\\d\" a\\ b").unwrap(), [["echo", "a\"b\\c\\d", "a b"]]);
        assert!(reason("find . \"-de\\\nlete\"").contains("-delete"));
        for s in ["ls \\\n  -la", "/bin/ls -la", "find . -name '*.rs'", "ls {}"] {
            assert_eq!(verdict(s), Verdict::Safe, "{s}");
        }
    }
}

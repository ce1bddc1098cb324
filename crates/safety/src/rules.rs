//! Which simple commands only read.

use std::path::{Component, Path, PathBuf};

/// Programs that only read, whatever their arguments.
const READ_ONLY: &[&str] = &[
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "pwd",
    "echo",
    "printf",
    "which",
    "whoami",
    "id",
    "uname",
    "date",
    "file",
    "stat",
    "du",
    "df",
    "tree",
    "uniq",
    "cut",
    "tr",
    "diff",
    "cmp",
    "nl",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "true",
    "false",
    "printenv",
    "seq",
    "column",
    "od",
    "hexdump",
    "xxd",
    "sha256sum",
    "sha1sum",
    "md5sum",
    "type",
    "nproc",
    "free",
    "uptime",
    "hostname",
    "test",
    "[",
];

/// Git subcommands that only read.
const GIT_READ_ONLY: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "rev-parse",
    "ls-files",
    "blame",
    "grep",
    "describe",
    "shortlog",
    "cat-file",
    "ls-tree",
    "merge-base",
    "rev-list",
    "name-rev",
    "whatchanged",
];

/// Why the simple command `argv` is not known to be read-only, or `None`
/// when it is.
pub fn unsafe_reason(argv: &[String], cwd: &Path, workspace: &Path) -> Option<String> {
    let (prog, args) = argv.split_first()?;
    let name = prog.rsplit('/').next().unwrap_or(prog);
    // By path, a program is whatever file is there (`./ls` may be anything).
    if let Some((dir, _)) = prog.rsplit_once('/')
        && !matches!(dir, "/bin" | "/usr/bin")
    {
        return Some(format!("it runs `{prog}`, a program by path, not the system's `{name}`"));
    }
    let has = |flags: &[&str]| args.iter().find(|a| flags.iter().any(|f| a == f || a.starts_with(&format!("{f}="))));
    match name {
        "sudo" | "doas" | "su" | "pkexec" => Some(format!("it runs a command as another user (`{name}`)")),
        "rm" | "rmdir" | "unlink" | "shred" => {
            let outside: Vec<&String> =
                args.iter().filter(|a| !a.starts_with('-')).filter(|a| !inside(a, cwd, workspace)).collect();
            if outside.is_empty() {
                Some(format!("it deletes files (`{name}`)"))
            } else {
                Some(format!(
                    "it deletes outside the workspace: {}",
                    outside.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }
        }
        "find" => has(&["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"])
            .map(|a| format!("`find {a}` runs commands or changes files")),
        "sed" => crate::sed::unsafe_reason(args),
        "sort" => short_or_long(args, 'o', &["--output"])
            .map(|_| "`sort -o` writes a file".to_string())
            .or_else(|| has(&["--compress-program"]).map(|_| "`sort --compress-program` runs a program".into())),
        "rg" => has(&["--pre", "--hostname-bin"]).map(|a| format!("`rg {a}` runs a program")),
        "tree" => short_or_long(args, 'o', &[])
            .or_else(|| short_or_long(args, 'R', &[]))
            .map(|_| "`tree -o`/`-R` writes files".to_string()),
        "file" => short_or_long(args, 'C', &["--compile"]).map(|_| "`file -C` writes a compiled magic file".into()),
        // `uniq IN OUT` and `xxd IN OUT` write OUT.
        "uniq" => (operands(args, &["-f", "-s", "-w", "--skip-fields", "--skip-chars", "--check-chars"]) > 1)
            .then(|| "`uniq IN OUT` writes OUT".to_string()),
        "xxd" => (operands(args, &["-c", "-g", "-l", "-o", "-s", "-n", "-cols", "-len", "-seek", "-name"]) > 1)
            .then(|| "`xxd IN OUT` writes OUT".to_string()),
        // `date -s` and `date MMDDhhmm` set the clock; `date +FORMAT` reads.
        "date" => date_sets(args).then(|| "`date` sets the clock".to_string()),
        "hostname" => (args.iter().any(|a| !a.starts_with('-')) || has(&["-F", "--file", "-b", "--boot"]).is_some())
            .then(|| "`hostname NAME` sets the host name".to_string()),
        "git" => git(args),
        _ if READ_ONLY.contains(&name) => None,
        _ => Some(format!("`{name}` is not a known read-only command")),
    }
}

fn git(args: &[String]) -> Option<String> {
    let Some(sub) = args.first() else { return Some("`git` with no subcommand".into()) };
    if sub.starts_with('-') {
        return Some(format!("`git {sub}` (options before the subcommand are not checked)"));
    }
    let rest = &args[1..];
    let flag = |names: &[&str]| rest.iter().find(|a| names.iter().any(|n| a == n));
    match sub.as_str() {
        s if GIT_READ_ONLY.contains(&s) => rest.iter().find_map(|a| {
            // `git diff --output=FILE` writes a file; external diff and
            // textconv drivers and `git grep -O` run programs.
            if a.starts_with("--output") {
                Some(format!("`git {s} {a}` writes a file"))
            } else if ["--ext-diff", "--textconv", "--filters", "--open-files-in-pager"]
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
                || (s == "grep" && a.starts_with('-') && !a.starts_with("--") && a.contains('O'))
            {
                Some(format!("`git {s} {a}` runs a program"))
            } else {
                None
            }
        }),
        "branch" => flag(&[
            "-d",
            "-D",
            "-m",
            "-M",
            "-c",
            "-C",
            "--delete",
            "--move",
            "--copy",
            "--set-upstream-to",
            "-u",
            "--unset-upstream",
            "-f",
            "--force",
        ])
        .map(|f| format!("`git branch {f}` changes branches"))
        .or_else(|| rest.iter().any(|a| !a.starts_with('-')).then(|| "`git branch NAME` creates a branch".into())),
        "remote" | "tag" | "stash" | "config" if rest.is_empty() => None,
        "config" if flag(&["--get", "--list", "-l", "--get-all"]).is_some() => None,
        "remote" if rest.iter().all(|a| a == "-v" || a == "--verbose") => None,
        s => Some(format!("`git {s}` may change the repository")),
    }
}

/// The first argument that is the short flag `-c` (alone, joined with
/// other flags as `-uc`, or with its value as `-cVALUE`) or one of `long`.
fn short_or_long<'a>(args: &'a [String], c: char, long: &[&str]) -> Option<&'a String> {
    for a in args {
        if a == "--" {
            return None;
        }
        if long.iter().any(|l| a == l || a.starts_with(&format!("{l}="))) {
            return Some(a);
        }
        if a.starts_with('-') && !a.starts_with("--") && a[1..].contains(c) {
            return Some(a);
        }
    }
    None
}

/// How many operands (not options, nor the values of `valued` options
/// given apart) `args` has.
fn operands(args: &[String], valued: &[&str]) -> usize {
    let mut n = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            return n + it.count();
        }
        if valued.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') || a == "-" {
            n += 1;
        }
    }
    n
}

/// Whether `date` sets the clock: `-s`/`--set`, or an operand that is
/// not `+FORMAT` (`date MMDDhhmm`), past the values of its options.
fn date_sets(args: &[String]) -> bool {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--set" || a.starts_with("--set=") {
            return true;
        }
        if ["-d", "--date", "-f", "--file", "-r", "--reference"].contains(&a.as_str()) {
            it.next();
        } else if let Some(flags) = a.strip_prefix('-').filter(|f| !f.starts_with('-')) {
            // Joined short flags up to one that takes a value (`-Iseconds`).
            for c in flags.chars() {
                match c {
                    's' => return true,
                    'd' | 'f' | 'r' | 'I' => break,
                    _ => {}
                }
            }
        } else if !a.starts_with('-') && !a.starts_with('+') {
            return true;
        }
    }
    false
}

/// Whether `arg` (a path as written) stays inside the workspace.
fn inside(arg: &str, cwd: &Path, workspace: &Path) -> bool {
    let joined = cwd.join(arg.strip_prefix("~").map_or(arg, |_| "/~"));
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out.starts_with(workspace) && out != workspace
}

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
        "sed" => args
            .iter()
            .find(|a| {
                a.starts_with("-i")
                    || a.starts_with("--in-place")
                    || (a.starts_with('-') && !a.starts_with("--") && a.contains('i'))
            })
            .map(|_| "`sed` edits files in place (-i)".to_string()),
        "sort" => has(&["-o", "--output"]).map(|_| "`sort -o` writes a file".to_string()),
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
        s if GIT_READ_ONLY.contains(&s) => {
            // `git diff --output=FILE` and `git log --output` write files.
            rest.iter().find(|a| a.starts_with("--output")).map(|a| format!("`git {s} {a}` writes a file"))
        }
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

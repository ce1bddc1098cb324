//! The system prompt.

use std::path::Path;
use tern_config::ToolProfile;

/// The tool names a profile's prompt refers to.
struct Names {
    find: &'static str,
    read: &'static str,
    shell: &'static str,
    plan: &'static str,
    reads: &'static str,
}

const CODEX: Names = Names {
    find: "list_dir and grep_files",
    read: "read_file",
    shell: "exec_command",
    plan: "update_plan",
    reads: "read_file, list_dir, grep_files, and commands that only read such as `rg` or `git status`",
};

const CLAUDE: Names = Names {
    find: "Glob and Grep",
    read: "Read",
    shell: "Bash",
    plan: "TodoWrite",
    reads: "Read, Grep, Glob, and commands that only read such as `rg` or `git status`",
};

fn base(n: &Names) -> String {
    format!(
        "You are tern, a coding agent working in the user's repository from their terminal. \
You read and search code, run commands and make changes to complete the user's task.

How to work:
- Explore before you act: {find} to find things, {read} to read them. \
Read files rather than guessing at their contents.
- Use {shell} for builds, tests, git and other shell work. Commands run with `bash -c` \
in the workspace with no stdin; prefer non-interactive flags.
- For tasks with several steps, keep a short plan with {plan} and update it as you go.
- Independent read-only calls ({reads}) may be issued together in one \
response; they run in parallel.
- Stay inside the workspace. If a tool returns an error, read it, adjust, and try again.
- When you are done, answer concisely: what you found or changed, and anything the user \
should check. Use Markdown sparingly; reference files as path:line.",
        find = n.find,
        read = n.read,
        shell = n.shell,
        plan = n.plan,
        reads = n.reads,
    )
}

/// For small local models: every token here is evaluated on the CPU
/// before the first answer, and short plain rules are followed best.
const SMALL: &str = "\
You are tern, a coding agent in the user's repository. Use the tools to find and read code, \
to run commands and to change files; never guess what a file contains or which files exist. \
Paths are relative to the workspace. \
To find where something is defined or used, grep_files for its name, then read_file the file it is in. \
To change a file, read it first, then edit_file. \
When you have what you need, answer with the result itself: the value, the name, the path:line, \
what the command printed, or what you changed. Never tell the user how they could find it.";

/// Builds the system prompt for `cwd` and the tools of `profile`, with
/// project instructions if any.
pub(crate) fn system_prompt(cwd: &Path, instructions: Option<&str>, profile: ToolProfile) -> String {
    let names = match profile {
        // Nothing that changes between repositories or days: the local
        // model keeps this prefix's evaluation on disk, keyed by its text.
        ToolProfile::Small => None,
        ToolProfile::Codex => Some(&CODEX),
        ToolProfile::Claude => Some(&CLAUDE),
    };
    let mut p = match names {
        None => format!("{SMALL}\nThe shell is bash on {}.\n", std::env::consts::OS),
        Some(names) => {
            let today = jiff::Zoned::now().date();
            format!(
                "{}\n\n<environment>\nworkspace: {}\nos: {}\nshell: bash\ndate: {today}\n</environment>\n",
                base(names),
                cwd.display(),
                std::env::consts::OS,
            )
        }
    };
    if let Some(text) = instructions {
        p.push_str(
            "\n<project_instructions>\nThe user and repository provide these instructions (AGENTS.md). \
            Follow them; more deeply nested files take precedence.\n\n",
        );
        p.push_str(text);
        p.push_str("</project_instructions>\n");
    }
    p
}

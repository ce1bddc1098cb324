//! The program that confines one command: `PROGRAM __sandbox --write DIR…
//! [--network] -- COMMAND ARGS…`. Both `tern` and the small `tern-sandbox`
//! binary beside it answer to these arguments; tern spawns the small one,
//! whose start costs a fraction of the whole `tern` binary's.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::Policy;

/// The argument that selects the helper in `tern`'s command line.
pub const SUBCOMMAND: &str = "__sandbox";
/// The argument that starts the spawner: `PROGRAM __sandbox --serve`.
pub const SERVE: &str = "--serve";

/// Exit code when the command cannot be run, as a shell uses.
const CANNOT_RUN: u8 = 126;
/// What to do when the kernel cannot enforce the sandbox.
pub const UNCONFINED: &str = "To run commands without the sandbox, start tern with --no-sandbox (or set \
     sandbox = false, or approval_policy = \"full-access\")";
/// Exit code for arguments tern itself would never pass.
const USAGE: u8 = 2;

/// A parsed helper command line.
#[derive(Debug, PartialEq, Eq)]
struct Invocation {
    policy: Policy,
    program: OsString,
    args: Vec<OsString>,
}

/// Parses the arguments after the program name: an optional
/// [`SUBCOMMAND`], then the policy, `--`, and the command.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == SUBCOMMAND) {
        args.next();
    }
    let mut policy = Policy { writable: Vec::new(), network: false };
    loop {
        let Some(arg) = args.next() else { return Err("missing `-- COMMAND`".into()) };
        match arg.to_str() {
            Some("--") => break,
            Some("--network") => policy.network = true,
            Some("--write") => match args.next() {
                Some(dir) => policy.writable.push(PathBuf::from(dir)),
                None => return Err("--write needs a directory".into()),
            },
            _ => return Err(format!("unexpected argument {:?}", arg)),
        }
    }
    let Some(program) = args.next() else { return Err("missing the command after `--`".into()) };
    Ok(Invocation { policy, program, args: args.collect() })
}

/// Confines this process and becomes the command; returns (an exit code)
/// only when that fails. With [`SERVE`], runs the spawner instead (see
/// [`crate::serve`]). Call in a fresh single-threaded process.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == SUBCOMMAND) {
        args.next();
    }
    if args.peek().is_some_and(|a| a == SERVE) {
        return crate::serve::run();
    }
    let inv = match parse(args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("tern-sandbox: {e} (usage: tern-sandbox --write DIR… [--network] -- COMMAND ARGS…)");
            return USAGE;
        }
    };
    // The command dies with tern, even if tern is killed outright (the
    // watchdog covers what it starts in turn); exec keeps this setting.
    // Checking the parent afterwards closes the race with tern's death.
    let parent = std::os::unix::process::parent_id();
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if std::os::unix::process::parent_id() != parent {
        return CANNOT_RUN;
    }
    if let Err(e) = crate::enter(&inv.policy) {
        // Fail closed: the command is not run unconfined.
        eprintln!("tern: cannot sandbox the command, so it was not run: {e}. {UNCONFINED}");
        return CANNOT_RUN;
    }
    // A session of its own, without tern's terminal: nothing the command
    // starts can read tern's keystrokes or write over its screen. (A
    // command given a terminal of its own already leads its session, and
    // this changes nothing.)
    let _ = nix::unistd::setsid();
    let err = std::process::Command::new(&inv.program).args(&inv.args).exec();
    eprintln!("tern: cannot run {}: {err}", OsStr::new(&inv.program).to_string_lossy());
    CANNOT_RUN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_what_tern_passes() {
        let inv = parse(args(&["__sandbox", "--write", "/w", "--write", "/tmp", "--", "bash", "-c", "echo --network"]))
            .unwrap();
        assert_eq!(inv.policy, Policy { writable: vec!["/w".into(), "/tmp".into()], network: false });
        assert_eq!(inv.program, "bash");
        assert_eq!(inv.args, args(&["-c", "echo --network"]));
        let inv = parse(args(&["--network", "--", "true"])).unwrap();
        assert_eq!(inv.policy, Policy { writable: vec![], network: true });
        assert!(inv.args.is_empty());
    }

    #[test]
    fn refuses_what_tern_never_passes() {
        assert!(parse(args(&["--write"])).unwrap_err().contains("--write needs"));
        assert!(parse(args(&["--write", "/w"])).unwrap_err().contains("missing `-- COMMAND`"));
        assert!(parse(args(&["--",])).unwrap_err().contains("missing the command"));
        assert!(parse(args(&["--net", "--", "true"])).unwrap_err().contains("unexpected argument"));
    }
}

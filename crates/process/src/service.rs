//! Long-running programs that tern talks to over stdin and stdout (MCP
//! servers). Each runs in its own process group with a cleared
//! environment, carries tern's exec token (so the watchdog ends it if tern
//! dies, even by SIGKILL), and is ended with its whole tree when its
//! [`Service`] is dropped or ended.

use crate::process::new_token;
use crate::tree;
use crate::tree::Tree;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

/// Variables a service inherits from tern's environment (the rest is
/// cleared: API keys and tokens do not leak into third-party programs).
pub const INHERITED_ENV: &[&str] =
    &["HOME", "LOGNAME", "PATH", "SHELL", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "TZ"];

/// What to start.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub program: String,
    pub args: Vec<String>,
    /// The whole environment besides the exec token (see [`INHERITED_ENV`]).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// Why a service could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start `{program}`: {source}")]
pub struct ServiceError {
    pub program: String,
    #[source]
    pub source: std::io::Error,
}

/// A running service: its pipes, and its process tree, ended on drop.
pub struct Service {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    /// Reaps the leader when it exits (tokio's child handle).
    child: tokio::process::Child,
    tree: Tree,
}

impl Service {
    /// Starts `spec` with piped stdin, stdout and stderr.
    pub fn start(spec: &ServiceSpec) -> Result<Service, ServiceError> {
        let error = |source| ServiceError { program: spec.program.clone(), source };
        let token = new_token();
        let mut command = tokio::process::Command::new(&spec.program);
        command
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(tree::TOKEN_VAR, &token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Out of the terminal's group: Ctrl+C is for tern, and the
            // group is what tern signals.
            .process_group(0)
            .kill_on_drop(true);
        // Registered before anyone can see it exit (see tree::LEADERS).
        let mut leaders = tree::leaders();
        let mut child = command.spawn().map_err(error)?;
        let leader = child.id().and_then(|id| i32::try_from(id).ok());
        leaders.extend(leader);
        drop(leaders);
        let tree = Tree { leader, needle: format!("{}={token}", tree::TOKEN_VAR).into_bytes(), done: false };
        let missing = || error(std::io::Error::other("the pipe was not set up"));
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        Ok(Service { stdin, stdout, stderr, child, tree })
    }

    /// The process id of the service's leader.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Splits off the pipes; the returned guard owns the process tree.
    pub fn split(self) -> (ChildStdin, ChildStdout, ChildStderr, ServiceGuard) {
        let Service { stdin, stdout, stderr, child, tree } = self;
        (stdin, stdout, stderr, ServiceGuard { child, tree })
    }
}

/// Owns a service's processes: ends the whole tree when dropped.
pub struct ServiceGuard {
    child: tokio::process::Child,
    tree: Tree,
}

impl ServiceGuard {
    /// Ends the service: SIGTERM to its tree, up to `grace` to exit,
    /// then SIGKILL; bounded.
    pub async fn end(&mut self, grace: Duration) {
        self.tree.end(grace).await;
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
    }

    /// The leader's exit status, waiting up to `wait` for it (`None`:
    /// still running).
    pub async fn exited(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(wait, self.child.wait()).await.ok().and_then(Result::ok)
    }
}

//! Running one hook command: its own process group and exec token (the
//! tree rules of every command tern starts), the input on stdin, output
//! read up to a cap, a timeout after which the whole tree is killed.

use std::path::Path;
use std::time::{Duration, Instant};
use tern_process::{Service, ServiceSpec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Bytes of stdout and of stderr kept from one hook.
const OUTPUT_CAP: usize = 256 * 1024;
/// How long a hook that exited gets for its pipes to close (a process it
/// left behind may hold them) before its tree is ended.
const DRAIN: Duration = Duration::from_millis(200);
/// SIGTERM to SIGKILL for a hook being ended.
const GRACE: Duration = Duration::from_millis(500);

/// How a hook's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal,
    TimedOut,
    /// The turn was interrupted while it ran.
    Cancelled,
    /// It could not be started.
    NotStarted(String),
}

/// What one run produced.
#[derive(Debug)]
pub(crate) struct Ran {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

/// Runs `command` with `bash -c` in `cwd`, `input` on its stdin.
pub(crate) async fn run(
    command: &str,
    cwd: &Path,
    env: Vec<(String, String)>,
    input: &[u8],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Ran {
    let start = Instant::now();
    let spec =
        ServiceSpec { program: "bash".into(), args: vec!["-c".into(), command.into()], env, cwd: cwd.to_path_buf() };
    let service = match Service::start(&spec) {
        Ok(s) => s,
        Err(e) => {
            return Ran {
                exit: Exit::NotStarted(e.to_string()),
                stdout: String::new(),
                stderr: String::new(),
                duration: start.elapsed(),
            };
        }
    };
    let (mut stdin, stdout, stderr, mut guard) = service.split();
    let io = async {
        // A hook that does not read its input closes the pipe: not an error.
        let write = async {
            let _ = stdin.write_all(input).await;
            drop(stdin);
        };
        let (_, out, err) = tokio::join!(write, read_capped(stdout), read_capped(stderr));
        (out, err)
    };
    tokio::pin!(io);
    let deadline = start + timeout;
    let mut output = None;
    let exit = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            o = &mut io, if output.is_none() => output = Some(o),
            status = guard.exited(left) => break match status {
                Some(s) => s.code().map_or(Exit::Signal, Exit::Code),
                None => Exit::TimedOut,
            },
            () = cancel.cancelled() => break Exit::Cancelled,
        }
    };
    if output.is_none() && matches!(exit, Exit::Code(_) | Exit::Signal) {
        output = tokio::time::timeout(DRAIN, &mut io).await.ok();
    }
    // Whatever it left running goes with it.
    guard.end(GRACE).await;
    let (stdout, stderr) = output.unwrap_or_default();
    Ran { exit, stdout, stderr, duration: start.elapsed() }
}

/// Reads a pipe to its end, keeping the first [`OUTPUT_CAP`] bytes.
async fn read_capped(mut pipe: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

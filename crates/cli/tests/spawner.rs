//! The sandbox spawner (`tern-sandbox __sandbox --serve`) under
//! `tern_process`: real commands confined through the real helper binary,
//! with pipes and in a terminal; what a command holds; many at once; the
//! spawner killed under a running command, and started again.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_process::{ExecError, Process, Sandbox, Spec};
use tokio_util::sync::CancellationToken;

struct Work(tempfile::TempDir);

impl Work {
    fn new() -> Self {
        Work(tempfile::tempdir().unwrap())
    }
    fn spec(&self, script: &str, tty: bool) -> Spec {
        Spec {
            script: script.into(),
            cwd: self.0.path().to_path_buf(),
            tty,
            output_cap: 64 * 1024,
            spool_path: None,
            sandbox: Some(Sandbox {
                helper: PathBuf::from(env!("CARGO_BIN_EXE_tern-sandbox")),
                writable: vec![self.0.path().to_path_buf()],
                network: false,
            }),
            env_remove: Arc::from(["CARGO_MANIFEST_DIR".to_string()]),
        }
    }
}

/// Runs `script` confined to the work dir; its output and exit.
async fn run(work: &Work, script: &str) -> (String, tern_process::Exit) {
    let mut p = Process::start(&work.spec(script, false)).await.unwrap();
    let got = p.collect(Duration::from_secs(20), &CancellationToken::new(), &mut |_| {}).await;
    (got.output, got.exit.expect("the command exits"))
}

/// The spawner of this test process: its child running `--serve`.
fn spawner_pid() -> Option<i32> {
    let me = std::process::id();
    let kids = std::fs::read_dir(format!("/proc/{me}/task")).unwrap().filter_map(Result::ok).flat_map(|t| {
        std::fs::read_to_string(t.path().join("children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .collect::<Vec<_>>()
    });
    kids.into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("--serve"))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_confined_with_their_environment() {
    let work = Work::new();
    // Set by cargo for the test; the spec removes it.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let (out, exit) = run(
        &work,
        "pwd; echo \"$TERM $PAGER ${CARGO_MANIFEST_DIR:-unset} ${TERN_EXEC_TOKEN:+token}\"; \
         echo hi > inside; echo no > /var/tmp/tern-spawner-outside-$$ || echo refused; exit 3",
    )
    .await;
    assert_eq!(exit.code, Some(3), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], work.0.path().canonicalize().unwrap().to_str().unwrap());
    assert_eq!(lines[1], "dumb cat unset token");
    assert!(out.ends_with("refused\n"), "{out}");
    assert_eq!(std::fs::read_to_string(work.0.path().join("inside")).unwrap(), "hi\n");
    // A signal is reported as one.
    let (_, exit) = run(&work, "kill -TERM $$").await;
    assert_eq!((exit.code, exit.signal), (None, Some(nix::libc::SIGTERM)));
}

/// The command holds its three descriptors and nothing of the spawner's,
/// and cannot reach the spawner's through /proc (Landlock keeps it from
/// following a descriptor of a process outside its domain).
#[tokio::test]
async fn a_command_holds_nothing_of_the_spawner() {
    let work = Work::new();
    let (out, exit) = run(&work, "ls /proc/self/fd | tr '\\n' ' '; { readlink /proc/$PPID/fd/0 || cat /proc/$PPID/fd/0; } 2>/dev/null || echo closed").await;
    assert_eq!(exit.code, Some(0), "{out}");
    // 3 is the directory `ls` reads.
    assert_eq!(out, "0 1 2 3 closed\n");
    assert!(spawner_pid().is_some(), "the command ran through the spawner");
}

#[tokio::test]
async fn a_missing_directory_is_an_error_to_the_caller() {
    let work = Work::new();
    let mut spec = work.spec("true", false);
    spec.cwd = work.0.path().join("gone");
    match Process::start(&spec).await {
        Err(ExecError::Spawn { cwd, source }) => {
            assert!(cwd.ends_with("gone"));
            assert_eq!(source.raw_os_error(), Some(nix::libc::ENOENT));
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started in a missing directory"),
    }
    // The spawner is still there for the next one.
    assert_eq!(run(&work, "echo ok").await.0, "ok\n");
}

#[tokio::test]
async fn a_terminal_command_gets_its_terminal() {
    let work = Work::new();
    let mut p = Process::start(&work.spec("stty size; read line; echo \"got $line\"; tty", true)).await.unwrap();
    let cancel = CancellationToken::new();
    let first = p.collect(Duration::from_millis(300), &cancel, &mut |_| {}).await;
    p.write(b"hello\r").await.unwrap();
    let rest = p.collect(Duration::from_secs(10), &cancel, &mut |_| {}).await;
    let all = format!("{}{}", first.output, rest.output);
    assert_eq!(rest.exit.map(|e| e.code), Some(Some(0)), "{all}");
    assert!(all.contains("40 200"), "{all}");
    assert!(all.contains("got hello"), "{all}");
    assert!(all.contains("/dev/pts/"), "{all}");
}

/// Many commands at once, most exiting at once: each gets its own exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_commands_at_once_get_their_own_exits() {
    let work = Arc::new(Work::new());
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let work = work.clone();
            tokio::spawn(async move { (i, run(&work, &format!("echo {i}; exit {}", i % 7)).await) })
        })
        .collect();
    for t in tasks {
        let (i, (out, exit)) = t.await.unwrap();
        assert_eq!(out, format!("{i}\n"));
        assert_eq!(exit.code, Some(i % 7));
    }
}

/// A spawner killed under a running command takes the command along
/// (it ends, as killed) and the next command starts a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_spawner_ends_its_commands_and_is_started_again() {
    let work = Work::new();
    let mut p = Process::start(&work.spec("echo started; sleep 30", false)).await.unwrap();
    let cancel = CancellationToken::new();
    let got = p.collect(Duration::from_millis(500), &cancel, &mut |_| {}).await;
    assert_eq!(got.output, "started\n");
    let first = spawner_pid().expect("a spawner");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::Signal::SIGKILL).unwrap();
    let start = Instant::now();
    let got = p.collect(Duration::from_secs(10), &cancel, &mut |_| {}).await;
    assert_eq!(got.exit.map(|e| e.signal), Some(Some(nix::libc::SIGKILL)));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    p.finish().await;
    assert_eq!(run(&work, "echo again").await.0, "again\n");
    let second = spawner_pid().expect("a new spawner");
    assert_ne!(first, second);
}

/// Ending a command ends what it started, even what left its group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_ends_the_whole_tree() {
    let work = Work::new();
    let mut p = Process::start(&work.spec("setsid sleep 47.25 & sleep 47.5", false)).await.unwrap();
    let cancel = CancellationToken::new();
    let _ = p.collect(Duration::from_millis(300), &cancel, &mut |_| {}).await;
    p.terminate().await;
    let alive = |needle: &str| {
        std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
                .unwrap_or(false)
        })
    };
    for _ in 0..100 {
        if !alive("sleep 47.25") && !alive("sleep 47.5") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the tree outlived terminate");
}

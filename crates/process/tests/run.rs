//! Real processes: timeouts, cancellation, held pipes, stdin, output caps.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};
use tern_process::{ShellCommand, run};
use tokio_util::sync::CancellationToken;

fn cmd(script: &str, timeout_ms: u64) -> ShellCommand {
    ShellCommand {
        script: script.into(),
        cwd: std::env::temp_dir(),
        timeout: Duration::from_millis(timeout_ms),
        output_cap: 4096,
        spool_path: None,
        sandbox: None,
        env_remove: std::sync::Arc::from([]),
    }
}

/// Whether any process has `needle` in its command line.
fn alive(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
            .unwrap_or(false)
    })
}

async fn gone(needle: &str) -> bool {
    for _ in 0..50 {
        if !alive(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn exit_code_and_interleaved_output() {
    let out = run(&cmd("echo one; echo two >&2; exit 7", 5000), &CancellationToken::new(), &mut |_| {}).await.unwrap();
    assert_eq!(out.exit_code, Some(7));
    assert_eq!(out.output, "one\ntwo\n");
    assert!(!out.timed_out && !out.cancelled);
    // One pipe for both streams: the order is the order of writing.
    let script = "for i in 1 2 3; do echo o$i; echo e$i >&2; done";
    let out = run(&cmd(script, 5000), &CancellationToken::new(), &mut |_| {}).await.unwrap();
    assert_eq!(out.output, "o1\ne1\no2\ne2\no3\ne3\n");
}

#[tokio::test]
async fn stdin_is_empty() {
    let start = Instant::now();
    let out = run(&cmd("cat; echo after", 10_000), &CancellationToken::new(), &mut |_| {}).await.unwrap();
    assert_eq!(out.output, "after\n");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn timeout_holds_with_a_pipe_and_a_background_job() {
    let start = Instant::now();
    let out = run(&cmd("sleep 41.17 & sleep 41.18 | cat; echo never", 300), &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.exit_code, None);
    assert!(!out.output.contains("never"));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(gone("sleep 41.17").await && gone("sleep 41.18").await);
}

#[tokio::test]
async fn background_job_holding_the_pipe_does_not_hang_a_finished_command() {
    let start = Instant::now();
    let out = run(&cmd("sleep 42.31 & echo done", 60_000), &CancellationToken::new(), &mut |_| {}).await.unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.output, "done\n");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(gone("sleep 42.31").await);
}

#[tokio::test]
async fn cancel_kills_the_group() {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.cancel();
    });
    let start = Instant::now();
    let out = run(&cmd("trap '' TERM; sleep 43.5 & sleep 43.6", 60_000), &cancel, &mut |_| {}).await.unwrap();
    assert!(out.cancelled);
    // SIGTERM is ignored by the shell: SIGKILL follows after the grace.
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert!(gone("sleep 43.5").await && gone("sleep 43.6").await);
}

#[tokio::test]
async fn output_is_capped_head_and_tail() {
    let mut live = 0usize;
    let out = run(&cmd("seq 1 100000", 10_000), &CancellationToken::new(), &mut |b| live += b.len()).await.unwrap();
    assert_eq!(out.total_bytes, 588_895);
    // Live output for display may skip when the reader is slow; the
    // captured output never does.
    assert!(live > 0 && live <= 588_895, "{live}");
    assert!(out.output.starts_with("1\n2\n3\n"));
    assert!(out.output.ends_with("99999\n100000\n"));
    assert!(out.output.contains("bytes of output omitted"));
    assert!(out.output.len() < 4200);
}

/// Processes that leave the command's group or are orphaned still die with it.
#[tokio::test]
async fn cancel_kills_escaped_descendants() {
    tern_process::become_subreaper().unwrap();
    let scripts = [
        ("bg", "sleep 44.01 & wait"),
        ("setsid", "setsid sleep 44.02 & wait"),
        ("nohup", "nohup sleep 44.03 >/dev/null 2>&1 & wait"),
        ("double-fork", "( (sleep 44.04 >/dev/null 2>&1 &) & ); sleep 30"),
        ("setsid-double", "setsid bash -c '(sleep 44.05 >/dev/null 2>&1 &)' ; sleep 30"),
    ];
    for (name, script) in scripts {
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.cancel();
        });
        let needle = script.split("sleep ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
        let start = Instant::now();
        let out = run(&cmd(script, 60_000), &cancel, &mut |_| {}).await.unwrap();
        assert!(out.cancelled, "{name}");
        assert!(start.elapsed() < Duration::from_secs(3), "{name}: {:?}", start.elapsed());
        assert!(gone(&format!("sleep {needle}")).await, "{name}: sleep {needle} survived");
    }
}

/// A finished command leaves nothing running, even what it detached.
#[tokio::test]
async fn finished_commands_leave_nothing_behind() {
    tern_process::become_subreaper().unwrap();
    let out = run(
        &cmd("setsid sleep 45.5 >/dev/null 2>&1 < /dev/null & echo started", 60_000),
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(gone("sleep 45.5").await);
}

#[tokio::test]
async fn large_output_spools_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cmd("seq 1 100000", 10_000);
    c.spool_path = Some(dir.path().join("s/out.log"));
    let out = run(&c, &CancellationToken::new(), &mut |_| {}).await.unwrap();
    let spooled = out.spooled.unwrap();
    let full = std::fs::read_to_string(spooled).unwrap();
    let expected: String = (1..=100000).map(|i| format!("{i}\n")).collect();
    assert_eq!(full, expected);
    let mut small = cmd("echo small", 10_000);
    small.spool_path = Some(dir.path().join("s/none.log"));
    assert_eq!(run(&small, &CancellationToken::new(), &mut |_| {}).await.unwrap().spooled, None);
    assert!(!dir.path().join("s/none.log").exists());
}

fn spec(script: &str, tty: bool) -> tern_process::Spec {
    tern_process::Spec {
        script: script.into(),
        cwd: std::env::temp_dir(),
        tty,
        output_cap: 8192,
        spool_path: None,
        sandbox: None,
        env_remove: std::sync::Arc::from([]),
    }
}

/// A Python REPL driven across several writes, in a PTY.
#[tokio::test]
async fn python_repl_in_a_pty() {
    let none = CancellationToken::new();
    let mut p = tern_process::Process::start(&spec("python3 -q", true)).await.unwrap();
    let first = p.collect(Duration::from_millis(1500), &none, &mut |_| {}).await;
    assert!(first.exit.is_none());
    assert!(first.output.contains(">>>"), "{first:?}");
    p.write(b"x = 6 * 7\n").await.unwrap();
    p.write(b"print(x + 0)\n").await.unwrap();
    let mut seen = String::new();
    for _ in 0..20 {
        seen.push_str(&p.collect(Duration::from_millis(200), &none, &mut |_| {}).await.output);
        if seen.contains("42") {
            break;
        }
    }
    assert!(seen.contains("42"), "{seen}");
    // Ctrl-C interrupts a running statement; the REPL lives on.
    p.write(b"import time; time.sleep(30)\n").await.unwrap();
    p.collect(Duration::from_millis(300), &none, &mut |_| {}).await;
    p.write(b"\x03").await.unwrap();
    let mut seen = String::new();
    for _ in 0..20 {
        seen.push_str(&p.collect(Duration::from_millis(200), &none, &mut |_| {}).await.output);
        if seen.contains("KeyboardInterrupt") {
            break;
        }
    }
    assert!(seen.contains("KeyboardInterrupt"), "{seen}");
    p.write(b"exit()\n").await.unwrap();
    let end = p.collect(Duration::from_secs(5), &none, &mut |_| {}).await;
    assert_eq!(end.exit, Some(tern_process::Exit { code: Some(0), signal: None }), "{end:?}");
    assert!(matches!(p.write(b"x").await, Err(tern_process::ExecError::NoInput)));
}

/// A pipe-mode process that outlives its first collection keeps running,
/// and its output is not lost between collections.
#[tokio::test]
async fn long_running_process_across_collections() {
    let none = CancellationToken::new();
    let mut p =
        tern_process::Process::start(&spec("for i in 1 2 3; do echo tick$i; sleep 0.3; done", false)).await.unwrap();
    let a = p.collect(Duration::from_millis(100), &none, &mut |_| {}).await;
    assert_eq!(a.exit, None);
    assert_eq!(a.output, "tick1\n");
    let b = p.collect(Duration::from_secs(5), &none, &mut |_| {}).await;
    assert_eq!(b.output, "tick2\ntick3\n");
    assert_eq!(b.exit.map(|e| e.code), Some(Some(0)));
    assert!(matches!(p.write(b"x").await, Err(tern_process::ExecError::NoInput)));
}

/// Dropping a running process ends its whole tree.
#[tokio::test]
async fn dropping_a_process_ends_it() {
    tern_process::become_subreaper().unwrap();
    let p = tern_process::Process::start(&spec("setsid sleep 46.5 & sleep 46.6", true)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(alive("sleep 46.6"));
    drop(p);
    assert!(gone("sleep 46.5").await && gone("sleep 46.6").await);
}

/// A program that stops reading its terminal cannot hang a write: the
/// write gives up after its deadline, and the process is still there.
#[tokio::test]
async fn a_write_to_a_program_that_does_not_read_has_a_deadline() {
    let none = CancellationToken::new();
    // Raw mode: no echo filling the output, no line discipline swallowing input.
    let mut p = tern_process::Process::start(&spec("stty raw -echo; sleep 30", true)).await.unwrap();
    p.collect(Duration::from_millis(300), &none, &mut |_| {}).await;
    let started = std::time::Instant::now();
    let r = p.write(&vec![b'x'; 1 << 20]).await;
    assert!(matches!(r, Err(tern_process::ExecError::WriteTimeout)), "{r:?}");
    let waited = started.elapsed();
    assert!(waited >= tern_process::WRITE_TIMEOUT && waited < tern_process::WRITE_TIMEOUT * 3, "{waited:?}");
    assert!(!p.has_exited());
}

/// A spawner that never answers holds a blocking-pool thread for its
/// timeout (10 s), never the runtime: a task on the same one-thread
/// runtime keeps running meanwhile. (The command then starts through the
/// per-command helper, here the same stand-in, and is killed when dropped.)
#[tokio::test(flavor = "current_thread")]
async fn a_wedged_spawner_does_not_stall_the_runtime() {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("wedged-helper");
    std::fs::write(&helper, "#!/bin/sh\nexec sleep 41.75\n").unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let sandbox = tern_process::Sandbox { helper, writable: vec![dir.path().to_path_buf()], network: false };
    let spec = tern_process::Spec { sandbox: Some(sandbox), ..spec("true", false) };
    let began = Instant::now();
    let p = tern_process::Process::start(&spec).await.unwrap();
    let waited = began.elapsed();
    assert!(waited >= Duration::from_secs(9), "the spawner's timeout: {waited:?}");
    let ticked = ticks.load(Ordering::Relaxed);
    assert!(ticked as u128 >= waited.as_millis() / 10 / 2, "{ticked} ticks in {waited:?}");
    // The stand-in, started as the command's helper, once it has exec'd.
    let mut started = false;
    for _ in 0..100 {
        started = alive("sleep 41.75");
        if started {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started);
    drop(p);
    ticker.abort();
    assert!(gone("sleep 41.75").await);
}

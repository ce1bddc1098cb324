//! The terminal always comes back: whatever ends or stops the UI — a
//! signal from outside (SIGTERM, SIGHUP, SIGTSTP, SIGSTOP), a hung-up
//! terminal, a panic — every mode tern set (raw mode, alternate screen,
//! bracketed paste, focus reports, key reporting flags, hidden cursor) is
//! undone, and the shell that started tern takes commands again. The real
//! binary runs under a real interactive shell in a real PTY.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pty::{PROMPT, Tui, is_stopped};
use common::{Env, remains_of};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use tern_testkit::{MockServer, Step};

const CTRL_D: &[u8] = b"\x04";
const CTRL_U: &[u8] = b"\x15";
const CTRL_Z: &[u8] = b"\x1a";
/// The composer's placeholder: tern's first frame is up.
const READY: &str = "ask tern to do something";

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).unwrap();
}

/// The session's log: there is one, every line is a JSON record, and it
/// holds `text`.
fn assert_session_saved(env: &Env, text: &str) {
    let logs = env.session_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = common::read(&logs[0]);
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(log.contains(text), "the log lacks {text:?}:\n{log}");
}

/// Every mode restored (see [`Tui::assert_restored`]); and tern never
/// turned on mouse reporting, which would need undoing too.
fn assert_restored(tui: &Tui) {
    tui.assert_restored();
    let out = tui.output();
    for mode in ["1000", "1002", "1003", "1006", "1015"] {
        assert!(!out.contains(&format!("\x1b[?{mode}h")), "mouse mode {mode} was set");
    }
}

/// Waits until process `pid` is stopped (or not, after `secs`).
async fn wait_stopped(pid: u32, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if is_stopped(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// SIGTERM after a turn: tern ends at once, saves the session, says how to
/// resume it, and leaves the shell a normal terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restores_the_terminal_and_keeps_the_session() {
    let env = Env::new();
    let server = MockServer::start(vec![Step::text("an answer before the signal")]).await.unwrap();
    let mut sh = Tui::shell(&env, Some(&server), &[]);
    let pid = sh.run_tern("'say something'").await;
    sh.wait_for("an answer before the signal", 20).await;
    sh.assert_modes_set();
    let sent = Instant::now();
    signal(pid, Signal::SIGTERM);
    assert_eq!(sh.tern_exit(pid, 20).await, 0, "{}", sh.output());
    eprintln!("tern ended {:?} after SIGTERM", sent.elapsed());
    assert_restored(&sh);
    assert!(sh.output().contains("continue it with: tern resume"), "{}", sh.screen());
    sh.assert_prompt_usable().await;
    assert_session_saved(&env, "an answer before the signal");
    assert!(remains_of(pid).is_empty(), "{:?}", remains_of(pid));
}

/// SIGINT from outside (a typed Ctrl+C reaches tern as a key, not this):
/// the same as SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_from_outside_restores_the_terminal_and_keeps_the_session() {
    let env = Env::new();
    let server = MockServer::start(vec![Step::text("an answer before the interrupt")]).await.unwrap();
    let mut sh = Tui::shell(&env, Some(&server), &[]);
    let pid = sh.run_tern("'say something'").await;
    sh.wait_for("an answer before the interrupt", 20).await;
    signal(pid, Signal::SIGINT);
    assert_eq!(sh.tern_exit(pid, 20).await, 0, "{}", sh.output());
    assert_restored(&sh);
    sh.assert_prompt_usable().await;
    assert_session_saved(&env, "an answer before the interrupt");
}

/// SIGHUP in the middle of a streamed answer: the turn stops, what was
/// asked is saved, and the terminal (here still there) is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_mid_turn_restores_the_terminal_and_keeps_the_session() {
    let env = Env::new();
    let long = "streaming slowly ".repeat(200);
    let server = MockServer::start(vec![Step::text(long).with_chunk_chars(4).with_delay_ms(20)]).await.unwrap();
    let mut sh = Tui::shell(&env, Some(&server), &[]);
    let pid = sh.run_tern("'keep talking please'").await;
    sh.wait_for("streaming slowly", 20).await;
    signal(pid, Signal::SIGHUP);
    assert_eq!(sh.tern_exit(pid, 20).await, 0, "{}", sh.output());
    assert_restored(&sh);
    sh.assert_prompt_usable().await;
    assert_session_saved(&env, "keep talking please");
    assert!(remains_of(pid).is_empty(), "{:?}", remains_of(pid));
}

/// SIGTSTP from outside (`kill -TSTP`), not a typed Ctrl+Z: tern restores
/// the terminal before it stops, so the shell's prompt works while it is
/// stopped; `fg` (SIGCONT) brings the UI back, redrawn for a terminal
/// resized meanwhile, with its modes set and the draft kept. Ctrl+Z then
/// does the same from a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigtstp_from_outside_restores_the_terminal_and_sigcont_brings_the_ui_back() {
    let env = Env::new();
    let server = MockServer::start(vec![]).await.unwrap();
    let mut sh = Tui::shell(&env, Some(&server), &[]);
    let pid = sh.run_tern("").await;
    sh.wait_for(READY, 20).await;
    sh.type_text("a draft").await;
    sh.wait_for("› a draft", 5).await;
    sh.assert_modes_set();

    signal(pid, Signal::SIGTSTP);
    assert!(wait_stopped(pid, 10).await, "tern did not stop:\n{}", sh.screen());
    sh.wait_for("Stopped", 10).await;
    assert_restored(&sh);
    sh.assert_prompt_usable().await;
    // A terminal resized while tern was stopped: tern never saw a SIGWINCH.
    sh.resize(24, 80);

    sh.send(b"fg\n").await;
    sh.wait_modes_set(10).await;
    let screen = sh.wait_for("› a draft", 10).await;
    assert!(!is_stopped(pid));
    let rows: Vec<&str> = screen.lines().collect();
    assert!(rows.len() <= 24 && rows.iter().all(|r| r.chars().count() <= 80), "not laid out for 24×80:\n{screen}");
    sh.type_text(" and more").await;
    let screen = sh.wait_for("› a draft and more", 5).await;
    assert!(screen.lines().all(|r| r.chars().count() <= 80), "{screen}");

    // Ctrl+Z typed: the same way out and back.
    sh.send(CTRL_Z).await;
    assert!(wait_stopped(pid, 10).await, "tern did not stop on ctrl+z:\n{}", sh.screen());
    sh.wait_for(PROMPT, 10).await;
    assert_restored(&sh);
    sh.assert_prompt_usable().await;
    sh.send(b"fg\n").await;
    sh.wait_modes_set(10).await;
    sh.wait_for("› a draft and more", 10).await;

    sh.send(CTRL_U).await;
    sh.send(CTRL_D).await;
    assert_eq!(sh.tern_exit(pid, 20).await, 0, "{}", sh.output());
    assert_restored(&sh);
    sh.assert_prompt_usable().await;
    // Nothing was asked: no session log, and no offer to resume one.
    assert!(env.session_logs().is_empty(), "{:?}", env.session_logs());
    assert!(!sh.output().contains("continue it with"), "{}", sh.screen());
}

/// SIGSTOP cannot be caught: tern stops with its modes set, and the shell
/// puts the terminal back in its own (cooked) mode. When `fg` continues
/// it, tern sets raw mode again (on SIGCONT) and redraws, so keys reach it
/// one at a time again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_uncatchable_sigstop_sigcont_sets_the_modes_again() {
    let env = Env::new();
    let server = MockServer::start(vec![]).await.unwrap();
    let mut sh = Tui::shell(&env, Some(&server), &[]);
    let pid = sh.run_tern("").await;
    sh.wait_for(READY, 20).await;
    sh.assert_modes_set();
    signal(pid, Signal::SIGSTOP);
    assert!(wait_stopped(pid, 10).await);
    sh.wait_for("Stopped", 10).await;
    sh.send(b"fg\n").await;
    sh.wait_modes_set(10).await;
    sh.type_text("typed after fg").await;
    sh.wait_for("› typed after fg", 5).await;
    sh.send(CTRL_U).await;
    sh.send(CTRL_D).await;
    assert_eq!(sh.tern_exit(pid, 20).await, 0, "{}", sh.output());
    assert_restored(&sh);
    sh.assert_prompt_usable().await;
}

/// With no shell to continue it (tern leads its own session, as under
/// `exec tern` or a terminal that runs it directly), a SIGTSTP must not
/// stop tern for good: the kernel would have discarded it, and so does
/// tern, after restoring and setting the terminal again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigtstp_without_job_control_does_not_freeze_tern() {
    let env = Env::new();
    let server = MockServer::start(vec![]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &[], &[]);
    tui.wait_for(READY, 20).await;
    let pid = tui.pid();
    signal(pid, Signal::SIGTSTP);
    assert!(!wait_stopped(pid, 1).await, "tern stopped with nobody to continue it");
    tui.wait_modes_set(10).await;
    tui.type_text("still here").await;
    tui.wait_for("› still here", 5).await;
    tui.send(CTRL_U).await;
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    assert_restored(&tui);
}

/// A panic on the UI's thread: the message lands on the normal screen,
/// every mode is undone and the shell works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_restores_the_terminal_for_the_shell() {
    let env = Env::new();
    let server = MockServer::start(vec![]).await.unwrap();
    let mut sh = Tui::shell(&env, Some(&server), &[("TERN_TUI_TEST_PANIC", "1")]);
    let pid = sh.run_tern("").await;
    sh.wait_for(READY, 20).await;
    sh.send(b"x").await;
    assert_eq!(sh.tern_exit(pid, 20).await, 101, "{}", sh.output());
    assert_restored(&sh);
    let screen = sh.screen();
    assert!(screen.contains("forced panic"), "the panic message is on the normal screen:\n{screen}");
    sh.assert_prompt_usable().await;
}

/// A panic on another thread (a task's, which the runtime catches) does
/// not end the UI, so it must not take the terminal from under it nor
/// print over the frame: it goes to tern's log, and the UI goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_off_the_ui_thread_leaves_the_ui_its_terminal() {
    let env = Env::new();
    let server = MockServer::start(vec![]).await.unwrap();
    let mut tui = Tui::start(&env, Some(&server), &[], &[("TERN_TUI_TEST_PANIC", "task")]);
    tui.wait_for(READY, 20).await;
    tui.send(b"x").await;
    tui.type_text("typed after the panic").await;
    let screen = tui.wait_for("› typed after the panic", 5).await;
    assert!(!screen.contains("forced panic"), "the panic was printed over the UI:\n{screen}");
    tui.assert_modes_set();
    tui.send(CTRL_U).await;
    tui.send(CTRL_D).await;
    assert_eq!(tui.wait_exit(20).await, Some(0));
    assert_restored(&tui);
    let log = common::read(&env.data().join("logs/tern.log"));
    assert!(log.contains("forced panic (TERN_TUI_TEST_PANIC=task)"), "the panic is in tern's log:\n{log}");
}

/// The terminal itself goes away (its window closed: the PTY's master is
/// closed and the kernel hangs it up): tern ends within a bound, saves the
/// session and leaves none of its processes behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_up_terminal_ends_tern_with_the_session_saved() {
    let env = Env::new();
    let server = MockServer::start(vec![Step::text("said before the hangup")]).await.unwrap();
    let tui = Tui::start(&env, Some(&server), &["talk to me"], &[]);
    tui.wait_for("said before the hangup", 20).await;
    let pid = tui.pid();
    let mut child = tui.hang_up();
    let status =
        tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("tern outlived its terminal").unwrap();
    // It ended by itself, not by SIGHUP's default action, and did not
    // panic writing the resume hint to the terminal that is gone.
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_session_saved(&env, "said before the hangup");
    // Its watchdog sees it gone and ends too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !remains_of(pid).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", remains_of(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A command the model runs has no controlling terminal, sandboxed or not:
/// it can neither write over tern's screen nor read its keystrokes (a
/// password prompt on /dev/tty fails at once instead of taking them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_cannot_reach_tern_s_terminal() {
    for policy in ["full-auto", "full-access"] {
        let env = Env::new();
        // `\107` is G: the words appear only if the command reaches the terminal.
        let cmd = "printf '\\107ARBAGE-%s\\n' FROM-COMMAND >/dev/tty; tty; read -t 2 x </dev/tty; echo read=$?";
        let server = MockServer::start(vec![
            Step::call("exec_command", serde_json::json!({ "cmd": cmd })),
            Step::text("all done"),
        ])
        .await
        .unwrap();
        let setting = format!("approval_policy=\"{policy}\"");
        let tui = Tui::start(&env, Some(&server), &["-c", &setting, "run it"], &[]);
        tui.wait_for("all done", 20).await;
        assert!(!tui.output().contains("GARBAGE-FROM-COMMAND"), "{policy}: the command wrote to the terminal");
        let result = common::messages(&server, 1).iter().rev().find(|m| m["role"] == "tool").unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(result.contains("not a tty"), "{policy}: {result}");
        assert!(result.contains("/dev/tty: No such device or address"), "{policy}: {result}");
        assert!(result.contains("read=1"), "{policy}: reading the terminal must fail at once: {result}");
    }
}

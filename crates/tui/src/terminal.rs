//! The terminal's modes: set on entry and restored on every way out —
//! normal exit, error, panic (a hook), SIGTERM/SIGHUP (the event loop ends
//! cleanly on them) and around a stop, whether Ctrl+Z asked for it or a
//! SIGTSTP came from outside. A SIGCONT sets them again, even after a stop
//! tern could not see coming (SIGSTOP): the shell puts the terminal back
//! in its own (cooked) mode while a job is stopped.

use crate::screen::Screen;
use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste, EnableFocusChange, KeyboardEnhancementFlags,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{getpgrp, getppid, getsid};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::thread::ThreadId;

/// Whether tern's modes are set now (a restore is owed).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether the modes were restored for a stop and are owed again.
static SUSPENDED: AtomicBool = AtomicBool::new(false);
/// The thread that serves the terminal: a panic there ends the UI.
static UI_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

/// Sets raw mode, the alternate screen, bracketed paste, focus reports and
/// unambiguous key reports. Terminals that do not know the last ignore it.
pub fn enter() -> std::io::Result<Screen> {
    if let Ok(mut t) = UI_THREAD.lock() {
        *t = Some(std::thread::current().id());
    }
    install_panic_hook();
    set_modes()?;
    Ok(Screen::new(Terminal::new(CrosstermBackend::new(std::io::stdout()))?))
}

/// The modes [`restore`] undoes.
fn set_modes() -> std::io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    set_escapes()
}

/// The modes set by escape sequences (all but raw mode).
fn set_escapes() -> std::io::Result<()> {
    execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableFocusChange,
        PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES),
        cursor::Hide,
    )
}

/// Puts every mode back as it was. Safe to call more than once, and from
/// a panic hook.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout();
    let _ = execute!(
        out,
        PopKeyboardEnhancementFlags,
        DisableFocusChange,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show,
    );
    let _ = out.flush();
    let _ = disable_raw_mode();
}

/// Restores the terminal on drop, whatever path leaves the UI.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// A panic on the UI's thread ends the UI: the terminal is restored first,
/// so that the message lands on a normal screen (the [`Guard`] would
/// restore it while unwinding, but after the message, on the alternate
/// screen that leaving erases). A panic on any other thread is caught
/// (a task's `JoinError`) or ends only that thread while the UI goes on:
/// restoring there would leave the UI running in cooked mode on the main
/// screen, and printing the message would scribble over the frame, so it
/// goes to the log instead.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let here = std::thread::current();
            let ui = UI_THREAD.lock().ok().and_then(|t| *t);
            if ACTIVE.load(Ordering::SeqCst) && ui.is_some_and(|ui| ui != here.id()) {
                tracing::error!("thread {} {info}", here.name().unwrap_or("unnamed"));
                return;
            }
            restore();
            previous(info);
        }));
    });
}

/// Stops tern as a shell expects (Ctrl+Z, or a SIGTSTP from outside): the
/// terminal is restored first, and the process group stops; when the shell
/// continues it, the modes are set again and the screen drawn from scratch.
///
/// tern catches SIGTSTP to restore the terminal, so it stops itself with
/// SIGSTOP, which the kernel never discards; it does so only where a shell
/// with job control can continue it (tern's own process group, made by a
/// shell of the same session). Elsewhere — tern leading its own session,
/// or its parent gone — nothing could continue it and the kernel would
/// have discarded the SIGTSTP, so tern carries on.
pub fn suspend(screen: &mut Screen) -> std::io::Result<()> {
    if !ACTIVE.load(Ordering::SeqCst) {
        return Ok(());
    }
    restore();
    SUSPENDED.store(true, Ordering::SeqCst);
    if job_control() {
        // The whole group, as the terminal's own Ctrl+Z would: a wrapper
        // (`sh -c tern`) stops too, so its shell sees the job stop.
        killpg(getpgrp(), Signal::SIGSTOP).map_err(std::io::Error::from)?;
    }
    // Continued: back to the UI.
    resume(screen)
}

/// On SIGCONT, and after [`suspend`]: sets every mode again and clears the
/// screen for a full redraw, at the terminal's size now (it may have been
/// resized, unseen, while tern was stopped). Modes still set are set
/// afresh: raw mode in particular, which the shell took back while tern
/// was stopped (by a SIGSTOP it could not catch); the key flags are popped
/// before they are pushed again, so the stack is as deep as it was. Does
/// nothing once the UI has ended.
pub fn resume(screen: &mut Screen) -> std::io::Result<()> {
    if ACTIVE.load(Ordering::SeqCst) {
        // crossterm skips enabling raw mode while it thinks it is on.
        let _ = disable_raw_mode();
        enable_raw_mode()?;
        execute!(std::io::stdout(), PopKeyboardEnhancementFlags)?;
        set_escapes()?;
    } else if SUSPENDED.swap(false, Ordering::SeqCst) {
        set_modes()?;
    } else {
        return Ok(());
    }
    fresh_screen(screen)
}

/// Clears the terminal and starts a new [`Screen`] of its current size, so
/// that the next frame is drawn whole. Not [`Screen::clear`]: ratatui's
/// clear asks the terminal where its cursor is, and the answer goes through
/// crossterm's reader, which the input stream's thread holds while it
/// waits for keys and which a signal's interruption can leave owing a
/// spurious wake-up; the clear then fails (or waits 2 s) and the UI ends.
fn fresh_screen(screen: &mut Screen) -> std::io::Result<()> {
    execute!(std::io::stdout(), Clear(ClearType::All))?;
    let scrolls = screen.scrolls;
    *screen = Screen::new(Terminal::new(CrosstermBackend::new(std::io::stdout()))?);
    screen.scrolls = scrolls;
    Ok(())
}

/// Whether a shell with job control would continue tern after a stop: it
/// put tern in a process group of its own (not the session leader's), and
/// tern's parent is still in tern's session.
fn job_control() -> bool {
    let Ok(session) = getsid(None) else { return false };
    getpgrp() != session && getsid(Some(getppid())) == Ok(session)
}

/// A desktop notification (OSC 9), or the bell where OSC 9 is unknown.
pub fn notify(message: &str) {
    let clean: String = crate::text::display(message).chars().filter(|c| *c != '\n').take(200).collect();
    let osc9 = matches!(
        std::env::var("TERM_PROGRAM").as_deref(),
        Ok("iTerm.app" | "WezTerm" | "ghostty" | "kitty" | "Apple_Terminal" | "vscode")
    ) || std::env::var_os("KITTY_WINDOW_ID").is_some()
        || std::env::var_os("WT_SESSION").is_some();
    let mut out = std::io::stdout();
    let _ = if osc9 { write!(out, "\u{1b}]9;{clean}\u{7}") } else { write!(out, "\u{7}") };
    let _ = out.flush();
}

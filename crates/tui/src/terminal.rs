//! The terminal's modes: set on entry and restored on every way out —
//! normal exit, error, panic (a hook), SIGTERM/SIGHUP (the event loop ends
//! cleanly on them) and around Ctrl+Z.

use crate::screen::Screen;
use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste, EnableFocusChange, KeyboardEnhancementFlags,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether tern's modes are set now (a restore is owed).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Sets raw mode, the alternate screen, bracketed paste, focus reports and
/// unambiguous key reports. Terminals that do not know the last ignore it.
pub fn enter() -> std::io::Result<Screen> {
    install_panic_hook();
    set_modes()?;
    Ok(Screen::new(Terminal::new(CrosstermBackend::new(std::io::stdout()))?))
}

/// The modes [`restore`] undoes.
fn set_modes() -> std::io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
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

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The message must land on a normal screen, not in raw mode.
            restore();
            previous(info);
        }));
    });
}

/// Ctrl+Z: restores the terminal, stops the process as the shell expects,
/// and sets the modes again when the shell continues it.
pub fn suspend(screen: &mut Screen) -> std::io::Result<()> {
    restore();
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP).map_err(std::io::Error::from)?;
    // Continued (fg): back to the UI, drawn from scratch.
    set_modes()?;
    screen.clear()
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

//! The real `tern` binary in a real PTY, its screen read through a vt100
//! parser, for end-to-end tests of the interactive UI.
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use super::Env;
use nix::sys::termios::{LocalFlags, tcgetattr};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_testkit::MockServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running UI.
pub struct Tui {
    pub child: tokio::process::Child,
    parser: Arc<Mutex<vt100::Parser>>,
    /// Every byte tern wrote, for checking mode sequences.
    raw: Arc<Mutex<Vec<u8>>>,
    input: pty_process::OwnedWritePty,
    master: OwnedFd,
    reader: tokio::task::JoinHandle<()>,
}

fn nz(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap()
}

pub const ROWS: u16 = 30;
pub const COLS: u16 = 100;

impl Tui {
    /// Starts `tern ARGS` in an 30×100 PTY with `env`'s isolation and, if
    /// given, `server` as its model. `extra` adds environment variables.
    pub fn start(env: &Env, server: Option<&MockServer>, args: &[&str], extra: &[(&str, &str)]) -> Tui {
        let (pty, pts) = pty_process::open().unwrap();
        pty.resize(pty_process::Size::new(ROWS, COLS)).unwrap();
        let master = std::os::fd::AsFd::as_fd(&pty).try_clone_to_owned().unwrap();
        let mut cmd = pty_process::Command::new(env!("CARGO_BIN_EXE_tern"));
        cmd = cmd
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", env.home())
            .env("TERN_HOME", env.data())
            .env("TERM", "xterm-256color")
            .current_dir(env.work())
            .args(args);
        if let Some(s) = server {
            cmd = cmd.env("OPENAI_API_KEY", "test-key").env("OPENAI_BASE_URL", s.base_url());
        }
        for (k, v) in extra {
            cmd = cmd.env(k, v);
        }
        let child = cmd.kill_on_drop(true).spawn(pts).unwrap();
        let (mut read, input) = pty.into_split();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(nz(ROWS), nz(COLS), 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        p.lock().unwrap().process(&buf[..n]);
                        r.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        Tui { child, parser, raw, input, master, reader }
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// The foreground colours of the cells where `text` first appears on
    /// screen (one per character; `text` on one row).
    pub fn colours_of(&self, text: &str) -> Option<Vec<vt100::Color>> {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        for row in 0..rows {
            let line: Vec<String> =
                (0..cols).map(|c| screen.cell(row, c).map_or(String::new(), |x| x.contents().to_string())).collect();
            let joined: String = line.iter().map(|c| if c.is_empty() { " " } else { c.as_str() }).collect();
            if let Some(at) = joined.find(text) {
                let col = joined[..at].chars().count() as u16;
                return Some(
                    (0..text.chars().count() as u16)
                        .filter_map(|i| screen.cell(row, col + i).map(|c| c.fgcolor()))
                        .collect(),
                );
            }
        }
        None
    }

    /// Waits until the screen shows `text`; panics with the screen after `secs`.
    pub async fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the screen never showed {text:?}; it shows:\n{s}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).await.unwrap();
        self.input.flush().await.unwrap();
    }

    /// Types `text` a key at a time, as a person would.
    pub async fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.send(c.to_string().as_bytes()).await;
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        // The parser first: tern redraws as soon as it sees the new size.
        self.parser.lock().unwrap().set_size(nz(rows), nz(cols));
        self.input.resize(pty_process::Size::new(rows, cols)).unwrap();
    }

    /// Waits for exit (generous: only catches hangs); returns the code.
    pub async fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let status = tokio::time::timeout(Duration::from_secs(secs), self.child.wait())
            .await
            .expect("tern did not exit")
            .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.reader).await;
        status.code()
    }

    /// tern's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Everything tern wrote.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    /// Panics unless every mode tern set is back as it was: raw mode,
    /// alternate screen, bracketed paste, focus reports, key reporting
    /// flags and the cursor.
    pub fn assert_restored(&self) {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        assert!(!screen.alternate_screen(), "still on the alternate screen");
        assert!(!screen.bracketed_paste(), "bracketed paste still on");
        assert!(!screen.hide_cursor(), "cursor still hidden");
        let out = self.output();
        let last = |s: &str| out.rfind(s).map_or(-1, |i| i as i64);
        assert!(last("\u{1b}[?1004l") > last("\u{1b}[?1004h"), "focus reporting still on");
        assert_eq!(
            out.matches("\u{1b}[>").count(),
            out.matches("\u{1b}[<1u").count(),
            "keyboard flags pushed and not popped"
        );
        let t = tcgetattr(&self.master).unwrap();
        assert!(
            t.local_flags.contains(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG),
            "the terminal is still in raw mode: {:?}",
            t.local_flags
        );
    }
}

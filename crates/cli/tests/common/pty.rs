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
        Tui::launch(env!("CARGO_BIN_EXE_tern"), env, server, args, extra)
    }

    /// Starts `program ARGS` in a 30×100 PTY with `env`'s isolation,
    /// `server`'s variables and `extra`, and reads all it writes.
    fn launch(program: &str, env: &Env, server: Option<&MockServer>, args: &[&str], extra: &[(&str, &str)]) -> Tui {
        let (pty, pts) = pty_process::open().unwrap();
        pty.resize(pty_process::Size::new(ROWS, COLS)).unwrap();
        let master = std::os::fd::AsFd::as_fd(&pty).try_clone_to_owned().unwrap();
        let mut cmd = pty_process::Command::new(program);
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
        self.wait_until(|s| s.contains(text), &format!("showed {text:?}"), secs).await
    }

    /// Waits until no turn is running (the activity line's "esc to
    /// interrupt" is gone): a turn's last text shows before its figures
    /// arrive, so a command typed right after it can see the turn unfinished.
    pub async fn wait_idle(&self, secs: u64) -> String {
        self.wait_until(|s| !s.contains("esc to interrupt"), "ended its turn", secs).await
    }

    /// Waits until the screen passes `done`; panics saying it never `what`,
    /// with the screen, after `secs`.
    async fn wait_until(&self, done: impl Fn(&str) -> bool, what: &str, secs: u64) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the screen never {what}; it shows:\n{s}");
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

    /// Starts an interactive shell with job control in the PTY (bash
    /// without readline, so that the terminal stays in canonical mode with
    /// echo while it waits for a line, and sends no modes of its own), with
    /// `env`'s isolation and `server`'s variables for the `tern` it runs.
    /// Its prompt is [`PROMPT`].
    pub fn shell(env: &Env, server: Option<&MockServer>, extra: &[(&str, &str)]) -> Tui {
        let mut vars = vec![("PS1", PROMPT), ("HISTFILE", "/dev/null")];
        vars.extend_from_slice(extra);
        Tui::launch("bash", env, server, &["--norc", "--noprofile", "--noediting", "-i"], &vars)
    }

    /// In a [`Tui::shell`]: runs `tern ARGS` in the foreground. Returns
    /// tern's pid once tern runs.
    pub async fn run_tern(&mut self, args: &str) -> u32 {
        self.wait_for(PROMPT, 10).await;
        let line = format!("{} {args}\n", env!("CARGO_BIN_EXE_tern"));
        self.send(line.as_bytes()).await;
        let shell = self.pid();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = child_named(shell, "tern") {
                return pid;
            }
            assert!(tokio::time::Instant::now() < deadline, "tern never started:\n{}", self.screen());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// In a [`Tui::shell`]: waits for tern `pid` to end, then asks the
    /// shell for its exit status (which also shows the shell reads
    /// commands again).
    pub async fn tern_exit(&mut self, pid: u32, secs: u64) -> i32 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while stat(pid).is_some_and(|(_, _, state)| state != 'Z') {
            assert!(tokio::time::Instant::now() < deadline, "tern did not exit; the screen:\n{}", self.screen());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.send(b"echo tern-exit=$?\n").await;
        loop {
            let out = self.output();
            if let Some(at) = out.rfind("tern-exit=") {
                let digits: String = out[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                if !digits.is_empty() && out[at + 10 + digits.len()..].starts_with('\r') {
                    return digits.parse().unwrap();
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the shell never said tern's status:\n{}", self.screen());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// In a [`Tui::shell`]: the prompt takes a command line, echoes it and
    /// runs it.
    pub async fn assert_prompt_usable(&mut self) {
        let ran = |out: &str| out.matches("prompt-42").count();
        let before = ran(&self.output());
        self.send(b"echo prompt-$((40 + 2))\n").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ran(&self.output()) == before {
            assert!(tokio::time::Instant::now() < deadline, "the shell did not run a command:\n{}", self.screen());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let screen = self.screen();
        assert!(screen.contains("echo prompt-$((40 + 2))"), "the command line was not echoed:\n{screen}");
    }

    /// Panics unless every mode tern sets is set: raw mode, alternate
    /// screen, bracketed paste, focus reports and one level of key
    /// reporting flags pushed. (The cursor is not checked: the UI shows it
    /// in the composer.)
    pub fn assert_modes_set(&self) {
        if let Err(e) = self.modes_set() {
            panic!("{e}\nthe screen:\n{}", self.screen());
        }
    }

    /// Waits until every mode tern sets is set (see [`Tui::assert_modes_set`]).
    pub async fn wait_modes_set(&self, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while let Err(e) = self.modes_set() {
            assert!(tokio::time::Instant::now() < deadline, "{e}\nthe screen:\n{}", self.screen());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn modes_set(&self) -> Result<(), String> {
        {
            let parser = self.parser.lock().unwrap();
            let screen = parser.screen();
            if !screen.alternate_screen() {
                return Err("not on the alternate screen".into());
            }
            if !screen.bracketed_paste() {
                return Err("bracketed paste off".into());
            }
        }
        let out = self.output();
        let last = |s: &str| out.rfind(s).map_or(-1, |i| i as i64);
        if last("\u{1b}[?1004h") <= last("\u{1b}[?1004l") {
            return Err("focus reporting off".into());
        }
        let (pushed, popped) = (out.matches("\u{1b}[>").count(), out.matches("\u{1b}[<1u").count());
        if pushed != popped + 1 {
            return Err(format!("keyboard flags pushed {pushed} times and popped {popped} times"));
        }
        let t = tcgetattr(&self.master).unwrap();
        if t.local_flags.intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG) {
            return Err(format!("the terminal is not in raw mode: {:?}", t.local_flags));
        }
        Ok(())
    }

    /// Closes the PTY as a closed terminal window would: the kernel hangs
    /// up the terminal (SIGHUP to its session leader). Returns the child.
    pub fn hang_up(self) -> tokio::process::Child {
        let Tui { child, input, master, reader, .. } = self;
        reader.abort();
        drop(input);
        drop(master);
        child
    }
}

/// The prompt of a [`Tui::shell`].
pub const PROMPT: &str = "shell-ready$ ";

/// A child of `parent` whose command name is `name`, if one runs.
pub fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let (comm, ppid, _) = stat(pid)?;
        (ppid == parent && comm == name).then_some(pid)
    })
}

/// Whether process `pid` is stopped (state `T`).
pub fn is_stopped(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, _, state)| state == 'T')
}

/// A process's command name, parent and state, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(String, u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, ppid, state))
}

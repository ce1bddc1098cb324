//! Helpers for running the real `tern` binary against the mock server.
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

pub mod pty;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tern_testkit::MockServer;

/// An isolated home, data dir and workspace for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// The `item` of every `item.completed` of this type.
    pub fn completed(&self, item_type: &str) -> Vec<Value> {
        self.json()
            .into_iter()
            .filter(|l| l["type"] == "item.completed" && l["item"]["type"] == item_type)
            .map(|l| l["item"].clone())
            .collect()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        Env { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work").canonicalize().unwrap()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.work().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `tern` with a clean environment pointing at `server` (if any), with
    /// every command allowed (approvals are tested with [`Env::asking`]).
    pub fn command(&self, server: Option<&MockServer>) -> tokio::process::Command {
        let mut c = self.asking(server);
        c.args(["-c", "approval_policy=\"full-access\""]);
        c
    }

    /// Like [`Env::command`], under the default approval policy.
    pub fn asking(&self, server: Option<&MockServer>) -> tokio::process::Command {
        self.asking_with(Path::new(env!("CARGO_BIN_EXE_tern")), server)
    }

    /// Like [`Env::asking`], running the `tern` binary at `program`.
    pub fn asking_with(&self, program: &Path, server: Option<&MockServer>) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("TERN_HOME", self.data())
            .current_dir(self.work())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(s) = server {
            c.env("OPENAI_API_KEY", "test-key").env("OPENAI_BASE_URL", s.base_url());
        }
        c
    }

    pub async fn run(&self, server: Option<&MockServer>, args: &[&str]) -> Output {
        let mut c = self.command(server);
        c.args(args);
        finish(c.spawn().unwrap()).await
    }

    pub fn session_logs(&self) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(self.data().join("sessions"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Waits for a child with a generous deadline that only catches hangs.
pub async fn finish(child: tokio::process::Child) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tern did not finish within 60 s")
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The messages of the `n`th request the mock received.
pub fn messages(server: &MockServer, n: usize) -> Vec<Value> {
    server.requests()[n]["messages"].as_array().unwrap().clone()
}

/// Whether a process whose command line contains `needle` is running.
pub fn alive(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
            .unwrap_or(false)
    })
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// The processes tern `pid` left: its watchdog (`tern __watchdog PID`) and
/// anything carrying one of its commands' tokens.
pub fn remains_of(pid: u32) -> Vec<String> {
    let watchdog = format!("__watchdog {pid}");
    let token = format!("TERN_EXEC_TOKEN={pid}-");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.parse::<u32>().is_ok()))
        .filter_map(|e| {
            let cmdline = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).ok()?).replace('\0', " ");
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let marked = environ.split(|b| *b == 0).any(|v| v.starts_with(token.as_bytes()));
            (cmdline.contains(&watchdog) || marked).then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

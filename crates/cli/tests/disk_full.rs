//! A full disk, on a real (small) tmpfs: the session log, checkpoints, the
//! spool and edits that hit ENOSPC say so clearly, the session log stays
//! parseable line by line, no workspace file is truncated, and the session
//! resumes once there is space again. Mounting needs root (CAP_SYS_ADMIN);
//! without it the tests say so and pass vacuously.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tern_testkit::{MockServer, Step};

/// A tmpfs of `size` mounted at a fresh directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here ({}); run as root to test a full disk",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }

    /// Fills it up: what is left is too little for any write.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let mut small = vec![0u8; 512];
        while f.write_all(&small).is_ok() {}
        small.truncate(1);
        while f.write_all(&small).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Every line of every session log is JSON.
fn logs_parse(env: &Env) {
    let logs = env.session_logs();
    assert!(!logs.is_empty());
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{} ends mid-record", log.display());
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{}: {line:?}: {e}", log.display()));
        }
    }
}

/// The result the model got for the last call, as of request `n`.
fn last_result(server: &MockServer, n: usize) -> String {
    let msgs = common::messages(server, n);
    msgs.iter().rev().find(|m| m["role"] == "tool").unwrap()["content"].as_str().unwrap().to_string()
}

/// The workspace's disk fills: an edit is refused with a clear error and
/// the file keeps every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_a_full_disk_change_nothing() {
    let env = Env::new();
    let Some(disk) = Tmpfs::mount(&env.work().join("mnt"), "1m") else { return };
    let original = "keep every byte\n".repeat(1000);
    std::fs::write(disk.0.join("a.txt"), &original).unwrap();
    disk.fill();
    let server = MockServer::start(vec![
        Step::call(
            "edit_file",
            json!({"path": "mnt/a.txt", "old_string": "keep every byte", "new_string": "lose it", "replace_all": true}),
        ),
        Step::call(
            "apply_patch",
            json!({"input": "*** Begin Patch\n*** Add File: mnt/new.txt\n+new\n*** End Patch\n"}),
        ),
        Step::text("could not"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "edit"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for n in [1, 2] {
        let r = last_result(&server, n);
        assert!(r.contains("the disk is full; nothing was changed"), "{r}");
    }
    assert_eq!(std::fs::read_to_string(disk.0.join("a.txt")).unwrap(), original);
    assert!(!disk.0.join("new.txt").exists());
    let litter: Vec<_> = std::fs::read_dir(&disk.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(litter.len(), 2, "only a.txt and the filler: {litter:?}");
}

/// tern's own disk fills in the middle of a session: the spool, the
/// checkpoint and the session log fail with clear messages, the log stays
/// whole records, and once there is space the session resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_disk_is_reported_and_the_session_survives() {
    let env = Env::new();
    let Some(disk) = Tmpfs::mount(&env.data(), "2m") else { return };
    env.write("a.txt", "one\ntwo\n");
    let filler = disk.0.join("filler");
    let server = MockServer::start(vec![
        Step::call("read_file", json!({"path": "a.txt"})),
        // The disk fills while the session runs.
        Step::call("exec_command", json!({"cmd": format!("cat /dev/zero > {} 2>/dev/null; true", filler.display())})),
        Step::call("exec_command", json!({"cmd": "seq 1 100000"})),
        Step::call("edit_file", json!({"path": "a.txt", "old_string": "two", "new_string": "TWO"})),
        Step::text("the disk is full"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "work"]).await;
    assert!(filler.exists());
    assert!(out.stderr.contains("the disk is full"), "the user is told: {}", out.stderr);
    let spool = last_result(&server, 3);
    assert!(spool.contains("could not be saved (No space left on device"), "{spool}");
    let edit = last_result(&server, 4);
    assert!(edit.contains("No space left on device") || edit.contains("disk is full"), "{edit}");
    assert_eq!(std::fs::read_to_string(env.work().join("a.txt")).unwrap(), "one\ntwo\n", "the edit did not land");
    let spools: Vec<_> = walk(&disk.0).into_iter().filter(|p| p.extension().is_some_and(|e| e == "out")).collect();
    assert!(spools.is_empty(), "a partial spool was left: {spools:?}");
    logs_parse(&env);

    // Space again: the session goes on from what was saved.
    disk.free();
    let again = MockServer::start(vec![Step::text("resumed")]).await.unwrap();
    let out = env.run(Some(&again), &["exec", "resume", "--last", "carry on"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "resumed\n");
    let first = common::messages(&again, 0);
    assert!(first.iter().any(|m| m["role"] == "user" && m["content"].to_string().contains("work")), "{first:?}");
    logs_parse(&env);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

//! Bounded disk: sessions with their checkpoints and saved output are
//! pruned by age and by total size (least recently used first, never one
//! in use), at start and with `tern sessions prune`; checkpoints never
//! copy a file over the size limit or outside the workspace.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tern_testkit::{MockServer, Step};

const DAY: u64 = 24 * 3600;

/// Sets the modification time of everything under `p` to `days_ago`.
fn age(p: &Path, days_ago: u64) {
    let t = std::time::SystemTime::now() - Duration::from_secs(days_ago * DAY);
    let stamp = format!("@{}", t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    let ok = std::process::Command::new("find")
        .arg(p)
        .args(["-exec", "touch", "-h", "-d", &stamp, "{}", "+"])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A session as tern leaves it: a log (a copy of a real one), a checkpoint
/// of `ck` bytes and saved output of `spool` bytes, last used `days_ago`.
fn fake_session(env: &Env, template: &str, n: usize, days_ago: u64, ck: usize, spool: usize) -> String {
    let id = format!("0000{n:04}-aaaa-7aaa-8aaa-{n:012}");
    let data = env.data();
    let log = data.join("sessions").join(format!("2026-01-01T00-00-00-{id}.jsonl"));
    std::fs::write(&log, template).unwrap();
    let turn = data.join("checkpoints").join(&id).join("turn-0001");
    std::fs::create_dir_all(&turn).unwrap();
    std::fs::write(turn.join("0.orig"), vec![b'c'; ck]).unwrap();
    std::fs::write(turn.join("manifest.json"), r#"{"turn_id":"t","files":[]}"#).unwrap();
    let out = data.join("spool").join(&id);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("x.out"), vec![b's'; spool]).unwrap();
    for p in [log, data.join("checkpoints").join(&id), out] {
        age(&p, days_ago);
    }
    id
}

/// Bytes under the three stores.
fn stored(env: &Env) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| {
                        let m = e.metadata().unwrap();
                        if m.is_dir() { walk(&e.path()) } else { m.len() }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    ["sessions", "checkpoints", "spool"].iter().map(|s| walk(&env.data().join(s))).sum()
}

fn exists(env: &Env, id: &str) -> bool {
    env.session_logs().iter().any(|p| p.to_string_lossy().contains(id))
}

/// A real session, whose log the fake ones copy.
async fn template(env: &Env) -> String {
    let server = MockServer::start(vec![Step::text("hello")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "hi"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::read_to_string(&env.session_logs()[0]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_by_size_and_age_least_recently_used_first() {
    let env = Env::new();
    let template = template(&env).await;
    // 20 sessions of 768 KB each, last used 0 to 19 days ago.
    let ids: Vec<String> =
        (0..20).map(|n| fake_session(&env, &template, n, n as u64, 512 * 1024, 256 * 1024)).collect();
    let before = stored(&env);
    assert!(before > 15 << 20, "{before}");

    let out = env.run(None, &["sessions", "prune", "--dry-run", "--max-mb", "5"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&format!("would remove {}", ids[19])), "{}", out.stdout);
    assert_eq!(stored(&env), before, "a dry run removes nothing");

    let out = env.run(None, &["sessions", "prune", "--max-mb", "5"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = stored(&env);
    assert!(after <= 5 << 20, "over the cap: {after} bytes\n{}", out.stdout);
    assert!(after > 4 << 20, "it removed more than it had to: {after}");
    // The oldest went, the newest stayed, and the real session (just used).
    assert!(!exists(&env, &ids[19]) && !exists(&env, &ids[10]), "{}", out.stdout);
    assert!(exists(&env, &ids[0]) && exists(&env, &ids[4]), "{}", out.stdout);
    assert_eq!(env.session_logs().len(), 1 + 5 + usize::from(exists(&env, &ids[5])), "{}", out.stdout);
    assert!(!env.data().join("checkpoints").join(&ids[19]).exists());
    assert!(!env.data().join("spool").join(&ids[19]).exists());
    assert!(out.stdout.contains("over the size cap"), "{}", out.stdout);

    let out = env.run(None, &["sessions", "prune", "--older-than", "2"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("untouched too long"), "{}", out.stdout);
    assert!(exists(&env, &ids[0]) && exists(&env, &ids[1]) && !exists(&env, &ids[2]), "{}", out.stdout);
}

/// A session a running tern has open is never pruned, however old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_use_is_kept() {
    let env = Env::new();
    let server = MockServer::start(vec![Step { first_byte_delay_ms: Some(4000), ..Step::text("slow") }]).await.unwrap();
    let mut c = env.command(Some(&server));
    c.args(["exec", "take your time"]);
    let running = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while env.session_logs().is_empty() || server.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the session did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    age(&env.session_logs()[0], 400);
    let out = env.run(None, &["sessions", "prune", "--older-than", "1", "--max-mb", "0"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("1 over a limit kept because a running tern has them open"), "{}", out.stdout);
    let done = common::finish(running).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(env.session_logs().len(), 1);
    // Once it has ended, the same prune removes it.
    age(&env.session_logs()[0], 400);
    let out = env.run(None, &["sessions", "prune", "--older-than", "1"]).await;
    assert!(out.stdout.contains("removed 1 sessions"), "{}", out.stdout);
    assert!(env.session_logs().is_empty());
}

/// Every session start prunes by `[storage]`, sparing the one it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_prune_themselves_at_start() {
    let env = Env::new();
    let template = template(&env).await;
    let resumed = env.session_logs()[0].clone();
    age(&resumed, 60);
    for n in 0..8 {
        fake_session(&env, &template, n, 30 + n as u64, 512 * 1024, 0);
    }
    std::fs::create_dir_all(env.home().join(".config/tern")).unwrap();
    std::fs::write(env.home().join(".config/tern/config.toml"), "[storage]\nkeep_days = 45\nmax_mb = 2\n").unwrap();
    let server = MockServer::start(vec![Step::text("again")]).await.unwrap();
    let out = env.run(Some(&server), &["exec", "resume", "--last", "more"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(resumed.exists(), "the resumed session is spared, though it is the oldest");
    assert!(stored(&env) <= (2 << 20) + (64 << 10), "{} bytes", stored(&env));
    assert!(env.session_logs().len() >= 2, "{:?}", env.session_logs());
}

/// Checkpoints keep neither a file over the limit nor one outside the
/// workspace; undo says it leaves them as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_skip_large_files_and_files_outside_the_workspace() {
    let env = Env::new();
    let big = "a line of the big file\n".repeat(100_000);
    env.write("big.txt", &big);
    env.write("small.txt", "small\n");
    let outside = env.dir.path().join("shared");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("lib.txt"), "shared\n").unwrap();
    std::fs::create_dir_all(env.home().join(".config/tern")).unwrap();
    std::fs::write(
        env.home().join(".config/tern/config.toml"),
        format!("writable_roots = [{:?}]\n[storage]\ncheckpoint_max_file_mb = 1\n", outside.display().to_string()),
    )
    .unwrap();
    let lib = outside.join("lib.txt").display().to_string();
    let server = MockServer::start(vec![
        Step::call(
            "edit_file",
            json!({"path": "big.txt", "old_string": "a line", "new_string": "A LINE", "replace_all": true}),
        )
        .and_call("edit_file", json!({"path": "small.txt", "old_string": "small", "new_string": "SMALL"}))
        .and_call("edit_file", json!({"path": lib, "old_string": "shared", "new_string": "SHARED"})),
        Step::text("edited"),
    ])
    .await
    .unwrap();
    let out = env.run(Some(&server), &["exec", "edit"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ck = env.data().join("checkpoints");
    let kept: u64 = walkdir(&ck).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert!(kept < 64 * 1024, "the checkpoint copied a large file: {kept} bytes");

    let out = env.run(None, &["undo"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("restored small.txt"), "{}", out.stdout);
    assert!(out.stdout.contains("left     big.txt (its original was not kept: too large to keep"), "{}", out.stdout);
    assert!(out.stdout.contains("(its original was not kept: outside the workspace)"), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(env.work().join("small.txt")).unwrap(), "small\n");
    assert!(std::fs::read_to_string(env.work().join("big.txt")).unwrap().starts_with("A LINE"));
    assert_eq!(std::fs::read_to_string(outside.join("lib.txt")).unwrap(), "SHARED\n");
}

fn walkdir(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().filter_map(Result::ok) {
        if e.path().is_dir() {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

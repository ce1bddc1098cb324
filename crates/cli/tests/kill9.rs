//! kill -9 anywhere, then resume. Scripted sessions (text streaming, reads,
//! a patch, a 2 MB edit, a running command, more text) are SIGKILLed at a
//! random moment each; then every session log must parse, every workspace
//! file must be its old or its new bytes with no temp file left, no process
//! may remain, `tern exec resume` must continue with a consistent history,
//! and `tern undo` must restore the original files.
//!
//! `TERN_KILL9_SESSIONS` sets how many (default 10; `scripts/kill9` runs
//! 100), `TERN_KILL9_SEED` replays a run.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tern_testkit::{MockServer, Step};

const A: &str = "alpha\nbeta\ngamma\ndelta\n";
const A_PATCHED: &str = "alpha\nbeta\nGAMMA\ndelta\n";

/// A 2 MB file whose last line the model edits: the write takes long
/// enough to be killed in the middle of.
fn big() -> String {
    (0..40_000).map(|i| format!("line {i:06} of the big file, padded to fifty bytes\n")).collect()
}

fn big_edited() -> String {
    big().replace("line 039999 of the big file", "line 039999 OF THE BIG FILE")
}

fn script() -> Vec<Step> {
    let slow = |s: Step| s.with_chunk_chars(3).with_delay_ms(4);
    vec![
        slow(Step::text("Let me read the file first.").and_call("read_file", json!({"path": "a.txt"}))),
        slow(
            Step::call(
                "apply_patch",
                json!({"input": "*** Begin Patch\n*** Update File: a.txt\n@@\n beta\n-gamma\n+GAMMA\n*** End Patch\n"}),
            )
            .and_call(
                "edit_file",
                json!({"path": "big.txt", "old_string": "line 039999 of the big file",
                       "new_string": "line 039999 OF THE BIG FILE"}),
            ),
        ),
        slow(Step::call("exec_command", json!({"cmd": "sleep 0.4; echo slept"}))),
        slow(Step::text(
            "Done: a.txt has GAMMA in capitals, and the last line of big.txt is shouted. The command slept and \
             printed what it should. Nothing else was touched in the workspace.",
        )),
    ]
}

/// What went wrong in one session, if anything.
async fn one_session(kill_after: Duration) -> Result<&'static str, String> {
    let env = Env::new();
    env.write("a.txt", A);
    env.write("big.txt", &big());
    let server = MockServer::start(script()).await.unwrap();
    let mut c = env.command(Some(&server));
    c.args(["exec", "--json", "do the work"]);
    let mut child = c.spawn().unwrap();
    let pid = child.id().unwrap();
    let started = Instant::now();
    let finished = tokio::time::timeout(kill_after, child.wait()).await.is_ok();
    if !finished {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    let killed_at = started.elapsed();
    let ctx = |e: String| format!("killed after {killed_at:?}: {e}");

    // Every log line parses; only a last line cut off mid-write may not.
    let logs = env.session_logs();
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap();
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let torn_tail = i + 1 == lines.len() && !complete;
            if let Err(e) = serde_json::from_str::<Value>(line)
                && !torn_tail
            {
                return Err(ctx(format!("{} line {}: {e}", log.display(), i + 1)));
            }
        }
    }

    // Each file is its old or its new bytes, and no temp file is left.
    let a = std::fs::read_to_string(env.work().join("a.txt")).unwrap();
    if a != A && a != A_PATCHED {
        return Err(ctx(format!("a.txt is half-written: {a:?}")));
    }
    let b = std::fs::read_to_string(env.work().join("big.txt")).unwrap();
    if b != big() && b != big_edited() {
        return Err(ctx(format!("big.txt is half-written ({} bytes)", b.len())));
    }
    let names: Vec<String> =
        std::fs::read_dir(env.work()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    if let Some(tmp) = names.iter().find(|n| n.contains(".tern-")) {
        return Err(ctx(format!("a temp file was left: {tmp}")));
    }

    // Nothing tern started survives it (the watchdog ends the command).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !common::remains_of(pid).is_empty() {
        if Instant::now() > deadline {
            return Err(ctx(format!("processes left: {:?}", common::remains_of(pid))));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A log with no whole record (killed between creating it and writing
    // its first line, microseconds) holds no session either.
    let recorded = logs.iter().any(|l| std::fs::read_to_string(l).unwrap().contains('\n'));
    if !recorded {
        // Killed before the session began: nothing to resume, nothing changed.
        if a != A || b != big() {
            return Err(ctx("files changed without a session log".into()));
        }
        return Ok("before the session began");
    }
    let outcome = if finished {
        "after it finished"
    } else if a == A && b == big() {
        "before any edit"
    } else {
        "after an edit"
    };

    // Resume: the model gets the first request and a result for every call.
    let again = MockServer::start(vec![Step::text("resumed")]).await.unwrap();
    let out = env.run(Some(&again), &["exec", "resume", "--last", "carry on"]).await;
    if out.code != 0 || out.stdout != "resumed\n" {
        return Err(ctx(format!("resume failed ({}): {}{}", out.code, out.stdout, out.stderr)));
    }
    let messages = common::messages(&again, 0);
    let texts: Vec<String> =
        messages.iter().filter(|m| m["role"] == "user").map(|m| m["content"].to_string()).collect();
    if !texts.first().is_some_and(|t| t.contains("do the work"))
        || !texts.last().is_some_and(|t| t.contains("carry on"))
    {
        return Err(ctx(format!("the resumed history lost a request: {texts:?}")));
    }
    let mut open: Vec<String> = Vec::new();
    for m in &messages {
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or_default().to_string();
            if !open.contains(&id) {
                return Err(ctx(format!("a result for a call never made: {id}")));
            }
            open.retain(|o| o != &id);
        } else if !open.is_empty() {
            return Err(ctx(format!("calls without results: {open:?}")));
        }
        if let Some(calls) = m["tool_calls"].as_array() {
            open.extend(calls.iter().map(|c| c["id"].as_str().unwrap_or_default().to_string()));
        }
    }
    if !open.is_empty() {
        return Err(ctx(format!("calls without results at the end: {open:?}")));
    }

    // Undo puts every file back.
    let out = env.run(None, &["undo"]).await;
    let changed = a != A || b != big();
    if changed && out.code != 0 {
        return Err(ctx(format!("undo failed ({}): {}{}", out.code, out.stdout, out.stderr)));
    }
    let a = std::fs::read_to_string(env.work().join("a.txt")).unwrap();
    let b = std::fs::read_to_string(env.work().join("big.txt")).unwrap();
    if a != A || b != big() {
        return Err(ctx(format!("undo left a.txt as {a:?} and big.txt {} bytes: {}", b.len(), out.stderr)));
    }
    Ok(outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_anywhere_then_resume() {
    let sessions: usize = std::env::var("TERN_KILL9_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let seed: u64 =
        std::env::var("TERN_KILL9_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    // How long a whole session takes here, so kills spread over all of it.
    let span = {
        let env = Env::new();
        env.write("a.txt", A);
        env.write("big.txt", &big());
        let server = MockServer::start(script()).await.unwrap();
        let start = Instant::now();
        let out = env.run(Some(&server), &["exec", "--json", "do the work"]).await;
        assert_eq!(out.code, 0, "the session must work unkilled: {}", out.stderr);
        start.elapsed()
    };
    let mut failures = Vec::new();
    let mut outcomes: std::collections::BTreeMap<&str, usize> = Default::default();
    for _ in 0..sessions {
        // Up to 10% past the end, so some sessions finish before the kill.
        let kill_after = Duration::from_micros(rng.u64(0..span.as_micros() as u64 * 11 / 10));
        match one_session(kill_after).await {
            Ok(o) => *outcomes.entry(o).or_default() += 1,
            Err(e) => failures.push(e),
        }
    }
    println!(
        "kill -9: {}/{sessions} sessions resumed, consistent and undone (seed {seed}, a session takes {span:?}); \
         killed {outcomes:?}",
        sessions - failures.len()
    );
    assert!(failures.is_empty(), "seed {seed}: {failures:#?}");
}

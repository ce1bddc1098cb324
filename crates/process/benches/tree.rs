//! Prints: the overhead of running `true` (spawn to result), and the time
//! from cancel to "no process of a 50-process tree alive".
//! Run: cargo bench -p tern-process --bench tree
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};
use tern_process::{ShellCommand, run};
use tokio_util::sync::CancellationToken;

fn count(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
                .unwrap_or(false)
        })
        .count()
}

fn cmd(script: &str) -> ShellCommand {
    ShellCommand {
        script: script.into(),
        cwd: std::env::temp_dir(),
        timeout: Duration::from_secs(120),
        output_cap: 16384,
        spool_path: None,
        sandbox: None,
        env_remove: std::sync::Arc::from([]),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    tern_process::become_subreaper().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut spawn = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            run(&cmd("true"), &CancellationToken::new(), &mut |_| {}).await.unwrap();
            spawn.push(t.elapsed());
        }
        println!("exec \"true\" (spawn to result): median {:.2} ms over 50 runs", median(spawn).as_secs_f64() * 1e3);

        let mut quiet = Vec::new();
        for round in 0..7 {
            let marker = format!("sleep 300.{round}7");
            // 50 processes: plain background jobs, setsid'd ones and double forks.
            let script = format!(
                "for i in $(seq 20); do {marker} & done; for i in $(seq 15); do setsid {marker} & done; \
                 for i in $(seq 14); do ( ({marker} &) & ); done; wait"
            );
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            let fut = tokio::spawn(async move { run(&cmd(&script), &c, &mut |_| {}).await });
            while count(&marker) < 49 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let t = Instant::now();
            cancel.cancel();
            fut.await.unwrap().unwrap();
            while count(&marker) > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            quiet.push(t.elapsed());
        }
        println!(
            "cancel to quiescence, 50-process tree (bash + 49 sleeps, setsid and double forks): median {:.1} ms, max {:.1} ms over 7 runs (budget 100 ms)",
            median(quiet.clone()).as_secs_f64() * 1e3,
            quiet.iter().max().unwrap().as_secs_f64() * 1e3
        );
    });
}

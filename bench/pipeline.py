#!/usr/bin/env python3
"""The tool pipeline in numbers: its overhead per tool call, and the tokens
the result cache saves.

1. Overhead: `tern exec` with K = 1 and 21 shell round trips (as in
   exec_roundtrips.py), with no hooks and with one trivial command hook
   (`[[hooks.PreToolUse]] command = "true"`). Prints tern's own CPU per
   extra round trip (the hook's process is a child, counted apart), and
   the wall time per round trip.
2. Re-reads: a scripted session that reads files as models do (read a
   file, search, read it again, read a part of it, list, search again,
   edit one, read it again), run with the result cache on (the default)
   and off (`-c result_cache=false`). The mock reports usage from each
   request's size, so the input tokens tern reports are what was sent.

Usage: bench/pipeline.py [--runs N] [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from exec_roundtrips import bench_env, exec_figures
from mock import require_built, scratch, start_mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def round_trips(tern, mock_exe, k, runs, hooks):
    """Median (tern CPU s, wall s, CPU with children s) of `runs` runs with k round trips."""
    tmp, work = scratch("tern-bench-pipeline-")
    if hooks:
        os.makedirs(os.path.join(work, ".tern"))
        with open(os.path.join(work, ".tern", "config.toml"), "w") as f:
            f.write('[[hooks.PreToolUse]]\nmatcher = "Bash"\ncommand = "true"\n')
    out = exec_figures(tern, mock_exe, bench_env(tmp), work, tmp, k, runs)
    return tuple(statistics.median(r[j] for r in out) for j in (1, 0, 3))


def rereads_session():
    """(files, steps): a workspace and the model's calls, re-reading as models do."""
    files = {}
    for i in range(8):
        files[f"src/mod{i}.rs"] = "".join(f"pub fn f{i}_{n}(x: u32) -> u32 {{ x + {n} }} // helper {n}\n"
                                          for n in range(120))
    calls = []
    for i in range(8):
        calls.append(("read_file", {"path": f"src/mod{i}.rs"}))
        calls.append(("grep_files", {"pattern": f"f{i}_1"}))
    for i in range(8):  # back to each file for a closer look
        calls.append(("read_file", {"path": f"src/mod{i}.rs"}))
        calls.append(("read_file", {"path": f"src/mod{i}.rs", "offset": 40, "limit": 20}))
    calls.append(("list_dir", {"path": "src"}))
    calls.append(("list_dir", {"path": "src"}))
    for i in range(8):
        calls.append(("grep_files", {"pattern": f"f{i}_1"}))
    calls.append(("edit_file", {"path": "src/mod0.rs", "old_string": "x + 7 }", "new_string": "x + 70 }"}))
    calls.append(("read_file", {"path": "src/mod0.rs"}))
    calls.append(("grep_files", {"pattern": "f0_1"}))
    return files, calls


def tokens_sent(tern, mock_exe, cache):
    """Input tokens of the scripted re-reading session (one turn)."""
    files, calls = rereads_session()
    tmp, work = scratch("tern-bench-rereads-")
    for rel, text in files.items():
        path = os.path.join(work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    steps = [{"tool_calls": [{"name": n, "arguments": a}]} for n, a in calls] + [{"text": "done"}]
    mock, url = start_mock(mock_exe, steps, tmp)
    env = dict(bench_env(tmp), OPENAI_BASE_URL=url)
    argv = [tern, "-c", 'approval_policy="full-auto"', "-c", f"result_cache={'true' if cache else 'false'}",
            "exec", "--json", "review the helpers"]
    try:
        out = subprocess.run(argv, env=env, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             check=False)
    finally:
        mock.terminate()
        mock.wait()
    if out.returncode != 0:
        sys.exit(f"tern exec failed: {out.stderr}")
    done = [json.loads(l) for l in out.stdout.splitlines() if '"turn.completed"' in l][0]
    hits = sum(t["cache_hits"] for t in done["tools"])
    return done["usage"]["input_tokens"], len(calls), hits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    args = ap.parse_args()
    require_built(args.tern, args.mock)

    figures = {}
    for hooks in (False, True):
        for k in (1, 21):
            figures[(hooks, k)] = round_trips(args.tern, args.mock, k, args.runs, hooks)
    for hooks in (False, True):
        (c1, w1, a1), (c21, w21, a21) = figures[(hooks, 1)], figures[(hooks, 21)]
        name = "one command hook" if hooks else "no hooks        "
        print(f"{name}: tern CPU per round trip {(c21 - c1) / 20 * 1000:.2f} ms, "
              f"wall per round trip {(w21 - w1) / 20 * 1000:.2f} ms "
              f"(with the processes it ran: {(a21 - a1) / 20 * 1000:.2f} ms CPU)")

    on, calls, hits = tokens_sent(args.tern, args.mock, True)
    off, _, _ = tokens_sent(args.tern, args.mock, False)
    print(f"re-reading session ({calls} tool calls): {off:,} input tokens without the result cache, "
          f"{on:,} with it ({on / off * 100:.1f} %), {hits} calls answered as unchanged")


if __name__ == "__main__":
    main()

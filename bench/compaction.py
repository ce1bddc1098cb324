#!/usr/bin/env python3
"""A long session on the mock model with a 32k window: what compaction costs and saves.

A scripted session of N user turns (default 300), one `tern exec` process per
turn (`tern exec resume --last` after the first). In each turn the model reads
a 4 KB file (cycling over twelve) and answers. The mock reports usage from the
size of each request, so the context grows as it would with a real model.
Prints, for a 32k window (compaction at its default 85 %) and for the same
session with a window so large it never compacts: compactions (and how many
needed a summary), tokens sent in total, peak RSS of the largest tern process,
time spent compacting, and the session's wall time.

Usage: bench/compaction.py [--turns N] [--window TOKENS] [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import json
import os
import subprocess
import sys
import time

from mock import require_built, scratch, start_mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = 12


def session(tern, mock_exe, turns, window):
    """Runs the session; returns a dict of its figures."""
    tmp, work = scratch("tern-bench-compaction-")
    for i in range(FILES):
        with open(os.path.join(work, f"f{i}.txt"), "w") as f:
            f.write("".join(f"file {i}, line {n}: the quick brown fox jumps over the lazy dog\n" for n in range(64)))
    steps = []
    for t in range(turns):
        steps.append({"tool_calls": [{"name": "read_file", "arguments": {"path": f"f{t % FILES}.txt"}}]})
        steps.append({"text": f"turn {t}: read f{t % FILES}.txt"})
    # Summary requests come whenever compaction wants one: the mock answers
    # them outside the script.
    mock, url = start_mock(mock_exe, steps, tmp, ["--summaries"])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "TERN_HOME": os.path.join(tmp, "data"),
           "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": url}
    config = ["-m", "bench-model", "-c", f"models.bench-model.context_window={window}",
              "-c", "approval_policy=\"full-access\""]
    figures = {"compactions": 0, "summaries": 0, "compacting_ms": 0, "input_tokens": 0, "peak_rss_kb": 0,
               "largest_context": 0}
    rusage = os.path.join(tmp, "rusage")
    start = time.perf_counter()
    for t in range(turns):
        prompt = f"turn {t}: read the next file"
        argv = [tern, *config, "exec", "--json", prompt] if t == 0 else \
            [tern, *config, "exec", "resume", "--last", "--json", prompt]
        out = subprocess.run(argv, env=dict(env, TERN_RUSAGE_FILE=rusage), cwd=work, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True)
        if out.returncode != 0:
            mock.terminate()
            sys.exit(f"turn {t} failed (exit {out.returncode}): {out.stderr[-2000:]}")
        for line in out.stdout.splitlines():
            ev = json.loads(line)
            if ev["type"] == "context.compacted":
                figures["compactions"] += 1
                figures["summaries"] += 1 if ev["summarized"] else 0
                figures["compacting_ms"] += ev["duration_ms"]
            elif ev["type"] == "turn.completed":
                figures["input_tokens"] += ev["usage"]["input_tokens"]
                figures["largest_context"] = max(figures["largest_context"], ev["context"]["used_tokens"])
        with open(rusage) as f:
            figures["peak_rss_kb"] = max(figures["peak_rss_kb"], int(f.read().split()[2]))
    figures["wall_s"] = time.perf_counter() - start
    mock.terminate()
    mock.wait()
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=300)
    ap.add_argument("--window", type=int, default=32_768)
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    args = ap.parse_args()
    require_built(args.tern, args.mock)
    print(f"{args.turns} turns, each reading a 4 KB file and answering; one tern exec process per turn")
    runs = [(f"{args.window // 1024}k window", args.window), ("never compacts", 100_000_000)]
    results = []
    for name, window in runs:
        f = session(args.tern, args.mock, args.turns, window)
        results.append(f)
        print(f"{name:>15}: {f['compactions']} compactions ({f['summaries']} with a summary), "
              f"{f['input_tokens']:,} input tokens sent, largest context {f['largest_context']:,} tokens, "
              f"peak RSS {f['peak_rss_kb'] / 1024:.1f} MB, compacting {f['compacting_ms'] / 1000:.2f} s "
              f"of {f['wall_s']:.1f} s")
    with_c, without = results
    if without["input_tokens"]:
        print(f"tokens sent with compaction: {with_c['input_tokens'] / without['input_tokens']:.1%} of without")


if __name__ == "__main__":
    main()

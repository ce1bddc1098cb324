#!/usr/bin/env python3
"""Measures `tern exec` against the mock model server.

For K = 1, 5, 20 shell round trips (the model asks for `exec_command`, gets
the result, asks again, then answers): wall time, CPU time (user + sys) and
peak RSS of the tern process, median of several runs; the CPU each extra
round trip costs, for tern alone and for its process tree (tern, the
sandbox helper and `bash -c true`), with the sandbox on (the default:
`auto` approvals, each command through `tern-sandbox`) and off
(`--no-sandbox`); and `tern --version` wall time and RSS.

Usage: bench/exec_roundtrips.py [--runs N] [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from mock import require_built, scratch, start_mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(argv, env, cwd, tmp):
    """Runs argv; returns (wall s, own CPU s, CPU with children s, peak RSS KiB, exit code).

    tern's own CPU and peak RSS come from getrusage(RUSAGE_SELF), which tern
    writes to $TERN_RUSAGE_FILE at exit: rusage taken from outside would add
    the commands tern ran (bash) to its CPU, and a child forked from Python
    reports Python's RSS as its peak until it execs.
    """
    own = os.path.join(tmp, "rusage")
    if os.path.exists(own):
        os.remove(own)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=dict(env, TERN_RUSAGE_FILE=own), cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    with open(own) as f:
        user, sys_, rss = f.read().split()
    return wall, float(user) + float(sys_), ru.ru_utime + ru.ru_stime, int(rss), os.waitstatus_to_exitcode(status)


def version_figures(tern, env, work, tmp, runs=200):
    """`tern --version`: (wall times in s, peak RSS in KiB) of `runs` runs."""
    walls, rss = [], []
    for _ in range(runs):
        w, _, _, r, code = measure([tern, "--version"], env, work, tmp)
        assert code == 0
        walls.append(w)
        rss.append(r)
    return walls, rss


def exec_figures(tern, mock_exe, env, work, tmp, k, runs, flags=()):
    """`tern exec [flags]` with k shell round trips, `runs` times after one
    warm-up: a list of (wall s, tern CPU s, peak RSS KiB, CPU with children s)."""
    # Distinct calls (`true` ignores its argument): the core stops a turn
    # that repeats one call three times in a row.
    one = [{"tool_calls": [{"name": "exec_command", "arguments": {"cmd": f"true {i}"}}]} for i in range(k)]
    one.append({"text": "done"})
    mock, url = start_mock(mock_exe, one * (runs + 1), tmp)
    env_k = dict(env, OPENAI_BASE_URL=url)
    out = []
    try:
        for i in range(runs + 1):
            w, c, c_all, r, code = measure([tern, "exec", *flags, "run true"], env_k, work, tmp)
            if code != 0:
                sys.exit(f"tern exec failed (exit {code}) at K={k}")
            if i > 0:  # the first run warms the page cache
                out.append((w, c, r, c_all))
    finally:
        mock.terminate()
        mock.wait()
    return out


def bench_env(tmp):
    return {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "TERN_HOME": os.path.join(tmp, "data"),
            "OPENAI_API_KEY": "bench"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    args = ap.parse_args()
    require_built(args.tern, args.mock)

    tmp, work = scratch("tern-bench-")
    env = bench_env(tmp)

    # --version: many runs, median.
    walls, rss = version_figures(args.tern, env, work, tmp)
    print(f"tern --version: wall median {statistics.median(walls) * 1000:.2f} ms, "
          f"p90 {sorted(walls)[int(len(walls) * 0.9)] * 1000:.2f} ms, peak RSS {max(rss) / 1024:.1f} MB")

    per_trip_all = {}
    for label, flags in (("sandbox on", ()), ("sandbox off", ("--no-sandbox",))):
        print(f"-- {label}" + (f" ({' '.join(flags)})" if flags else " (the default)"))
        results = {}
        for k in (1, 5, 20):
            runs = exec_figures(args.tern, args.mock, env, work, tmp, k, args.runs, flags)
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            peak = max(r[2] for r in runs)
            cpu_all = statistics.median(r[3] for r in runs)
            results[k] = (wall, cpu, peak, cpu_all)
            print(f"K={k:>2} round trips: wall {wall * 1000:7.1f} ms, tern CPU {cpu * 1000:6.1f} ms "
                  f"(process tree: {cpu_all * 1000:6.1f} ms), peak RSS {peak / 1024:5.1f} MB")
        per_trip = (results[20][1] - results[1][1]) / 19
        per_trip_all[label] = (results[20][3] - results[1][3]) / 19
        print(f"CPU per extra round trip: tern {per_trip * 1000:.2f} ms (budget 3 ms); process tree "
              f"(tern, helper, `bash -c true`) {per_trip_all[label] * 1000:.2f} ms")
        print(f"peak RSS over all runs: {max(r[2] for r in results.values()) / 1024:.1f} MB  (budget 15 MB)")
    extra = per_trip_all["sandbox on"] - per_trip_all["sandbox off"]
    print(f"the sandbox's cost per command (process tree, on minus off): {extra * 1000:.2f} ms  (goal 0.5 ms)")

if __name__ == "__main__":
    main()

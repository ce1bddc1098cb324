#!/usr/bin/env python3
"""How fast a long session resumes, and what it holds in memory once loaded.

A session of N tool calls (default 10,000 read_file calls, cycling over a
few small files) is made by the real `tern exec` against the mock model,
then resumed, each run from a fresh copy of its log:

  - `tern exec resume ID "next"` (the mock answers with one text): time
    from spawning tern to its first model request, taken from tern's own
    log line for it (`TERN_LOG=tern_llm=debug`: "model request", stamped
    just before the body goes out), the request's size, wall time to exit,
    and tern's CPU and peak RSS ($TERN_RUSAGE_FILE);
  - the TUI, `tern resume ID`, in a PTY: time to the first frame (the
    composer), to the "resumed session" line (the session loaded), and to
    the session's last message on screen (the earlier conversation read
    back and drawn); RSS (VmRSS, VmHWM) once it is shown;

and the same for a session of --small calls (10), so the print shows what
the history costs. Medians of --runs runs after one warm-up (warm page
cache). The generating `tern exec` is the live session whose peak RSS the
resumed one is compared with (for the TUI's live figure: `bench/tui.py
--parts calls`). The window is so large the session never compacts (every
call is in the resumed conversation and in its first request) unless
--window gives one.

Making the session is quadratic, as every request re-sends the history:
about 6 s for 1,000 calls and 10 minutes for 10,000 on 2 cores.
--per-response K puts K calls in each model response (K times fewer
requests, but a history of another shape).

Usage: bench/resume.py [--calls N] [--small N] [--per-response K] [--runs N] [--window TOKENS]
                       [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import sys
import time

from exec_roundtrips import bench_env, measure
from mock import require_built, scratch, start_mock
from tui import PLACEHOLDER, Tui

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = 7
# The session's last message: one word in capitals, so no cell of it is
# skipped as unchanged when the screen (updated by differences) draws it
# (a space or a lowercase letter might be), and the hex session id never
# holds it.
LAST = "QZXWRESUMEDVKQ"
BUDGET_MS = 300
ANSI = re.compile(rb"\x1b\[[0-9;]*m")
REQUEST = re.compile(rb"^(\S+)\s+DEBUG\b.*model request.*\bbytes=(\d+)")


def config_args(window):
    """The model and window every run uses (a huge window: never compacts)."""
    return ["-m", "bench-model", "-c", f"models.bench-model.context_window={window or 10**9}"]


def make_session(args, calls, base_env, tmp, work):
    """One `tern exec` turn of `calls` read_file calls; returns the session's
    figures: id, log path, wall s, CPU s, peak RSS KiB, compactions, log size."""
    steps = []
    for r in range(0, calls, args.per_response):
        batch = range(r, min(calls, r + args.per_response))
        steps.append({"tool_calls": [{"name": "read_file", "arguments": {"path": f"f{i % FILES}.txt"}} for i in batch]})
    steps.append({"text": LAST})
    # Summaries for a window that compacts (--window); unused otherwise.
    mock, url = start_mock(args.mock, steps, tmp, ["--summaries"])
    env = dict(base_env, OPENAI_BASE_URL=url)
    argv = [args.tern, *config_args(args.window), "-c", "max_model_calls_per_turn=1000000",
            "exec", "read the files, again and again"]
    try:
        wall, cpu, _, rss, code = measure(argv, env, work, tmp)
    finally:
        mock.terminate()
        mock.wait()
    if code != 0:
        sys.exit(f"making the session of {calls} calls failed (tern exec exit {code})")
    sessions = os.path.join(base_env["TERN_HOME"], "sessions")
    logs = [os.path.join(sessions, f) for f in os.listdir(sessions) if f.endswith(".jsonl")]
    if len(logs) != 1:
        sys.exit(f"expected one session log in {sessions}, found {len(logs)}")
    path = logs[0]
    with open(path, "rb") as f:
        text = f.read()
    sid = json.loads(text.split(b"\n", 1)[0])["id"]  # the session_meta record
    compactions = sum(1 for line in text.split(b"\n") if line.startswith(b'{"type":"compacted"'))
    return {"id": sid, "path": path, "wall": wall, "cpu": cpu, "rss": rss, "compactions": compactions,
            "size": len(text), "saved": shutil.copyfile(path, os.path.join(tmp, "session.jsonl"))}


def first_request(log, since):
    """Seconds from `since` (epoch) to the first "model request" line in
    tern's log, and that request's size in bytes."""
    with open(log, "rb") as f:
        for line in f:
            m = REQUEST.match(ANSI.sub(b"", line))
            if m:
                at = datetime.datetime.fromisoformat(m.group(1).decode().replace("Z", "+00:00")).timestamp()
                return at - since, int(m.group(2))
    sys.exit(f"no model request in {log}")


def exec_resume(args, s, base_env, tmp, work):
    """`tern exec resume ID "next"`, --runs times after a warm-up: a list of
    (ms to the first request, request bytes, wall ms, CPU ms, peak RSS KiB)."""
    mock, url = start_mock(args.mock, [{"text": "ok"}] * (args.runs + 1), tmp, ["--summaries"])
    log = os.path.join(base_env["TERN_HOME"], "logs", "tern.log")
    env = dict(base_env, OPENAI_BASE_URL=url, TERN_LOG="tern_llm=debug")
    argv = [args.tern, *config_args(args.window), "exec", "resume", s["id"], "next"]
    out = []
    try:
        for i in range(args.runs + 1):
            shutil.copyfile(s["saved"], s["path"])
            if os.path.exists(log):
                os.remove(log)
            since = time.time()
            wall, cpu, _, rss, code = measure(argv, env, work, tmp)
            if code != 0:
                sys.exit(f"tern exec resume failed (exit {code})")
            to_request, size = first_request(log, since)
            if i > 0:
                out.append((to_request * 1000, size, wall * 1000, cpu * 1000, rss))
    finally:
        mock.terminate()
        mock.wait()
    shutil.copyfile(s["saved"], s["path"])
    return out


def tui_resume(args, s, base_env, tmp, work):
    """`tern resume ID` in a PTY, --runs times after a warm-up: a list of (ms
    to the first frame, to the session loaded, to its last message shown,
    VmRSS MB, VmHWM MB)."""
    mock, url = start_mock(args.mock, [], tmp)
    env = dict(base_env, OPENAI_BASE_URL=url, TERM="xterm-256color")
    out = []
    try:
        for i in range(args.runs + 1):
            shutil.copyfile(s["saved"], s["path"])
            start = time.perf_counter()
            t = Tui(args.tern, env, work, [*config_args(args.window), "resume", s["id"]])
            t.wait_for(PLACEHOLDER)
            first = time.perf_counter()
            t.wait_for(b"resumed session")
            loaded = time.perf_counter()
            t.wait_for(LAST.encode())
            shown = time.perf_counter()
            t.drain(0.3)
            m = t.mem()
            t.quit()
            if i > 0:
                out.append(((first - start) * 1000, (loaded - start) * 1000, (shown - start) * 1000,
                            m["VmRSS"], m["VmHWM"]))
    finally:
        mock.terminate()
        mock.wait()
    shutil.copyfile(s["saved"], s["path"])
    return out


def med(rows, i):
    return statistics.median(r[i] for r in rows)


def over(ms):
    return "" if ms < BUDGET_MS else ", OVER"


def one_size(args, calls):
    """Makes a session of `calls` calls, resumes it both ways, prints and
    returns (exec ms to the first request, TUI ms to the last message shown,
    exec peak RSS MB, TUI RSS MB once shown)."""
    tmp, work = scratch("tern-bench-resume-")
    for i in range(FILES):
        with open(os.path.join(work, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}: a short file to read\n")
    base_env = bench_env(tmp)
    s = make_session(args, calls, base_env, tmp, work)
    live = s["rss"] / 1024
    print(f"{calls:,} calls ({args.per_response} a response): made in {s['wall']:.1f} s (tern CPU {s['cpu']:.1f} s), "
          f"live peak RSS {live:.1f} MB, log {s['size'] / 1e6:.1f} MB, {s['compactions']} compactions")
    ex = exec_resume(args, s, base_env, tmp, work)
    first, peak = med(ex, 0), max(r[4] for r in ex) / 1024
    print(f"resume {calls:,} calls: exec first request median {first:.0f} ms (max {max(r[0] for r in ex):.0f}; "
          f"budget {BUDGET_MS}{over(first)}), request {med(ex, 1) / 1e6:.2f} MB, wall to exit {med(ex, 2):.0f} ms, "
          f"CPU {med(ex, 3):.0f} ms, peak RSS {peak:.1f} MB (live session {live:.1f} MB)")
    ui = tui_resume(args, s, base_env, tmp, work)
    frame, shown = med(ui, 0), med(ui, 2)
    print(f"resume {calls:,} calls: TUI first frame median {frame:.0f} ms (budget {BUDGET_MS}{over(frame)}), "
          f"session loaded {med(ui, 1):.0f} ms, last message shown {shown:.0f} ms (max {max(r[2] for r in ui):.0f}"
          f"{over(shown)}), RSS {med(ui, 3):.1f} MB, peak {max(r[4] for r in ui):.1f} MB")
    shutil.rmtree(tmp, ignore_errors=True)
    return first, shown, peak, med(ui, 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=10, help="calls in the baseline session")
    ap.add_argument("--per-response", type=int, default=1, help="tool calls in each model response")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--window", type=int, default=0, help="the model's context window (default: never compacts)")
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    args = ap.parse_args()
    require_built(args.tern, args.mock)
    small = one_size(args, args.small)
    big = one_size(args, args.calls)
    print(f"the history's cost ({args.calls:,} calls against {args.small:,}): exec first request "
          f"{big[0] - small[0]:+.0f} ms, TUI last message shown {big[1] - small[1]:+.0f} ms, "
          f"exec peak RSS {big[2] - small[2]:+.1f} MB, TUI RSS {big[3] - small[3]:+.1f} MB")


if __name__ == "__main__":
    main()

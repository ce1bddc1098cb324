#!/usr/bin/env python3
"""What a big repository costs: the same figures in generated trees of 1k,
20k and 200k source files, and in a "heavy" tree (~1,000 source files, ~2 GB
of tracked binaries in assets/, a .gitignore'd node_modules/ of ~30,000
files nested 10 deep). Per repository:

  - first frame of the TUI: median and max of --starts starts (spawn to the
    composer on screen);
  - keystroke to screen right after start, while the `@` file index is
    being built in the background: p50/p99/max of 60 keys;
  - `@` completion in a fresh tern right after the first frame: whether
    "indexing" shows before the target file does, and ms from spawn until
    the target file is offered;
  - `@` per-keystroke latency once the index is ready: each key timed until
    its first answer (the best matches so far, marked "searching…", when
    ranking them all takes longer than a frame) and until the last byte tern
    writes for it (150 ms of quiet ends a response);
  - VmRSS at the first frame and once the index is ready;
  - read-only tools through `tern exec --json` against tern-mock:
    grep_files (a hit, a miss), list_dir (default, depth 6), Glob;
  - wall time of a `tern exec` answering one text, which should not depend
    on the tree's size (session start must not walk it);
  - in the largest generated repository only: SIGINT while grep_files walks
    it, ms until tern exits.

The machine's other load shows in every figure; take them as indicative.

Usage: bench/big_repo.py [--sizes 1000,20000,200000] [--no-heavy] [--keep DIR] [--starts N]
                         [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

from mock import require_built, scratch, start_mock
from tui import PLACEHOLDER, Tui, pct, type_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# No word holds a 'q', so `@q…` matches the target alone: its popup row is
# drawn whole on a blank row (the screen is updated by differences, so a
# row that replaced another might be written in pieces).
WORDS = ("alpha beta gamma delta omega lambda sigma kappa theta parser lexer render config router handler "
         "store cache index model view client server buffer stream worker engine layout widget schema token "
         "filter mapper loader writer reader codec").split()
EXTS = (".py", ".rs", ".js", ".md")
PER_DIR = 16
TARGET = "quokka_target.rs"
QUERY = "quokka"
NEEDLE = "needle_token"
MISS = "zz_no_such_token_qq"
QUIET = 0.15  # a response to a key is over after this long without output
FRAME_MS = 16
PARTIAL = "searching…".encode()  # the popup's mark on the best matches so far


# ---- generating the trees ----

def leaf_dir(leaf):
    """The directory of leaf number `leaf`: 2 to 4 levels deep."""
    pkg, mod, c = leaf // 25, (leaf // 5) % 5, leaf % 5
    parts = [f"pkg_{pkg}", f"module_{mod}"]
    if c >= 1:
        parts.append(WORDS[(pkg + c) % len(WORDS)] + ("_core" if c % 2 else "_util"))
    if c >= 3:
        parts.append(f"{WORDS[(leaf * 7) % len(WORDS)]}_deep")
    return os.path.join(*parts)


def source_path(k):
    return os.path.join(leaf_dir(k // PER_DIR), f"{WORDS[k % len(WORDS)]}_{k}{EXTS[k % len(EXTS)]}")


def target_path(n):
    """The file `@` looks for: 4 levels deep, halfway through the generated order."""
    return os.path.join(leaf_dir((n // PER_DIR) // 2 // 5 * 5 + 3), TARGET)


def write_sources(repo, n):
    """n source files of a few lines; one in 50 holds NEEDLE; the target in the middle."""
    made = set()
    for k in range(n):
        path = os.path.join(repo, source_path(k))
        d = os.path.dirname(path)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        w = WORDS[k % len(WORDS)]
        text = f"// {w} number {k}\n{w}_{k} = compute({k}, '{w}')\nreturn {w}_{k}\n"
        if k % 50 == 7:
            text += f"// {NEEDLE} marks this file\n"
        with open(path, "w") as f:
            f.write(text)
    path = os.path.join(repo, target_path(n))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("fn quokka() {}\n")


def write_heavy_extras(repo):
    # ~2 GB of tracked binaries. Random bytes hold a NUL within the first few
    # hundred, where grep gives a binary file up, so these cost a walk, not a read.
    block = os.urandom(1 << 20)
    os.makedirs(os.path.join(repo, "assets"))
    for i, mb in enumerate((768, 512, 512, 256)):
        with open(os.path.join(repo, "assets", f"blob_{i}.bin"), "wb") as f:
            for _ in range(mb):
                f.write(block)
    # node_modules/ (ignored): 300 packages of 100 files, 10 in each of 10 nested lib_ dirs.
    for p in range(300):
        d = os.path.join(repo, "node_modules", f"dep_{p}")
        for level in range(10):
            d = os.path.join(d, f"lib_{level}")
            os.makedirs(d)
            for i in range(10):
                with open(os.path.join(d, f"mod_{i}.js"), "w") as f:
                    f.write(f"module.exports = {p * 100 + level * 10 + i};\n")


def make_repo(base, name, n, heavy=False):
    """The repository `name` under base, generated unless a finished one is there."""
    repo = os.path.join(base, name)
    done = repo + ".done"  # beside the repository, so no tool lists it
    if os.path.exists(done):
        print(f"{name}: reusing {repo}")
        return repo
    if os.path.exists(repo):
        shutil.rmtree(repo)
    started = time.perf_counter()
    os.makedirs(repo)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write("node_modules/\ntarget/\n")
    with open(os.path.join(repo, "AGENTS.md"), "w") as f:
        f.write("Run the tests before you finish.\n")
    write_sources(repo, n)
    if heavy:
        write_heavy_extras(repo)
    open(done, "w").close()
    print(f"{name}: generated in {time.perf_counter() - started:.1f} s at {repo}")
    return repo


# ---- the TUI ----

def close(t):
    """Kills a Tui still running (after an error) and frees its PTY."""
    try:
        if os.waitpid(t.pid, os.WNOHANG)[0] == 0:
            os.kill(t.pid, signal.SIGKILL)
            os.waitpid(t.pid, 0)
    except ChildProcessError:
        pass
    os.close(t.fd)


def start_tui(args, env, repo):
    """A tern at its first frame; returns (Tui, ms from spawn, spawn time)."""
    began = time.perf_counter()
    t = Tui(args.tern, env, repo)
    try:
        t.wait_for(PLACEHOLDER)
    except BaseException:
        close(t)
        raise
    return t, (time.perf_counter() - began) * 1000, began


def quit_tui(t):
    try:
        os.write(t.fd, b"\x15")
        t.quit()
    finally:
        close(t)


def first_frames(args, env, repo):
    firsts = []
    for _ in range(args.starts):
        t, ms, _ = start_tui(args, env, repo)
        firsts.append(ms)
        quit_tui(t)
    print(f"  first frame: median {statistics.median(firsts):.1f} ms, max {max(firsts):.1f} ms ({args.starts} starts)")


def keys_at_start(args, env, repo):
    t, _, _ = start_tui(args, env, repo)
    try:
        lat = type_keys(t, 60)  # 'Z's, each timed until it is echoed
    finally:
        quit_tui(t)
    print(f"  keystroke to screen right after start: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
          f"max {max(lat):.1f} ms ({len(lat)} keys)")


def key_response(t, key):
    """ms from writing `key` to its first answer and to the last byte of tern's
    response to it: the key is drawn at once, and the matches for it as they
    arrive; when ranking every file takes longer than a frame, the best so
    far come first, marked "searching…" (the first answer), else the full
    answer is the first."""
    t.drain(0.02)
    mark = len(t.out)
    sent = last = time.perf_counter()
    first = None
    os.write(t.fd, key)
    while t.read(QUIET) and last - sent < 5:
        last = time.perf_counter()
        if first is None and t.out.find(PARTIAL, mark) >= 0:
            first = last
    return ((first or last) - sent) * 1000, (last - sent) * 1000


def completion(args, env, repo, n):
    """`@` completion in one fresh tern: while indexing, then per key once ready; and its RSS."""
    target = target_path(n).encode()
    log = os.path.join(env["TERN_HOME"], "logs", "tern.log")
    if os.path.exists(log):
        os.remove(log)
    # The index logs its own size when it is ready.
    t, _, began = start_tui(args, dict(env, TERN_LOG="tern_tui=debug"), repo)
    try:
        rss_first = t.mem()["VmRSS"]
        mark = len(t.out)
        for ch in b"@" + QUERY.encode():
            os.write(t.fd, bytes([ch]))
            t.read(0.005)
        # A tree with more files than the index holds may never offer it.
        deadline = time.monotonic() + 60
        while t.out.find(target, mark) < 0:
            if time.monotonic() > deadline:
                break
            t.read(0.05)
        found = t.out.find(target, mark)
        if found < 0:
            shown_ms = None
            indexing = t.out.find(b"indexing", mark) >= 0
        else:
            shown_ms = (time.perf_counter() - began) * 1000
            indexing = 0 <= t.out.find(b"indexing", mark) < found
        os.write(t.fd, b"\x15")
        t.drain(0.5)
        firsts, lat = [], []
        queries = queries_for(n)
        for q in queries:
            for ch in q.encode():
                first, last = key_response(t, bytes([ch]))
                firsts.append(first)
                lat.append(last)
            os.write(t.fd, b"\x15")
            t.drain(0.3)
        rss_ready = t.mem()["VmRSS"]
    finally:
        quit_tui(t)
    print(f"  @ while indexing: 'indexing' shown before the target: {'yes' if indexing else 'no'}")
    if shown_ms is None:
        print(f"  @ target {target.decode()} offered: NEVER within 60 s (query @{QUERY}); "
              f"the figures below may be from an index not ready")
    else:
        print(f"  @ target offered: {shown_ms:.0f} ms after spawn (query @{QUERY}, {target.decode()})")
    print(f"  @ per keystroke once ready, first answer: p50 {pct(firsts, 0.5):.1f} ms, "
          f"p99 {pct(firsts, 0.99):.1f} ms, max {max(firsts):.1f} ms "
          f"({len(lat)} keys over {len(queries)} queries; frame budget {FRAME_MS} ms)")
    print(f"  @ per keystroke once ready, full answer: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
          f"max {max(lat):.1f} ms ({sum(f < l for f, l in zip(firsts, lat))} keys answered first with the best so far)")
    print(f"  RSS: {rss_first:.1f} MB at first frame, {rss_ready:.1f} MB with the index ready "
          f"(+{rss_ready - rss_first:.1f} MB); {index_size(log)}")


def index_size(log):
    """The index's own size, from its "file index ready" log line."""
    m = None
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            m = re.search(r"file index ready files=(\d+) bytes=(\d+) capped=(\w+)", f.read())
    if not m:
        return "the index logged no size"
    files, size, capped = int(m.group(1)), int(m.group(2)), m.group(3)
    return f"the index: {files:,} files in {size / 1e6:.1f} MB{' (full)' if capped == 'true' else ''}"


def queries_for(n, count=3):
    """`@` queries of 8 to 14 characters cut from generated paths."""
    rng = random.Random(n)
    out = []
    for _ in range(count):
        path = source_path(rng.randrange(n))
        size = rng.randint(7, min(13, len(path)))
        start = rng.randrange(len(path) - size + 1)
        out.append("@" + path[start:start + size])
    return out


# ---- tern exec ----

CLAUDE = ["-m", "bench-claude", "-c", 'models.bench-claude.tools="claude"']


def exec_tool(args, env, tmp, repo, name, arguments, flags=()):
    """One `tern exec --json` whose model makes one tool call; the call's completed item."""
    steps = [{"tool_calls": [{"name": name, "arguments": arguments}]}, {"text": "done"}]
    mock, url = start_mock(args.mock, steps, tmp)
    try:
        out = subprocess.run([args.tern, *flags, "exec", "--json", "use the tool"], env=dict(env, OPENAI_BASE_URL=url),
                             cwd=repo, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    finally:
        mock.terminate()
        mock.wait()
    for line in out.stdout.splitlines():
        ev = json.loads(line)
        if ev.get("type") == "item.completed" and ev["item"].get("type") == "tool_call":
            return ev["item"]
    sys.exit(f"no tool_call item from {name} (exit {out.returncode}): {out.stderr[-400:]}")


def tools(args, env, tmp, repo):
    # Glob is in the Claude profile only (there is no glob_files in the Codex one).
    calls = [("grep_files", {"pattern": NEEDLE}, ()), ("grep_files", {"pattern": MISS}, ()),
             ("list_dir", {}, ()), ("list_dir", {"depth": 6}, ()), ("Glob", {"pattern": "**/*.py"}, CLAUDE)]
    for name, arguments, flags in calls:
        item = exec_tool(args, env, tmp, repo, name, arguments, flags)
        output = item.get("output") or ""
        cut = "yes" if "[…" in output else "no"
        status = "" if item.get("status") == "completed" else f", status {item.get('status')}: {item.get('error')}"
        print(f"  {name} {json.dumps(arguments)}: {item['duration_ms']} ms, output {len(output.encode())} bytes, "
              f"cut: {cut}{status}")


def session_start(args, env, tmp, repo):
    # One mock for all runs: each run takes the next answer. The first run warms the cache.
    mock, url = start_mock(args.mock, [{"text": "ok"}] * (args.starts + 1), tmp)
    walls = []
    try:
        for i in range(args.starts + 1):
            began = time.perf_counter()
            code = subprocess.run([args.tern, "exec", "say ok"], env=dict(env, OPENAI_BASE_URL=url), cwd=repo,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=120).returncode
            if code != 0:
                sys.exit(f"tern exec failed (exit {code}) in {repo}")
            if i:
                walls.append((time.perf_counter() - began) * 1000)
    finally:
        mock.terminate()
        mock.wait()
    print(f"  tern exec with one text answer: median {statistics.median(walls):.1f} ms, "
          f"max {max(walls):.1f} ms ({args.starts} runs)")


def cancel(args, env, tmp, repo):
    """SIGINT while grep_files walks the tree for a pattern it never finds."""
    steps = [{"tool_calls": [{"name": "grep_files", "arguments": {"pattern": MISS}}]}, {"text": "done"}]
    mock, url = start_mock(args.mock, steps, tmp)
    proc = subprocess.Popen([args.tern, "exec", "--json", "search"], env=dict(env, OPENAI_BASE_URL=url), cwd=repo,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if '"item.started"' in line and '"tool_call"' in line:
                break
        else:
            sys.exit("tern exec ended before the tool call started")
        # A moment later the walk is well into the tree (thousands of files),
        # so the signal must stop it there, not before it began.
        time.sleep(0.1)
        signalled = time.perf_counter()
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=60)
        ms = (time.perf_counter() - signalled) * 1000
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        mock.terminate()
        mock.wait()
    items = [json.loads(line).get("item", {}) for line in rest.splitlines() if '"item.completed"' in line]
    call = next((i for i in items if i.get("type") == "tool_call"), {})
    if call.get("status") == "completed":
        print(f"  cancel: grep_files had already finished when SIGINT arrived; no figure (exit {code})")
    else:
        print(f"  cancel: SIGINT during grep_files -> exit in {ms:.0f} ms, exit code {code} "
              f"(the call: {call.get('status')} after {call.get('duration_ms')} ms: {call.get('error')})")


def bench_repo(args, env, tmp, repo, label, n, largest):
    print(f"== {label} ==", flush=True)
    mock, url = start_mock(args.mock, [], tmp)  # the TUI never asks the model
    try:
        tui_env = dict(env, OPENAI_BASE_URL=url, TERM="xterm-256color")
        first_frames(args, tui_env, repo)
        keys_at_start(args, tui_env, repo)
        completion(args, tui_env, repo, n)
    finally:
        mock.terminate()
        mock.wait()
    tools(args, env, tmp, repo)
    session_start(args, env, tmp, repo)
    if largest:
        cancel(args, env, tmp, repo)
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    ap.add_argument("--sizes", default="1000,20000,200000", help="source files per generated repository")
    ap.add_argument("--heavy", action=argparse.BooleanOptionalAction, default=True,
                    help="also the ~2 GB tree with assets/ and an ignored node_modules/")
    ap.add_argument("--keep", metavar="DIR", help="generate the repositories here and reuse them next time")
    ap.add_argument("--starts", type=int, default=5, help="starts for the medians")
    args = ap.parse_args()
    args.tern, args.mock = os.path.abspath(args.tern), os.path.abspath(args.mock)
    require_built(args.tern, args.mock)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tmp, work = scratch("tern-big-repo-")
    base = os.path.abspath(args.keep) if args.keep else work
    os.makedirs(base, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "TERN_HOME": os.path.join(tmp, "data"),
           "OPENAI_API_KEY": "bench"}
    try:
        for n in sizes:
            repo = make_repo(base, f"files-{n}", n)
            bench_repo(args, env, tmp, repo, f"{n:,} source files", n, n == max(sizes))
        if args.heavy:
            repo = make_repo(base, "heavy", 1000, heavy=True)
            bench_repo(args, env, tmp, repo, "heavy: 1,000 source files, 2 GB in assets/, "
                       "30,000 ignored files in node_modules/", 1000, False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # sessions, scripts, and the repositories unless kept


if __name__ == "__main__":
    main()

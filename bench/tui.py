#!/usr/bin/env python3
"""Measures the interactive UI through a real PTY, against tern-mock.

  - time to first frame: from spawning `tern` to the composer on screen;
  - CPU used by an idle tern over 10 s (utime + stime from /proc);
  - keystroke-to-screen latency, p50/p99: a key is written to the PTY and
    timed until tern's output contains it, while the mock streams an answer
    at about 2,000 tokens/s and a CPU-bound process runs on the machine;
  - the same while a command floods its output (`yes`, as fast as tern
    reads it), so frames and keys must not starve behind the flood;
  - RSS after a scripted session of 10,000 tool calls (VmRSS, and the peak
    VmHWM), with the UI drawing throughout;
  - bytes written to the terminal while the mock streams an answer of
    3,000 deltas (about 800 lines) into a 120x40 terminal.

Usage: bench/tui.py [--keys N] [--calls N] [--parts start,keys,flood,calls,bytes] [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import os
import pty
import random
import select
import signal
import struct
import subprocess
import sys
import termios
import fcntl
import time

from mock import require_built, scratch, start_mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLACEHOLDER = b"ask tern"


class Tui:
    def __init__(self, tern, env, cwd, args=()):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execve(tern, [tern, *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.out = bytearray()

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return b""
        self.out += data
        return data

    def wait_for(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        # Search only what arrived since the last look (a long session
        # writes hundreds of MB), and keep only the recent output.
        seen = 0
        while self.out.find(needle, seen) < 0:
            seen = max(0, len(self.out) - len(needle))
            if len(self.out) > (4 << 20):
                del self.out[:-(64 << 10)]
                seen = 0
            if time.monotonic() > deadline:
                raise SystemExit(f"tern never showed {needle!r}; last output: {bytes(self.out[-400:])!r}")
            self.read(0.05)

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.read(max(0.0, end - time.monotonic()))

    def cpu(self):
        """Seconds on a CPU, all threads, at nanosecond resolution."""
        total = 0
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9

    def ticks(self):
        """utime + stime in clock ticks, exited threads included."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def mem(self):
        vals = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    k, v = line.split(":")
                    vals[k] = int(v.split()[0]) / 1024
        return vals

    def quit(self):
        os.write(self.fd, b"\x04")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.read(0.05)
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    ap.add_argument("--parts", default="start,keys,flood,calls,bytes",
                    help="which of start,keys,flood,calls,bytes to run")
    args = ap.parse_args()
    parts = args.parts.split(",")
    require_built(args.tern, args.mock)
    tmp, work = scratch("tern-tui-bench-")
    for i in range(10):
        with open(os.path.join(work, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n")
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "TERN_HOME": os.path.join(tmp, "data"),
                "TERM": "xterm-256color", "OPENAI_API_KEY": "bench"}

    if "start" in parts:
        first_frame_and_idle(args, base_env, tmp, work)
    if "keys" in parts:
        keystrokes(args, base_env, tmp, work)
    if "flood" in parts:
        flood(args, base_env, tmp, work)
    if "calls" in parts:
        many_calls(args, base_env, tmp, work)
    if "bytes" in parts:
        streamed_bytes(args, base_env, tmp, work)


def first_frames(tern, env, work, n=10):
    """Milliseconds from spawning tern to the composer on screen, n times."""
    firsts = []
    for _ in range(n):
        start = time.perf_counter()
        t = Tui(tern, env, work)
        t.wait_for(PLACEHOLDER)
        firsts.append((time.perf_counter() - start) * 1000)
        t.quit()
    return firsts


def idle_cpu(tern, env, work, seconds=10.0):
    """(ms of CPU by schedstat, ms by /proc ticks) an idle tern uses in `seconds`."""
    t = Tui(tern, env, work)
    t.wait_for(PLACEHOLDER)
    # Past tokio's 10 s keep-alive, so start-up's blocking threads have
    # exited (a thread that exits mid-measurement takes its schedstat along).
    t.drain(11.0)
    before, ticks = t.cpu(), t.ticks()
    t.drain(seconds)
    idle = (t.cpu() - before) * 1000
    by_ticks = (t.ticks() - ticks) * 1000 / os.sysconf("SC_CLK_TCK")
    t.quit()
    return idle, by_ticks


def first_frame_and_idle(args, base_env, tmp, work):
    mock, url = start_mock(args.mock, [], tmp)
    env = dict(base_env, OPENAI_BASE_URL=url)
    firsts = first_frames(args.tern, env, work)
    print(f"first frame: median {pct(firsts, 0.5):.1f} ms, max {max(firsts):.1f} ms (10 starts)")
    idle, ticks = idle_cpu(args.tern, env, work)
    print(f"idle: {idle:.2f} ms of CPU in 10 s (schedstat, all threads); {ticks:.0f} ms by /proc/PID/stat ticks")
    mock.terminate()


def keys_idle(tern, env, work, n):
    """Key latencies (ms) typing into an idle tern."""
    t = Tui(tern, env, work)
    t.wait_for(PLACEHOLDER)
    lat = type_keys(t, n)
    os.write(t.fd, b"\x15")
    t.quit()
    return lat


def keys_streaming(tern, mock_exe, base_env, tmp, work, n):
    """Key latencies (ms) while streaming ~2,000 tokens/s (16-char deltas
    every 2 ms, about 4 characters a token) beside a CPU hog. The answer
    never holds a 'Z', so a 'Z' in the output is the typed key."""
    answer = ("lorem ipsum dolor sit amet, consectetur adipiscing elit; " * 4000)
    mock, url = start_mock(mock_exe, [{"text": answer, "chunk_chars": 16, "delay_ms": 2}], tmp)
    env = dict(base_env, OPENAI_BASE_URL=url)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        t = Tui(tern, env, work, ["stream please"])
        t.wait_for(b"lorem")
        lat = type_keys(t, n)
    finally:
        hog.kill()
    os.write(t.fd, b"\x1b")  # interrupt the stream
    t.drain(0.5)
    os.write(t.fd, b"\x15")
    t.quit()
    mock.terminate()
    return lat


def keys_flooded(tern, mock_exe, base_env, tmp, work, n):
    """Key latencies (ms) while a command writes output as fast as tern can
    read it; also the share of a core tern used meanwhile."""
    cmd = "timeout 30 yes 'flooding the terminal with output, line after line'; true"
    steps = [{"tool_calls": [{"name": "exec_command", "arguments": {"cmd": cmd, "timeout_ms": 120000}}]},
             {"text": "flood over"}]
    mock, url = start_mock(mock_exe, steps, tmp)
    env = dict(base_env, OPENAI_BASE_URL=url)
    t = Tui(tern, env, work, ["-c", 'approval_policy="full-access"', "flood the screen"])
    # The screen is updated by differences, so no text is sure to be written
    # whole: wait for the command itself to run.
    deadline = time.monotonic() + 30
    while not running(b"flooding the terminal"):
        if time.monotonic() > deadline:
            raise SystemExit("the flooding command never started")
        t.read(0.05)
    t.drain(1.0)
    start = t.cpu()
    began = time.perf_counter()
    lat = type_keys(t, n)
    busy = (t.cpu() - start) / (time.perf_counter() - began) * 100
    os.write(t.fd, b"\x1b")  # interrupt the command
    t.wait_for(b"interrupted", timeout=30)
    os.write(t.fd, b"\x15")
    t.quit()
    mock.terminate()
    return lat, busy


def keystrokes(args, base_env, tmp, work):
    lat = keys_streaming(args.tern, args.mock, base_env, tmp, work, args.keys)
    print(f"keystroke to screen while streaming + CPU hog: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
          f"max {max(lat):.1f} ms ({len(lat)} keys)")


def running(needle):
    """Whether a process whose command line holds `needle` runs."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if needle in f.read():
                        return True
            except OSError:
                pass
    return False


def type_keys(t, n):
    """Types n 'Z's, each timed from the write until tern echoes it."""
    lat = []
    for _ in range(n):
        t.drain(0.02)
        mark = len(t.out)
        sent = time.perf_counter()
        os.write(t.fd, b"Z")
        while b"Z" not in t.out[mark:]:
            if time.perf_counter() - sent > 5:
                sys.exit("a key did not reach the screen within 5 s")
            t.read(0.5)
        lat.append((time.perf_counter() - sent) * 1000)
    return lat


def flood(args, base_env, tmp, work):
    lat, busy = keys_flooded(args.tern, args.mock, base_env, tmp, work, args.keys)
    print(f"keystroke to screen while a command floods its output: p50 {pct(lat, 0.5):.1f} ms, "
          f"p99 {pct(lat, 0.99):.1f} ms, max {max(lat):.1f} ms ({len(lat)} keys; tern at {busy:.0f}% of a core)")


def many_calls(args, base_env, tmp, work):
    # Ten files in turn: the same call three times in a row would stop the
    # turn (the core's loop guard).
    steps = [{"tool_calls": [{"name": "read_file", "arguments": {"path": f"f{i % 10}.txt"}}]} for i in range(args.calls)]
    steps.append({"text": "all done"})
    mock, url = start_mock(args.mock, steps, tmp)
    env = dict(base_env, OPENAI_BASE_URL=url)
    start = time.perf_counter()
    t = Tui(args.tern, env, work, ["-c", f"max_model_calls_per_turn={args.calls + 10}", "read it many times"])
    t.wait_for(b"all done", timeout=1800)
    took = time.perf_counter() - start
    m = t.mem()
    print(f"after {args.calls} tool calls ({took:.0f} s): RSS {m['VmRSS']:.1f} MB, peak {m['VmHWM']:.1f} MB")
    t.quit()
    mock.terminate()


def stream_bytes(tern, mock_exe, base_env, tmp, work, deltas=3000):
    """Bytes tern writes to the terminal while the mock streams an answer of
    `deltas` 16-character deltas (a list of items of 40 to 80 characters,
    one a line), from its first line on screen until the screen is quiet; and
    the lines streamed."""
    # Words drawn at random (seeded), so rows that move do not happen to
    # match the rows they replace, as an answer's lines do not.
    rng = random.Random(1)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore " \
            "et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris".split()
    lines, text = 0, ""
    while len(text) < deltas * 16:
        text += "- " + " ".join(rng.choice(words) for _ in range(rng.randint(6, 12))) + "\n"
        lines += 1
    text = text[:deltas * 16]
    mock, url = start_mock(mock_exe, [{"text": text, "chunk_chars": 16, "delay_ms": 2}], tmp)
    env = dict(base_env, OPENAI_BASE_URL=url)
    t = Tui(tern, env, work, ["stream please"])
    t.wait_for(b"lorem")
    start = len(t.out)
    # Quiet for a second once the answer has streamed (6 s at the least).
    began = time.monotonic()
    while True:
        got = len(t.read(1.0))
        if not got and time.monotonic() - began > deltas * 0.002:
            break
        if time.monotonic() - began > 120:
            raise SystemExit("the stream did not end within 120 s")
    written = len(t.out) - start
    os.write(t.fd, b"\x15")
    t.quit()
    mock.terminate()
    return written, text.count("\n")


def streamed_bytes(args, base_env, tmp, work):
    written, lines = stream_bytes(args.tern, args.mock, base_env, tmp, work)
    print(f"bytes written to the terminal while streaming 3,000 deltas ({lines} lines, 120x40): "
          f"{written / 1024:.0f} KB ({written / lines:.0f} bytes a line)")


if __name__ == "__main__":
    main()

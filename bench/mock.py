"""What the mock-server benchmarks share: checking the builds, a scratch workspace, starting tern-mock."""

import json
import os
import subprocess
import sys
import tempfile
import time


def require_built(*exes):
    """Exits with the build command when a binary is missing."""
    for exe in exes:
        if not os.path.exists(exe):
            sys.exit(f"{exe} not found; run: cargo build --release -p tern -p tern-testkit")


def scratch(prefix="tern-bench-"):
    """A new temporary directory with an empty `work` directory inside; returns (tmp, work)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    return tmp, work


def start_mock(mock, steps, tmp, extra=()):
    """Serves `steps` with the tern-mock at `mock`; returns (process, base URL)."""
    path = os.path.join(tmp, f"script-{time.monotonic_ns()}.json")
    with open(path, "w") as f:
        json.dump({"steps": steps}, f)
    # The benchmarks never read requests back; keeping them would grow the
    # mock (not tern) by gigabytes over a long session.
    proc = subprocess.Popen([mock, "--script", path, "--forget", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()

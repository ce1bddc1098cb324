"""Starting tern-mock for the benchmarks."""

import json
import os
import subprocess
import time


def start_mock(mock, steps, tmp):
    """Serves `steps` with the tern-mock at `mock`; returns (process, base URL)."""
    path = os.path.join(tmp, f"script-{time.monotonic_ns()}.json")
    with open(path, "w") as f:
        json.dump({"steps": steps}, f)
    # The benchmarks never read requests back; keeping them would grow the
    # mock (not tern) by gigabytes over a long session.
    proc = subprocess.Popen([mock, "--script", path, "--forget"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()

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
    proc = subprocess.Popen([mock, "--script", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()

#!/usr/bin/env python3
"""Times `tern apply-patch` applying a 1,000-hunk patch to a 50,000-line file.

Each hunk changes one line with three lines of context on each side. The
time is the whole command (start, parse, match, checks, atomic write,
exit), median of several runs, each on a fresh copy of the file.

Usage: bench/apply_patch.py [--runs N] [--tern PATH]
Build first: cargo build --release -p tern
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINES, HUNKS, CONTEXT = 50_000, 1_000, 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    args = ap.parse_args()
    if not os.path.exists(args.tern):
        sys.exit(f"{args.tern} not found; run: cargo build --release -p tern")

    tmp = tempfile.mkdtemp(prefix="tern-patch-bench-")
    lines = [f"    let value_{i} = compute({i}, {i * 31 % 977}); // line {i}" for i in range(LINES)]
    original = "\n".join(lines) + "\n"
    step = LINES // HUNKS
    patch = ["*** Begin Patch", "*** Update File: big.rs"]
    for h in range(HUNKS):
        at = h * step + step // 2
        patch.append("@@")
        patch += [" " + lines[j] for j in range(at - CONTEXT, at)]
        patch.append("-" + lines[at])
        patch.append("+" + lines[at].replace("compute", "compute_fast"))
        patch += [" " + lines[j] for j in range(at + 1, at + 1 + CONTEXT)]
    patch.append("*** End Patch")
    patch_path = os.path.join(tmp, "big.patch")
    with open(patch_path, "w") as f:
        f.write("\n".join(patch) + "\n")

    times = []
    for i in range(args.runs + 1):
        work = os.path.join(tmp, f"run{i}")
        os.makedirs(work)
        with open(os.path.join(work, "big.rs"), "w") as f:
            f.write(original)
        with open(patch_path) as stdin:
            start = time.perf_counter()
            r = subprocess.run([args.tern, "apply-patch"], cwd=work, stdin=stdin, capture_output=True)
            elapsed = time.perf_counter() - start
        if r.returncode != 0:
            sys.exit(f"apply-patch failed: {r.stderr.decode()}")
        with open(os.path.join(work, "big.rs")) as f:
            changed = f.read().count("compute_fast")
        assert changed == HUNKS, changed
        if i > 0:
            times.append(elapsed)
        shutil.rmtree(work)
    size = os.path.getsize(patch_path)
    print(f"apply-patch: {HUNKS} hunks ({size / 1024:.0f} KiB patch) on a {LINES}-line file "
          f"({len(original) / 1024 / 1024:.1f} MiB): median {statistics.median(times) * 1000:.1f} ms, "
          f"min {min(times) * 1000:.1f} ms over {len(times)} runs")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

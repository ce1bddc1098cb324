#!/usr/bin/env python3
"""Prompt-lookup drafting on the embedded models: tokens/s with and without.

Runs crates/local/examples/lookup.rs, tern's own engine on two
generation-heavy requests (rewriting a 60-line function with a variable renamed,
and a long explanation of it), once per draft length, and prints per model
and task: generated tokens, tokens/s, tokens drafted and picked, the
speed-up over no drafting, and whether the output is the same.

Usage: bench/lookup.py [--models 1.5b,0.5b] [--drafts 0,4,8,16] [--runs N]
Build first: cargo build --release -p tern-local --example lookup
Fetch first: scripts/fetch-model 1.5b (and 0.5b)
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(exe, model_path, drafts):
    out = subprocess.run([exe, model_path] + [str(d) for d in drafts], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        rows.append(dict(re.findall(r"(\w+)=(\S+)", line)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="1.5b,0.5b")
    ap.add_argument("--drafts", default="0,8")
    ap.add_argument("--runs", type=int, default=1, help="repeat and take the median tokens/s")
    args = ap.parse_args()
    drafts = [int(d) for d in args.drafts.split(",")]
    if drafts[0] != 0:
        drafts.insert(0, 0)
    exe = os.path.join(ROOT, "target/release/examples/lookup")
    if not os.path.exists(exe):
        sys.exit(f"{exe} is missing: cargo build --release -p tern-local --example lookup")
    data = os.environ.get("TERN_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "tern")
    for size in args.models.split(","):
        path = os.path.join(data, "models", f"qwen2.5-coder-{size}.gguf")
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run scripts/fetch-model {size}")
        runs = [run(exe, path, drafts) for _ in range(args.runs)]
        print(f"== qwen2.5-coder-{size} ({args.runs} run{'s' if args.runs > 1 else ''}, median tokens/s)")
        print(f"{'task':<8} {'draft':>5} {'tokens':>6} {'tok/s':>6} {'drafted':>7} {'picked':>6} {'speed-up':>8} same")
        base = {}
        for i, row in enumerate(runs[0]):
            speed = statistics.median(float(r[i]["gen_tok_per_s"]) for r in runs)
            task, draft = row["task"], int(row["draft"])
            if draft == 0:
                base[task] = speed
            print(f"{task:<8} {draft:>5} {row['generated_tokens']:>6} {speed:>6.1f} {row['drafted']:>7} "
                  f"{row['accepted']:>6} {speed / base[task]:>7.2f}x {row['same_output']}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Memory and CPU of one long `tern exec` turn on each wire API.

The mock model asks for N read_file calls in a row (cycling over a few
2 KB files, so no call repeats the one before it) and then answers; every
request re-sends the whole history, so this shows what a long session
costs per request. Prints, per wire: peak RSS and CPU (user + sys) of the
tern process, wall time, and CPU per call.

Usage: bench/long_session.py [--calls N] [--wires chat,responses,anthropic,gemini] [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit
"""

import argparse
import os
import sys

from exec_roundtrips import measure
from mock import require_built, scratch, start_mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = 7


def wire_env(wire, url, base):
    """The environment and extra arguments that point tern at the mock for `wire`."""
    if wire == "chat":
        return dict(base, OPENAI_API_KEY="bench", OPENAI_BASE_URL=url), []
    if wire == "responses":
        return dict(base, OPENAI_API_KEY="bench", OPENAI_BASE_URL=url), ["-c", 'providers.openai.wire_api="responses"']
    if wire == "anthropic":
        return dict(base, ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=url), []
    if wire == "gemini":
        return dict(base, GEMINI_API_KEY="bench", GEMINI_BASE_URL=url), []
    sys.exit(f"unknown wire {wire}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--wires", default="chat,responses,anthropic,gemini")
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    args = ap.parse_args()
    require_built(args.tern, args.mock)

    tmp, work = scratch("tern-bench-")
    for i in range(FILES):
        with open(os.path.join(work, f"f{i}.txt"), "w") as f:
            f.write("".join(f"line {n} of file {i}: some text to read\n" for n in range(50)))
    base = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "TERN_HOME": os.path.join(tmp, "data")}
    steps = [{"tool_calls": [{"name": "read_file", "arguments": {"path": f"f{i % FILES}.txt"}}]}
             for i in range(args.calls)]
    steps.append({"text": "done"})

    print(f"{args.calls} read_file calls in one turn (each ~2 KB of output; every request re-sends the history)")
    for wire in args.wires.split(","):
        mock, url = start_mock(args.mock, steps, tmp)
        env, extra = wire_env(wire, url, base)
        argv = [args.tern, *extra, "-c", "max_model_calls_per_turn=1000000", "exec", "read the files"]
        wall, cpu, _, rss, code = measure(argv, env, work, tmp)
        mock.terminate()
        mock.wait()
        if code != 0:
            sys.exit(f"tern exec failed on {wire} (exit {code})")
        print(f"{wire:>10}: peak RSS {rss / 1024:6.1f} MB, CPU {cpu:6.2f} s ({cpu / args.calls * 1000:.2f} ms/call), "
              f"wall {wall:6.1f} s")


if __name__ == "__main__":
    main()

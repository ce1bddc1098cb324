#!/usr/bin/env python3
"""Measures the embedded local models (0.5B and 1.5B Qwen2.5-Coder, Q4_K_M).

For each model:
  - load time, prompt tokens/s and generation tokens/s through tern's own
    engine (crates/local/examples/throughput.rs, ~820 prompt tokens, 64
    greedy tokens);
  - time to first output of the first agent turn: from starting
    `tern exec` to its first tool call event, model load included, both
    for the first session ever (which evaluates and saves the prompt
    prefix's KV entries) and for sessions after the setup step `tern models
    --prepare` saved them (each loads them), and how long that step takes;
  - peak RSS of that tern process;
  - on 20 small repository tasks, the share of first tool calls that are
    valid (a known tool, arguments a JSON object matching its schema) and
    correct (the call a competent agent would make first).

Usage: bench/local_model.py [--models 0.5b,1.5b] [--tasks N]
Build first: cargo build --release -p tern && cargo build --release -p tern-local --example throughput
(one command with both would build only the example)
Fetch first: scripts/fetch-model 0.5b && scripts/fetch-model 1.5b
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FILES = {
    "src/config.rs": "use std::path::Path;\n\n/// Reads the server configuration.\npub fn parse_config(path: &Path) -> Config {\n    let text = std::fs::read_to_string(path).unwrap_or_default();\n    Config { port: text.trim().parse().unwrap_or(DEFAULT_PORT) }\n}\n\npub const DEFAULT_PORT: u16 = 8080;\n\npub struct Config {\n    pub port: u16,\n}\n",
    "src/server.rs": "use crate::config::Config;\n\npub fn start_server(config: &Config) {\n    // TODO: handle shutdown signals\n    println!(\"listening on {}\", config.port);\n}\n",
    "src/main.rs": "mod config;\nmod server;\n\nfn main() {\n    let c = config::parse_config(std::path::Path::new(\"app.conf\"));\n    server::start_server(&c);\n}\n",
    "tools/slug.py": "import re\n\n\ndef slugify(title):\n    \"\"\"Lower-case, dash-separated.\"\"\"\n    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')\n\n# TODO: unicode titles\n",
    "tools/test_slug.py": "from slug import slugify\n\n\ndef test_slugify():\n    assert slugify('Hello World') == 'hello-world'\n",
    "web/math.js": "export function fibonacci(n) {\n  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);\n}\n",
    "Makefile": "test:\n\tcargo test\n\tpython3 -m pytest tools\n",
    "README.md": "# demo\n\nA tiny server. Run `make test`.\n",
    "Cargo.toml": "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
}


def has(s, *words):
    s = (s or "").lower()
    return all(w.lower() in s for w in words)


# (prompt, predicate on (tool, args)) — what a competent agent calls first.
TASKS = [
    ("Where is parse_config defined?", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "parse_config")) or (t == "read_file" and has(a.get("path"), "config.rs"))),
    ("Find where start_server is defined.", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "start_server")) or (t == "read_file" and has(a.get("path"), "server.rs"))),
    ("Show me the contents of src/main.rs.", lambda t, a: t == "read_file" and has(a.get("path"), "src/main.rs")),
    ("Read the Makefile.", lambda t, a: t == "read_file" and has(a.get("path"), "makefile")),
    ("What files are in the tools directory?", lambda t, a: (t == "list_dir" and has(a.get("path"), "tools")) or (t == "exec_command" and has(a.get("cmd"), "ls", "tools"))),
    ("List the files in this repository.", lambda t, a: t == "list_dir" or (t == "exec_command" and has(a.get("cmd"), "ls"))),
    ("Find every TODO comment in the code.", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "todo")) or (t == "exec_command" and has(a.get("cmd"), "grep", "todo"))),
    ("Run the Rust tests with cargo.", lambda t, a: t == "exec_command" and has(a.get("cmd"), "cargo", "test")),
    ("Run the Python tests in tools/ with pytest.", lambda t, a: t == "exec_command" and has(a.get("cmd"), "pytest")),
    ("What does the slugify function do?", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "slugify")) or (t == "read_file" and has(a.get("path"), "slug.py"))),
    ("Where is DEFAULT_PORT set?", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "default_port")) or (t == "read_file" and has(a.get("path"), "config.rs"))),
    ("Find the fibonacci function.", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "fibonacci")) or (t == "read_file" and has(a.get("path"), "math.js"))),
    ("Read README.md and tell me how to run the tests.", lambda t, a: t == "read_file" and has(a.get("path"), "readme")),
    ("Show the git status of the repository.", lambda t, a: t == "exec_command" and has(a.get("cmd"), "git", "status")),
    ("Which files mention Config?", lambda t, a: (t == "grep_files" and has(a.get("pattern"), "config")) or (t == "exec_command" and has(a.get("cmd"), "grep", "config"))),
    ("Create a file named NOTES.md containing the line 'hello'.", lambda t, a: t == "write_file" and has(a.get("path"), "notes.md") and has(a.get("content"), "hello")),
    ("In README.md, replace the word 'tiny' with 'small'.", lambda t, a: (t == "edit_file" and has(a.get("path"), "readme") and has(a.get("old_string"), "tiny") and has(a.get("new_string"), "small")) or (t == "read_file" and has(a.get("path"), "readme"))),
    ("Read the file tools/test_slug.py.", lambda t, a: t == "read_file" and has(a.get("path"), "test_slug.py")),
    ("What is the package name in Cargo.toml?", lambda t, a: t == "read_file" and has(a.get("path"), "cargo.toml")),
    ("Count the lines of src/config.rs with wc.", lambda t, a: t == "exec_command" and has(a.get("cmd"), "wc", "config.rs")),
]

SCHEMA_KEYS = {
    "grep_files": ({"pattern"}, {"pattern", "path", "include", "case_insensitive", "limit"}),
    "read_file": ({"path"}, {"path", "offset", "limit"}),
    "list_dir": (set(), {"path", "depth", "limit"}),
    "exec_command": ({"cmd"}, {"cmd", "workdir", "timeout_ms", "tty", "yield_time_ms"}),
    "edit_file": ({"path", "old_string", "new_string"}, {"path", "old_string", "new_string", "replace_all"}),
    "write_file": ({"path", "content"}, {"path", "content"}),
}


def valid(tool, args):
    if tool not in SCHEMA_KEYS or not isinstance(args, dict):
        return False
    required, allowed = SCHEMA_KEYS[tool]
    return required <= set(args) and set(args) <= allowed and all(isinstance(args[k], str) for k in required)


def make_repo(path):
    for rel, text in FILES.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)


def first_call(tern, model, prompt, home):
    """Runs one turn limited to one model call; returns (tool, args, seconds to the call, peak RSS KiB)."""
    with tempfile.TemporaryDirectory() as repo:
        make_repo(repo)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env["TERN_HOME"] = home
        argv = [tern, "exec", "--json", "-m", model, "-c", "max_model_calls_per_turn=1",
                "-c", 'approval_policy="read-only"', prompt]
        start = time.monotonic()
        p = subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        tool, args, at = None, None, None
        for line in p.stdout:
            ev = json.loads(line)
            item = ev.get("item", {})
            if ev.get("type") == "item.started" and tool is None:
                if item.get("type") == "tool_call":
                    tool, args, at = item.get("tool"), item.get("arguments"), time.monotonic() - start
                elif item.get("type") == "command_execution":
                    tool, args, at = "exec_command", {"cmd": item.get("command")}, time.monotonic() - start
                elif item.get("type") == "file_change":
                    tool, args, at = item.get("tool", "edit"), item, time.monotonic() - start
        _, status, rusage = os.wait4(p.pid, 0)
        return tool, args, at, rusage.ru_maxrss


def prepare(tern, model, home):
    """Runs `tern models --prepare` in a fresh repository; returns its wall time in seconds."""
    with tempfile.TemporaryDirectory() as repo:
        make_repo(repo)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env["TERN_HOME"] = home
        start = time.monotonic()
        subprocess.run([tern, "models", "--prepare", "-m", model], cwd=repo, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.monotonic() - start


def throughput(model_path):
    exe = os.path.join(ROOT, "target/release/examples/throughput")
    out = subprocess.run([exe, model_path], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=([\d.]+)", out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="0.5b,1.5b")
    ap.add_argument("--tasks", type=int, default=len(TASKS))
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    args = ap.parse_args()
    data = os.environ.get("TERN_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "tern")
    for size in args.models.split(","):
        model = f"qwen2.5-coder-{size}"
        path = os.path.join(data, "models", model + ".gguf")
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run scripts/fetch-model {size}")
        with tempfile.TemporaryDirectory() as home:
            os.makedirs(os.path.join(home, "models"))
            os.symlink(path, os.path.join(home, "models", model + ".gguf"))
            t = throughput(path)
            print(f"== {model}")
            print(f"load {float(t['load_s']):.2f} s · prompt {t['prompt_tok_per_s']} tok/s ({t['prompt_tokens']} tokens) "
                  f"· generation {t['gen_tok_per_s']} tok/s")
            n_valid = n_correct = 0
            firsts, rss = [], []
            for i, (prompt, ok) in enumerate(TASKS[: args.tasks]):
                tool, call_args, at, peak = first_call(args.tern, model, prompt, home)
                v = tool is not None and valid(tool, call_args)
                c = v and ok(tool, call_args)
                n_valid += v
                n_correct += c
                rss.append(peak)
                firsts.append(at)
                print(f"  {'✓' if c else ('~' if v else '✗')} {prompt[:52]:52} → {tool} {json.dumps(call_args)[:70]}")
                if i == 0:
                    # The first session saved the prefix; drop it and let
                    # `tern models --prepare` (the setup step) save it
                    # instead: the later sessions then start from its file.
                    shutil.rmtree(os.path.join(home, "cache", "prefix"))
                    prepared = prepare(args.tern, model, home)
            n = args.tasks
            # The first task saves the system prompt and tools' KV entries;
            # every later session (a new process each) loads them.
            cold, warm = firsts[0], sorted(t for t in firsts[1:] if t is not None)
            cold = "none" if cold is None else f"{cold:.2f} s"
            print(f"first agent turn, time to first tool call (load included): first session ever {cold}; "
                  f"after `tern models --prepare` ({prepared:.2f} s, once) median {warm[len(warm) // 2]:.2f} s, "
                  f"min {warm[0]:.2f} s, max {warm[-1]:.2f} s")
            print(f"peak RSS: {max(rss) / 1024:.0f} MB")
            print(f"tool calls: valid {n_valid}/{n} ({100 * n_valid / n:.0f}%), correct {n_correct}/{n} ({100 * n_correct / n:.0f}%)")


if __name__ == "__main__":
    main()

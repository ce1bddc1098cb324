#!/usr/bin/env python3
"""Measures tern's MCP client.

  - start-up, in the TUI through a real PTY: time to the first frame and
    keystroke latency (p50/p99) while the servers start, and time until
    the status line says every server is ready, with 0, 3 and 5 servers
    configured (3: server-everything, server-filesystem, server-memory; 5:
    those, a quick test server, and one that never answers);
  - one MCP tool round trip: tern's own CPU and the wall time per extra
    call (`tern exec` with 1 and 21 calls of a tool that answers at once),
    beyond what the server itself spends;
  - tokens of tool definitions per request (bytes / 4) with the three
    reference servers connected, with lazy loading (the default budget)
    and without (every schema sent).

Usage: bench/mcp.py [--parts startup,roundtrip,tokens] [--tern PATH] [--mock PATH]
Build first: cargo build --release -p tern -p tern-testkit; the servers come
from scripts/test's npm install (tools/npm).
"""

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from mock import require_built, scratch, start_mock
from tui import PLACEHOLDER, Tui, pct, type_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NPM_BIN = os.path.join(ROOT, "tools/npm/node_modules/.bin")
BROKEN = os.path.join(ROOT, "crates/testkit/fixtures/broken_mcp.py")


def servers_toml(n, work, tmp, required=False):
    """[mcp_servers] for the first n of: everything, filesystem, memory, quick, silent."""
    entries = [
        f'[mcp_servers.everything]\ncommand = "{NPM_BIN}/mcp-server-everything"\nargs = ["stdio"]\n',
        f'[mcp_servers.filesystem]\ncommand = "{NPM_BIN}/mcp-server-filesystem"\nargs = ["{work}"]\n',
        f'[mcp_servers.memory]\ncommand = "{NPM_BIN}/mcp-server-memory"\n'
        f'env = {{ MEMORY_FILE_PATH = "{tmp}/memory.jsonl" }}\n',
        f'[mcp_servers.quick]\ncommand = "python3"\nargs = ["{BROKEN}"]\n',
        f'[mcp_servers.silent]\ncommand = "python3"\nargs = ["{BROKEN}", "--silent"]\nstartup_timeout_sec = 60\n',
    ]
    if required:
        entries = [e + "required = true\n" for e in entries]
    return "\n".join(entries[:n])


def write_config(tmp, text):
    cfg = os.path.join(tmp, ".config", "tern")
    os.makedirs(cfg, exist_ok=True)
    with open(os.path.join(cfg, "config.toml"), "w") as f:
        f.write(text)


def startup(args, base_env, tmp, work):
    mock, url = start_mock(args.mock, [], tmp)
    env = dict(base_env, OPENAI_BASE_URL=url)
    for n in (0, 3, 5):
        write_config(tmp, servers_toml(n, work, tmp))
        firsts, keys = [], []
        for _ in range(args.starts):
            start = time.perf_counter()
            t = Tui(args.tern, env, work)
            t.wait_for(PLACEHOLDER)
            firsts.append((time.perf_counter() - start) * 1000)
            if n:
                # Typed while the servers start: the UI must not wait for them.
                keys += type_keys(t, 20)
                os.write(t.fd, b"\x15")
            t.quit()
        line = f"{n} servers: first frame median {pct(firsts, 0.5):.1f} ms (max {max(firsts):.1f})"
        if n:
            line += f"; keys typed while they start: p50 {pct(keys, 0.5):.1f} ms, p99 {pct(keys, 0.99):.1f} ms"
            # Required, so the headless turn waits for them instead of ending.
            write_config(tmp, servers_toml(n, work, tmp, required=True))
            readies = [ready_after(args, env, tmp, work, n) for _ in range(args.starts)]
            what = "all ready" if n == 3 else "all but the silent one ready"
            line += f"; {what} {pct(readies, 0.5):.0f} ms after start (median)"
        print(line, flush=True)
    mock.terminate()


def ready_after(args, env, tmp, work, n):
    """Milliseconds from spawning `tern exec --json` until the last server
    that can start says it is ready (the silent one never does)."""
    want = min(n, 4)
    start = time.perf_counter()
    proc = subprocess.Popen([args.tern, "exec", "--json", "hi"], env=env, cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    ready, at = 0, None
    for line in proc.stdout:
        ev = json.loads(line)
        if ev.get("type") == "mcp.server_updated" and ev.get("state") == "ready":
            ready += 1
            if ready == want:
                at = (time.perf_counter() - start) * 1000
                break
    proc.kill()
    proc.wait()
    if at is None:
        sys.exit(f"only {ready} of {want} servers became ready")
    return at


def roundtrip(args, base_env, tmp, work):
    """tern's CPU and wall time per extra MCP call."""
    write_config(tmp, f'[mcp_servers.quick]\ncommand = "python3"\nargs = ["{BROKEN}"]\nrequired = true\n')
    figures = {}
    for k in (1, 21):
        steps = [{"tool_calls": [{"name": "mcp__quick__ok", "arguments": {"text": f"call {i}"}}]} for i in range(k)]
        steps.append({"text": "done"})
        runs = []
        for _ in range(args.runs + 1):
            mock, url = start_mock(args.mock, steps, tmp)
            own = os.path.join(tmp, "rusage")
            env = dict(base_env, OPENAI_BASE_URL=url, TERN_RUSAGE_FILE=own)
            start = time.perf_counter()
            subprocess.run([args.tern, "exec", "-c", 'approval_policy="full-access"', "go"], env=env, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            wall = time.perf_counter() - start
            with open(own) as f:
                user, sys_, _ = f.read().split()
            runs.append((wall, float(user) + float(sys_)))
            mock.terminate()
        runs = runs[1:]
        figures[k] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    wall = (figures[21][0] - figures[1][0]) / 20 * 1000
    cpu = (figures[21][1] - figures[1][1]) / 20 * 1000
    print(f"one MCP tool round trip (model call included): tern CPU {cpu:.2f} ms, wall {wall:.2f} ms "
          f"(median of {args.runs} runs, 1 vs 21 calls)", flush=True)


class Recorder(http.server.BaseHTTPRequestHandler):
    """A one-answer Chat Completions server that keeps request bodies."""
    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        Recorder.bodies.append(json.loads(body))
        chunk = {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
        data = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def tokens(args, base_env, tmp, work):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    servers = servers_toml(3, work, tmp, required=True)
    thousand = f'[mcp_servers.big]\ncommand = "python3"\nargs = ["{BROKEN}", "--tools", "1000"]\nrequired = true\n'
    cases = (
        ("no MCP servers", None, ""),
        ("3 reference servers, lazy (default budget)", None, servers),
        ("3 reference servers, every schema", 10**9, servers),
        ("1,000 tools, lazy (default budget)", None, thousand),
        ("1,000 tools, every schema", 10**9, thousand),
    )
    for label, budget, text in cases:
        if budget is not None:
            text = f"[mcp]\nschema_budget_tokens = {budget}\n\n" + text
        write_config(tmp, text)
        Recorder.bodies.clear()
        subprocess.run([args.tern, "exec", "hi"], env=dict(base_env, OPENAI_BASE_URL=url), cwd=work,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        tools = Recorder.bodies[0].get("tools", [])
        size = len(json.dumps(tools, separators=(",", ":")))
        mcp = sum(1 for t in tools if t["function"]["name"].startswith("mcp__"))
        print(f"tool definitions per request, {label}: {size // 4} tokens ({size} bytes, "
              f"{len(tools)} tools of which {mcp} MCP)", flush=True)
    server.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="startup,roundtrip,tokens")
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "target/release/tern-mock"))
    args = ap.parse_args()
    require_built(args.tern, args.mock)
    if not os.path.exists(os.path.join(NPM_BIN, "mcp-server-everything")):
        sys.exit("the MCP servers are missing; run scripts/test once (it installs them into tools/npm)")
    tmp, work = scratch("tern-mcp-bench-")
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "TERN_HOME": os.path.join(tmp, "data"),
                "TERM": "xterm-256color", "OPENAI_API_KEY": "bench"}
    parts = args.parts.split(",")
    if "startup" in parts:
        startup(args, base_env, tmp, work)
    if "roundtrip" in parts:
        roundtrip(args, base_env, tmp, work)
    if "tokens" in parts:
        tokens(args, base_env, tmp, work)


if __name__ == "__main__":
    main()

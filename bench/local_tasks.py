#!/usr/bin/env python3
"""Whole tasks on the embedded local model: does the offline default finish them?

Three small repositories (Python, JavaScript, C) and 33 ordinary requests of
the kind a user types: questions whose answers are checked against the
code, edits and fixes whose files are checked by running them, and commands
whose output must be reported. Each task runs end to end in a fresh copy of
its repository with `tern exec --json --full-auto` on the embedded model,
and reports: passed, wall time, model calls, tool calls and tokens; then the
totals (share passed, median wall time).

Usage: bench/local_tasks.py [--models 1.5b,0.5b] [--only SUBSTRING] [--kind fix,edit] [--out FILE.json]
Build first: cargo build --release -p tern
Fetch first: scripts/fetch-model 1.5b (and 0.5b)
Needs python3, node and gcc/make (the repositories' own tests run with them).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300

# --- the repositories ---------------------------------------------------------

PY = {
    "README.md": "# shipit\n\nA client for the Shipit parcel-tracking API.\n\nRun the tests with `python3 -m unittest discover tests`.\n",
    "pyproject.toml": "[project]\nname = \"shipit\"\ndynamic = [\"version\"]\nrequires-python = \">=3.9\"\n",
    "shipit/__init__.py": "\"\"\"Parcel tracking for the Shipit API.\"\"\"\n\n__version__ = \"0.4.2\"\n",
    "shipit/config.py": (
        "\"\"\"Settings, overridable from the environment.\"\"\"\n\nimport os\n\n"
        "API_URL = os.environ.get(\"SHIPIT_API_URL\", \"https://api.shipit.example/v2\")\n"
        "DEFAULT_TIMEOUT = 30  # seconds\n"
        "MAX_RETRIES = 4\n"
        "BACKOFF_SECONDS = 1.5\n"),
    "shipit/client.py": (
        "import json\nimport time\nimport urllib.request\n\nfrom . import config\n\n\n"
        "class Client:\n"
        "    def __init__(self, token, timeout=config.DEFAULT_TIMEOUT):\n"
        "        self.token = token\n        self.timeout = timeout\n\n"
        "    def fetch(self, path):\n"
        "        \"\"\"GETs a path of the API, retrying on network errors.\"\"\"\n"
        "        last = None\n"
        "        for attempt in range(config.MAX_RETRIES):\n"
        "            try:\n"
        "                req = urllib.request.Request(config.API_URL + path, headers={\"Authorization\": \"Bearer \" + self.token})\n"
        "                with urllib.request.urlopen(req, timeout=self.timeout) as r:\n"
        "                    return json.load(r)\n"
        "            except OSError as e:\n"
        "                last = e\n"
        "                time.sleep(config.BACKOFF_SECONDS * (attempt + 1))\n"
        "        raise last\n\n"
        "    def parcel(self, number):\n"
        "        return self.fetch(\"/parcels/\" + number)\n"),
    "shipit/formatting.py": (
        "from datetime import datetime\n\n\n"
        "def format_eta(when: datetime) -> str:\n"
        "    \"\"\"An arrival time for people: 'Tue 03 Mar, 14:05'.\"\"\"\n"
        "    return when.strftime(\"%a %d %b, %H:%M\")\n\n\n"
        "def format_weight(grams: int) -> str:\n"
        "    if grams < 1000:\n        return f\"{grams} g\"\n"
        "    return f\"{grams / 1000:.1f} kg\"\n"),
    "shipit/rates.py": (
        "\"\"\"Shipping prices.\"\"\"\n\n"
        "ZONE_RATES = {\"domestic\": 4.90, \"europe\": 9.50, \"world\": 19.00}\n"
        "PER_KG = 1.20\n"
        "HEAVY_LIMIT_KG = 20\n\n\n"
        "def is_heavy(weight_kg):\n"
        "    \"\"\"Parcels of 20 kg and more go by freight.\"\"\"\n"
        "    return weight_kg < HEAVY_LIMIT_KG\n\n\n"
        "def shipping_cost(weight_kg, zone):\n"
        "    base = ZONE_RATES[zone]\n"
        "    return round(base + PER_KG * weight_kg, 2)\n"),
    "shipit/tracking.py": (
        "import re\n\n_NUMBER = re.compile(r\"^SH\\d{10}$\")\n\n\n"
        "def parse_tracking_number(text):\n"
        "    \"\"\"The normalised tracking number, or None if it is not one.\"\"\"\n"
        "    cleaned = text.strip().upper().replace(\" \", \"\")\n"
        "    if not _NUMBER.match(cleaned):\n"
        "        return None\n"
        "    return cleaned\n"),
    "tests/__init__.py": "",
    "tests/test_rates.py": (
        "import unittest\n\nfrom shipit.rates import is_heavy, shipping_cost\n\n\n"
        "class RatesTest(unittest.TestCase):\n"
        "    def test_cost(self):\n        self.assertEqual(shipping_cost(2, \"domestic\"), 7.3)\n\n"
        "    def test_cost_world(self):\n        self.assertEqual(shipping_cost(0, \"world\"), 19.0)\n\n"
        "    def test_is_heavy(self):\n        self.assertTrue(is_heavy(25))\n        self.assertFalse(is_heavy(3))\n\n"
        "    def test_limit_is_heavy(self):\n        self.assertTrue(is_heavy(20))\n"),
    "tests/test_tracking.py": (
        "import unittest\n\nfrom shipit.tracking import parse_tracking_number\n\n\n"
        "class TrackingTest(unittest.TestCase):\n"
        "    def test_valid(self):\n        self.assertEqual(parse_tracking_number(\" sh 0123456789\"), \"SH0123456789\")\n\n"
        "    def test_invalid(self):\n        self.assertIsNone(parse_tracking_number(\"XX1\"))\n\n"
        "    def test_too_short(self):\n        self.assertIsNone(parse_tracking_number(\"SH123\"))\n"),
}

JS = {
    "README.md": "# notes-service\n\nA small HTTP service that stores notes. `npm test` runs the tests.\n",
    "package.json": json.dumps({"name": "notes-service", "version": "1.3.0", "type": "module",
                                "scripts": {"start": "node src/server.js", "test": "node --test test/"}}, indent=2) + "\n",
    "src/server.js": (
        "import http from 'node:http';\nimport { NoteStore } from './store.js';\nimport { checkToken } from './auth.js';\n"
        "import { validateNote } from './validate.js';\n\n"
        "const PORT = Number(process.env.PORT) || 8081;\nconst store = new NoteStore();\n\n"
        "const server = http.createServer((req, res) => {\n"
        "  if (!checkToken(req.headers.authorization)) {\n    res.writeHead(401).end();\n    return;\n  }\n"
        "  if (req.method === 'GET' && req.url.startsWith('/notes')) {\n"
        "    const q = new URL(req.url, 'http://x').searchParams.get('q') || '';\n"
        "    res.writeHead(200, { 'content-type': 'application/json' });\n"
        "    res.end(JSON.stringify(store.search(q)));\n    return;\n  }\n"
        "  res.writeHead(404).end();\n});\n\n"
        "server.listen(PORT, () => console.log(`notes on :${PORT}`));\n"),
    "src/store.js": (
        "import { slugify } from './slug.js';\n\nexport const MAX_NOTES = 500;\n\n"
        "export class NoteStore {\n  constructor() {\n    this.notes = new Map();\n  }\n\n"
        "  add(note) {\n    if (this.notes.size >= MAX_NOTES) throw new Error('store is full');\n"
        "    const id = slugify(note.title);\n    this.notes.set(id, { id, ...note });\n    return id;\n  }\n\n"
        "  get(id) {\n    return this.notes.get(id);\n  }\n\n"
        "  remove(id) {\n    return this.notes.delete(id);\n  }\n\n"
        "  search(query) {\n    const q = query.toLowerCase();\n"
        "    return [...this.notes.values()].filter((n) => n.title.toLowerCase().includes(q) || n.body.toLowerCase().includes(q));\n"
        "  }\n}\n"),
    "src/slug.js": (
        "// Note ids: lower-case words joined by dashes.\n"
        "export function slugify(title) {\n"
        "  return title.toLowerCase().trim().replace(/[^a-z0-9]+/g, '_').replace(/^-+|-+$/g, '');\n}\n"),
    "src/validate.js": (
        "export const MAX_BODY_LENGTH = 10000;\n\n"
        "export function validateNote(note) {\n  const errors = [];\n"
        "  if (!note.title) errors.push('title is required');\n"
        "  if ((note.body || '').length > MAX_BODY_LENGTH) errors.push('body is too long');\n"
        "  return errors;\n}\n"),
    "src/auth.js": (
        "export const TOKEN_TTL_MINUTES = 45;\nconst tokens = new Map();\n\n"
        "export function issueToken(user) {\n  const token = Math.random().toString(36).slice(2);\n"
        "  tokens.set(token, { user, expires: Date.now() + TOKEN_TTL_MINUTES * 60_000 });\n  return token;\n}\n\n"
        "export function checkToken(header) {\n  if (!header || !header.startsWith('Bearer ')) return false;\n"
        "  const entry = tokens.get(header.slice(7));\n  return Boolean(entry && entry.expires > Date.now());\n}\n"),
    "test/slug.test.js": (
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\nimport { slugify } from '../src/slug.js';\n\n"
        "test('slugify joins words with dashes', () => {\n  assert.equal(slugify('Hello  World!'), 'hello-world');\n});\n"),
    "test/store.test.js": (
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\nimport { NoteStore } from '../src/store.js';\n\n"
        "test('search finds by body', () => {\n  const s = new NoteStore();\n  s.add({ title: 'a', body: 'milk and eggs' });\n"
        "  assert.equal(s.search('EGGS').length, 1);\n});\n"),
    "test/validate.test.js": (
        "import test from 'node:test';\nimport assert from 'node:assert/strict';\nimport { validateNote } from '../src/validate.js';\n\n"
        "test('title is required', () => {\n  assert.deepEqual(validateNote({ body: 'x' }), ['title is required']);\n});\n"),
}

C = {
    "README.md": "# ringbuf\n\nA fixed-size ring buffer of ints, in C. `make` builds the demo, `make test` runs the tests.\n",
    "Makefile": (
        "CC = gcc\nCFLAGS = -Wall -Wextra -O2 -Iinclude\n\n"
        "all: ringbuf_demo\n\n"
        "ringbuf_demo: src/main.c src/ring.c src/log.c\n\t$(CC) $(CFLAGS) -o $@ $^\n\n"
        "tests/test_ring: tests/test_ring.c src/ring.c src/log.c\n\t$(CC) $(CFLAGS) -o $@ $^\n\n"
        "test: tests/test_ring\n\t./tests/test_ring\n\n"
        "clean:\n\trm -f ringbuf_demo tests/test_ring\n\n.PHONY: all test clean\n"),
    "include/ring.h": (
        "#ifndef RING_H\n#define RING_H\n\n#include <stddef.h>\n\n#define RING_DEFAULT_CAPACITY 64\n\n"
        "typedef struct ring {\n    int *items;\n    size_t capacity;\n    size_t head;\n    size_t len;\n} ring;\n\n"
        "ring *ring_new(size_t capacity);\nvoid ring_free(ring *r);\n"
        "/* Appends value; returns 0, or -1 when the ring is full. */\nint ring_push(ring *r, int value);\n"
        "/* Removes the oldest value into *out; returns 0, or -1 when empty. */\nint ring_pop(ring *r, int *out);\n"
        "size_t ring_len(const ring *r);\nint ring_is_full(const ring *r);\n\n#endif\n"),
    "include/log.h": "#ifndef LOG_H\n#define LOG_H\n\nvoid log_msg(int level, const char *fmt, ...);\n\n#endif\n",
    "src/ring.c": (
        "#include <stdlib.h>\n#include \"ring.h\"\n#include \"log.h\"\n\n"
        "ring *ring_new(size_t capacity) {\n    ring *r = calloc(1, sizeof *r);\n    if (!r) return NULL;\n"
        "    r->capacity = capacity ? capacity : RING_DEFAULT_CAPACITY;\n    r->items = calloc(r->capacity, sizeof(int));\n"
        "    if (!r->items) {\n        free(r);\n        return NULL;\n    }\n    return r;\n}\n\n"
        "void ring_free(ring *r) {\n    if (!r) return;\n    free(r->items);\n    free(r);\n}\n\n"
        "size_t ring_len(const ring *r) { return r->len; }\n\n"
        "int ring_is_full(const ring *r) { return r->len > r->capacity; }\n\n"
        "int ring_push(ring *r, int value) {\n    if (ring_is_full(r)) {\n        log_msg(1, \"ring full, dropping %d\", value);\n"
        "        return -1;\n    }\n    r->items[(r->head + r->len) % r->capacity] = value;\n    r->len++;\n    return 0;\n}\n\n"
        "int ring_pop(ring *r, int *out) {\n    if (r->len == 0) return -1;\n    *out = r->items[r->head];\n"
        "    r->head = (r->head + 1) % r->capacity;\n    r->len--;\n    return 0;\n}\n"),
    "src/log.c": (
        "#include <stdarg.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include \"log.h\"\n\n"
        "static int threshold(void) {\n    const char *v = getenv(\"RING_LOG_LEVEL\");\n    return v ? atoi(v) : 2;\n}\n\n"
        "void log_msg(int level, const char *fmt, ...) {\n    if (level > threshold()) return;\n"
        "    va_list ap;\n    va_start(ap, fmt);\n    vfprintf(stderr, fmt, ap);\n    va_end(ap);\n    fputc('\\n', stderr);\n}\n"),
    "src/main.c": (
        "#include <stdio.h>\n#include \"ring.h\"\n\n"
        "int main(void) {\n    ring *r = ring_new(4);\n    for (int i = 1; i <= 6; i++) ring_push(r, i * 10);\n"
        "    int v, sum = 0;\n    while (ring_pop(r, &v) == 0) sum += v;\n"
        "    printf(\"sum of kept values: %d\\n\", sum);\n    ring_free(r);\n    return 0;\n}\n"),
    "tests/test_ring.c": (
        "#include <assert.h>\n#include <stdio.h>\n#include \"ring.h\"\n\n"
        "int main(void) {\n    ring *r = ring_new(2);\n    assert(ring_push(r, 1) == 0);\n    assert(ring_push(r, 2) == 0);\n"
        "    assert(ring_is_full(r));\n    assert(ring_push(r, 3) == -1);\n    int v;\n"
        "    assert(ring_pop(r, &v) == 0 && v == 1);\n    assert(ring_len(r) == 1);\n    ring_free(r);\n"
        "    puts(\"all ring tests passed\");\n    return 0;\n}\n"),
}

REPOS = {"python": (PY, "Add tracking number validation"), "js": (JS, "Search notes by body too"),
         "c": (C, "Log dropped values")}


# --- checks -------------------------------------------------------------------

def says(*alternatives):
    """The answer contains, for some alternative, all of its words (case-insensitive; a word may be a regex)."""
    def check(answer, _repo):
        a = answer.lower()
        return any(all(re.search(w.lower(), a) for w in alt.split("&")) for alt in alternatives)
    return check


def runs(cmd, expect_out=None):
    """A command run in the repository afterwards exits 0 (and prints `expect_out`)."""
    def check(_answer, repo):
        p = subprocess.run(cmd, shell=True, cwd=repo, capture_output=True, text=True, timeout=120)
        return p.returncode == 0 and (expect_out is None or expect_out in p.stdout)
    return check


def both(*checks):
    return lambda answer, repo: all(c(answer, repo) for c in checks)


PY_TESTS = "python3 -m unittest discover tests"
JS_IMPORT = "node --input-type=module -e \"{}\""

TASKS = [
    # (repository, kind, request, check)
    ("python", "question", "Where is the retry limit set?", says("config.py&max_retries", "config.py&\\b4\\b")),
    ("python", "question", "Which function formats the dates?", says("format_eta")),
    ("python", "question", "How many modules does the shipit package have?", says("\\b6\\b", "\\bsix\\b", "\\b5\\b", "\\bfive\\b")),
    ("python", "fix", "test_limit_is_heavy fails because of a wrong operator, fix it.", runs(PY_TESTS)),
    ("python", "question", "What version is this package?", says("0\\.4\\.2")),
    ("python", "command", "Run the tests and tell me how many pass.", says("\\b5\\b&pass", "\\b5 (tests )?(pass|ok)", "\\b7\\b&\\b2\\b")),
    ("python", "edit", "Change the default timeout to 60 seconds.",
     runs("python3 -c 'import shipit.config as c; assert c.DEFAULT_TIMEOUT == 60'")),
    ("python", "question", "What does parse_tracking_number return when the number is invalid?", says("none")),
    ("python", "edit", "Add a function zone_names() to the rates module that returns the zone names, sorted.",
     runs("python3 -c 'from shipit.rates import zone_names; assert zone_names() == [\"domestic\", \"europe\", \"world\"]'")),
    ("python", "question", "Which URL does the API client talk to?", says("api\\.shipit\\.example/v2")),
    ("python", "command", "What was the last commit message?", says("tracking number validation")),

    ("js", "question", "What port does the server listen on by default?", says("8081")),
    ("js", "question", "Where are the auth tokens checked?", says("auth\\.js", "checktoken")),
    ("js", "question", "How long does a token stay valid?", says("45")),
    ("js", "fix", "npm test fails on the slug test. Fix the code, not the test.",
     both(runs("node --test test/"), runs("git diff --quiet -- test/"))),
    ("js", "question", "Which function searches the notes?", says("search")),
    ("js", "question", "What is the maximum length of a note body?", says("10,?000")),
    ("js", "edit", "Raise the note limit from 500 to 1000.",
     runs(JS_IMPORT.format("import {MAX_NOTES} from './src/store.js'; if (MAX_NOTES !== 1000) process.exit(1)"))),
    ("js", "command", "Run the tests and tell me which one fails.", says("slug")),
    ("js", "question", "Which file creates the NoteStore?", says("server\\.js")),
    ("js", "edit", "Add a count() method to NoteStore that returns how many notes it holds.",
     runs(JS_IMPORT.format("import {NoteStore} from './src/store.js'; const s = new NoteStore(); "
                           "s.add({title: 'a', body: ''}); s.add({title: 'b', body: ''}); if (s.count() !== 2) process.exit(1)"))),
    ("js", "question", "How many test files are there?", says("\\b3\\b", "three")),

    ("c", "question", "What is the default capacity of the ring buffer?", says("\\b64\\b")),
    ("c", "question", "Which function removes an element from the ring?", says("ring_pop")),
    ("c", "fix", "make test fails. Fix the bug in the code, not the test.",
     both(runs("make -s test", "all ring tests passed"), runs("git diff --quiet -- tests/"))),
    ("c", "command", "How many lines does src/ring.c have?", says("\\b43\\b")),
    ("c", "question", "Which environment variable sets the log level?", says("ring_log_level")),
    ("c", "edit", "Change the default capacity to 128.",
     runs("grep -q 'define RING_DEFAULT_CAPACITY 128' include/ring.h")),
    ("c", "question", "Which header declares ring_push?", says("ring\\.h")),
    ("c", "question", "What does ring_push return when the buffer is full?", says("-1")),
    ("c", "question", "What compiler flags does the Makefile use?", says("-wall&-o2")),
    ("c", "edit", "Add a ring_clear function that empties the ring, and declare it in the header.",
     runs("printf '#include \"ring.h\"\\nint main(void){ring *r=ring_new(2);ring_push(r,1);ring_clear(r);"
          "return ring_len(r)!=0;}' > /tmp/tern_clear_$$.c && gcc -Iinclude -o /tmp/tern_clear_$$ /tmp/tern_clear_$$.c "
          "src/ring.c src/log.c && /tmp/tern_clear_$$")),
    ("c", "command", "Build the demo and tell me what it prints.", says("\\b190\\b")),
]


# --- running ------------------------------------------------------------------

def make_repo(path, name):
    files, message = REPOS[name]
    for rel, text in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    git = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    env = dict(os.environ, **FIXED_DATES)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(git + ["add", "-A"], cwd=path, check=True)
    subprocess.run(git + ["commit", "-qm", "Initial version"], cwd=path, check=True, env=env)
    # A last commit with a message to ask about.
    with open(os.path.join(path, ".gitignore"), "w") as f:
        f.write("*.o\nringbuf_demo\ntests/test_ring\n__pycache__/\nnode_modules/\n")
    subprocess.run(git + ["add", "-A"], cwd=path, check=True)
    subprocess.run(git + ["commit", "-qm", message], cwd=path, check=True, env=env)


# Each task runs in the same directory, and commits carry fixed dates, so
# the model's prompts (paths in test output, commit hashes) are the same from
# run to run: a task's result then changes with tern, not with a random name.
# One benchmark at a time, then.
TASK_DIR = os.path.join(tempfile.gettempdir(), "tern-local-tasks")
FIXED_DATES = {"GIT_AUTHOR_DATE": "2026-01-01T12:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T12:00:00Z"}


class task_dir:
    """TASK_DIR, made empty; removed afterwards."""

    def __enter__(self):
        shutil.rmtree(TASK_DIR, ignore_errors=True)
        os.makedirs(TASK_DIR)
        return TASK_DIR

    def __exit__(self, *exc):
        shutil.rmtree(TASK_DIR, ignore_errors=True)


def run_task(tern, model, home, task):
    name, kind, prompt, check = task
    with task_dir() as tmp:
        repo = os.path.join(tmp, name)
        os.makedirs(repo)
        make_repo(repo, name)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "OPENAI_BASE_URL"}
        env.update(TERN_HOME=home, HOME=os.path.join(tmp, "home"), XDG_CONFIG_HOME=os.path.join(tmp, "config"))
        argv = [tern, "exec", "--json", "--full-auto", "-m", model, prompt]
        start = time.monotonic()
        answer, failure, summary = "", None, {}
        lines, first_call = [], None
        p = subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        timer = threading.Timer(TIMEOUT_S, p.kill)
        timer.start()
        try:
            # Read as it streams, to time the first tool call (the map and
            # the request are evaluated before it).
            for line in p.stdout:
                lines.append(line)
                if first_call is None and '"item.started"' in line:
                    first_call = time.monotonic() - start
            p.wait()
        finally:
            timer.cancel()
            if p.poll() is None:
                p.kill()
                p.wait()
        if time.monotonic() - start >= TIMEOUT_S:
            failure = f"timed out after {TIMEOUT_S} s"
        wall = time.monotonic() - start
        tools, calls, results = [], [], []
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            item = ev.get("item", {})
            if ev.get("type") == "item.completed" and item.get("type") == "agent_message":
                answer = item.get("text", "")
            elif ev.get("type") == "item.started" and item.get("type") in ("tool_call", "command_execution"):
                tools.append(item.get("tool") or "exec_command")
                calls.append(item.get("arguments") or {"cmd": item.get("command")})
            elif ev.get("type") == "item.completed" and item.get("type") in ("tool_call", "command_execution"):
                results.append((item.get("output") or item.get("aggregated_output") or "")[:300])
            elif ev.get("type") == "turn.completed":
                summary = ev
            elif ev.get("type") == "turn.failed":
                failure = failure or ev.get("error", {}).get("message", "failed")
        passed = failure is None and check(answer, repo)
        usage = summary.get("usage", {})
        return {"repo": name, "kind": kind, "task": prompt, "passed": passed, "wall_s": round(wall, 2),
                "first_call_s": first_call and round(first_call, 2),
                "model_calls": summary.get("model_calls"), "tool_calls": summary.get("tool_calls", len(tools)),
                "input_tokens": usage.get("input_tokens"), "output_tokens": usage.get("output_tokens"),
                "tools": tools, "calls": calls, "results": results, "answer": answer, "failure": failure}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="1.5b")
    ap.add_argument("--only", default="", help="run only tasks whose request or repository contains this")
    ap.add_argument("--kind", default="", help="run only tasks of these kinds (comma-separated: question,edit,fix,command)")
    ap.add_argument("--tern", default=os.path.join(ROOT, "target/release/tern"))
    ap.add_argument("--out", help="write every result as JSON here")
    args = ap.parse_args()
    for tool in ("node", "gcc", "make", "git"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: the repositories' own checks run with it")
    data = os.environ.get("TERN_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "tern")
    tasks = [t for t in TASKS if (args.only in t[2] or args.only == t[0])
             and (not args.kind or t[1] in args.kind.split(","))]
    report = {}
    for size in args.models.split(","):
        model = f"qwen2.5-coder-{size}"
        path = os.path.join(data, "models", model + ".gguf")
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run scripts/fetch-model {size}")
        with tempfile.TemporaryDirectory() as home:
            os.makedirs(os.path.join(home, "models"))
            os.symlink(path, os.path.join(home, "models", model + ".gguf"))
            # Every session starts from the saved prompt prefix, as after the setup step.
            subprocess.run([args.tern, "models", "--prepare", "-m", model], cwd=home, check=True,
                           env={**os.environ, "TERN_HOME": home}, stdout=subprocess.DEVNULL)
            print(f"== {model}")
            results = []
            for task in tasks:
                r = run_task(args.tern, model, home, task)
                results.append(r)
                mark = "✓" if r["passed"] else "✗"
                why = "" if r["passed"] else f"  ← {r['failure'] or repr(r['answer'][:90])}"
                print(f"  {mark} [{r['repo']:6} {r['kind']:8}] {r['task'][:58]:58} {r['wall_s']:6.1f} s "
                      f"{r['model_calls'] or 0:2} model {r['tool_calls'] or 0:2} tools "
                      f"{r['input_tokens'] or 0:6} in {r['output_tokens'] or 0:5} out  {' '.join(r['tools'])[:60]}{why}",
                      flush=True)
            n, ok = len(results), sum(r["passed"] for r in results)
            walls = sorted(r["wall_s"] for r in results)
            kinds = {}
            for r in results:
                k = kinds.setdefault(r["kind"], [0, 0])
                k[0] += r["passed"]
                k[1] += 1
            firsts = sorted(r["first_call_s"] for r in results if r["first_call_s"] is not None)
            print(f"{model}: {ok}/{n} passed ({100 * ok / n:.0f} %); median wall {walls[n // 2]:.1f} s, "
                  f"median time to the first tool call {firsts[len(firsts) // 2] if firsts else 0:.1f} s, "
                  f"total {sum(walls):.0f} s; model calls {sum(r['model_calls'] or 0 for r in results)}, "
                  f"tool calls {sum(r['tool_calls'] or 0 for r in results)}, input tokens "
                  f"{sum(r['input_tokens'] or 0 for r in results)}, output tokens "
                  f"{sum(r['output_tokens'] or 0 for r in results)}")
            print("  by kind: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(kinds.items())))
            report[model] = results
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()

"""What signal-driven decisions add to a whole request in the gateway, measured through the server.

Two `pointsman serve` processes on the same fast local upstream (pointsman.testing.upstreams), side by side in
one run:
  rules-off  static profiles, no rules (what issue 3's gateway does)
  rules-on   a realistic rule set: 10 decisions over 6 signals (a learned jailbreak classifier and embedding
             similarity to example utterances sharing one request embedding, keywords, language, PII,
             prompt tokens), with guards (block, redact, divert)
Both log decisions to SQLite. A client sends one request at a time (concurrency 1, one keep-alive
connection) with a different real prompt each time (CLINC150, Banking77 and LLMRouter prompts: short customer
queries to long task prompts), so no signal result comes from a cache; both gateways get the same prompts.
For each request it records the wall time and the CPU time the gateway's threads ran (/proc schedstat, in
nanoseconds). The decision overhead is the difference of the two gateways' p50 wall times; the difference of
their p50 CPU times is what it would be on an otherwise idle core (on a shared machine the wall time also
holds the time the gateway waited for its core). Target (issue 4): p50 <= 4 ms on one core. Exits 1 when the
wall-time p50 overhead misses it.

How it runs on 2 cores: each gateway pinned to core 0 and paused (SIGSTOP) while the other is measured; the
upstream and the client on core 1; as root at nice -10 ($POINTSMAN_BENCH_NICE). Runs alternate and repeat
(--repeats); figures are medians over runs.

    python benchmarks/decision_overhead.py [--requests 300] [--repeats 5] [--engine uvicorn]

Needs taskset. The built-in jailbreak classifier is trained first if it is not cached (minutes, once).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from gateway_overhead import (
    GATEWAY_CORE,
    LOAD_CORE,
    NICE,
    free_port,
    pinned,
    process,
    upstream,
    wait_http,
)

TARGET_P50_MS = 4.0

SIGNALS = {
    "safety": {"type": "jailbreak", "threshold": 0.5},
    "intent": {
        "type": "routes",
        "threshold": 0.55,
        "routes": {
            "billing": {
                "utterances": [
                    "I was charged twice",
                    "why is there a fee on my statement",
                    "I want a refund for this payment",
                    "my invoice is wrong",
                ]
            },
            "cards": {
                "utterances": ["my card was declined", "I lost my credit card", "activate my new card"]
            },
            "coding": {
                "utterances": [
                    "write a python function",
                    "fix this bug in my code",
                    "why does my program crash",
                ]
            },
            "math": {
                "utterances": [
                    "solve this equation",
                    "what is the derivative of x squared",
                    "how many apples are left",
                ]
            },
            "small_talk": {"utterances": ["hello", "how are you", "tell me a joke", "thanks a lot"]},
        },
    },
    "topics": {
        "type": "keywords",
        "sets": {
            "code": ["python", "javascript", "stack trace", "compile", "function", "regex", "sql"],
            "legal": ["contract", "lawsuit", "liability", "attorney"],
            "medical": ["diagnosis", "symptom", "dosage", "prescription"],
        },
    },
}
RULES = [
    {
        "name": "block-attacks",
        "priority": 100,
        "when": "safety in [jailbreak, injection]",
        "block": "jailbreak_blocked",
    },
    {"name": "block-harmful", "priority": 95, "when": "safety == harmful", "block": "content_blocked"},
    {
        "name": "other-language",
        "priority": 80,
        "when": {"all": ["language != en", "language.confidence >= 0.7"]},
        "divert": "multilingual",
    },
    {"name": "long-context", "priority": 70, "when": "prompt_tokens > 3000", "profile": "long"},
    {"name": "private", "priority": 60, "when": "pii", "redact": {"only_untrusted": True}},
    {
        "name": "code",
        "priority": 50,
        "when": {"any": ["topics contains code", "intent == coding"]},
        "profile": "coder",
    },
    {"name": "math", "priority": 40, "when": "intent == math", "profile": "reasoning"},
    {"name": "support", "priority": 30, "when": "intent in [billing, cards]", "profile": "support"},
    {"name": "careful", "priority": 20, "when": "topics contains [legal, medical]", "profile": "careful"},
    {
        "name": "small-talk",
        "priority": 10,
        "when": {"all": ["prompt_tokens < 20", "intent == small_talk"]},
        "profile": "cheap",
    },
]
PROFILES = ["general", "multilingual", "long", "coder", "reasoning", "support", "careful", "cheap"]


def config(up: str, port: int, workdir: Path, engine: str, rules: bool) -> Path:
    backends = [
        {
            "name": f"m{i}",
            "kind": "openai",
            "base_url": f"{up}/v1",
            "model": "test-model",
            "trusted": i % 2 == 0,
            "input_price": 0.1 * (i + 1),
            "output_price": 0.4 * (i + 1),
        }
        for i in range(4)
    ]
    doc = {
        "server": {"host": "127.0.0.1", "port": port, "engine": engine},
        "backends": backends,
        "profiles": [
            {"name": p, "candidates": [f"m{(i + j) % 4}" for j in range(2)]} for i, p in enumerate(PROFILES)
        ],
        "store": {"kind": "sqlite", "path": str(workdir / f"decisions-{'on' if rules else 'off'}.db")},
    }
    if rules:
        doc |= {"signals": SIGNALS, "rules": RULES}
    path = workdir / f"rules-{'on' if rules else 'off'}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def prompts(seed: int) -> list[str]:
    from pointsman.data import guard_sets as gs

    pool = gs.load_clinc("test") + gs.load_banking77("test") + gs.load_llmrouter_prompts()
    texts = list(dict.fromkeys(t for t in pool.texts if t.strip()))
    random.Random(seed).shuffle(texts)
    return texts


def task_ids(pid: int) -> list[tuple[int, int]]:
    """(pid, tid) of every thread of `pid` and its descendants (granian serves from a child process)."""
    out, pids = [], [pid]
    while pids:
        p = pids.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in Path(f"/proc/{p}/task").iterdir():
                out.append((p, int(task.name)))
                pids.extend(int(c) for c in (task / "children").read_text().split())
    return out


def cpu_ns(tasks: list[tuple[int, int]]) -> int:
    """Nanoseconds the threads have run on a CPU (/proc/.../schedstat): precise enough for one request."""
    total = 0
    for pid, tid in tasks:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total


def measure(port: int, pid: int, texts: list[str]) -> dict[str, list]:
    """Each text once, one at a time: wall ms, the gateway's CPU ms, and the status, per request."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    tasks = task_ids(pid)  # the signal threads exist after the warm-up
    wall, cpu, status = [], [], []
    for text in texts:
        body = json.dumps(
            {"model": "auto", "messages": [{"role": "user", "content": text}], "max_tokens": 16}
        )
        c0, t0 = cpu_ns(tasks), time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((cpu_ns(tasks) - c0) / 1e6)
        status.append(response.status)
    conn.close()
    return {"wall": wall, "cpu": cpu, "status": status}


def decisions(db: Path) -> dict[str, int]:
    import sqlite3

    time.sleep(0.7)  # the log's writer flushes every 0.5 s
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT decision, count(*) FROM decisions GROUP BY decision ORDER BY 2 DESC"))


def pause(proc: subprocess.Popen, running: bool) -> None:
    os.killpg(proc.pid, signal.SIGCONT if running else signal.SIGSTOP)
    if running:
        time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="requests per run (each a new prompt)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per gateway (alternating)")
    ap.add_argument("--engine", default="uvicorn", choices=["granian", "uvicorn"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from pointsman.signals.classifiers.store import ensure_trained

    print(f"jailbreak classifier: {ensure_trained('jailbreak', progress=True)}", flush=True)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(LOAD_CORE)})  # the client shares core 1 with the upstream
    texts = prompts(args.seed)[: args.requests * (args.repeats + 1)]
    words = sorted(len(t.split()) for t in texts)
    print(
        f"prompts: {len(texts)} distinct, words p50 {words[len(words) // 2]}, "
        f"p90 {words[int(len(words) * 0.9)]}"
    )
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {"rules-off": [], "rules-on": []}
    with tempfile.TemporaryDirectory(prefix="pointsman-decisions-") as tmp, upstream() as up:
        workdir = Path(tmp)
        gateways = {}
        with contextlib.ExitStack() as stack:
            for name, rules in (("rules-off", False), ("rules-on", True)):
                port = free_port()
                exe = str(Path(sys.executable).parent / "pointsman")
                cmd = pinned(
                    GATEWAY_CORE,
                    [exe, "serve", "--config", str(config(up, port, workdir, args.engine, rules))],
                )
                proc = stack.enter_context(process(cmd, log=workdir / f"{name}.log"))
                wait_http(f"http://127.0.0.1:{port}/ready", 180, proc, f"pointsman ({name})")
                gateways[name] = (proc, port)
                pause(proc, False)
            warm = texts[: args.requests]  # first requests pay for lazy imports and first runs
            for proc, port in gateways.values():
                pause(proc, True)
                measure(port, proc.pid, warm[:100])
                pause(proc, False)
            for r in range(args.repeats):
                batch = texts[(r + 1) * args.requests : (r + 2) * args.requests]
                order = list(gateways.items()) if r % 2 == 0 else list(gateways.items())[::-1]
                for name, (proc, port) in order:
                    pause(proc, True)
                    results[name].append(measure(port, proc.pid, batch))
                    pause(proc, False)
                    run = results[name][-1]
                    print(
                        f"run {r + 1}/{args.repeats} {name}: p50 {statistics.median(run['wall']):.2f} ms, "
                        f"CPU p50 {statistics.median(run['cpu']):.2f} ms",
                        flush=True,
                    )
            for proc, _ in gateways.values():
                pause(proc, True)
        hits = decisions(workdir / "decisions-on.db")
    return report(results, hits, args, load_before)


def report(
    results: dict[str, list[dict]], hits: dict[str, int], args: argparse.Namespace, load_before
) -> int:
    def med(name: str, key: str, q: float = 0.5) -> float:
        return statistics.median(sorted(run[key])[int(q * (len(run[key]) - 1))] for run in results[name])

    print(
        f"\nengine {args.engine}; gateways pinned to core {GATEWAY_CORE}, upstream and client to core "
        f"{LOAD_CORE}; nice {NICE if os.geteuid() == 0 else 0}; {args.repeats} alternating runs of "
        f"{args.requests} requests, "
        f"concurrency 1; load average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<12}{'p50 ms':>9}{'p99 ms':>9}{'CPU p50':>9}{'CPU p90':>9}{'blocked':>9}")
    for name, runs in results.items():
        blocked = sum(s in (400, 403) for run in runs for s in run["status"]) / sum(
            len(r["status"]) for r in runs
        )
        print(
            f"{name:<12}{med(name, 'wall'):>9.2f}{med(name, 'wall', 0.99):>9.2f}{med(name, 'cpu'):>9.2f}"
            f"{med(name, 'cpu', 0.9):>9.2f}{blocked:>9.1%}"
        )
    total = sum(hits.values()) or 1
    print("rules-on decisions: " + ", ".join(f"{k} {v / total:.1%}" for k, v in hits.items()))
    overhead = med("rules-on", "wall") - med("rules-off", "wall")
    cpu = med("rules-on", "cpu") - med("rules-off", "cpu")
    print(
        f"decision overhead, p50 wall (rules-on - rules-off): {overhead:.2f} ms; "
        f"target <= {TARGET_P50_MS:g} ms"
    )
    print(
        f"decision overhead, p50 CPU on one core: {cpu:.2f} ms (the wall overhead on an otherwise idle core)"
    )
    met = overhead <= TARGET_P50_MS
    print("target met" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

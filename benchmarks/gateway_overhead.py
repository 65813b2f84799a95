"""What pointsman's gateway adds on top of an upstream, next to the LiteLLM proxy, in one run.

One fast local upstream (pointsman.testing.upstreams, its own process). Three targets, all on that upstream:
  direct     wrk -> upstream
  pointsman  wrk -> `pointsman serve` (rules-only profile: a keyword rule, static order, SQLite decision log)
  litellm    wrk -> LiteLLM proxy (one worker, no database), from its own venv (never a project dependency)
For each: latency at concurrency 1 (p50, p99) and requests/s at 32 connections, non-streaming and streaming.
Targets: pointsman adds <= 0.5 ms at p50 (concurrency 1) and serves >= 20x LiteLLM's requests/s at 32
connections. Exits 1 when one is missed.

The rest of the API surface, side by side in the same runs: `messages` (Anthropic's POST /v1/messages into
pointsman, translated to the same OpenAI upstream; its baseline is `direct`) and `embeddings` (POST
/v1/embeddings, baseline `direct-embed`, the upstream's own /v1/embeddings; non-streaming only). Target: each
adds a p50 within 0.1 ms of what pointsman adds to chat completions. `--no-litellm` leaves LiteLLM out (and
its ratio target unchecked).

How it runs on 2 cores: the gateway under test (pointsman or LiteLLM) alone on core 0; the upstream and wrk on
core 1 (LiteLLM is paused with SIGSTOP while it is not measured); as root, all of them at nice -10
($POINTSMAN_BENCH_NICE) so other work on a shared machine disturbs them less. Runs interleave targets and
repeat (--repeats), figures are medians. Each 32-connection run also reads the
gateway's CPU time from /proc, so "CPU per request" stays comparable when other work shares the machine.

    python benchmarks/gateway_overhead.py [--duration 3] [--repeats 3] [--json out.json]

Needs wrk (`apt-get install -y wrk`) and taskset. LiteLLM is installed on first use into
~/.cache/pointsman/litellm-venv (or $POINTSMAN_LITELLM_VENV) with `pip install 'litellm[proxy]'`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

GATEWAY_CORE, LOAD_CORE = "0", "1"
NICE = int(os.environ.get("POINTSMAN_BENCH_NICE", "-10"))
TARGET_P50_MS = 0.5
TARGET_RPS_RATIO = 20.0
TARGET_SURFACE_MS = 0.1  # /v1/messages and /v1/embeddings: added p50 at most this much above chat's
# Target -> (its baseline, the API its body speaks). Chat targets first: the others are compared to them.
APIS = {
    "direct": ("direct", "chat"),
    "pointsman": ("direct", "chat"),
    "litellm": ("direct", "chat"),
    "messages": ("direct", "messages"),
    "direct-embed": ("direct-embed", "embeddings"),
    "embeddings": ("direct-embed", "embeddings"),
}
PROMPT = [{"role": "user", "content": "Say hello in five words, please."}]
LITELLM_VENV = Path(os.environ.get("POINTSMAN_LITELLM_VENV", Path.home() / ".cache/pointsman/litellm-venv"))


@dataclass
class Run:
    p50_ms: float
    p99_ms: float
    rps: float
    cpu_ms_per_request: float | None = None
    inside: tuple[float, float] | None = None  # pointsman's own p50 (ms): arrival -> upstream answer, -> done


def handler_times(db: Path, start: float, end: float) -> tuple[float, float] | None:
    """p50 of the decision log's first_byte_s and total_s for requests that arrived in [start, end]: how much
    of the latency wrk sees is spent in pointsman's handler (the rest: HTTP server, kernel, scheduling)."""
    import sqlite3

    time.sleep(0.7)  # the log's writer flushes every 0.5 s
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT first_byte_s, total_s FROM decisions WHERE time BETWEEN ? AND ? AND status = 200",
            (start, end),
        ).fetchall()
    if not rows:
        return None
    return (statistics.median(r[0] for r in rows) * 1e3, statistics.median(r[1] for r in rows) * 1e3)


# -- processes -----------------------------------------------------------------------------------------


def pinned(core: str, cmd: list[str]) -> list[str]:
    """`cmd` on one core, and (as root) at raised priority, so neighbours on a shared machine disturb the
    measured processes (gateway, upstream, wrk) less; LiteLLM gets exactly the same treatment."""
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", core, *cmd]
    if os.geteuid() == 0 and NICE:
        cmd = ["nice", "-n", str(NICE), *cmd]
    return cmd


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not come up at {url} within {timeout} s")


@contextlib.contextmanager
def process(cmd: list[str], *, env: dict | None = None, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def upstream() -> Iterator[str]:
    cmd = pinned(LOAD_CORE, [sys.executable, "-m", "pointsman.testing.upstreams", "--port", "0"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"upstream did not start: {line!r}")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def pointsman_config(up: str, port: int, workdir: Path, engine: str) -> Path:
    path = workdir / "pointsman.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}, engine: {engine}}}
backends:
  - {{name: fast, kind: openai, base_url: "{up}/v1", model: test-model, input_price: 0.1, output_price: 0.4}}
  - {{name: careful, kind: openai, base_url: "{up}/v1", model: test-model,
      input_price: 1.0, output_price: 4.0}}
profiles:
  - {{name: default, candidates: [fast, careful]}}
  - {{name: careful-first, candidates: [careful, fast]}}
rules:
  - {{name: hard, when: {{keywords: [prove, derive, step by step]}}, profile: careful-first}}
store: {{kind: sqlite, path: {workdir / "decisions.db"}}}
""")
    return path


def ensure_litellm() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    print(f"installing litellm[proxy] into {LITELLM_VENV} (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return exe


def litellm_config(up: str, workdir: Path) -> Path:
    path = workdir / "litellm.yaml"
    path.write_text(f"""
model_list:
  - model_name: test-model
    litellm_params: {{model: openai/test-model, api_base: "{up}/v1", api_key: unused}}
litellm_settings: {{drop_params: true, set_verbose: false}}
""")
    return path


def only(litellm_pid: int, running: str | None) -> None:
    """SIGSTOP LiteLLM unless it is being measured: idle, it still spends CPU on core 0 (background loops),
    which would be taken from pointsman's measurements. (pointsman idles at ~0 CPU and is never paused.)"""
    os.killpg(litellm_pid, signal.SIGCONT if running == "litellm" else signal.SIGSTOP)
    if running == "litellm":
        time.sleep(0.2)


# -- load ----------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def lua_script(workdir: Path, model: str, stream: bool, api: str = "chat") -> Path:
    fields = {"model": model, "messages": PROMPT, "max_tokens": 16, "stream": stream}
    if api == "embeddings":
        fields = {"model": model, "input": PROMPT[0]["content"]}
    body = json.dumps(fields)
    path = workdir / f"post-{model}-{stream}-{api}.lua"
    path.write_text(
        f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n"
        "wrk.headers['Content-Type'] = 'application/json'\n"
    )
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its children (LiteLLM may fork)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                pids.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def wrk(url: str, script: Path, connections: int, duration: float, pid: int | None = None) -> Run:
    cmd = pinned(
        LOAD_CORE,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
    )
    cpu0 = cpu_seconds(pid) if pid else 0.0
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed against {url}: {run.stderr or run.stdout}")
    out = run.stdout
    cpu = cpu_seconds(pid) - cpu0 if pid else None
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if bad or (errors and any(int(g) for g in errors.groups())):
        raise RuntimeError(f"failed requests against {url}:\n{out}")
    pct = {
        m[0]: float(m[1]) * _UNITS[m[2]]
        for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    per_request = cpu / (rps * duration) * 1e3 if cpu is not None and rps else None
    return Run(pct["50"], pct["99"], rps, per_request)


# -- the run -------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; medians are reported")
    ap.add_argument("--json", type=Path, help="write all figures here")
    ap.add_argument(
        "--no-litellm", action="store_true", help="leave LiteLLM out (its ratio is then unchecked)"
    )
    ap.add_argument(
        "--engine",
        choices=["granian", "uvicorn"],
        default="uvicorn",
        help="pointsman's HTTP server (default: serve's)",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    litellm = None if args.no_litellm else ensure_litellm()
    pointsman = Path(sys.executable).parent / "pointsman"
    results: dict[tuple[str, bool, str], list[Run]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, upstream() as up:
        work = Path(tmp)
        pm_port, ll_port = free_port(), free_port()
        pm_cmd = pinned(
            GATEWAY_CORE,
            [str(pointsman), "serve", "--config", str(pointsman_config(up, pm_port, work, args.engine))],
        )
        ll_cmd = pinned(
            GATEWAY_CORE,
            [
                str(litellm),
                "--config",
                str(litellm_config(up, work)),
                "--host",
                "127.0.0.1",
                "--port",
                str(ll_port),
                "--num_workers",
                "1",
            ],
        )
        ll_env = {
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
        }
        with contextlib.ExitStack() as stack:
            pm = stack.enter_context(process(pm_cmd, log=work / "pointsman.log"))
            ll = (
                None
                if litellm is None
                else stack.enter_context(process(ll_cmd, env=ll_env, log=work / "litellm.log"))
            )
            wait_http(f"http://127.0.0.1:{pm_port}/ready", 60, pm, "pointsman")
            if ll is not None:
                wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", 180, ll, "litellm")
            gateway = f"http://127.0.0.1:{pm_port}/v1"
            targets = {
                "direct": (f"{up}/v1/chat/completions", "test-model", None),
                "pointsman": (f"{gateway}/chat/completions", "auto", pm.pid),
                "messages": (f"{gateway}/messages", "auto", pm.pid),
                "direct-embed": (f"{up}/v1/embeddings", "test-model", None),
                "embeddings": (f"{gateway}/embeddings", "auto", pm.pid),
            }
            if ll is not None:
                targets["litellm"] = (f"http://127.0.0.1:{ll_port}/v1/chat/completions", "test-model", ll.pid)

            def runs(stream: bool) -> Iterator[tuple[str, str, str, int | None, Path]]:
                for name, (url, model, pid) in targets.items():
                    api = APIS[name][1]
                    if not (stream and api == "embeddings"):
                        yield name, url, model, pid, lua_script(work, model, stream, api)

            for stream in (False, True):  # warm up: connection pools, caches
                for _, url, _, _, script in runs(stream):
                    wrk(url, script, 8, 1.0)
            pause = (lambda running: only(ll.pid, running)) if ll is not None else (lambda running: None)
            pause(None)
            for rep in range(args.repeats):
                for stream in (False, True):
                    for name, url, model, pid, script in runs(stream):
                        pause(name)
                        started = time.time()
                        c1 = wrk(url, script, 1, args.duration)
                        if name == "pointsman":
                            c1.inside = handler_times(work / "decisions.db", started, time.time())
                        c32 = wrk(url, script, 32, args.duration, pid)
                        results.setdefault((name, stream, "c1"), []).append(c1)
                        results.setdefault((name, stream, "c32"), []).append(c32)
                        inside = (
                            f" (handler: upstream answered {c1.inside[0]:.3f}, done {c1.inside[1]:.3f})"
                            if c1.inside
                            else ""
                        )
                        print(
                            f"  run {rep + 1}/{args.repeats} {name:12} {'stream' if stream else 'json':6} "
                            f"c1 p50 {c1.p50_ms:.3f} ms p99 {c1.p99_ms:.3f} ms{inside} | "
                            f"c32 {c32.rps:8.0f} req/s",
                            flush=True,
                        )
    return report(results, args, load_before)


def report(results: dict, args: argparse.Namespace, load_before: tuple) -> int:
    def med(name: str, stream: bool, mode: str, field: str) -> float:
        values = [getattr(r, field) for r in results[(name, stream, mode)] if getattr(r, field) is not None]
        return statistics.median(values) if values else float("nan")

    ok = True
    out: dict = {"load_average": {"before": load_before, "after": os.getloadavg()}, "modes": {}}
    print(
        f"\nmedians of {args.repeats} interleaved runs of {args.duration:g} s; "
        f"gateway on core {GATEWAY_CORE}, "
        f"pointsman on {args.engine}; upstream + wrk on core {LOAD_CORE}, "
        f"nice {NICE if os.geteuid() == 0 else 0}; load average before/after: "
        f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}"
    )
    for stream in (False, True):
        label = "streaming" if stream else "non-streaming"
        print(f"\n{label}")
        print(
            f"  {'target':10} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10} "
            f"{'req/s c32':>10} "
            f"{'CPU ms/req':>10}"
        )
        mode: dict = {}
        for name, (baseline, _) in APIS.items():
            if (name, stream, "c1") not in results:
                continue
            p50, p99 = med(name, stream, "c1", "p50_ms"), med(name, stream, "c1", "p99_ms")
            rps, cpu = med(name, stream, "c32", "rps"), med(name, stream, "c32", "cpu_ms_per_request")
            base50, base99 = med(baseline, stream, "c1", "p50_ms"), med(baseline, stream, "c1", "p99_ms")
            mode[name] = {
                "p50_ms": p50,
                "p99_ms": p99,
                "added_p50_ms": p50 - base50,
                "added_p99_ms": p99 - base99,
                "rps_c32": rps,
                "cpu_ms_per_request": cpu,
            }
            print(
                f"  {name:12} {p50:8.3f} {p99:8.3f} {p50 - base50:10.3f} {p99 - base99:10.3f} "
                f"{rps:10.0f} {cpu:10.3f}"
            )
        inside = [r.inside for r in results[("pointsman", stream, "c1")] if r.inside]
        if inside:
            mode["pointsman"]["handler_p50_ms"] = {
                "to_upstream_answer": statistics.median(i[0] for i in inside),
                "total": statistics.median(i[1] for i in inside),
            }
            h = mode["pointsman"]["handler_p50_ms"]
            print(
                f"  inside pointsman's handler (decision log, p50): upstream answered at "
                f"{h['to_upstream_answer']:.3f} ms, done at {h['total']:.3f} ms; the rest of 'added' is the "
                "HTTP server, kernel and scheduling"
            )
        added = mode["pointsman"]["added_p50_ms"]
        p50_ok = added <= TARGET_P50_MS
        ok &= p50_ok
        print(
            f"  pointsman added p50 {added:.3f} ms (target <= {TARGET_P50_MS}): "
            f"{'ok' if p50_ok else 'MISSED'}"
        )
        for name in ("messages", "embeddings"):
            if name in mode:
                extra = mode[name]["added_p50_ms"] - added
                mode[name]["added_p50_over_chat_ms"] = extra
                surface_ok = extra <= TARGET_SURFACE_MS
                ok &= surface_ok
                print(
                    f"  {name} added p50 {mode[name]['added_p50_ms']:.3f} ms, {extra:+.3f} ms against chat "
                    f"completions' (target <= +{TARGET_SURFACE_MS}): {'ok' if surface_ok else 'MISSED'}"
                )
        out["modes"][label] = mode
        if "litellm" not in mode:
            continue
        ratio = mode["pointsman"]["rps_c32"] / mode["litellm"]["rps_c32"]
        latency_ratio = mode["litellm"]["added_p50_ms"] / added if added > 0 else float("inf")
        cpu_ratio = mode["litellm"]["cpu_ms_per_request"] / mode["pointsman"]["cpu_ms_per_request"]
        mode["ratios"] = {
            "rps_pointsman_over_litellm": ratio,
            "added_p50_litellm_over_pointsman": latency_ratio,
            "cpu_litellm_over_pointsman": cpu_ratio,
        }
        rps_ok = ratio >= TARGET_RPS_RATIO
        ok &= rps_ok
        print(
            f"  req/s at 32 connections: {ratio:.1f}x LiteLLM (target >= {TARGET_RPS_RATIO:g}x): "
            f"{'ok' if rps_ok else 'MISSED'}"
        )
        print(
            f"  LiteLLM adds {latency_ratio:.1f}x pointsman's p50 and spends {cpu_ratio:.1f}x its CPU "
            "per request"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

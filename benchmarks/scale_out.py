"""Scale-out: 3 gateway replicas + one redis-server on loopback, under load, with a replica taken away.

Everything is a real process: redis-server (pointsman.testing.redis), local upstreams
(pointsman.testing.upstreams), gateways (`pointsman serve`, pointsman.testing.replicas); the load generator is
this script (asyncio + aiohttp), not the gateway. Four parts, one run:

1. load    3 replicas sharing one Redis; an open-loop load of --rate requests/s for --duration s, half on an
           API key limited to --limit requests/minute (below its share of the offered rate, so the global limit
           works), half on an unlimited key; the upstream answers after 0.2 s, so requests are in flight when
           replica 3 gets SIGTERM half-way (it drains and exits; it is started again 5 s later). The
           generator stops sending to replica 3 when it stops it (what a load balancer does once the replica
           is not ready); every request gets a fresh connection, one refused goes to the next replica, one
           dropped after it was accepted is lost. Targets: zero lost requests (every one answered: success, or an OpenAI-style
           error such as 429), the drained replica shuts down cleanly with its in-flight requests answered,
           and the admitted requests per full wall-clock minute, and the most admitted in any 60 s, within
           5% of --limit.
2. workers requests/s of `serve --workers 1` and `--workers 2` (Redis-backed limits on), closed loop,
           --connections connections, medians of --repeats runs (no target: reported).
3. latency p50 at concurrency 1 of three single-process gateways side by side (interleaved blocks): no
           limits, limits in the embedded state, limits in Redis (no target: reported).
4. soak    one gateway (Redis state, limits and budgets on, 50 keys) at a fixed --soak-rate for --soak s; its
           RSS is sampled every 5 s. Target: the last minute's median RSS < 10% above the first minute's
           (after a warm-up of 20 s).

    python benchmarks/scale_out.py                       # the issue's run: 130 s load, 10 min soak
    python benchmarks/scale_out.py --duration 65 --soak 90 --repeats 2   # shorter (targets still checked)
    python benchmarks/scale_out.py --only load,latency   # a subset

The rate limit accuracy needs one full wall-clock minute inside the load phase: --duration >= 120 always
has one. Exit 1 when a checked target is missed (or could not be measured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from pointsman.gateway.auth import hash_key
from pointsman.testing.redis import RedisServer
from pointsman.testing.replicas import GatewayProcess
from pointsman.testing.upstreams import spawn_upstream

ACCURACY = 0.05
MEMORY_GROWTH = 0.10
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Say something short about the weather."}]}


# -- configs -----------------------------------------------------------------------------------------------


def gateway_config(
    upstream: str, *, state: dict | None, keys: dict[str, dict], budgets: dict | None = None
) -> dict:
    backend = {
        "kind": "openai",
        "base_url": upstream + "/v1",
        "model": "upstream",
        "context_window": 8192,
        "timeouts": {"connect": 2, "first_byte": 10, "idle": 10, "total": 30},
        "retry": {"attempts": 1, "backoff": 0.01},
    }
    cfg: dict[str, Any] = {
        "server": {"graceful_timeout": 15},
        "backends": [
            {"name": "m0", **backend, "input_price": 0.5, "output_price": 1.5},
            {"name": "m1", **backend, "input_price": 3.0, "output_price": 15.0},
        ],
        "profiles": [{"name": "p", "candidates": ["m0", "m1"]}],
        "auth": {
            "enabled": True,
            "keys": [
                {"id": k, "tenant": extra.pop("tenant", "acme"), "sha256": hash_key(f"pm-{k}"), **extra}
                for k, extra in ((k, dict(v)) for k, v in keys.items())
            ],
        },
        "store": {"kind": "none"},  # the decision log is not what is measured here
    }
    if state is not None:
        cfg["state"] = state
    if budgets:
        cfg["budgets"] = budgets
    return cfg


def write(cfg: dict, folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def redis_state(redis: RedisServer) -> dict:
    return {"kind": "redis", "url": redis.url, "prefix": f"bench-{uuid.uuid4().hex[:8]}:"}


# -- the load generator ------------------------------------------------------------------------------------


@dataclass
class Tally:
    outcomes: Counter = field(default_factory=Counter)  # "200", "429", ..., "lost:<why>", "unclear:<status>"
    counted: str = "load"  # the limited key: its admitted requests are timed
    admitted_at: list[float] = field(default_factory=list)  # wall time each admitted request was sent
    rerouted: int = 0  # refused connections (a stopped replica) sent on to the next replica
    in_flight: dict[int, set] = field(default_factory=dict)  # replica -> ids of requests on it now
    by_id: dict[int, str] = field(default_factory=dict)  # request -> its outcome
    latencies: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith(("lost", "unclear")))


async def one_request(
    session: aiohttp.ClientSession, urls: list[str], first: int, key: str, tally: Tally, alive: list[bool]
) -> None:
    sent = time.time()
    outcome = "lost:no replica"
    for attempt in range(2 * len(urls)):
        i = (first + attempt) % len(urls)
        if not alive[i] and attempt < len(urls):
            continue
        flying = tally.in_flight.setdefault(i, set())
        flying.add(first)
        try:
            async with session.post(
                urls[i] + "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer pm-{key}"}
            ) as resp:
                raw = await resp.read()
        except aiohttp.ClientConnectorError:
            tally.rerouted += 1  # never reached a gateway: safe to send elsewhere
            await asyncio.sleep(0.01)
            continue
        except (TimeoutError, aiohttp.ClientError) as exc:
            outcome = f"lost:{type(exc).__name__}"  # accepted, then dropped
            break
        finally:
            flying.discard(first)
        tally.latencies.append(time.time() - sent)
        if resp.status == 200:
            if key == tally.counted:
                tally.admitted_at.append(sent)
            outcome = "200"
        else:
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = None
            outcome = str(resp.status) if message else f"unclear:{resp.status}"
        break
    tally.outcomes[outcome] += 1
    tally.by_id[first] = outcome


async def open_loop(
    urls: list[str],
    rate: float,
    duration: float,
    key: str | list[str],
    tally: Tally,
    alive: list[bool],
    events: list | None = None,
) -> None:
    """Requests at a fixed rate (not waiting for answers), each on a fresh connection."""
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    keys = [key] if isinstance(key, str) else key
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        start, tasks, n = loop.time(), set(), 0
        pending_events = sorted(events or [], key=lambda e: e[0])
        while n / rate < duration:
            while pending_events and loop.time() - start >= pending_events[0][0]:
                event = asyncio.create_task(
                    asyncio.to_thread(pending_events.pop(0)[1])
                )  # may block: a thread
                tasks.add(event)
                event.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            task = asyncio.create_task(one_request(session, urls, n, keys[n % len(keys)], tally, alive))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*list(tasks))


async def closed_loop(url: str, connections: int, duration: float, key: str) -> float:
    """Requests/s with `connections` clients, each sending its next request when the last is answered."""
    done = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        end = time.monotonic() + duration

        async def client() -> None:
            nonlocal done
            while time.monotonic() < end:
                async with session.post(
                    url + "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer pm-{key}"}
                ) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(connections)))
        return done / (time.monotonic() - started)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kib(proc: GatewayProcess) -> int:
    assert proc.process is not None
    return rss_kib(proc.process.pid) + sum(rss_kib(p) for p in proc.worker_pids())


# -- the parts ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def gateways(paths: list[Path], folder: Path, workers: int = 1) -> Iterator[list[GatewayProcess]]:
    procs = [
        GatewayProcess(p, workers=workers, log=folder / f"{p.stem}-{i}.log") for i, p in enumerate(paths)
    ]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.terminate()


def part_load(args: argparse.Namespace, folder: Path, redis: RedisServer, results: dict) -> list[str]:
    misses = []
    with spawn_upstream("--fault", "first_byte_delay=0.2") as slow:
        keys = {"load": {"requests_per_minute": args.limit}, "free": {}}
        cfg = gateway_config(slow, state=redis_state(redis), keys=keys)
        path = write(cfg, folder, "load")
        with gateways([path, path, path], folder) as procs:
            urls, alive, tally = [p.url for p in procs], [True, True, True], Tally()
            drain: dict[str, Any] = {}

            def kill() -> None:
                alive[2] = False
                proc = procs[2].process
                assert proc is not None
                deadline = time.monotonic() + 5
                while not tally.in_flight.get(2) and time.monotonic() < deadline:
                    time.sleep(0.005)  # SIGTERM while requests are in flight on it
                drain["in_flight"] = set(tally.in_flight.get(2, ()))
                at = time.monotonic()
                proc.send_signal(15)  # SIGTERM: stop accepting, drain, exit
                drain["exit_code"] = proc.wait(60)
                drain["seconds"] = time.monotonic() - at

            def restart() -> None:
                log_text = procs[2].log_path.read_text(errors="replace") if procs[2].log_path else ""
                drain["graceful"] = "Finished server process" in log_text  # uvicorn's last words
                procs[2].start()
                alive[2] = True

            half = args.duration / 2
            t0 = time.time()
            asyncio.run(
                open_loop(
                    urls,
                    args.rate,
                    args.duration,
                    ["load", "free"],
                    tally,
                    alive,
                    events=[(half, kill), (half + 5, restart)],
                )
            )
            t1 = time.time()
    drained = Counter(tally.by_id.get(i, "unanswered") for i in drain.get("in_flight", ()))
    minutes = Counter(int(t // 60) for t in tally.admitted_at)
    full = [m for m in minutes if m * 60 >= t0 and (m + 1) * 60 <= t1]
    window_max = max_in_window(sorted(tally.admitted_at), 60.0)
    accuracy = [abs(minutes[m] - args.limit) / args.limit for m in full]
    results["load"] = {
        "duration_s": round(t1 - t0, 1),
        "offered_rps": args.rate,
        "limit_rpm": args.limit,
        "outcomes": dict(tally.outcomes),
        "rerouted_connections": tally.rerouted,
        "lost": tally.lost,
        "drained_replica_exit_code": drain.get("exit_code"),
        "drained_replica_graceful": drain.get("graceful"),
        "drain_seconds": round(drain.get("seconds", float("nan")), 2),
        "in_flight_at_sigterm": dict(drained),
        "admitted_per_full_minute": [minutes[m] for m in sorted(full)],
        "max_admitted_in_any_60s": window_max,
        "p50_latency_ms": round(1000 * statistics.median(tally.latencies), 1) if tally.latencies else None,
    }
    print(
        f"load: {sum(tally.outcomes.values())} requests in {t1 - t0:.0f} s at {args.rate}/s over 3 replicas: "
        f"{dict(tally.outcomes)}; {tally.rerouted} connections refused by the stopped replica, re-sent"
    )
    print(
        f"  replica 3 SIGTERM at {half:.0f} s with {sum(drained.values())} requests in flight on it: "
        f"their outcomes {dict(drained)}; exited after {drain.get('seconds', float('nan')):.2f} s (code "
        f"{drain.get('exit_code')}, graceful shutdown logged: {drain.get('graceful')}), started again 5 s later"
    )
    print(
        f"  admitted per full minute (limit {args.limit}): {results['load']['admitted_per_full_minute']}; "
        f"most admitted in any 60 s: {window_max}"
    )
    if tally.lost:
        misses.append(f"load: {tally.lost} requests lost (no answer, or an error without an OpenAI body)")
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 with its "Finished server process" is clean.
    if not drain.get("graceful") or drain.get("exit_code") not in (0, -15):
        misses.append(f"load: the drained replica did not shut down cleanly (exit {drain.get('exit_code')})")
    if any(k not in ("200", "429") for k in drained):
        misses.append(f"load: requests in flight on the drained replica ended {dict(drained)}")
    if window_max > args.limit * (1 + ACCURACY):
        misses.append(
            f"load: {window_max} admitted within 60 s, more than {ACCURACY:.0%} over the limit {args.limit}"
        )
    if not full:
        misses.append(
            "load: no full wall-clock minute in the run: accuracy not measured (use --duration >= 120)"
        )
    elif max(accuracy) > ACCURACY:
        misses.append(
            f"load: admitted per minute {results['load']['admitted_per_full_minute']} is more than "
            f"{ACCURACY:.0%} off the limit {args.limit}"
        )
    return misses


def max_in_window(times: list[float], window: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def part_workers(args: argparse.Namespace, folder: Path, redis: RedisServer, results: dict) -> list[str]:
    figures: dict[int, list[float]] = {1: [], 2: []}
    with spawn_upstream() as fast:
        cfg = gateway_config(fast, state=redis_state(redis), keys={"w": {"requests_per_minute": 10_000_000}})
        path = write(cfg, folder, "workers")
        for _ in range(args.repeats):
            for n in (1, 2):
                with gateways([path], folder, workers=n) as (gw,):
                    asyncio.run(closed_loop(gw.url, args.connections, 1.0, "w"))  # warm-up
                    figures[n].append(asyncio.run(closed_loop(gw.url, args.connections, args.seconds, "w")))
    med = {n: statistics.median(v) for n, v in figures.items()}
    results["workers"] = {"rps_runs": figures, "rps_median": med, "ratio_2_to_1": med[2] / med[1]}
    print(
        f"workers: requests/s at {args.connections} connections, Redis-backed limits: "
        f"N=1 {med[1]:.0f}, N=2 {med[2]:.0f} (x{med[2] / med[1]:.2f}); runs {figures}"
    )
    return []


def part_latency(args: argparse.Namespace, folder: Path, redis: RedisServer, results: dict) -> list[str]:
    with spawn_upstream() as fast:
        limited = {"k": {"requests_per_minute": 10_000_000, "tokens_per_minute": 1_000_000_000}}
        paths = [
            write(gateway_config(fast, state=None, keys={"k": {}}), folder, "no-limits"),
            write(gateway_config(fast, state=None, keys=limited), folder, "embedded"),
            write(gateway_config(fast, state=redis_state(redis), keys=limited), folder, "redis"),
        ]
        names = ["no limits", "embedded", "redis"]
        samples: dict[str, list[float]] = {n: [] for n in names}
        with gateways(paths, folder) as procs:
            asyncio.run(sequential([p.url for p in procs], names, samples, args.latency_requests))
    p50 = {n: 1000 * statistics.median(v) for n, v in samples.items()}
    results["latency"] = {
        "p50_ms": p50,
        "redis_minus_embedded_ms": p50["redis"] - p50["embedded"],
        "requests_each": len(samples["redis"]),
    }
    print(
        f"latency (p50, concurrency 1, {len(samples['redis'])} requests each, interleaved): "
        + ", ".join(f"{n} {v:.3f} ms" for n, v in p50.items())
        + f"; Redis-backed limits add {p50['redis'] - p50['embedded']:+.3f} ms over embedded ones"
    )
    return []


async def sequential(urls: list[str], names: list[str], samples: dict[str, list[float]], total: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # warm-up: connections, first-request costs
            for url in urls:
                await post(session, url, "k")
        block = 10  # small blocks, many rounds: the machine's noise falls on every gateway alike
        for _ in range(max(1, total // block)):
            for url, name in zip(urls, names):
                for _ in range(block):
                    started = time.perf_counter()
                    await post(session, url, "k")
                    samples[name].append(time.perf_counter() - started)


async def post(session: aiohttp.ClientSession, url: str, key: str) -> int:
    async with session.post(
        url + "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer pm-{key}"}
    ) as resp:
        await resp.read()
        return resp.status


def part_soak(args: argparse.Namespace, folder: Path, redis: RedisServer, results: dict) -> list[str]:
    keys = {
        f"s{i}": {"tenant": f"t{i % 10}", "requests_per_minute": 100_000, "tokens_per_minute": 10_000_000}
        for i in range(50)
    }
    budgets = {"tenants": {f"t{i}": {"usd": 1000.0, "period": "day"} for i in range(10)}}
    with spawn_upstream() as fast:
        path = write(
            gateway_config(fast, state=redis_state(redis), keys=keys, budgets=budgets), folder, "soak"
        )
        with gateways([path], folder) as (gw,):
            samples: list[tuple[float, int]] = []
            tally = Tally()
            start = time.monotonic()

            async def sample() -> None:
                while time.monotonic() - start < args.soak:
                    samples.append((time.monotonic() - start, tree_rss_kib(gw)))
                    await asyncio.sleep(5)

            async def run() -> None:
                await asyncio.gather(
                    open_loop([gw.url], args.soak_rate, args.soak, list(keys), tally, [True]), sample()
                )

            asyncio.run(run())
    warm = 20.0
    first = [r for t, r in samples if warm <= t < warm + 60]
    last = [r for t, r in samples if t >= args.soak - 60]
    growth = statistics.median(last) / statistics.median(first) - 1 if first and last else float("nan")
    results["soak"] = {
        "seconds": args.soak,
        "rate": args.soak_rate,
        "outcomes": dict(tally.outcomes),
        "rss_kib": samples,
        "growth": growth,
    }
    print(
        f"soak: {args.soak:.0f} s at {args.soak_rate}/s, {dict(tally.outcomes)}; RSS first minute "
        f"{statistics.median(first) / 1024:.1f} MiB, last minute {statistics.median(last) / 1024:.1f} MiB "
        f"({growth:+.1%})"
        if first and last
        else "soak: too short to compare"
    )
    misses = []
    if not (growth < MEMORY_GROWTH):
        misses.append(f"soak: memory grew {growth:+.1%} (target < {MEMORY_GROWTH:.0%})")
    if tally.lost:
        misses.append(f"soak: {tally.lost} requests lost")
    return misses


PARTS = {"load": part_load, "workers": part_workers, "latency": part_latency, "soak": part_soak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--duration", type=float, default=130.0, help="load phase seconds (>= 60; >= 120 for accuracy)"
    )
    ap.add_argument("--rate", type=float, default=30.0, help="offered requests/s in the load phase")
    ap.add_argument("--limit", type=int, default=600, help="the limited key's requests/minute (load phase)")
    ap.add_argument("--connections", type=int, default=16, help="workers phase: concurrent connections")
    ap.add_argument("--seconds", type=float, default=8.0, help="workers phase: seconds per run")
    ap.add_argument("--repeats", type=int, default=3, help="workers phase: runs per N")
    ap.add_argument("--latency-requests", type=int, default=1000, help="latency phase: requests per gateway")
    ap.add_argument("--soak", type=float, default=600.0, help="soak seconds (the issue: 10 minutes)")
    ap.add_argument("--soak-rate", type=float, default=50.0, help="soak requests/s")
    ap.add_argument("--only", default=",".join(PARTS), help=f"parts to run, of {','.join(PARTS)}")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    if "load" in parts and args.duration < 60:
        ap.error("--duration: the load phase runs at least 60 s")
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    misses: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pointsman-scale-") as tmp, RedisServer() as redis:
        folder = Path(tmp)
        for part in parts:
            misses += PARTS[part](args, folder, redis, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    for miss in misses:
        print(f"MISS {miss}")
    print("all checked targets met" if not misses else f"{len(misses)} target(s) missed")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()

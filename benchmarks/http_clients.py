"""aiohttp vs httpx vs pointsman's own HTTP/1.1 pool (backends/h1.py) as the HTTP client of the `openai`
backend, and the cost of pointsman's dispatch on top.

One shared client each, the same local upstream (`pointsman.testing.upstreams` in its own process, a fixed
~20-word answer), measured in one run with the clients interleaved so they share the machine's noise:
- requests/s with 32 concurrent requests over a 32-connection pool (non-streaming and streaming);
- p50 latency of one request at a time (concurrency 1), non-streaming, the clients taking turns request by
  request; the dispatch overhead is the median of the paired differences pointsman - h1.
Each figure is the median of --repeats runs. Columns: raw aiohttp, raw httpx, raw h1 Pool, and pointsman's
Dispatcher + OpenAIBackend (h1 underneath, with timeouts, breaker, limits, JSON parsing of every chunk).

Exits non-zero when aiohttp or httpx beats h1 on requests/s or p50 (the choice in backends/http.py would no
longer hold) or when dispatch adds more than --max-dispatch-us to the p50 at concurrency 1.

    python benchmarks/http_clients.py [--seconds 2] [--repeats 3] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import orjson

from pointsman.backends.dispatch import Dispatcher
from pointsman.backends.factory import make_backend
from pointsman.backends.h1 import Pool
from pointsman.config.backends import BackendConfig
from pointsman.testing.upstreams import spawn_upstream

REPLY = " ".join(f"word{i}" for i in range(20))
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say twenty words."}]}
STREAM_BODY = {**BODY, "stream": True}
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}

Call = Callable[[bool], Awaitable[None]]


def aiohttp_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
    payload, stream_payload = orjson.dumps(BODY), orjson.dumps(STREAM_BODY)

    async def call(stream: bool) -> None:
        async with session.post(url, data=stream_payload if stream else payload, headers=HEADERS) as resp:
            if stream:
                async for line in resp.content:
                    if line.startswith(b"data: {"):
                        orjson.loads(line[6:])
            else:
                orjson.loads(await resp.read())

    return call, session.close


def httpx_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=32), timeout=30
    )
    payload, stream_payload = orjson.dumps(BODY), orjson.dumps(STREAM_BODY)

    async def call(stream: bool) -> None:
        if stream:
            async with client.stream("POST", url, content=stream_payload, headers=HEADERS) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data: {"):
                        orjson.loads(line[6:])
        else:
            resp = await client.post(url, content=payload, headers=HEADERS)
            orjson.loads(resp.content)

    return call, client.aclose


def h1_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    pool = Pool(url, HEADERS, limit=32, connect_timeout=5)
    payload, stream_payload = orjson.dumps(BODY), orjson.dumps(STREAM_BODY)

    async def call(stream: bool) -> None:
        resp = await pool.post(stream_payload if stream else payload)
        if stream:
            async for block in resp.blocks():
                for line in block.split(b"\n"):
                    if line.startswith(b"data: {"):
                        orjson.loads(line[6:])
        else:
            orjson.loads(await resp.read())
        resp.release()

    return call, pool.close


def pointsman_client(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    config = BackendConfig(
        name="bench", kind="openai", base_url=url.rsplit("/chat/completions", 1)[0], max_concurrency=32
    )
    dispatcher = Dispatcher({"bench": make_backend(config)})
    ranking = ["bench"]

    async def call(stream: bool) -> None:
        if stream:
            outcome = await dispatcher.stream(ranking, dict(STREAM_BODY))
            async for _ in outcome.chunks:  # type: ignore[union-attr]
                pass
        else:
            await dispatcher.complete(ranking, dict(BODY))

    return call, dispatcher.close


CLIENTS = {
    "aiohttp": aiohttp_client,
    "httpx": httpx_client,
    "h1": h1_client,
    "pointsman": pointsman_client,
}


async def throughput(call: Call, stream: bool, seconds: float, concurrency: int = 32) -> float:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await call(stream)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def latencies(calls: dict[str, Call], n: int) -> dict[str, list[float]]:
    """Seconds per request at concurrency 1, the clients taking turns request by request (so that they sample
    the same moments of a noisy machine and can be compared pair by pair)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(n):
        order = list(calls.items()) if i % 2 == 0 else list(calls.items())[::-1]
        for name, call in order:
            t = time.perf_counter()
            await call(False)
            times[name].append(time.perf_counter() - t)
    return times


async def measure(
    url: str, seconds: float, repeats: int, latency_n: int
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {
        name: {"rps": [], "stream_rps": [], "p50": [], "added": []} for name in CLIENTS
    }
    clients = {name: make(url) for name, make in CLIENTS.items()}
    for call, _ in clients.values():  # warm up: open the pools
        await throughput(call, False, 0.3)
    for _ in range(repeats):
        for name, (call, _) in clients.items():
            results[name]["rps"].append(await throughput(call, False, seconds))
            results[name]["stream_rps"].append(await throughput(call, True, seconds))
        times = await latencies({name: call for name, (call, _) in clients.items()}, latency_n)
        for name, series in times.items():
            results[name]["p50"].append(statistics.median(series) * 1000)
            pairs = [t - a for t, a in zip(series, times["h1"])]
            results[name]["added"].append(statistics.median(pairs) * 1e6)
    for _, close in clients.values():
        await close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each throughput run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument(
        "--max-dispatch-us",
        type=float,
        default=150.0,
        help="most p50 microseconds the dispatcher may add over the raw h1 pool",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the clients (uvicorn, and so the gateway, runs on uvloop)",
    )
    args = parser.parse_args()
    loop_name = args.loop
    if loop_name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    with spawn_upstream("--reply", REPLY) as base:
        url = base + "/v1/chat/completions"
        results = asyncio.run(measure(url, args.seconds, args.repeats, args.latency_requests))

    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    print(
        f"one shared client each, upstream in its own process, {loop_name} loop, "
        f"medians of {args.repeats} runs of {args.seconds:g} s"
    )
    print(f"{'':34}{'aiohttp':>12}{'httpx':>12}{'h1':>12}{'pointsman':>12}{'h1/aiohttp':>12}")
    rows = [
        ("requests/s, 32 connections", "rps", "{:.0f}"),
        ("requests/s, 32 connections, stream", "stream_rps", "{:.0f}"),
        ("p50 ms, concurrency 1", "p50", "{:.3f}"),
    ]
    for label, key, fmt in rows:
        a, h, o, p = (med[name][key] for name in CLIENTS)
        ratio = o / a if key != "p50" else a / o
        cells = "".join(f"{fmt.format(v):>12}" for v in (a, h, o, p))
        print(f"{label:34}{cells}{ratio:>11.1f}x")
    added_us = med["pointsman"]["added"]
    print(
        f"dispatch + OpenAIBackend over the raw h1 pool: {added_us:+.0f} us at p50 (median of paired "
        f"differences), {med['pointsman']['rps'] / med['h1']['rps']:.2f}x the requests/s"
    )

    failed = []
    for other in ("aiohttp", "httpx"):
        if med[other]["rps"] > med["h1"]["rps"] or med[other]["p50"] < med["h1"]["p50"]:
            failed.append(
                f"{other} beat the h1 pool on requests/s or p50: revisit the choice in backends/http.py"
            )
    if added_us > args.max_dispatch_us:
        failed.append(f"dispatch added {added_us:.0f} us at p50 (target <= {args.max_dispatch_us:g} us)")
    for message in failed:
        print("FAIL:", message)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

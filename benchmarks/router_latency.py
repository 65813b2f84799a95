"""One-query routing latency per router, on one core: the router alone, the embedding, and both.

Fits every router on the LLMRouter data, then routes held-out prompts one at a time the way the gateway
does (`predict` and `predict_cost` on a one-query `Queries`): once with the embedding precomputed (the
router's own cost) and once embedding the prompt first with the shared encoder (what a request costs).
BLAS is limited to one thread and onnxruntime already runs one text on one thread, so the figures are
one core's. Reports p50/p99 of wall time and of the thread's CPU time (on a shared machine the CPU time
is the stable figure); medians over the prompts.

Exits 1 when the default router misses the issue's target: embedding + router p50 <= 5 ms (CPU time).

    python benchmarks/router_latency.py [--data ../shared/data/llmrouter] [--routers all] [--queries 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from pointsman.data import RoutingDataset, load_dataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.registry import DEFAULT_ROUTER, make_router, router_class, router_names
from pointsman.text import get_encoder

TARGET_MS = 5.0


def timings(fn: Callable[[int], object], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(wall ms, cpu ms) of fn(i) for i in range(n), after two warm-up calls."""
    fn(0)
    fn(1 % n)
    wall, cpu = np.empty(n), np.empty(n)
    for i in range(n):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn(i)
        cpu[i] = (time.thread_time() - c0) * 1e3
        wall[i] = (time.perf_counter() - w0) * 1e3
    return wall, cpu


def route_one(router: Router, query: Queries) -> None:
    router.predict(query)
    router.predict_cost(query)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "llmrouter")
    )
    parser.add_argument("--routers", default="all", help="'all' or a comma-separated list")
    parser.add_argument("--queries", type=int, default=300, help="held-out prompts routed one at a time")
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 120))
    names = [n for n in router_names() if not router_class(n).evaluation_only]
    if args.routers != "all":
        names = args.routers.split(",")
    data: RoutingDataset = load_dataset(args.data)
    rng = np.random.default_rng(0)
    held = np.sort(rng.choice(data.n_prompts, size=min(args.queries, data.n_prompts // 5), replace=False))
    train = data.subset(np.setdiff1d(np.arange(data.n_prompts), held))
    texts = [data.prompts[i] for i in held]
    encoder = get_encoder()
    vectors = encoder.encode(texts)

    table = Table(
        title=f"one-query latency, one core, {len(texts)} llmrouter prompts (router fitted on {train.n_prompts})"
    )
    for col in ("router", "router p50 / p99 ms", "cpu p50", "embed + router p50 / p99 ms", "cpu p50"):
        table.add_column(col, justify="left" if col == "router" else "right")
    results: dict[str, float] = {}
    with threadpool_limits(1):
        embed_wall, embed_cpu = timings(lambda i: encoder.encode([texts[i]]), len(texts))
        for name in names:
            with console.status(f"fitting {name} on {train.n_prompts} prompts ..."):
                router = make_router(name).fit(train)
            given = [Queries([t], vectors[i : i + 1], encoder.id) for i, t in enumerate(texts)]
            wall, cpu = timings(lambda i, r=router, g=given: route_one(r, g[i]), len(texts))

            def full(i: int, r: Router = router) -> None:
                route_one(r, Queries([texts[i]], encoder.encode([texts[i]]), encoder.id))

            fwall, fcpu = timings(full, len(texts))
            results[name] = float(np.median(fcpu))
            table.add_row(
                f"{name} (default)" if name == DEFAULT_ROUTER else name,
                f"{np.median(wall):.3f} / {np.percentile(wall, 99):.3f}",
                f"{np.median(cpu):.3f}",
                f"{np.median(fwall):.2f} / {np.percentile(fwall, 99):.2f}",
                f"{np.median(fcpu):.2f}",
            )
    console.print(table)
    console.print(
        f"embedding alone ({encoder.id}): p50 {np.median(embed_wall):.2f} ms wall, "
        f"{np.median(embed_cpu):.2f} ms cpu; p99 {np.percentile(embed_wall, 99):.2f} ms wall"
    )
    if DEFAULT_ROUTER not in results:
        console.print(f"default router {DEFAULT_ROUTER} not measured")
        return 0
    got = results[DEFAULT_ROUTER]
    ok = got <= TARGET_MS
    console.print(
        f"{'OK' if ok else 'FAIL'}: default router {DEFAULT_ROUTER}: embedding + router p50 {got:.2f} ms cpu "
        f"(target <= {TARGET_MS} ms)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

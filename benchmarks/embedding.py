"""Embedding speed and agreement on real prompts (the llmrouter data), fp32 and int8.

    python benchmarks/embedding.py [--data ../shared/data/llmrouter] [--repeats 5] [--skip-cache]

Measures, for each encoder (all-MiniLM-L6-v2/onnx-fp32 and /onnx-int8):
- one-query latency: `encode([prompt])` pinned to one core (os.sched_setaffinity) with one onnxruntime
  thread, over a fixed sample of prompts; p50 and p99 of wall-clock time, and of the thread's CPU time
  (what the query costs when it has the core to itself; on a busy shared machine the wall clock also
  counts time spent waiting for the CPU). Each figure is the median over `--repeats` passes;
- batch throughput: `encode(prompts)` on all cores, sentences per second (and per CPU-second: times the
  number of cores, what the batch would reach with the cores to itself), median over the passes;
- agreement of int8 with fp32: cosine per prompt, and how many of each prompt's 10 nearest neighbours
  (what kNN routers use) stay the same;
- the embedding cache: all ~6,000 prompts through `CachedEncoder` into an empty cache (cold), then again
  (warm).

Targets (issue 2), for the serving default (`pointsman.text.DEFAULT_QUANTIZED`): one-query p50 <= 5 ms,
batch >= 250 sentences/s. Exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointsman.text import DEFAULT_QUANTIZED, CachedEncoder, EmbeddingCache
from pointsman.text.minilm import MiniLMEncoder

ROOT = Path(__file__).resolve().parents[1]
P50_TARGET_MS = 5.0
THROUGHPUT_TARGET = 250.0


@dataclass
class Figures:
    p50_ms: float
    p99_ms: float
    cpu_p50_ms: float
    cpu_p99_ms: float
    per_second: float
    per_cpu_second: float


def load_prompts(data: Path) -> list[str]:
    prompts = [
        row["question"]
        for name in ("train", "test")
        for row in json.loads((data / f"dcrouter_{name}.json").read_text())
    ]
    return list(dict.fromkeys(prompts))


def one_query_pass(encoder: MiniLMEncoder, prompts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    wall, cpu = [], []
    for prompt in prompts:
        t, c = time.perf_counter(), time.thread_time()
        encoder.encode([prompt])
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    return np.array(wall) * 1e3, np.array(cpu) * 1e3


def measure(encoder: MiniLMEncoder, singles: list[str], batch: list[str], repeats: int, core: int) -> Figures:
    encoder.encode(singles[:20] + batch[:20])  # build/load the model, warm the caches
    everything = os.sched_getaffinity(0)
    p50, p99, cpu50, cpu99, rates, cpu_rates = [], [], [], [], [], []
    for _ in range(repeats):
        os.sched_setaffinity(0, {core})
        try:
            wall, cpu = one_query_pass(encoder, singles)
        finally:
            os.sched_setaffinity(0, everything)
        p50.append(np.percentile(wall, 50))
        p99.append(np.percentile(wall, 99))
        cpu50.append(np.percentile(cpu, 50))
        cpu99.append(np.percentile(cpu, 99))
        start, cpu = time.perf_counter(), time.process_time()
        encoder.encode(batch)
        rates.append(len(batch) / (time.perf_counter() - start))
        cpu_rates.append(len(batch) / (time.process_time() - cpu))
    med = statistics.median
    return Figures(med(p50), med(p99), med(cpu50), med(cpu99), med(rates), med(cpu_rates))


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's k nearest neighbours (by cosine, itself excluded) that a and b agree on."""

    def top(x: np.ndarray) -> np.ndarray:
        sims = x @ x.T
        np.fill_diagonal(sims, -np.inf)
        return np.argpartition(-sims, k, axis=1)[:, :k]

    ta, tb = top(a), top(b)
    return float(np.mean([len(set(ra) & set(rb)) / k for ra, rb in zip(ta, tb)]))


def cache_timings(prompts: list[str], quantized: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedEncoder(MiniLMEncoder(quantized=quantized), EmbeddingCache(Path(tmp) / "e.sqlite3"))
        cached.encoder.encode(["warm up"])
        start = time.perf_counter()
        cold_vectors = cached.encode(prompts, progress=True)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        warm_vectors = cached.encode(prompts)
        warm = time.perf_counter() - start
        assert np.array_equal(cold_vectors, warm_vectors)
    return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "llmrouter")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--singles", type=int, default=300, help="prompts in each one-query pass")
    parser.add_argument("--batch", type=int, default=1000, help="prompts in each throughput pass")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--skip-cache", action="store_true", help="skip the cold/warm cache run")
    args = parser.parse_args()

    prompts = load_prompts(args.data)
    rng = np.random.default_rng(0)
    singles = [prompts[i] for i in rng.choice(len(prompts), args.singles, replace=False)]
    batch = [prompts[i] for i in rng.choice(len(prompts), args.batch, replace=False)]
    encoders = {q: MiniLMEncoder(quantized=q) for q in (False, True)}
    pieces = [encoders[False].token_count(p) for p in singles]
    print(
        f"{len(prompts)} unique llmrouter prompts; one-query sample of {len(singles)} "
        f"(median {np.median(pieces):.0f} word pieces), batch of {len(batch)}; {args.repeats} repeats; "
        f"cores {sorted(os.sched_getaffinity(0))}, one-query runs pinned to core {args.core}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    figures = {q: measure(e, singles, batch, args.repeats, args.core) for q, e in encoders.items()}
    print(
        f"\n{'encoder':30} {'p50 ms':>7} {'p99 ms':>7} {'cpu p50':>8} {'cpu p99':>8} {'batch/s':>8} "
        f"{'/cpu-s':>7}"
    )
    for q, f in figures.items():
        print(
            f"{encoders[q].id:30} {f.p50_ms:7.2f} {f.p99_ms:7.2f} {f.cpu_p50_ms:8.2f} {f.cpu_p99_ms:8.2f} "
            f"{f.per_second:8.0f} {f.per_cpu_second:7.0f}"
        )

    fp32, int8 = (encoders[q].encode(batch) for q in (False, True))
    cos = (fp32 * int8).sum(1)
    print(
        f"\nint8 vs fp32 over the batch: cosine min {cos.min():.4f}, p1 {np.percentile(cos, 1):.4f}, "
        f"mean {cos.mean():.4f}; 10-nearest-neighbour overlap {neighbour_overlap(fp32, int8):.3f}"
    )

    if not args.skip_cache:
        cold, warm = cache_timings(prompts, DEFAULT_QUANTIZED)
        print(
            f"\nembedding cache, {len(prompts)} prompts ({encoders[DEFAULT_QUANTIZED].id}): "
            f"cold {cold:.1f} s ({len(prompts) / cold:.0f}/s), warm {warm:.2f} s ({cold / warm:.0f}x faster)"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")

    default = figures[DEFAULT_QUANTIZED]
    missed = []
    if default.p50_ms > P50_TARGET_MS:
        missed.append(f"one-query p50 {default.p50_ms:.2f} ms > {P50_TARGET_MS} ms")
    if default.per_second < THROUGHPUT_TARGET:
        missed.append(f"batch {default.per_second:.0f}/s < {THROUGHPUT_TARGET:.0f}/s")
    name = encoders[DEFAULT_QUANTIZED].id
    print(f"\n{name} (serving default): " + ("MISSED: " + "; ".join(missed) if missed else "targets met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

"""CostModel.predict latency for one new query (the gateway's case) and for a batch.

Target: one query p50 < 1 ms (tokenizer already loaded). Fits on the real LLMRouter data, then times
predict on held-out prompts one at a time. Prints the figures; exits 1 when the target is missed.

    python benchmarks/cost_model.py [--data ../shared/data/llmrouter] [--n 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from pointsman.data import CostModel, group_kfold, load_dataset

TARGET_P50_MS = 1.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "llmrouter")
    )
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()

    ds = load_dataset(args.data)
    train_idx, test_idx = group_kfold(ds, k=5, seed=0)[0]
    train, test = ds.subset(train_idx), ds.subset(test_idx)
    t0 = time.perf_counter()
    cm = CostModel().fit(train)
    fit_s = time.perf_counter() - t0
    cm.predict(["warm up"])
    texts, tasks = test.prompts[: args.n], test.tasks[: args.n]
    times = []
    for text, task in zip(texts, tasks, strict=True):
        t = time.perf_counter()
        cm.predict([text], [task])
        times.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter()
    batch = cm.predict(test.prompts, test.tasks)
    batch_s = time.perf_counter() - t
    err = np.abs(batch - test.cost) / test.cost
    p50, p99 = np.percentile(times, [50, 99])
    print(f"fit on {train.n_prompts} prompts: {fit_s:.2f} s ({cm.mode} mode)")
    print(f"one query, {len(times)} held-out prompts: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    print(f"  target: p50 < {TARGET_P50_MS} ms")
    print(f"batch of {test.n_prompts}: {batch_s * 1e3:.1f} ms")
    print(f"median relative error vs the dataset's modelled cost: {np.median(err):.3%}")
    if p50 >= TARGET_P50_MS:
        print("FAIL: one-query p50 over target")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

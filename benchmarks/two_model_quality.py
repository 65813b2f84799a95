"""Two-model routing quality on LLMRouter pairs: RouteLLM's APGR for the default router against a plain
kNN-40 ranked by its predicted strong-minus-weak gain, 5-fold grouped CV, paired bootstrap intervals.

Pairs (the strong model first): the strongest model against the cheapest one, and against the best small
one. The metric is `pointsman eval`'s APGR (a threshold on each router's own score, within-fold ranks;
docs/lab.md). The paired interval is the 2.5-97.5% range of (default - kNN) over the same resamples.
Exits 1 when the default's APGR is below kNN-40's on a pair (point estimate).

    python benchmarks/two_model_quality.py [--bootstrap 1000] [--routers mixture,knn,best-single,random]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from pointsman.data import load_dataset
from pointsman.evaluate.bootstrap import Resamples
from pointsman.evaluate.crossval import RouterSpec, default_router_name, predict_held_out
from pointsman.evaluate.curve import References
from pointsman.evaluate.runner import Protocol, drop_unscored
from pointsman.evaluate.threshold import two_model_sweep
from pointsman.evaluate.truth import Truth

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "llmrouter"
PAIRS = (
    ("llama-3.1-nemotron-51b-instruct", "gemma-2-9b-it"),  # strongest vs cheapest
    ("llama-3.1-nemotron-51b-instruct", "llama-3.1-8b-instruct"),  # strongest vs the best small one
)


def apgr_values(
    spec: RouterSpec, ds, splits, truth: Truth, strong: int, counts: np.ndarray
) -> tuple[float, np.ndarray, float]:
    """(APGR, per-resample APGR, fit+predict seconds)."""
    preds = predict_held_out(spec, ds, splits)
    sweep, rows = two_model_sweep(preds.quality, truth.quality, truth.known, strong, preds.folds)
    boot = np.concatenate(
        [[c.apgr() for c in sweep.curves(counts[b : b + 64, rows])] for b in range(0, len(counts), 64)]
    )
    return sweep.curve().apgr(), boot, preds.fit_seconds + preds.predict_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument(
        "--routers", default=None, help="default: the default router, knn (k=40), best-single"
    )
    args = parser.parse_args(argv)
    default = default_router_name()
    names = args.routers.split(",") if args.routers else [default, "knn", "best-single"]
    full = load_dataset(args.data)
    failed = False
    for strong_name, weak_name in PAIRS:
        ds, _ = drop_unscored(full.select_models([strong_name, weak_name]))
        splits = Protocol(cv=args.cv).splits(ds)
        truth = Truth(ds.quality, ds.cost)
        refs = References.of(truth)
        counts = Resamples.draw(truth, args.bootstrap, 0).counts
        print(f"\n{strong_name} (strong, {refs.strong_quality:.3f}) vs {weak_name} "
              f"({refs.weak_quality:.3f}), {ds.n_prompts} prompts, {args.cv}-fold CV, "
              f"{args.bootstrap} paired resamples")  # fmt: skip
        results = {}
        for name in names:
            spec = RouterSpec(name, {"k": 40} if name == "knn" else {})
            start = time.perf_counter()
            results[name] = apgr_values(spec, ds, splits, truth, refs.strong, counts)
            value, boot, _ = results[name]
            lo, hi = np.percentile(boot, [2.5, 97.5])
            print(f"  {spec.label:<16} APGR {value:.3f} [{lo:.3f}, {hi:.3f}]  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
        if default in results and "knn" in results:
            diff = results[default][1] - results["knn"][1]
            lo, hi = np.percentile(diff, [2.5, 97.5])
            delta = results[default][0] - results["knn"][0]
            ok = delta >= 0
            failed |= not ok
            print(f"  {default} - knn: {delta:+.3f} [{lo:+.3f}, {hi:+.3f}]: {'OK' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

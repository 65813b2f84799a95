"""How well a router that onboards (`irt`, default, or `graph`) onboards a NEW model from a small calibration set, on the LLMRouter data.

For each model h in turn (5-fold grouped CV): fit the router on the training folds WITHOUT h, then
`onboard` h from `--calibration` (default 50) random training prompts with h's real scores, and predict the
held-out fold for all models. Compared, on the same folds, with the same router fitted on all models (h
included, thousands of prompts) and with routing without h at all. Per held-out model:

- predicted vs real mean quality of h on the held-out prompts, and the correlation of h's per-task means
  (predicted vs real, over the 14 tasks);
- AUC of h's per-prompt predictions (which prompts h answers), onboarded vs fully trained;
- routing with h onboarded: oracle gap closed and cost ratio at the best single model's quality, against
  the fully trained router and the router without h.

Exits 1 when onboarding misses its bar: over the held-out models, the new model's mean quality within
0.05 of the real one on average, and its per-task means correlated >= 0.7 with the real ones. The routing
figures are reported, not gated: with 50 labels a model whose level is within sampling error of the best
incumbent's cannot be placed above or below it, and routing can lose by adding it (see docs/routers.md).

    python benchmarks/router_onboarding.py [--router irt|graph] [--data ../shared/data/llmrouter] [--models a,b]
        [--calibration 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sklearn.metrics import roc_auc_score

from pointsman.data import RoutingDataset, group_kfold, load_dataset
from pointsman.evaluate.curve import References, Sweep
from pointsman.evaluate.truth import Truth
from pointsman.routers.base import Queries
from pointsman.routers.graph import GraphRouter
from pointsman.routers.irt import IrtRouter

ONBOARDING = {"irt": IrtRouter, "graph": GraphRouter}


def headline(
    quality: np.ndarray, cost: np.ndarray, data: RoutingDataset, refs: References
) -> tuple[float | None, float | None]:
    """(oracle gap closed, cost ratio at the best single model's quality) of routing `data` with predicted
    quality and cost, both against `refs` (the full data's best single model and oracle, so that routing
    without a model is measured on the same scale)."""
    scores = Sweep.run(quality, cost, Truth.of(data)).curve().score(refs)
    return scores.oracle_gap_closed, scores.cost_ratio_at_best_single_quality


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "llmrouter")
    )
    parser.add_argument("--router", choices=sorted(ONBOARDING), default="irt")
    parser.add_argument("--models", default="all", help="models to hold out, comma-separated")
    parser.add_argument("--calibration", type=int, default=50, help="labelled prompts of the new model")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prior-strength", type=float, default=1.0)
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 140))
    make = ONBOARDING[args.router]
    data = load_dataset(args.data)
    names = data.model_names if args.models == "all" else args.models.split(",")
    splits = group_kfold(data, args.cv, args.seed)
    tasks = np.array([t or "" for t in data.tasks])
    start = time.perf_counter()
    n, m = data.quality.shape
    full_q, full_c = np.zeros((n, m)), np.zeros((n, m))
    rows = []
    with Progress(console=console) as progress:
        bar = progress.add_task(f"{args.router} fits", total=len(splits) * (1 + len(names)))
        for train, test in splits:
            router = make().fit(data.subset(train))
            queries = Queries([data.prompts[i] for i in test])
            full_q[test], full_c[test] = router.predict(queries), router.predict_cost(queries)
            progress.advance(bar)
        for name in names:
            h = data.model_index(name)
            others = [mn for mn in data.model_names if mn != name]
            on_q, on_c = np.zeros((n, m)), np.zeros((n, m))
            rng = np.random.default_rng(args.seed + h)
            for train, test in splits:
                router = make().fit(data.subset(train).select_models(others))
                calib = rng.choice(train, size=min(args.calibration, len(train)), replace=False)
                texts = [data.prompts[i] for i in calib]
                router.onboard(data.models[h], texts, data.quality[calib, h], args.prior_strength)
                cols = [router.model_names.index(mn) for mn in data.model_names]
                queries = Queries([data.prompts[i] for i in test])
                on_q[test] = router.predict(queries)[:, cols]
                on_c[test] = router.predict_cost(queries)[:, cols]
                progress.advance(bar)
            rows.append(_row(name, h, data, tasks, on_q, on_c, full_q, full_c, others))

    table = Table(
        title=f"{args.router} onboarding from {args.calibration} labelled prompts, {args.cv}-fold CV on "
        f"{n} prompts x {m} models"
    )
    cols = ("held-out model", "real mean", "predicted (onboarded)", "per-task r", "AUC onboarded / full",
            "gap closed: onboarded / full / without", "cost ratio: onboarded / full / without")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "held-out model" else "right")
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['real']:.3f}",
            f"{r['predicted']:.3f}",
            f"{r['task_r']:.2f}",
            f"{r['auc_on']:.3f} / {r['auc_full']:.3f}",
            " / ".join(f"{r[k]:.3f}" for k in ("gap_on", "gap_full", "gap_without")),
            " / ".join(_ratio(r[k]) for k in ("ratio_on", "ratio_full", "ratio_without")),
        )
    console.print(table)
    error = float(np.mean([abs(r["predicted"] - r["real"]) for r in rows]))
    task_r = float(np.mean([r["task_r"] for r in rows]))
    better = sum(r["gap_on"] >= r["gap_without"] for r in rows)
    ok = error <= 0.05 and task_r >= 0.7
    console.print(
        f"{'OK' if ok else 'FAIL'}: mean |predicted - real| quality of the onboarded model {error:.3f} "
        f"(target <= 0.05); mean per-task correlation {task_r:.2f} (target >= 0.7); routing with the "
        f"onboarded model closes at least as much of the gap as routing without it for {better} of "
        f"{len(rows)} models; {(time.perf_counter() - start) / 60:.1f} min"
    )
    return 0 if ok else 1


def _row(name, h, data, tasks, on_q, on_c, full_q, full_c, others) -> dict:
    real = data.quality[:, h]
    known = np.isfinite(real)
    binary = known & np.isin(real, (0.0, 1.0))
    per_task = [(np.nanmean(real[tasks == t]), on_q[tasks == t, h].mean()) for t in sorted(set(tasks))]
    refs = References.of(Truth.of(data))
    keep = [data.model_index(mn) for mn in others]
    gap_on, ratio_on = headline(on_q, on_c, data, refs)
    gap_full, ratio_full = headline(full_q, full_c, data, refs)
    gap_wo, ratio_wo = headline(full_q[:, keep], full_c[:, keep], data.select_models(others), refs)
    return {
        "model": name,
        "real": float(np.nanmean(real)),
        "predicted": float(on_q[known, h].mean()),
        "task_r": float(np.corrcoef(np.array(per_task).T)[0, 1]),
        "auc_on": roc_auc_score(real[binary], on_q[binary, h]),
        "auc_full": roc_auc_score(real[binary], full_q[binary, h]),
        "gap_on": gap_on,
        "gap_full": gap_full,
        "gap_without": gap_wo,
        "ratio_on": ratio_on,
        "ratio_full": ratio_full,
        "ratio_without": ratio_wo,
    }


def _ratio(x: float | None) -> str:
    return "never" if x is None else f"{x:.3f}x"


if __name__ == "__main__":
    sys.exit(main())

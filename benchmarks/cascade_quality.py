"""Cascades against prompt-only routers on the RouteProfile data (600 prompts x 8 models, real answers, real
token costs): 5-fold grouped CV, the same folds, cost model and bootstrap resamples for everything.

Runs `pointsman eval`'s evaluation (routers and cascades side by side), then prints:
- the routers and the cascades with 95% bootstrap intervals (max quality, oracle gap closed, cost ratio at
  the best single model's quality, AIQ) and each cascade's mean calls per request;
- paired bootstrap intervals of the best cascade minus the best prompt-only router (max quality, AIQ);
- the ablation table: agreement-only, learned-scorer-only, both, for each policy.

Targets (exit 1 on any miss): the best cascade closes >= 0.45 of the oracle gap and reaches the best single
model's quality at <= 0.5x its cost; it beats the best prompt-only router on max quality and on AIQ.

    python benchmarks/cascade_quality.py [--data ../shared/data/routeprofile] [--routers knn,mixture]
        [--bootstrap 500] [--out DIR]

Takes many minutes on a loaded machine: every router and every scorer is fitted per fold.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pointsman.data import load_dataset
from pointsman.evaluate.bootstrap import Resamples
from pointsman.evaluate.cascades import CascadeSpec
from pointsman.evaluate.crossval import RouterSpec
from pointsman.evaluate.plot import plot_curves
from pointsman.evaluate.runner import Protocol, Setup, run_evaluation
from pointsman.evaluate.truth import Truth

TARGET_GAP_CLOSED = 0.45
TARGET_COST_RATIO = 0.5
SCORERS = {
    "agreement only": ("agreement", {}),
    "learned only": ("learned", {"agreement": False}),
    "both": ("learned", {}),
}


def cascade_specs(router: str) -> list[tuple[str, str, CascadeSpec]]:
    out = []
    for ablation, (scorer, params) in SCORERS.items():
        out.append(("chain", ablation, CascadeSpec("chain", scorer, params)))
        out.append(
            ("cost_aware", ablation, CascadeSpec("cost_aware", scorer, params, router=router, steps=8))
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/routeprofile"))
    ap.add_argument("--routers", default="knn,mixture")
    ap.add_argument("--cascade-router", default="mixture", help="the router the cost-aware policy reads")
    ap.add_argument("--bootstrap", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("cascade-out"))
    args = ap.parse_args(argv)
    console = Console(width=170)
    ds = load_dataset(args.data)
    routers = [RouterSpec(n.strip()) for n in args.routers.split(",") if n.strip()]
    cascades = cascade_specs(args.cascade_router)
    setup = Setup(
        Protocol(cv=5, seed=args.seed), args.bootstrap, args.seed, cascades=[c for _, _, c in cascades]
    )
    start = time.perf_counter()
    with Progress(console=console) as progress:
        report = run_evaluation(ds, routers, setup, progress=progress)
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    (args.out / "report.md").write_text(report.to_markdown())
    plot_curves(report, args.out / "curves.png")

    ds_sum = report.dataset
    best = ds_sum.model(ds_sum.best_single)
    console.print(
        f"{ds_sum.n_prompts} prompts x {len(ds_sum.models)} models, 5-fold grouped CV, {args.bootstrap} "
        f"bootstrap resamples; best single {best.name} {best.quality:.3f} at ${best.cost * 1000:.4f}/1k; "
        f"oracle {ds_sum.oracle_quality:.3f}; {seconds:.0f} s"
    )
    console.print(results_table(report))
    prompt_only = {k: r for k, r in report.routers.items() if r.name != "cascade"}
    cascade_rows = {k: r for k, r in report.routers.items() if r.name == "cascade"}
    best_router = max(prompt_only, key=lambda k: prompt_only[k].scores.aiq)
    best_cascade = max(cascade_rows, key=lambda k: cascade_rows[k].scores.oracle_gap_closed or -1)
    console.print(ablation_table(cascades, cascade_rows))
    diffs = paired_differences(ds, report, best_cascade, best_router, args.bootstrap, args.seed)
    r, c = prompt_only[best_router].scores, cascade_rows[best_cascade].scores
    checks = [
        (f"best cascade ({best_cascade}) closes >= {TARGET_GAP_CLOSED} of the oracle gap",
         c.oracle_gap_closed is not None and c.oracle_gap_closed >= TARGET_GAP_CLOSED,
         _num(c.oracle_gap_closed)),
        (f"it reaches the best single model's quality at <= {TARGET_COST_RATIO}x its cost",
         c.cost_ratio_at_best_single_quality is not None
         and c.cost_ratio_at_best_single_quality <= TARGET_COST_RATIO,
         "never" if c.cost_ratio_at_best_single_quality is None else f"{c.cost_ratio_at_best_single_quality:.3f}x"),
        (f"it beats the best prompt-only router ({best_router}) on max quality",
         c.max_quality > r.max_quality,
         f"{c.max_quality:.3f} vs {r.max_quality:.3f}, difference {diffs['max_quality']}"),
        (f"it beats {best_router} on AIQ", c.aiq > r.aiq, f"{c.aiq:.3f} vs {r.aiq:.3f}, difference {diffs['aiq']}"),
    ]  # fmt: skip
    missed = 0
    for what, ok, value in checks:
        console.print(f"{'met   ' if ok else 'MISSED'}  {what}: {value}")
        missed += not ok
    console.print(f"wrote {args.out}/report.json, report.md, curves.png")
    return 1 if missed else 0


def results_table(report) -> Table:
    table = Table(title="routers and cascades (95% bootstrap intervals)")
    for col in ("policy", "max quality", "gap closed", "cost ratio @ best single", "AIQ", "calls/request"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for label, r in report.routers.items():
        calls = r.params.get("mean_calls_per_lambda") if r.name == "cascade" else None
        table.add_row(
            label,
            _ci(r, "max_quality"),
            _ci(r, "oracle_gap_closed"),
            _ci(r, "cost_ratio_at_best_single_quality"),
            _ci(r, "aiq"),
            "1" if calls is None else f"{min(calls):.2f}-{max(calls):.2f}",
        )
    return table


def ablation_table(cascades, rows) -> Table:
    table = Table(title="ablation: which answer scorer (same folds, same policies)")
    table.add_column("scorer")
    for policy in ("chain", "cost_aware"):
        table.add_column(f"{policy}: gap closed", justify="right")
        table.add_column(f"{policy}: AIQ", justify="right")
    for ablation in SCORERS:
        cells = [ablation]
        for policy in ("chain", "cost_aware"):
            spec = next(c for p, a, c in cascades if p == policy and a == ablation)
            r = rows[spec.label]
            cells += [_ci(r, "oracle_gap_closed"), _ci(r, "aiq")]
        table.add_row(*cells)
    return table


def paired_differences(ds, report, cascade: str, router: str, b: int, seed: int) -> dict[str, str]:
    """Cascade minus router, with a 95% interval over the same bootstrap resamples of prompts (paired)."""
    truth = Truth(ds.quality, ds.cost)
    resamples = Resamples.draw(truth, b, seed)
    diffs: dict[str, list[float]] = {"max_quality": [], "aiq": []}
    curves = {k: report.routers[k].sweep.weighted_curves(resamples.counts) for k in (cascade, router)}
    for refs, a, z in zip(resamples.references, curves[cascade], curves[router], strict=True):
        sa, sz = a.score(refs), z.score(refs)
        for name in diffs:
            diffs[name].append(getattr(sa, name) - getattr(sz, name))
    out = {}
    for name, values in diffs.items():
        point = getattr(report.routers[cascade].scores, name) - getattr(report.routers[router].scores, name)
        lo, hi = np.percentile(values, [2.5, 97.5])
        out[name] = f"{point:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return out


def _ci(r, name: str) -> str:
    value = getattr(r.scores, name)
    if value is None:
        return "never" if name == "cost_ratio_at_best_single_quality" else "n/a"
    lo, hi = r.ci95.get(name, (None, None))
    return f"{value:.3f} [{_f(lo)}, {_f(hi)}]"


def _f(x: float | None) -> str:
    return "inf" if x is None else f"{x:.3f}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    sys.exit(main())

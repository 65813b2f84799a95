"""Router quality on the LLMRouter data: 5-fold grouped CV, the issue's table and its target.

Runs `pointsman eval`'s evaluation (same code, same folds) for the routers, adds the issue's reference row
"per-task mean (task label known)" computed here from the data, and prints each router's figures beside
the reference figures measured for the issue with MiniLM embeddings. Exits 1 when the default router
misses the target: oracle gap closed >= 0.40 and the best single model's quality at <= 0.15x its cost.

    python benchmarks/router_quality.py [--data ../shared/data/llmrouter] [--routers all] [--cv 5]
        [--bootstrap 200] [-p knn.k=80] [--out DIR]

Takes minutes (every router is fitted cv times; embeddings are cached on disk after the first run).
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

from pointsman.commands.lab import parse_router_params, resolve_routers
from pointsman.data import CostModel, RoutingDataset, load_dataset
from pointsman.evaluate.crossval import RouterSpec, default_router_name
from pointsman.evaluate.curve import References, Scores, Sweep
from pointsman.evaluate.plot import plot_curves
from pointsman.evaluate.runner import Protocol, Setup, run_evaluation
from pointsman.evaluate.truth import Truth

TARGET_GAP_CLOSED = 0.40
TARGET_COST_RATIO = 0.15
# The figures (5-fold CV, MiniLM embeddings): router -> (oracle gap closed, cost ratio).
REFERENCE = {"knn": (0.18, 0.37), "mlp": (0.11, 0.46), "per-task mean (task label known)": (0.24, 0.19)}
REFERENCE_BEST_SINGLE, REFERENCE_ORACLE = 0.620, 0.798


def task_mean_scores(dataset: RoutingDataset, protocol: Protocol) -> Scores:
    """The issue's reference router: each model's mean score on the prompt's task in the training folds
    (task label known), with the cost a CostModel fitted on the training folds predicts."""
    splits = protocol.splits(dataset)
    tasks = np.array(dataset.tasks, dtype=object)
    quality = np.zeros_like(dataset.quality)
    cost = np.zeros_like(dataset.cost)
    for train, test in splits:
        prior = np.nanmean(dataset.quality[train], axis=0)
        for task in set(tasks[test]):
            rows = train[tasks[train] == task]
            quality[test[tasks[test] == task]] = (
                np.nanmean(dataset.quality[rows], axis=0) if len(rows) else prior
            )
        cost[test] = CostModel().fit(dataset.subset(train)).predict([dataset.prompts[i] for i in test])
    truth = Truth.of(dataset)
    refs = References.of(truth)
    return Sweep.run(quality, cost, truth).curve(refs.strong).score(refs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "llmrouter")
    )
    parser.add_argument("--routers", default="all")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("-p", "--param", action="append", default=[], help="router.key=value")
    parser.add_argument("--out", type=Path, default=None, help="also write report.json and curves.png here")
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 130))
    names = resolve_routers(args.routers)
    params = parse_router_params(args.param, names)
    default = default_router_name()
    ds = load_dataset(args.data)
    protocol = Protocol(cv=args.cv, seed=args.seed)
    start = time.perf_counter()
    with Progress(console=console) as progress:
        report = run_evaluation(
            ds, [RouterSpec(n, params.get(n, {})) for n in names], Setup(protocol, args.bootstrap, args.seed),
            default, progress,
        )  # fmt: skip
    reference = task_mean_scores(ds, protocol)
    minutes = (time.perf_counter() - start) / 60

    best = report.dataset.model(report.dataset.best_single)
    table = Table(
        title=f"LLMRouter, {report.dataset.n_prompts} prompts x {len(report.dataset.models)} models, "
        f"{args.cv}-fold grouped CV: best single {best.quality:.3f} (issue {REFERENCE_BEST_SINGLE}), "
        f"oracle {report.dataset.oracle_quality:.3f} (issue {REFERENCE_ORACLE})"
    )
    for col in (
        "router",
        "max quality",
        "gap closed [95% CI]",
        "cost ratio [95% CI]",
        "AIQ",
        "issue: gap / ratio",
    ):
        table.add_column(col, justify="left" if col == "router" else "right")
    for label, r in report.routers.items():
        ref = REFERENCE.get(r.name)
        table.add_row(
            f"{label} (default)" if r.name == default else label,
            f"{r.scores.max_quality:.3f}",
            _with_ci(r.scores.oracle_gap_closed, r.ci95.get("oracle_gap_closed")),
            _with_ci(
                r.scores.cost_ratio_at_best_single_quality,
                r.ci95.get("cost_ratio_at_best_single_quality"),
                "x",
            ),
            f"{r.scores.aiq:.3f}",
            f"{ref[0]:.2f} / {ref[1]:.2f}x" if ref else "",
        )
    name = "per-task mean (task label known)"
    table.add_row(
        f"[dim]{name}[/dim]", f"{reference.max_quality:.3f}", _with_ci(reference.oracle_gap_closed, None),
        _with_ci(reference.cost_ratio_at_best_single_quality, None, "x"), f"{reference.aiq:.3f}",
        "{:.2f} / {:.2f}x".format(*REFERENCE[name]),
    )  # fmt: skip
    console.print(table)
    console.print(f"{len(names)} routers x {args.cv} folds in {minutes:.1f} min")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        plot_curves(report, args.out / "curves.png")

    if default is None or default not in report.routers:
        console.print(f"FAIL: the default router ({default}) was not evaluated")
        return 1
    s = report.routers[default].scores
    ratio = s.cost_ratio_at_best_single_quality
    ok = (s.oracle_gap_closed or -1) >= TARGET_GAP_CLOSED and ratio is not None and ratio <= TARGET_COST_RATIO
    verdict = "OK" if ok else "FAIL"
    console.print(
        f"{verdict}: default router {default}: gap closed {_with_ci(s.oracle_gap_closed, None)} "
        f"(target >= {TARGET_GAP_CLOSED}), cost ratio {_with_ci(ratio, None, 'x')} "
        f"(target <= {TARGET_COST_RATIO}x)"
    )
    return 0 if ok else 1


def _with_ci(value: float | None, ci: tuple[float | None, float | None] | None, unit: str = "") -> str:
    if value is None:
        return "never"
    text = f"{value:.3f}{unit}"
    if ci:
        lo, hi = (("inf" if x is None else f"{x:.3f}") for x in ci)
        text += f" [{lo}, {hi}]"
    return text


if __name__ == "__main__":
    sys.exit(main())

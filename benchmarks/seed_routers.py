"""The routers from the literature (issue 13), each against the simple baseline the issue names for it.

One line per method with its figure on real data (LLMRouter, 5-fold grouped CV, the lab's evaluation and
cost model; RouteProfile where a method needs answers or judgements). Exits 1 when a method is below its
baseline:
- graph (GraphRouter-style) and dual (RouterDC-style): at least the best single model's quality at <= 1x its
  cost (the router's quality-cost hull reaches best-single quality at a cost ratio <= 1);
- session budgets: the paced policy (policy/session.py) at least matches an even split of the budget over
  the steps (the static router with a per-step cap) in mean quality per step, on held-out sessions of five
  LLMRouter prompts whose last is from a hard task, budget 0.3 x the best single model's cost, lambdas
  calibrated on other sessions (kNN-40's out-of-fold predictions, real costs paid);
- personalised routing: per-tenant preferences learned from RouteProfile's pairwise judgements over a
  global kNN router (trained on RouteProfile's scored prompts minus the pairwise queries) predict held-out
  judgements at least as well as the global router (pairwise accuracy; tenants simulated by task family,
  half of the queries held out);
- pheromone specialists (AMRO-S-style, learn/pheromone.py): cumulative regret over a simulated stream of
  5,000 LLMRouter prompts (learn/simulate.py, the same stream and warm-start router as the bandits of
  benchmarks/online_learning.py), with and without a drift (the best model's scores become the weakest's at
  request 2,500), at most the static router's in both; Thompson sampling is shown beside it;
- prompt-strategy routing (policy/strategy.py): benchmarks/prompt_strategy.py (SmolLM2 answering RouteProfile's
  multiple-choice prompts directly, with examples or step by step; the strategy chosen by the difficulty
  signal): held-out accuracy at least the best single strategy's;
- multi-model aggregation (policy/aggregate.py, evaluate/aggregation.py): on RouteProfile with its recorded
  answers (5-fold grouped CV, the default router's out-of-fold predictions), a vote of the k best models on
  closed-answer requests when the predicted gain pays for the extra calls, against the same router without
  aggregation: max quality and AIQ at least its (lambda swept for both);
New-model onboarding of the graph router against IRT's: `benchmarks/router_onboarding.py --router graph`
and `--router irt` (minutes per held-out model; figures in docs/routers.md).

    python benchmarks/seed_routers.py [--data ../shared/data/llmrouter] [--cv 5] [--bootstrap 100]
        [--methods graph,dual,personal,sessions,pheromone,aggregate,strategy]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from pointsman.data import RoutingDataset, group_kfold, load_dataset
from pointsman.evaluate import sessions
from pointsman.evaluate.crossval import RouterSpec, predict_held_out
from pointsman.evaluate.runner import Protocol, Setup, run_evaluation

QUALITY_ROUTERS = {"graph": "GraphRouter (ICLR 2025)", "dual": "RouterDC (NeurIPS 2024)"}
HARD_TASKS = ["math", "gpqa", "agentverse-logicgrid", "human_eval"]
METHODS = ("graph", "dual", "personal", "sessions", "pheromone", "aggregate", "strategy")
# Tasks whose answers are option letters or numbers (a gateway reads this off the request; the lab's prompts
# are the bare questions).
CLOSED_TASKS = {"mmlu", "commonsense_qa", "openbook_qa", "arc_challenge", "gsm8k", "agentverse-mgsm"}
# Simulated tenants: the task families of RouteProfile's pairwise judgements.
TENANTS = {
    "reasoning": {"agentverse-logicgrid", "agentverse-mgsm", "gsm8k"},
    "knowledge": {"mmlu", "commonsense_qa", "openbook_qa", "arc_challenge", "natural_qa", "trivia_qa"},
    "build": {"mbpp", "human_eval", "commongen"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "llmrouter")
    )
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated subset of: " + ", ".join(METHODS)
    )
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 120))
    data = load_dataset(args.data)
    start = time.perf_counter()
    wanted = set(args.methods.split(","))
    unknown = wanted - set(METHODS)
    if unknown:
        parser.error(f"--methods: unknown {', '.join(sorted(unknown))}; known: {', '.join(METHODS)}")
    misses = 0
    if wanted & set(QUALITY_ROUTERS):
        misses += quality_routers(data, [n for n in QUALITY_ROUTERS if n in wanted], args, console)
    if "personal" in wanted:
        misses += not personalised(Path(args.data).parent / "routeprofile", seed=args.seed, console=console)
    if "sessions" in wanted:
        misses += not session_budgets(data, seed=args.seed, console=console)
    if "strategy" in wanted:
        misses += not prompt_strategy(console)
    if "aggregate" in wanted:
        misses += not aggregation(Path(args.data).parent / "routeprofile", args, console)
    if "pheromone" in wanted:
        misses += not pheromone(args.data, seed=args.seed, console=console)
    console.print(f"{(time.perf_counter() - start) / 60:.1f} min")
    return 1 if misses else 0


def quality_routers(
    data: RoutingDataset, names: list[str], args: argparse.Namespace, console: Console
) -> int:
    """The graph/dual lines; the number of misses."""
    specs = [RouterSpec("best-single", {}), *(RouterSpec(n, {}) for n in names)]
    setup = Setup(Protocol(cv=args.cv, seed=args.seed), args.bootstrap, args.seed)
    with Progress(console=console) as progress:
        report = run_evaluation(data, specs, setup, None, progress)
    best = report.routers["best-single"].scores.max_quality
    misses = 0
    for name in names:
        s = report.routers[name].scores
        ratio = s.cost_ratio_at_best_single_quality
        ok = s.max_quality >= best and ratio is not None and ratio <= 1.0
        misses += not ok
        console.print(
            f"{'OK  ' if ok else 'MISS'} {name:6s} {QUALITY_ROUTERS[name]}: max quality {s.max_quality:.3f} "
            f"(best single {best:.3f}), oracle gap closed {s.oracle_gap_closed:.3f}, best-single quality at "
            f"{'never' if ratio is None else f'{ratio:.3f}x'} its cost (baseline: <= 1x)"
        )
    return misses


def prompt_strategy(console: Console) -> bool:
    """The prompt-strategy line (benchmarks/prompt_strategy.py; its answers are cached under runs/)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "prompt_strategy", Path(__file__).with_name("prompt_strategy.py")
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    ok = module.main([]) == 0
    console.print(
        f"{'OK  ' if ok else 'MISS'} strategy RoutingGen-style: direct / few-shot / CoT chosen by difficulty on "
        "SmolLM2 (figures above; baseline: >= the best single strategy, held out)"
    )
    return ok


def aggregation(folder: Path, args: argparse.Namespace, console: Console) -> bool:
    """The aggregation line; True when voting reaches the non-aggregated router's max quality and AIQ."""
    from pointsman.evaluate.aggregation import route
    from pointsman.evaluate.crossval import default_router_name
    from pointsman.evaluate.metrics import aiq, nondecreasing_hull

    ds = load_dataset(folder)
    closed = np.array([t in CLOSED_TASKS for t in ds.tasks])
    name = default_router_name() or "knn"
    pred = predict_held_out(RouterSpec(name, {}), ds, group_kfold(ds, args.cv, args.seed))
    lams = np.concatenate([[0.0], np.geomspace(1, 1e5, 40)])
    mean_cost = np.nanmean(ds.cost, axis=0)
    rng = np.random.default_rng(args.seed)
    boots = [rng.integers(0, ds.n_prompts, ds.n_prompts) for _ in range(args.bootstrap)]

    def curve(rows: np.ndarray, outcomes: list) -> tuple[float, float]:
        c = np.array([o.cost[rows].mean() for o in outcomes])
        q = np.array([o.quality[rows].mean() for o in outcomes])
        return float(q.max()), aiq(*nondecreasing_hull(c, q), mean_cost.min(), mean_cost.max())

    runs = {}
    for mode, k in (("single", 1), ("gated", 3), ("gated", 5), ("always", 3)):
        outcomes = [
            route(pred.quality, pred.cost, ds.quality, ds.cost, ds.responses, closed, lam, k=k, mode=mode)
            for lam in lams
        ]
        runs[(mode, k)] = (curve(np.arange(ds.n_prompts), outcomes), [curve(b, outcomes) for b in boots])
    (base_q, base_aiq), base_boot = runs.pop(("single", 1))
    for (mode, k), ((mq, a), boot) in runs.items():
        dq = np.percentile([b[0] - s[0] for b, s in zip(boot, base_boot)], [2.5, 97.5])
        console.print(
            f"     aggregate {mode} k={k}: max quality {mq:.4f} (diff [{dq[0]:+.4f}, {dq[1]:+.4f}]), AIQ {a:.4f}"
        )
    ok = runs[("gated", 3)][0][0] >= base_q and runs[("gated", 3)][0][1] >= base_aiq
    console.print(
        f"{'OK  ' if ok else 'MISS'} aggregate Router-R1/FusionFactory/TCAR-style (vote of the k=3 best on "
        f"closed answers, gated by predicted gain): max quality {runs[('gated', 3)][0][0]:.4f}, AIQ "
        f"{runs[('gated', 3)][0][1]:.4f} vs the {name} router alone {base_q:.4f}, {base_aiq:.4f} (baseline: "
        ">= both)"
    )
    return ok


def pheromone(data: str, *, seed: int, console: Console, seeds: int = 5, steps: int = 5000) -> bool:
    """The pheromone line; True when its regret is at most the static router's, with and without drift."""
    from pointsman.config.gateway import BanditConfig
    from pointsman.learn.simulate import Traffic, drifted, run_bandit, run_pheromone, run_static

    lam = 200.0  # as benchmarks/online_learning.py
    t = Traffic.load(data, warm=900, seed=seed)
    means = np.nanmean(t.quality, axis=0)
    best, weak = int(np.argmax(means)), int(np.argmin(means))
    thompson = BanditConfig(half_life=1e12)
    regret: dict[tuple[str, str], list[float]] = {}
    for s in range(seed, seed + seeds):
        rows = np.random.default_rng(s).permutation(t.n)[:steps]
        for scenario in ("stationary", "drift"):
            q = t.quality[rows] if scenario == "stationary" else drifted(t, rows, steps // 2, best, weak)
            top = (q - lam * t.cost[rows]).max(axis=1).sum()
            runs = {
                "static": run_static(t, rows, lam, quality=q),
                "thompson": run_bandit(t, rows, lam, thompson, seed=s, quality=q),
                "pheromone": run_pheromone(t, rows, lam, seed=s, quality=q),
            }
            for name, run in runs.items():
                regret.setdefault((scenario, name), []).append(float(top - run.rewards.sum()))
    med = {k: float(np.median(v)) for k, v in regret.items()}
    ok = all(med[(sc, "pheromone")] <= med[(sc, "static")] for sc in ("stationary", "drift"))
    console.print(
        f"{'OK  ' if ok else 'MISS'} pheromone AMRO-S-style: regret after {steps} requests (median of {seeds} "
        f"orders), stationary {med[('stationary', 'pheromone')]:.0f} vs static "
        f"{med[('stationary', 'static')]:.0f} (thompson {med[('stationary', 'thompson')]:.0f}); drift "
        f"{med[('drift', 'pheromone')]:.0f} vs static {med[('drift', 'static')]:.0f} (thompson "
        f"{med[('drift', 'thompson')]:.0f}) (baseline: <= static in both)"
    )
    return ok


def personalised(folder: Path, *, seed: int, console: Console) -> bool:
    """The personalised-routing line; True when per-tenant preferences >= the global router."""
    from pointsman.data.dataset import normalize_prompt
    from pointsman.data.pairwise import load_preferences
    from pointsman.policy.personal import Judgement, PersonalPreferences
    from pointsman.routers.base import Queries
    from pointsman.routers.registry import make_router

    scored = load_dataset(folder)
    prefs = load_preferences(folder / "pairwise_training_data_standard.json")
    asked = {normalize_prompt(p.query) for p in prefs}
    router = make_router("knn").fit(
        scored.subset([i for i, p in enumerate(scored.prompts) if normalize_prompt(p) not in asked])
    )
    names = router.model_names
    queries = sorted({p.query for p in prefs})
    predicted = dict(zip(queries, router.predict(Queries(queries)), strict=True))
    family = {task: tenant for tenant, tasks in TENANTS.items() for task in tasks}
    held = set(np.random.default_rng(seed).choice(queries, len(queries) // 2, replace=False))
    judged = [
        (
            p.query in held,
            Judgement(family[p.task], names.index(p.better), names.index(p.worse), predicted[p.query]),
        )
        for p in prefs
        if p.task in family
    ]
    model = PersonalPreferences(len(names)).fit([j for test, j in judged if not test])
    test = [j for is_test, j in judged if is_test]

    def accuracy(tenant_known: bool, js: list[Judgement]) -> float:
        return float(np.mean([
            model.prefers(j.tenant if tenant_known else None, j.quality, j.better, j.worse) > 0.5 for j in js
        ]))  # fmt: skip

    per = ", ".join(
        f"{t} {accuracy(True, js):.3f} vs {accuracy(False, js):.3f}"
        for t in TENANTS
        if (js := [j for j in test if j.tenant == t])
    )
    mine, glob = accuracy(True, test), accuracy(False, test)
    ok = mine >= glob
    console.print(
        f"{'OK  ' if ok else 'MISS'} personalised routing: held-out pairwise accuracy {mine:.3f} vs the global "
        f"router's {glob:.3f} on {len(test)} judgements ({per}) (baseline: the global router)"
    )
    return ok


def session_budgets(data: RoutingDataset, *, seed: int, console: Console) -> bool:
    """The session-budget line; True when paced >= even split."""
    held = predict_held_out(RouterSpec("knn", {}), data, group_kfold(data, 5, seed))
    q, c = np.full(data.quality.shape, np.nan), np.full(data.quality.shape, np.nan)
    q[held.rows], c[held.rows] = held.quality, held.cost
    rng = np.random.default_rng(seed)
    kw = {"steps": 5, "hard_tasks": HARD_TASKS, "budget_share": 0.3, "rng": rng}
    ref = int(np.nanargmax(np.nanmean(data.quality, axis=0)))  # the best single model
    tune = sessions.draw_sessions(data.tasks, data.cost, ref, n=400, **kw)
    test = sessions.draw_sessions(data.tasks, data.cost, ref, n=1000, **kw)
    results = sessions.compare(tune, test, q, c, data.quality, data.cost)
    paced, even = results["paced"], results["even split"]
    ok = paced.quality >= even.quality
    detail = "; ".join(
        f"{k} {r.quality:.4f} (last step {r.last_step_quality:.3f}, spend {r.spend_share:.0%}, "
        f"over budget {r.overrun_rate:.1%})"
        for k, r in results.items()
    )
    console.print(
        f"{'OK  ' if ok else 'MISS'} session budgets: mean quality per step {detail} (baseline: even split)"
    )
    return ok


if __name__ == "__main__":
    sys.exit(main())

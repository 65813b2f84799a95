"""The routers from the literature (issue 13), each against the simple baseline the issue names for it.

One line per method with its figure on real data (LLMRouter, 5-fold grouped CV, the lab's evaluation and
cost model). Exits 1 when a built method is below its baseline:
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
- methods of the issue not built yet are listed as such (they are not a pass).
New-model onboarding of the graph router against IRT's: `benchmarks/router_onboarding.py --router graph`
and `--router irt` (minutes per held-out model; figures in docs/routers.md).

    python benchmarks/seed_routers.py [--data ../shared/data/llmrouter] [--cv 5] [--bootstrap 100]
        [--methods graph,dual,personal,sessions]
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
METHODS = ("graph", "dual", "personal", "sessions", "pheromone")
# Simulated tenants: the task families of RouteProfile's pairwise judgements.
TENANTS = {
    "reasoning": {"agentverse-logicgrid", "agentverse-mgsm", "gsm8k"},
    "knowledge": {"mmlu", "commonsense_qa", "openbook_qa", "arc_challenge", "natural_qa", "trivia_qa"},
    "build": {"mbpp", "human_eval", "commongen"},
}
NOT_BUILT = [
    "prompt-strategy routing (RoutingGen)",
    "multi-model aggregation (Router-R1 / FusionFactory / TCAR)",
]


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
    if "pheromone" in wanted:
        misses += not pheromone(args.data, seed=args.seed, console=console)
    for method in NOT_BUILT:
        console.print(f"---- {method}: not built yet")
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

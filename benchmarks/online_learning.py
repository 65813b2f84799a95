"""Learning from traffic, simulated on the LLMRouter data: regret, drift, off-policy evaluation, overhead.

Traffic: the prompts not used to train the warm-start router (`--warm` of them train it, the default lab
router), in a random order per seed; the reward of a pick is the model's recorded score - lambda x its
modelled cost. Every policy starts from the same router (its predictions are the bandits' prior and the
static baseline). Medians over `--seeds` seeds.

1. Regret after 5,000 requests vs the per-prompt best model: Thompson and LinUCB against epsilon-greedy (the
   same learner, uniform exploration) and the static router at the same lambda (plot: regret.png).
2. Drift: at request 2,500 the best model's scores become a weak model's. The bandit must raise an alarm on
   that model within 300 requests, reach a value (quality - lambda x cost over requests 4,000-5,000) within
   0.02 of the best fixed model after the drift, while the static router stays below that; the same runs
   without drift may raise an alarm in at most 1 of 5 seeds.
3. OPE: 20,000 decisions logged by a stochastic policy (softmax over the router's values, 20% uniform);
   doubly-robust estimates (reward model: the router) of 5 other policies, 100 trials: mean absolute error
   <= 0.01 and 95% bootstrap intervals covering the true value in >= 90% of trials, for each policy.
4. Overhead: a bandit choice (features, posterior, pick, context) vs the static ranking, given the
   router's predictions and the embedding: p50 difference <= 0.2 ms.

Exits 1 on a miss.

    python benchmarks/online_learning.py [--data ../shared/data/llmrouter] [--seeds 5] [--trials 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from pointsman.config.gateway import BanditConfig
from pointsman.learn.bandits import Bandit, cap_exploration, thompson_probabilities
from pointsman.learn.ope import OPEError, evaluate, greedy
from pointsman.learn.simulate import Traffic, best_reward, drifted, run_bandit, run_static, with_kind
from pointsman.policy.objective import Objective

KINDS = ("thompson", "linucb", "epsilon_greedy")
console = Console(highlight=False)


def regret(t: Traffic, seeds: int, steps: int, lam: float, cfg: BanditConfig, out: Path) -> list[str]:
    curves: dict[str, list[np.ndarray]] = {k: [] for k in (*KINDS, "static")}
    for seed in track(range(seeds), description="regret", console=console):
        rows = np.random.default_rng(seed).permutation(t.n)[:steps]
        best = best_reward(t.quality[rows], t.cost[rows], lam)
        curves["static"].append(np.cumsum(best - run_static(t, rows, lam).rewards))
        for kind in KINDS:
            run = run_bandit(t, rows, lam, with_kind(cfg, kind), seed=seed)
            curves[kind].append(np.cumsum(best - run.rewards))
    final = {k: float(np.median([c[-1] for c in v])) for k, v in curves.items()}
    table = Table(title=f"cumulative regret after {steps} requests (median of {seeds} seeds, lambda={lam:g})")
    for col in ("policy", "regret", "per request"):
        table.add_column(col)
    for k, v in final.items():
        table.add_row(k, f"{v:.1f}", f"{v / steps:.4f}")
    console.print(table)
    _plot(curves, out / "regret.png", lam)
    misses = []
    for k in ("thompson", "linucb"):
        for other in ("epsilon_greedy", "static"):
            if not final[k] < final[other]:
                misses.append(f"regret: {k} {final[k]:.1f} is not below {other} {final[other]:.1f}")
    return misses


def _plot(curves: dict[str, list[np.ndarray]], path: Path, lam: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, v in curves.items():
        ax.plot(np.median(np.stack(v), axis=0), label=k)
    ax.set_xlabel("requests")
    ax.set_ylabel("cumulative regret vs per-prompt best")
    ax.set_title(f"LLMRouter stream, lambda={lam:g} (median over seeds)")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    console.print(f"plot: {path}")


def drift(t: Traffic, seeds: int, steps: int, lam: float, cfg: BanditConfig) -> list[str]:
    at, window = steps // 2, slice(steps - 1000, steps)
    means = np.nanmean(t.quality, axis=0)
    best, weak = int(np.argmax(means)), int(np.argmin(means))
    console.print(f"drift at {at}: {t.models[best]} scores become {t.models[weak]}'s")
    rows_out, misses = [], []
    false_alarms = 0
    for seed in track(range(seeds), description="drift", console=console):
        rows = np.random.default_rng(seed).permutation(t.n)[:steps]
        q = drifted(t, rows, at, best, weak)
        fixed = float((q[at:] - lam * t.cost[rows][at:]).mean(axis=0).max())  # best fixed model after drift
        run = run_bandit(t, rows, lam, cfg, seed=seed, quality=q)
        static = run_static(t, rows, lam, quality=q)
        delay = next((k - at for k, arm in run.alarms if k >= at and arm == best), None)
        early = sum(1 for k, _ in run.alarms if k < at)
        calm = run_bandit(t, rows, lam, cfg, seed=seed)
        false_alarms += bool(calm.alarms)
        rows_out.append(
            (
                seed,
                delay,
                early,
                fixed,
                run.rewards[window].mean(),
                static.rewards[window].mean(),
                len(calm.alarms),
            )
        )
    table = Table(
        title=f"drift ({cfg.kind}; value = quality - lambda x cost over requests {window.start}-{steps})"
    )
    for col in (
        "seed",
        "alarm delay",
        "alarms before drift",
        "best fixed after",
        "bandit",
        "static",
        "alarms without drift",
    ):
        table.add_column(col)
    for seed, delay, early, fixed, b, s, calm in rows_out:
        table.add_row(str(seed), str(delay), str(early), f"{fixed:.4f}", f"{b:.4f}", f"{s:.4f}", str(calm))
    console.print(table)
    delays = [r[1] if r[1] is not None else np.inf for r in rows_out]
    gap = float(np.median([r[3] - r[4] for r in rows_out]))
    static_gap = float(np.median([r[3] - r[5] for r in rows_out]))
    console.print(
        f"median alarm delay {np.median(delays):g}; bandit {gap:+.4f} below the best fixed model "
        f"(negative: above it); static {static_gap:+.4f} below; runs with false alarms "
        f"{false_alarms}/{seeds}"
    )
    if not np.median(delays) <= 300:
        misses.append(f"drift: median alarm delay {np.median(delays):g} > 300 requests")
    if not gap <= 0.02:
        misses.append(f"drift: bandit {gap:.4f} below the best fixed model after drift (> 0.02)")
    if not static_gap > 0.02:
        misses.append(
            f"drift: the static router recovered too ({static_gap:.4f} below): no degradation shown"
        )
    if false_alarms > max(1, seeds // 5):
        misses.append(f"drift: false alarms in {false_alarms} of {seeds} no-drift runs")
    return misses


def ope(t: Traffic, trials: int, n_log: int, lam: float, cfg: BanditConfig) -> list[str]:
    value = t.quality - lam * t.cost  # (N, m) true reward of every (prompt, model)
    router_value = t.prior - lam * t.cost  # the reward model and the logging policy's basis
    z = (router_value - router_value.max(axis=1, keepdims=True)) / 0.05
    logging = 0.8 * np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) + 0.2 / t.quality.shape[1]
    # A bandit trained on one seed's stream, frozen: its (capped) Thompson probabilities per prompt.
    rows = np.random.default_rng(99).permutation(t.n)[:5000]
    trained = run_bandit(t, rows, lam, cfg, seed=99)
    bandit = Bandit(t.quality.shape[1], t.embeddings.shape[1], cfg, clock=lambda: 0.0)
    X = np.stack([bandit.features(t.prior[i], t.embeddings[i]) for i in range(t.n)])
    bandit.update(trained.picks, X[rows, trained.picks], t.quality[rows, trained.picks])
    bandit_probs = np.empty_like(value)
    for i in range(t.n):
        qb, sd = bandit.posterior.quality(X[i])
        v = qb - lam * t.cost[i]
        bandit_probs[i] = cap_exploration(
            thompson_probabilities(v, sd), int(np.argmax(v)), cfg.exploration_budget
        )
    cheapest = np.zeros_like(value)
    cheapest[np.arange(t.n), np.argmin(t.cost, axis=1)] = 1.0
    single = np.zeros_like(value)
    single[:, int(np.argmax(t.prior.mean(axis=0)))] = 1.0
    policies = {
        f"router lambda={lam:g}": greedy(router_value),
        "router lambda=0": greedy(t.prior),
        "best single (by router)": single,
        "cheapest": cheapest,
        f"bandit {cfg.kind} (frozen)": bandit_probs,
    }
    truth = {k: float((p * value).sum(axis=1).mean()) for k, p in policies.items()}
    errors = {k: [] for k in policies}
    covered = {k: 0 for k in policies}
    m = t.quality.shape[1]
    cum = np.cumsum(logging, axis=1)
    for trial in track(range(trials), description="ope", console=console):
        rng = np.random.default_rng(1000 + trial)
        x = rng.integers(0, t.n, n_log)
        a = np.minimum((cum[x] < rng.random(n_log)[:, None]).sum(axis=1), m - 1)
        r, p = value[x, a], logging[x, a]
        for k, pol in policies.items():
            try:
                res = evaluate(a, r, p, pol[x], router_value[x], n_boot=200, rng=rng)
            except OPEError as exc:
                errors[k].append(np.inf)
                console.print(f"[red]{k}: {exc}[/]")
                continue
            errors[k].append(abs(res.dr.value - truth[k]))
            covered[k] += res.dr.low <= truth[k] <= res.dr.high
    table = Table(title=f"OPE: doubly-robust on {n_log} logged decisions, {trials} trials")
    for col in ("policy", "true value", "DR mean abs error", "95% coverage"):
        table.add_column(col)
    misses = []
    for k in policies:
        mae, cov = float(np.mean(errors[k])), covered[k] / trials
        table.add_row(k, f"{truth[k]:.4f}", f"{mae:.4f}", f"{cov:.0%}")
        if not mae <= 0.01:
            misses.append(f"ope: {k}: DR mean absolute error {mae:.4f} > 0.01")
        if not cov >= 0.9:
            misses.append(f"ope: {k}: interval coverage {cov:.0%} < 90%")
    console.print(table)
    return misses


def overhead(t: Traffic, lam: float, cfg: BanditConfig, n: int = 3000) -> list[str]:
    """Per request, given the router's predictions and the embedding: the static ranking vs the bandit's."""
    objective = Objective(lambda_=lam)
    bandit = Bandit(t.quality.shape[1], t.embeddings.shape[1], cfg)
    static_t, bandit_t = np.empty(n), np.empty(n)
    for k in range(n):  # interleaved, so both see the same machine load
        i = k % t.n
        q, c, e = t.prior[i], t.cost[i], t.embeddings[i]
        t0 = time.perf_counter()
        objective.rank(q, c)
        t1 = time.perf_counter()
        z = bandit.reduce(e)
        X = np.hstack([np.ones((len(q), 1)), q[:, None], np.tile(z, (len(q), 1))])
        choice = bandit.choose(X, c, lam)
        _ = {"z": np.round(z, 5).tolist(), "prior": [round(float(v), 5) for v in q], "p": choice.probability}
        t2 = time.perf_counter()
        static_t[k], bandit_t[k] = t1 - t0, t2 - t1
    s, b = np.median(static_t) * 1e3, np.median(bandit_t) * 1e3
    console.print(
        f"overhead ({cfg.kind}, {n} choices): static ranking p50 {s:.4f} ms, bandit choice p50 "
        f"{b:.4f} ms, added {b - s:.4f} ms"
    )
    return [] if b - s <= 0.2 else [f"overhead: a bandit choice adds {b - s:.4f} ms p50 (> 0.2)"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/llmrouter")
    )
    ap.add_argument("--warm", type=int, default=900, help="prompts that train the warm-start router")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--log-size", type=int, default=20_000)
    ap.add_argument(
        "--lam", type=float, default=200.0, help="USD -> quality exchange rate (quality - lam x cost)"
    )
    ap.add_argument("--out", type=Path, default=Path("runs/online_learning"))
    ap.add_argument("--only", default="regret,drift,ope,overhead")
    args = ap.parse_args()
    started = time.perf_counter()
    t = Traffic.load(args.data, warm=args.warm)
    console.print(
        f"{t.n} stream prompts x {len(t.models)} models; prior: {t.router} router on {args.warm} prompts"
    )
    cfg = BanditConfig(half_life=1e12)  # simulated time: one second per request, no forgetting
    misses: list[str] = []
    parts = set(args.only.split(","))
    if "regret" in parts:
        misses += regret(t, args.seeds, args.steps, args.lam, cfg, args.out)
    if "drift" in parts:
        misses += drift(t, args.seeds, args.steps, args.lam, cfg)
    if "ope" in parts:
        misses += ope(t, args.trials, args.log_size, args.lam, cfg)
    if "overhead" in parts:
        misses += overhead(t, args.lam, cfg)
    console.print(f"{time.perf_counter() - started:.0f} s")
    for miss in misses:
        console.print(f"[red]MISS[/] {miss}")
    if not misses:
        console.print("[green]all targets met[/]")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())

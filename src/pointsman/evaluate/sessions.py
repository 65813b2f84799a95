"""Session budgets simulated on routing data: sequences of prompts that share one budget.

A session is `steps - 1` prompts drawn from the data and a last one from the hard tasks (the agent's final,
hardest step). Its budget is a share of what the best single model would cost on those prompts. Policies
see a router's held-out predictions and pay the real cost:
- `paced`: `SessionBudget` (policy/session.py), lambda0 calibrated on other sessions;
- `even split`: each step may spend what is left over the steps left, best predicted quality within that;
- `static lambda`: one lambda for every step (calibrated the same way), no reserve: may overrun;
- `greedy`: best predicted quality while affordable, then the cheapest model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pointsman.policy.session import SessionBudget

LAMBDA_GRID = np.geomspace(1.0, 1e6, 31)


@dataclass(frozen=True)
class Sessions:
    rows: np.ndarray  # (s, steps) row indices of the prompts, in order
    budgets: np.ndarray  # (s,) USD


@dataclass(frozen=True)
class SessionResult:
    quality: float  # mean over sessions of the mean true quality per step
    last_step_quality: float
    spend_share: float  # mean spend / budget
    overrun_rate: float  # sessions that spent more than their budget


def draw_sessions(
    tasks: Sequence[str | None],
    true_cost: np.ndarray,
    reference: int,
    *,
    n: int,
    steps: int,
    hard_tasks: Sequence[str],
    budget_share: float,
    rng: np.random.Generator,
) -> Sessions:
    """`n` sessions; the budget is `budget_share` x the cost of model `reference` on the session's prompts."""
    labels = np.array([t or "" for t in tasks], dtype=object)
    hard = np.flatnonzero(np.isin(labels, list(hard_tasks)))
    easy = np.flatnonzero(~np.isin(labels, list(hard_tasks)))
    if not len(hard) or len(easy) < steps - 1:
        raise ValueError(f"need prompts of the hard tasks {list(hard_tasks)} and {steps - 1} others")
    rows = np.column_stack([rng.choice(easy, size=(n, steps - 1)), rng.choice(hard, size=n)])
    budgets = budget_share * np.nan_to_num(true_cost[rows, reference]).sum(axis=1)
    return Sessions(rows, budgets)


Policy = Callable[[np.ndarray, np.ndarray, float, int, int], int]  # (q, c, remaining, step, steps) -> model


def run(
    sessions: Sessions,
    pred_q: np.ndarray,
    pred_c: np.ndarray,
    true_q: np.ndarray,
    true_c: np.ndarray,
    make: Callable[[float, int], SessionBudget | Policy],
) -> SessionResult:
    """Play every session with the policy `make(budget, steps)` returns."""
    steps = sessions.rows.shape[1]
    quality, last, share, over = [], [], [], 0
    for rows, budget in zip(sessions.rows, sessions.budgets):
        policy = make(float(budget), steps)
        spent, got = 0.0, []
        for t, i in enumerate(rows):
            if isinstance(policy, SessionBudget):
                j = policy.choose(pred_q[i], pred_c[i])
                policy.record(float(np.nan_to_num(true_c[i, j])))
            else:
                j = policy(pred_q[i], pred_c[i], budget - spent, t, steps)
            spent += float(np.nan_to_num(true_c[i, j]))
            got.append(float(np.nan_to_num(true_q[i, j])))
        quality.append(np.mean(got))
        last.append(got[-1])
        share.append(spent / budget)
        over += spent > budget * (1 + 1e-9)
    n = len(sessions.rows)
    return SessionResult(float(np.mean(quality)), float(np.mean(last)), float(np.mean(share)), over / n)


def even_split(q: np.ndarray, c: np.ndarray, remaining: float, step: int, steps: int) -> int:
    cap = remaining / (steps - step)
    ok = c <= cap
    return int(np.argmax(np.where(ok, q, -np.inf))) if ok.any() else int(np.nanargmin(c))


def greedy(q: np.ndarray, c: np.ndarray, remaining: float, step: int, steps: int) -> int:
    ok = c <= remaining
    return int(np.argmax(np.where(ok, q, -np.inf))) if ok.any() else int(np.nanargmin(c))


def static_lambda(lam: float) -> Policy:
    return lambda q, c, remaining, step, steps: int(np.argmax(q - lam * c))


def calibrate(score: Callable[[float], SessionResult], max_overrun: float = 0.0) -> float:
    """The lambda of LAMBDA_GRID with the best quality whose overrun rate is <= max_overrun (else the one
    that overruns least)."""
    results = [(lam, score(float(lam))) for lam in LAMBDA_GRID]
    ok = [(r.quality, lam) for lam, r in results if r.overrun_rate <= max_overrun]
    if ok:
        return float(max(ok)[1])
    return float(min(results, key=lambda x: (x[1].overrun_rate, -x[1].quality))[0])


def compare(
    tune: Sessions,
    test: Sessions,
    pred_q: np.ndarray,
    pred_c: np.ndarray,
    true_q: np.ndarray,
    true_c: np.ndarray,
    max_overrun: float = 0.05,
) -> dict[str, SessionResult]:
    """Every policy on `test`, lambdas calibrated on `tune` (best quality with at most `max_overrun` of the
    sessions over budget there: predicted costs are estimates, so a few may be)."""

    def paced(lam: float) -> Callable[[float, int], SessionBudget]:
        return lambda budget, steps: SessionBudget(budget, steps, lam)

    args = (pred_q, pred_c, true_q, true_c)
    lam_paced = calibrate(lambda lam: run(tune, *args, paced(lam)), max_overrun)
    lam_static = calibrate(lambda lam: run(tune, *args, lambda b, s: static_lambda(lam)), max_overrun)
    return {
        "paced": run(test, *args, paced(lam_paced)),
        "even split": run(test, *args, lambda b, s: even_split),
        f"static lambda ({lam_static:.3g})": run(test, *args, lambda b, s: static_lambda(lam_static)),
        "greedy": run(test, *args, lambda b, s: greedy),
    }

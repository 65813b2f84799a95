"""Off-policy evaluation: what a candidate policy would have earned on traffic another policy routed.

Inputs per logged decision i: the action a_i taken, its propensity p_i (the logging policy's probability of
a_i, the decision log's `probability`), the observed reward r_i, the candidate's action probabilities
pi(.|x_i) and, for doubly-robust, a reward model's prediction rhat(x_i, .).

- IPS: mean(w_i r_i) with w_i = pi(a_i|x_i) / p_i (unbiased; high variance when weights are large);
- SNIPS: sum(w_i r_i) / sum(w_i) (self-normalised: a little bias, much less variance);
- DR: mean(sum_a pi(a|x_i) rhat(x_i, a) + w_i (r_i - rhat(x_i, a_i))) (unbiased if either the propensities
  or the reward model are right; low variance when the reward model is good).
Intervals: percentile bootstrap over decisions. Effective sample size: (sum w)^2 / sum w^2.
`evaluate` refuses (OPEError) when propensities are missing or invalid, when the log was written by a
deterministic policy that the candidate departs from, or when the effective sample size is below `min_ess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class OPEError(ValueError):
    """The log cannot support an estimate for this candidate (the message says why)."""


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float  # 95% bootstrap interval
    high: float


@dataclass(frozen=True)
class OPEResult:
    ips: Estimate
    snips: Estimate
    dr: Estimate | None  # None without a reward model
    ess: float  # effective sample size of the importance weights
    n: int
    matched: float  # share of decisions where the candidate could have taken the logged action


def evaluate(
    actions: np.ndarray,
    rewards: np.ndarray,
    propensity: np.ndarray,
    target: np.ndarray,
    reward_model: np.ndarray | None = None,
    *,
    n_boot: int = 200,
    min_ess: float = 30.0,
    rng: np.random.Generator | None = None,
) -> OPEResult:
    """Estimates for a candidate with action probabilities `target` (n, m) on logged (a, r, p)."""
    actions = np.asarray(actions, dtype=np.int64)
    rewards = np.asarray(rewards, dtype=np.float64)
    p = np.asarray(propensity, dtype=np.float64)
    n = len(actions)
    if n == 0:
        raise OPEError("no logged decisions with a reward to evaluate on")
    if not np.all(np.isfinite(p)) or np.any(p <= 0) or np.any(p > 1):
        bad = int(np.sum(~np.isfinite(p) | (p <= 0) | (p > 1)))
        raise OPEError(f"{bad} of {n} decisions have no valid propensity (logged probability in (0, 1])")
    rows = np.arange(n)
    pi_a = target[rows, actions]
    if np.all(p == 1.0) and np.any(pi_a < 1.0):
        raise OPEError(
            "every logged decision was deterministic (probability 1) and the candidate would have chosen "
            f"differently on {int(np.sum(pi_a < 1))} of {n}: no support; log with a stochastic policy "
            "(a bandit, or profile exploration) first"
        )
    w = pi_a / p
    ess = float(w.sum() ** 2 / max(np.sum(w**2), 1e-300))
    if ess < min_ess:
        raise OPEError(
            f"support too thin: effective sample size {ess:.1f} < {min_ess:g} (the candidate mostly picks "
            "what the logging policy rarely did)"
        )
    terms = {"ips": w * rewards}
    if reward_model is not None:
        terms["dr"] = (target * reward_model).sum(axis=1) + w * (rewards - reward_model[rows, actions])
    rng = rng or np.random.default_rng(0)
    boot = {k: np.empty(n_boot) for k in ("ips", "snips", "dr")}
    for lo in range(0, n_boot, 25):  # bootstrap in chunks: (25, n) index draws at a time
        idx = rng.integers(0, n, size=(min(25, n_boot - lo), n))
        wb = w[idx]
        boot["ips"][lo : lo + len(idx)] = terms["ips"][idx].mean(axis=1)
        boot["snips"][lo : lo + len(idx)] = terms["ips"][idx].sum(axis=1) / np.maximum(wb.sum(axis=1), 1e-300)
        if "dr" in terms:
            boot["dr"][lo : lo + len(idx)] = terms["dr"][idx].mean(axis=1)

    def est(point: float, key: str) -> Estimate:
        low, high = np.percentile(boot[key], [2.5, 97.5])
        return Estimate(float(point), float(low), float(high))

    return OPEResult(
        ips=est(terms["ips"].mean(), "ips"),
        snips=est(terms["ips"].sum() / w.sum(), "snips"),
        dr=est(terms["dr"].mean(), "dr") if "dr" in terms else None,
        ess=ess,
        n=n,
        matched=float(np.mean(pi_a > 0)),
    )


def greedy(values: np.ndarray) -> np.ndarray:
    """(n, m) one-hot action probabilities of the policy that takes the largest value per row."""
    out = np.zeros_like(values, dtype=np.float64)
    out[np.arange(len(values)), np.argmax(values, axis=1)] = 1.0
    return out

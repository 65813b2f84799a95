"""Multi-model aggregation in the lab: the fan-out policies of `policy.aggregate` on routing data with answers.

Per request, given a router's predicted quality p and cost c of each model and the exchange rate lambda:
- single: the model with the best p - lambda x c (the non-aggregated router);
- always: every closed-answer request asks the k best by that value and returns their vote;
- gated: only when the predicted gain of the vote exceeds lambda x the extra predicted cost.
Closed answers: the request lists options or asks for a number (the caller says which; the lab's data has the
bare questions, so the task's answer form stands in for what a gateway reads in the request). The realised
quality of a vote is the recorded score of the answer it picked; its cost is the sum of every call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointsman.policy.aggregate import fan_out_gain, log_odds_weights, vote


@dataclass(frozen=True)
class Outcome:
    quality: np.ndarray  # (n,) realised score per request
    cost: np.ndarray  # (n,) USD of every call made
    fanned: np.ndarray  # (n,) bool: asked k models


def route(
    pred_q: np.ndarray,
    pred_c: np.ndarray,
    quality: np.ndarray,
    cost: np.ndarray,
    responses: np.ndarray,
    closed: np.ndarray,
    lam: float,
    *,
    k: int = 3,
    mode: str = "gated",
    weighted: bool = False,
) -> Outcome:
    """Realised quality and cost of each request under `mode` (single, always, gated)."""
    n = len(pred_q)
    value = np.nan_to_num(pred_q, nan=-np.inf) - lam * np.nan_to_num(pred_c, nan=np.inf)
    ranked = np.argsort(-value, axis=1, kind="stable")  # ties: the first model, as argmax
    out_q, out_c, fanned = np.empty(n), np.empty(n), np.zeros(n, dtype=bool)
    for i in range(n):
        best = int(ranked[i, 0])
        out_q[i], out_c[i] = quality[i, best], cost[i, best]
        if mode == "single" or not closed[i]:
            continue
        members = [int(j) for j in ranked[i, :k]]
        if mode == "gated":
            extra = float(np.nansum(pred_c[i, members]) - pred_c[i, best])
            if fan_out_gain(pred_q[i, members]) <= lam * extra:
                continue
        weights = log_odds_weights(pred_q[i, members]) if weighted else None
        pick = members[vote([responses[i, j] for j in members], weights)]
        out_q[i], out_c[i], fanned[i] = quality[i, pick], float(cost[i, members].sum()), True
    return Outcome(out_q, out_c, fanned)


__all__ = ["Outcome", "route"]

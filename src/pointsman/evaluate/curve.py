"""Quality-cost curves: sweep the objective over lambda with a router's predictions, score the choices with
the true quality and cost, and reduce the curve to the report's metrics.

Choices are made from predicted quality and cost; only the scoring uses the truth. Every choice is
restricted to models whose score for that prompt is known (see `truth.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pointsman.evaluate import metrics
from pointsman.evaluate.truth import Truth, best_model
from pointsman.policy.calibration import lambda_grid
from pointsman.policy.objective import sweep_lambda


@dataclass(frozen=True)
class References:
    """The fixed points a router is measured against, on one set of prompts."""

    best_single: int
    best_single_quality: float
    best_single_cost: float
    oracle_quality: float
    oracle_cost: float
    c_min: float  # cheapest single model's mean cost per call: AIQ's cost range starts here
    c_max: float  # dearest single model's mean cost per call: AIQ's cost range ends here
    # Two-model data (RouteLLM's APGR/CPT): the strong model (the best single one unless fixed by the
    # caller, e.g. to the full data's in a bootstrap resample) and both models' mean quality.
    strong: int | None = None
    strong_quality: float | None = None
    weak_quality: float | None = None

    @classmethod
    def of(cls, truth: Truth) -> References:
        return cls.weighted(truth, np.ones((1, truth.n_prompts)))[0]

    @classmethod
    def weighted(cls, truth: Truth, weights: np.ndarray, strong: int | None = None) -> list[References]:
        """One References per row of (B, n) prompt weights (bootstrap counts); for two-model data the strong
        model is `strong` (default: each row's best single model)."""
        quality, cost = truth.model_means(weights)
        total = weights.sum(axis=1)
        oracle_q, oracle_c = (weights @ v / total for v in truth.oracle_per_prompt)
        two = truth.quality.shape[1] == 2
        out = []
        for b in range(len(weights)):
            best = best_model(quality[b], cost[b])
            s = (best if strong is None else strong) if two else None
            out.append(
                cls(
                    best_single=best,
                    best_single_quality=float(quality[b, best]),
                    best_single_cost=float(cost[b, best]),
                    oracle_quality=float(oracle_q[b]),
                    oracle_cost=float(oracle_c[b]),
                    c_min=float(np.nanmin(cost[b])),
                    c_max=float(np.nanmax(cost[b])),
                    strong=s,
                    strong_quality=None if s is None else float(quality[b, s]),
                    weak_quality=None if s is None else float(quality[b, 1 - s]),
                )
            )
        return out


@dataclass(frozen=True)
class Scores:
    """One router's metrics (None: undefined here, e.g. APGR on more than two models, or never reached).

    Two-model data: `apgr`, `cpt50`, `cpt80` are RouteLLM's, from the threshold sweep on the router's own
    strong-vs-weak score (`threshold.py`), independent of cost; the `cost_aware_` ones are the same
    measures along this curve's lambda sweep of quality - lambda x cost (prompts ordered by predicted gain
    per predicted extra cost), which are not comparable with published APGR figures.
    """

    max_quality: float
    oracle_gap_closed: float | None
    cost_ratio_at_best_single_quality: float | None
    aiq: float
    apgr: float | None = None
    cpt50: float | None = None
    cpt80: float | None = None
    cost_aware_apgr: float | None = None
    cost_aware_cpt50: float | None = None
    cost_aware_cpt80: float | None = None


@dataclass(frozen=True)
class Curve:
    """Mean true quality and cost (USD per request) per lambda; `strong_share` for two-model data."""

    lambdas: np.ndarray
    quality: np.ndarray
    cost: np.ndarray
    strong_share: np.ndarray | None = None

    def hull(self) -> tuple[np.ndarray, np.ndarray]:
        return metrics.nondecreasing_hull(self.cost, self.quality)

    def score(self, refs: References) -> Scores:
        hc, hq = self.hull()
        reach = metrics.cost_at_quality(hc, hq, refs.best_single_quality)
        max_q = float(hq[-1])
        scores = Scores(
            max_quality=max_q,
            oracle_gap_closed=metrics.oracle_gap_closed(max_q, refs.best_single_quality, refs.oracle_quality),
            cost_ratio_at_best_single_quality=None if reach is None else reach / refs.best_single_cost,
            aiq=metrics.aiq(hc, hq, refs.c_min, refs.c_max),
        )
        if self.strong_share is None or refs.strong_quality is None or refs.weak_quality is None:
            return scores
        args = (self.strong_share, self.quality, refs.weak_quality, refs.strong_quality)
        return replace(
            scores,
            cost_aware_apgr=metrics.apgr(*args),
            cost_aware_cpt50=metrics.cpt(*args, 0.5),
            cost_aware_cpt80=metrics.cpt(*args, 0.8),
        )


@dataclass(frozen=True)
class Sweep:
    """Per-prompt outcomes of routing every prompt with every lambda: (n, L) choices, true quality, cost."""

    lambdas: np.ndarray
    choices: np.ndarray
    quality: np.ndarray
    cost: np.ndarray

    @classmethod
    def run(
        cls, pred_quality: np.ndarray, pred_cost: np.ndarray, truth: Truth, lambdas: np.ndarray | None = None
    ) -> Sweep:
        if pred_quality.shape != truth.quality.shape or pred_cost.shape != truth.quality.shape:
            raise ValueError(
                f"predictions {pred_quality.shape}/{pred_cost.shape} do not match the data "
                f"{truth.quality.shape}"
            )
        if lambdas is None:
            lambdas = lambda_grid(pred_quality, pred_cost)
        choices = sweep_lambda(pred_quality, pred_cost, lambdas, allowed=truth.known)
        return cls(
            lambdas=np.asarray(lambdas, float),
            choices=choices,
            quality=truth.gather(truth.quality, choices),
            cost=truth.gather(truth.cost, choices),
        )

    def curve(self, strong: int | None = None) -> Curve:
        share = None if strong is None else (self.choices == strong).mean(axis=0)
        return Curve(self.lambdas, self.quality.mean(axis=0), self.cost.mean(axis=0), share)

    def weighted_curves(self, weights: np.ndarray, strong: int | None = None) -> list[Curve]:
        """One curve per row of (B, n) prompt weights (bootstrap resamples as counts)."""
        total = weights.sum(axis=1, keepdims=True)
        q, c = weights @ self.quality / total, weights @ self.cost / total
        s = None if strong is None else weights @ (self.choices == strong).astype(float) / total
        return [Curve(self.lambdas, q[b], c[b], None if s is None else s[b]) for b in range(len(weights))]


def oracle_sweep(truth: Truth) -> Sweep:
    """The frontier of perfect foresight: the sweep with the true quality and cost as predictions."""
    return Sweep.run(
        np.where(truth.known, truth.quality, np.nan), np.where(truth.known, truth.cost, np.nan), truth
    )

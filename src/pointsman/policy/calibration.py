"""Calibration: resolve an operator's target ("95% of the best single model's quality", "at most $X per 1k
requests") to the willingness-to-pay `lambda` that meets it on calibration data.

Calibration data are predictions for prompts the router did not train on (a held-out split or
out-of-fold predictions) together with those prompts' true quality and cost. For a dense grid of lambdas
we route every calibration prompt and measure the mean true quality and cost (a `Tradeoff`); a quality
target takes the cheapest grid point that reaches it, a budget the best-quality point within it. The
achieved value on other held-out prompts is what `achieved` reports; expect it to differ from the
calibration value by about the sampling error of a mean over that many prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pointsman.evaluate.truth import Truth
from pointsman.policy.objective import CalibrationRecord, Objective, ObjectiveError, sweep_lambda

GRID_POINTS = 200


def lambda_grid(quality: np.ndarray, cost: np.ndarray, points: int = GRID_POINTS) -> np.ndarray:
    """0, a log-spaced grid over the lambdas at which the predictions' choices change, and inf.

    A choice between two models with predicted (q_i, c_i), (q_j, c_j), c_i > c_j, q_i > q_j flips at
    lambda = (q_i - q_j) / (c_i - c_j); the grid spans the 0.5-99.5% range of those break points with a
    factor-2 margin, so it is dense where choices change and the same code works for any cost unit.
    """
    Q, C = np.asarray(quality, float), np.asarray(cost, float)
    dq = Q[:, :, None] - Q[:, None, :]
    dc = C[:, :, None] - C[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        breaks = dq / dc
    breaks = breaks[(dq > 0) & (dc > 0) & np.isfinite(breaks)]
    if breaks.size == 0:
        return np.array([0.0, math.inf])
    lo, hi = np.quantile(breaks, [0.005, 0.995])
    inner = np.geomspace(lo / 2, hi * 2, points) if hi > lo else np.array([lo])
    return np.concatenate([[0.0], inner, [math.inf]])


@dataclass(frozen=True)
class Tradeoff:
    """Mean true quality and cost of routing with each lambda, measured on calibration prompts."""

    lambdas: np.ndarray
    quality: np.ndarray
    cost: np.ndarray
    best_single_quality: float
    oracle_quality: float
    n_prompts: int

    @classmethod
    def measure(
        cls,
        pred_quality: np.ndarray,
        pred_cost: np.ndarray,
        truth: Truth,
        lambdas: np.ndarray | None = None,
        max_cost_per_request: float | None = None,
    ) -> Tradeoff:
        if lambdas is None:
            lambdas = lambda_grid(pred_quality, pred_cost)
        choices = sweep_lambda(pred_quality, pred_cost, lambdas, truth.known, max_cost_per_request)
        return cls(
            lambdas=np.asarray(lambdas, float),
            quality=truth.gather(truth.quality, choices).mean(axis=0),
            cost=truth.gather(truth.cost, choices).mean(axis=0),
            best_single_quality=float(truth.model_quality[truth.best_single]),
            oracle_quality=truth.oracle_quality,
            n_prompts=truth.n_prompts,
        )

    def reference(self, objective: Objective) -> float:
        return _reference(objective, self.best_single_quality, self.oracle_quality)

    def resolve(self, objective: Objective) -> Objective:
        """The objective with `lambda` set to meet its target here, and a record of what that achieves."""
        if not objective.is_target:
            raise ObjectiveError(f"objective '{objective.describe()}' has no target to calibrate")
        if objective.quality_target is not None:
            want = objective.quality_target * self.reference(objective)
            ok = self.quality >= want - 1e-12
            # Cheapest point that reaches the target; else the best quality there is.
            pick = _argbest(self.cost, -self.lambdas, ok) if ok.any() else _argbest(-self.quality, self.cost)
        else:
            ok = self.cost * 1000 <= objective.budget_per_1k * (1 + 1e-12)
            # Best quality within the budget; else the cheapest point.
            pick = _argbest(-self.quality, self.cost, ok) if ok.any() else _argbest(self.cost, -self.quality)
        relative = self._relative(objective, float(self.quality[pick]))
        record = CalibrationRecord(
            target=objective.describe(),
            met=bool(ok.any()),
            quality=_sig(self.quality[pick]),
            relative_quality=None if relative is None else _sig(relative),
            cost_per_1k=_sig(self.cost[pick] * 1000),
            n_prompts=self.n_prompts,
        )
        return objective.model_copy(update={"lambda_": _sig(self.lambdas[pick]), "calibration": record})

    def _relative(self, objective: Objective, quality: float) -> float | None:
        if objective.relative_to == "absolute" or objective.quality_target is None:
            return None
        return quality / self.reference(objective)

    def to_dict(self) -> dict:
        """JSON-able form, e.g. to keep beside a router so a gateway can resolve targets without data."""
        return {
            "lambdas": [None if math.isinf(x) else float(x) for x in self.lambdas],
            "quality": self.quality.tolist(),
            "cost": self.cost.tolist(),
            "best_single_quality": self.best_single_quality,
            "oracle_quality": self.oracle_quality,
            "n_prompts": self.n_prompts,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Tradeoff:
        try:
            return cls(
                lambdas=np.array([math.inf if x is None else x for x in data["lambdas"]], float),
                quality=np.asarray(data["quality"], float),
                cost=np.asarray(data["cost"], float),
                best_single_quality=float(data["best_single_quality"]),
                oracle_quality=float(data["oracle_quality"]),
                n_prompts=int(data["n_prompts"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ObjectiveError(f"bad calibration table: {exc!r}") from exc


def _sig(x: float) -> float:
    """Six significant digits: calibrated figures are read by people and pasted into configs."""
    return float(f"{float(x):.6g}")


def _reference(objective: Objective, best_single: float, oracle: float) -> float:
    """The quality a relative target is a fraction of."""
    return {"best_single": best_single, "oracle": oracle, "absolute": 1.0}[objective.relative_to]


def _argbest(primary: np.ndarray, tie: np.ndarray, mask: np.ndarray | None = None) -> int:
    """Index of the lowest `primary` (then lowest `tie`) among `mask`."""
    order = np.lexsort((tie, primary))
    if mask is not None:
        order = order[mask[order]]
    return int(order[0])


def calibrate(
    objective: Objective, pred_quality: np.ndarray, pred_cost: np.ndarray, truth: Truth
) -> Objective:
    """Resolve a target objective on calibration data (predictions for prompts not trained on)."""
    tradeoff = Tradeoff.measure(
        pred_quality, pred_cost, truth, max_cost_per_request=objective.max_cost_per_request
    )
    return tradeoff.resolve(objective)


@dataclass(frozen=True)
class Achieved:
    """What an objective realises on a set of prompts."""

    quality: float
    relative_quality: float | None
    cost_per_1k: float
    met: bool | None
    n_prompts: int


def achieved(objective: Objective, pred_quality: np.ndarray, pred_cost: np.ndarray, truth: Truth) -> Achieved:
    """Mean true quality and cost of routing these prompts with a resolved objective (e.g. held-out)."""
    choice = objective.choose(pred_quality, pred_cost, truth.known)
    quality = float(truth.gather(truth.quality, choice).mean())
    cost_1k = float(truth.gather(truth.cost, choice).mean() * 1000)
    relative = met = None
    if objective.quality_target is not None:
        ref = _reference(objective, float(truth.model_quality[truth.best_single]), truth.oracle_quality)
        relative = None if objective.relative_to == "absolute" else quality / ref
        met = quality >= objective.quality_target * ref
    elif objective.budget_per_1k is not None:
        met = cost_1k <= objective.budget_per_1k
    return Achieved(quality, relative, cost_1k, met, truth.n_prompts)

"""Objective: turn predicted quality and cost per model into a ranking (one request) or choices (many).

Three ways to trade quality for cost, one per config shape:

- `{lambda: L}`: willingness to pay; maximise predicted quality - L x predicted cost (USD per request).
  `lambda: 0` is "best predicted quality", `lambda: inf` is "cheapest".
- `{within: x}`: the cheapest model whose predicted quality is within a fraction x of the best predicted.
- `{quality_target: 0.95, relative_to: best_single}` or `{budget_per_1k: 0.5}`: targets an operator states;
  `pointsman.policy.calibration` resolves them to a `lambda` on held-out data (the config then carries
  both the target and the resolved lambda).

Any of them may add `max_cost_per_request` (USD): a hard cap; models predicted to cost more are ranked after
every affordable one (cheapest first), so a request is still served when nothing fits.

Ranking order, best first: affordable models by the objective (ties go to the cheaper model), then, in
`within` mode, affordable models outside the quality band by predicted quality, then models over the cap by
cost, then models with no quality prediction (NaN) by cost. A NaN predicted cost counts as unaffordable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

RelativeTo = Literal["best_single", "oracle", "absolute"]

# Ranking tiers (lower is better).
_IN_BAND, _OUT_OF_BAND, _OVER_CAP, _NO_QUALITY, _EXCLUDED = 0, 1, 2, 3, 4


class ObjectiveError(ValueError):
    """An objective that cannot be applied as configured (e.g. a target that was never calibrated)."""


class CalibrationRecord(BaseModel):
    """What calibration achieved on its data, kept with the objective it resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    met: bool
    quality: float
    relative_quality: float | None
    cost_per_1k: float
    n_prompts: int


class Objective(BaseModel):
    """An objective as it appears in a config or router file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    lambda_: float | None = Field(default=None, alias="lambda", ge=0.0)
    within: float | None = Field(default=None, ge=0.0, le=1.0)
    quality_target: float | None = Field(default=None, gt=0.0)
    relative_to: RelativeTo = "best_single"
    budget_per_1k: float | None = Field(default=None, gt=0.0)
    max_cost_per_request: float | None = Field(default=None, gt=0.0)
    calibration: CalibrationRecord | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> Objective:
        if self.lambda_ is not None and self.within is not None:
            raise ValueError("give either 'lambda' or 'within', not both")
        if self.quality_target is not None and self.budget_per_1k is not None:
            raise ValueError("give either 'quality_target' or 'budget_per_1k', not both")
        if self.within is not None and self.is_target:
            raise ValueError(
                "'within' cannot be combined with a calibrated target (targets resolve to lambda)"
            )
        if self.lambda_ is None and self.within is None and not self.is_target:
            object.__setattr__(self, "lambda_", 0.0)  # the default objective: best predicted quality
        return self

    @property
    def is_target(self) -> bool:
        return self.quality_target is not None or self.budget_per_1k is not None

    @property
    def is_resolved(self) -> bool:
        return self.lambda_ is not None or self.within is not None

    def describe(self) -> str:
        """A short human label, e.g. for the CLI and decision logs."""
        if self.quality_target is not None:
            ref = "" if self.relative_to == "absolute" else f" of {self.relative_to}"
            head = f"quality >= {self.quality_target:g}{ref}"
        elif self.budget_per_1k is not None:
            head = f"<= ${self.budget_per_1k:g} per 1k requests"
        elif self.within is not None:
            head = f"cheapest within {self.within:.0%} of best"
        else:
            head = ""
        parts = [head] if head else []
        if self.lambda_ is not None:
            parts.append(f"lambda={self.lambda_:g}")
        if self.max_cost_per_request is not None:
            parts.append(f"cap ${self.max_cost_per_request:g}/request")
        return ", ".join(parts)

    def dump(self) -> dict:
        """JSON-able dict in config spelling (`lambda`, infinity as the string "inf")."""
        out = self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
        if self.quality_target is None:
            out.pop("relative_to", None)
        if out.get("lambda") == math.inf:
            out["lambda"] = "inf"
        return out

    # -- decisions ------------------------------------------------------------------------------------

    def rank(self, quality: Sequence[float] | np.ndarray, cost: Sequence[float] | np.ndarray) -> list[int]:
        """Model indices for one request, best first (the gateway falls back down this list).

        The single-row fast path (plain Python over m floats, a few microseconds); it orders exactly as
        `choose` does, which the tests check.
        """
        self._check_resolved()
        q = quality.tolist() if isinstance(quality, np.ndarray) else list(quality)
        c = cost.tolist() if isinstance(cost, np.ndarray) else list(cost)
        if len(q) != len(c):
            raise ValueError(f"quality ({len(q)}) and cost ({len(c)}) predictions differ in length")
        inf = math.inf
        lam, within = self.lambda_, self.within
        cap = inf if self.max_cost_per_request is None else self.max_cost_per_request
        # affordable: known quality, finite cost within the cap (a NaN cost fails `ci < inf`)
        ok = [qi == qi and ci < inf and ci <= cap for qi, ci in zip(q, c)]
        if within is not None:
            best = max((qi for qi, a in zip(q, ok) if a), default=-inf)
            band = best - within * abs(best) if best > -inf else inf
        keys = []
        for i, qi, ci, a in zip(range(len(q)), q, c, ok):
            if not a:
                ci = inf if ci != ci else ci
                keys.append((_OVER_CAP, ci, -qi, i) if qi == qi else (_NO_QUALITY, ci, 0.0, i))
            elif within is not None:
                keys.append((_IN_BAND, ci, -qi, i) if qi >= band else (_OUT_OF_BAND, -qi, ci, i))
            elif lam == inf:
                keys.append((_IN_BAND, ci, -qi, i))
            else:
                keys.append((_IN_BAND, lam * ci - qi, ci, i))
        keys.sort()
        return [k[3] for k in keys]

    def choose(self, quality: np.ndarray, cost: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """(n,) chosen model index per row of (n, m) predictions; -1 where `allowed` leaves no model."""
        Q = np.atleast_2d(np.asarray(quality, float))
        C = np.atleast_2d(np.asarray(cost, float))
        if Q.shape != C.shape:
            raise ValueError(f"quality {Q.shape} and cost {C.shape} predictions differ in shape")
        tier, primary, tie = self._keys(Q, C)
        if allowed is not None:
            tier = np.where(allowed, tier, _EXCLUDED)
        return _first(tier, primary, tie)

    def _check_resolved(self) -> None:
        if not self.is_resolved:
            raise ObjectiveError(
                f"objective '{self.describe()}' is a target: calibrate it first "
                "(pointsman.policy.calibration.calibrate) to resolve it to a lambda"
            )

    def _keys(self, Q: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per entry: tier (lower first), primary score (higher first), tie-break (lower first)."""
        self._check_resolved()
        C = np.where(np.isnan(C), np.inf, C)
        no_quality = np.isnan(Q)
        affordable = ~no_quality & np.isfinite(C)
        if self.max_cost_per_request is not None:
            affordable &= C <= self.max_cost_per_request
        tier = np.where(affordable, _IN_BAND, np.where(no_quality, _NO_QUALITY, _OVER_CAP))
        # Outside the affordable set, order by cost (cheapest first), then by quality.
        primary, tie = -C, np.where(no_quality, 0.0, -Q)
        if self.within is not None:
            best = np.max(np.where(affordable, Q, -np.inf), axis=1, keepdims=True)
            with np.errstate(invalid="ignore"):  # rows with nothing affordable: -inf - 0 * inf
                in_band = affordable & (Q >= best - self.within * np.abs(best))
            tier = np.where(affordable & ~in_band, _OUT_OF_BAND, tier)
            primary = np.where(in_band, -C, np.where(affordable, Q, primary))
            tie = np.where(in_band, -Q, np.where(affordable, C, tie))
        elif self.lambda_ != math.inf:
            # lambda = 0 must not turn an infinite cost into NaN.
            score = Q if self.lambda_ == 0 else Q - self.lambda_ * C
            primary = np.where(affordable, score, primary)
            tie = np.where(affordable, C, tie)
        return tier, primary, tie


def _first(tier: np.ndarray, primary: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Row-wise lexicographic best: lowest tier, then highest primary, then lowest tie-break, then index."""
    best_tier = tier.min(axis=1, keepdims=True)
    in_tier = tier == best_tier
    p = np.where(in_tier, primary, -np.inf)
    top = in_tier & (p == p.max(axis=1, keepdims=True))
    choice = np.where(top, tie, np.inf).argmin(axis=1)
    return np.where(best_tier[:, 0] == _EXCLUDED, -1, choice)


def sweep_lambda(
    quality: np.ndarray,
    cost: np.ndarray,
    lambdas: np.ndarray,
    allowed: np.ndarray | None = None,
    max_cost_per_request: float | None = None,
) -> np.ndarray:
    """(n, L) choices of `quality - lambda x cost` for each lambda in `lambdas` (any may be 0 or inf)."""
    out = np.empty((np.shape(quality)[0], len(lambdas)), dtype=np.int64)
    for j, lam in enumerate(lambdas):
        obj = Objective(lambda_=float(lam), max_cost_per_request=max_cost_per_request)
        out[:, j] = obj.choose(quality, cost, allowed)
    return out

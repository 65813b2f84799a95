"""Bootstrap 95% intervals over prompts (percentile method).

Each resample draws n prompts with replacement and recomputes everything on it: the routers' curves, the
best single model, the oracle and the cost range, so an interval carries the uncertainty of the reference
points too. All routers share the same resamples (paired), so their intervals are comparable. The
intervals describe the sampling of evaluation prompts, not the randomness of training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from pointsman.evaluate.curve import References, Scores, Sweep
from pointsman.evaluate.threshold import ThresholdSweep, routellm_scores
from pointsman.evaluate.truth import Truth

Interval = tuple[float | None, float | None]


@dataclass(frozen=True)
class Resamples:
    """B resamples of n prompts with replacement, as counts per prompt, and each one's references."""

    counts: np.ndarray  # (B, n) times each prompt is drawn
    references: list[References]

    @classmethod
    def draw(cls, truth: Truth, b: int, seed: int) -> Resamples:
        n = truth.n_prompts
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(float)
        # two-model data: the strong model stays the full data's, even where the other wins a resample
        strong = References.of(truth).strong
        return cls(counts, References.weighted(truth, counts, strong))


# Resamples per batch of threshold curves: bounds the (batch, n) cumulative sums' memory.
_BATCH = 64


def intervals(
    sweep: Sweep, resamples: Resamples, threshold: tuple[ThresholdSweep, np.ndarray] | None = None
) -> dict[str, Interval]:
    """Metric name -> (2.5%, 97.5%) percentile. A cost ratio never reached in a resample counts as +inf, so
    a bound of None means "not reached"; metrics undefined here (APGR on more than two models) are
    left out. `threshold`: two-model data's threshold sweep and the rows it covers (RouteLLM's metrics)."""
    curves = sweep.weighted_curves(resamples.counts, resamples.references[0].strong)
    values: dict[str, list[float]] = {f.name: [] for f in fields(Scores)}
    for b, (curve, refs) in enumerate(zip(curves, resamples.references)):
        scores = curve.score(refs)
        if threshold is not None:
            if b % _BATCH == 0:
                ts, rows = threshold
                batch = ts.curves(resamples.counts[b : b + _BATCH, rows])
            scores = replace(scores, **routellm_scores(batch[b % _BATCH]))
        for name in values:
            value = getattr(scores, name)
            values[name].append(
                (math.inf if name in _NEVER_REACHED else math.nan) if value is None else value
            )
    out: dict[str, Interval] = {}
    for name, vals in values.items():
        arr = np.asarray(vals)
        arr = arr[~np.isnan(arr)]
        if arr.size:
            with np.errstate(invalid="ignore"):  # inf - inf between two unreached resamples
                lo, hi = np.percentile(arr, [2.5, 97.5])
            out[name] = (_finite(lo), _finite(hi))
    return out


# None in these means "never reached" (an infinite cost), not "undefined".
_NEVER_REACHED = {"cost_ratio_at_best_single_quality"}


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None

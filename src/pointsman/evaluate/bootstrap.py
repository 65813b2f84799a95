"""Bootstrap 95% intervals over prompts (percentile method).

Each resample draws n prompts with replacement and recomputes everything on it: the routers' curves, the
best single model, the oracle and the cost range, so an interval carries the uncertainty of the reference
points too. All routers share the same resamples (paired), so their intervals are comparable. The
intervals describe the sampling of evaluation prompts, not the randomness of training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from pointsman.evaluate.curve import References, Scores, Sweep
from pointsman.evaluate.truth import Truth

Interval = tuple[float | None, float | None]


@dataclass(frozen=True)
class Resamples:
    """B resamples of n prompts: row indices, the same as counts per prompt, and each one's references."""

    indices: np.ndarray  # (B, n)
    counts: np.ndarray  # (B, n)
    references: list[References]

    @classmethod
    def draw(cls, truth: Truth, b: int, seed: int) -> Resamples:
        n = truth.n_prompts
        rng = np.random.default_rng(seed)
        indices = rng.integers(0, n, size=(b, n))
        counts = np.stack([np.bincount(ix, minlength=n) for ix in indices]).astype(float)
        # two-model data: the strong model stays the full data's, even where the other wins a resample
        strong = References.of(truth).strong
        return cls(indices, counts, [References.of(truth.subset(ix), strong) for ix in indices])


def intervals(sweep: Sweep, resamples: Resamples) -> dict[str, Interval]:
    """Metric name -> (2.5%, 97.5%) percentile; a metric never reached in a resample counts as +inf
    (e.g. the cost ratio), and a bound at infinity or undefined is None."""
    curves = sweep.weighted_curves(resamples.counts, resamples.references[0].strong)
    values: dict[str, list[float]] = {f.name: [] for f in fields(Scores)}
    for curve, refs in zip(curves, resamples.references):
        scores = curve.score(refs)
        for name in values:
            value = getattr(scores, name)
            values[name].append(math.inf if value is None else value)
    out: dict[str, Interval] = {}
    for name, vals in values.items():
        arr = np.asarray(vals)
        if np.isinf(arr).all():
            continue  # undefined here (APGR on many models) or never reached
        lo, hi = np.percentile(arr, [2.5, 97.5])
        out[name] = (_finite(lo), _finite(hi))
    return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None

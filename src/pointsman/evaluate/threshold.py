"""RouteLLM's two-model metrics, to the letter: a threshold sweep on the router's own score for the strong
model, independent of cost (Ong et al. 2024, arXiv:2406.18665; their `routellm/evals`).

A router gives each prompt a score for "send this to the strong model" (RouteLLM: the predicted strong win
rate; here the predicted strong-minus-weak quality gain). For a threshold t, every prompt scoring >= t goes
to the strong model, the rest to the weak one. Sweeping t over every distinct score, from above the highest
(all weak) down to the lowest (all strong), gives the curve of mean true quality against the share of calls
sent to the strong model. With weak and strong the all-weak and all-strong qualities on the same prompts:

- PGR(share) = (quality - weak) / (strong - weak);
- APGR = the area under PGR over shares 0..1 (trapezoids between the points of the sweep);
- CPT(x) = the least share of strong calls at which PGR reaches x (linear between sweep points).

Prompts with the same score switch together (a threshold cannot split them), so a constant router's
curve is the straight line from all-weak to all-strong and scores APGR 0.5 exactly, and a random one 0.5 in
expectation. RouteLLM's script uses 11 thresholds at the scores' deciles (`bins=10` here reproduces it);
the default uses every distinct score, the exact area of the same curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointsman.evaluate.metrics import _EPS

# Points kept in report.json per curve (the metrics are computed on the full sweep).
REPORT_POINTS = 201


@dataclass(frozen=True)
class ThresholdSweep:
    """The prompts of a two-model problem in the router's order: most strong-worthy first.

    `gain` is the true quality of the strong model minus the weak one's, `weak` the weak one's, both in
    the sorted order; `ends` the positions where a group of equal scores ends (the thresholds).
    """

    order: np.ndarray
    ends: np.ndarray
    gain: np.ndarray
    weak: np.ndarray

    @classmethod
    def of(
        cls, score: np.ndarray, strong_quality: np.ndarray, weak_quality: np.ndarray, bins: int | None = None
    ) -> ThresholdSweep:
        """score, strong_quality, weak_quality: (n,) for the prompts with both true scores known. A NaN
        score counts as the lowest. `bins`: RouteLLM's quantile thresholds instead of every score."""
        s = np.where(np.isnan(score), -np.inf, np.asarray(score, float))
        order = np.argsort(-s, kind="stable")
        ordered = s[order]
        if bins is None:
            ends = np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True)) + 1
        else:  # RouteLLM: strong where score >= each quantile edge (pd.qcut's), none above the last
            finite = s[np.isfinite(s)]
            edges = np.quantile(finite, np.linspace(0, 1, bins + 1))[:-1] if finite.size else np.zeros(0)
            ends = np.union1d(np.searchsorted(-ordered, -edges, side="right"), [len(s)])
        q_s, q_w = np.asarray(strong_quality, float)[order], np.asarray(weak_quality, float)[order]
        return cls(order, ends[ends > 0], q_s - q_w, q_w)

    @property
    def n_prompts(self) -> int:
        return len(self.order)

    def curve(self, weights: np.ndarray | None = None) -> ThresholdCurve:
        """The curve, optionally under (n,) prompt weights (bootstrap counts) in the data's order."""
        w = np.ones(self.n_prompts) if weights is None else np.asarray(weights, float)[self.order]
        return self.curves(w[None, :], sorted_weights=True)[0]

    def curves(self, weights: np.ndarray, sorted_weights: bool = False) -> list[ThresholdCurve]:
        """One curve per row of (B, n) prompt weights (bootstrap counts)."""
        w = weights if sorted_weights else weights[:, self.order]
        total = w.sum(axis=1, keepdims=True)
        base = (w @ self.weak)[:, None] / total[:, 0:1]
        moved = np.cumsum(w * self.gain, axis=1)[:, self.ends - 1] / total
        share = np.cumsum(w, axis=1)[:, self.ends - 1] / total
        zero = np.zeros((len(w), 1))
        share, quality = np.hstack([zero, share]), base + np.hstack([zero, moved])
        return [ThresholdCurve(share[b], quality[b]) for b in range(len(w))]


@dataclass(frozen=True)
class ThresholdCurve:
    """Mean true quality against the share of calls to the strong model, from all weak (share 0) to all
    strong (share 1)."""

    strong_share: np.ndarray
    quality: np.ndarray

    @property
    def weak_quality(self) -> float:
        return float(self.quality[0])

    @property
    def strong_quality(self) -> float:
        return float(self.quality[-1])

    def pgr(self) -> np.ndarray | None:
        """Performance gap recovered at each point; None when the two models are level."""
        gap = self.strong_quality - self.weak_quality
        if abs(gap) <= _EPS:
            return None
        return (self.quality - self.weak_quality) / gap

    def apgr(self) -> float | None:
        pgr = self.pgr()
        if pgr is None:
            return None
        return float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(self.strong_share)))

    def cpt(self, fraction: float) -> float | None:
        """Least share of strong calls at which PGR reaches `fraction` (the all-strong end reaches 1)."""
        pgr = self.pgr()
        if pgr is None:
            return None
        reached = np.flatnonzero(pgr >= fraction - _EPS)
        if reached.size == 0:
            return None
        i = int(reached[0])
        if i == 0:
            return 0.0
        s0, s1, p0, p1 = self.strong_share[i - 1], self.strong_share[i], pgr[i - 1], pgr[i]
        return float(s0 + (fraction - p0) / (p1 - p0) * (s1 - s0))

    def thinned(self, points: int = REPORT_POINTS) -> ThresholdCurve:
        """At most `points` points, evenly spread over the shares, both ends kept (for report.json)."""
        if len(self.strong_share) <= points:
            return self
        idx = np.unique(np.searchsorted(self.strong_share, np.linspace(0, 1, points)).clip(0, None))
        idx = np.union1d(idx[idx < len(self.strong_share)], [0, len(self.strong_share) - 1])
        return ThresholdCurve(self.strong_share[idx], self.quality[idx])


def strong_score(pred_quality: np.ndarray, strong: int) -> np.ndarray:
    """A router's score for the strong model on two-model data: its predicted strong-minus-weak gain."""
    return pred_quality[:, strong] - pred_quality[:, 1 - strong]


def within_fold_ranks(score: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each score's mid-rank within its fold, in (0, 1) (ties share their mean rank; NaN lowest).

    Pooled cross-validated predictions come from k routers, one per fold, whose scores are not on one
    scale: a constant router predicts a different constant per fold, and the fold whose training side has
    the widest strong-weak gap has the narrowest itself, so thresholding the raw pooled scores ranks folds
    against each other. A threshold on the within-fold rank sends the same share of every fold to the
    strong model (each fold's router thresholded on its own score); with one split it is the raw sweep.
    """
    from scipy.stats import rankdata

    s = np.where(np.isnan(score), -np.inf, score)
    out = np.empty(len(s))
    for f in np.unique(folds):
        rows = np.flatnonzero(folds == f)
        out[rows] = (rankdata(s[rows], method="average") - 0.5) / len(rows)
    return out


def two_model_sweep(
    pred_quality: np.ndarray,
    quality: np.ndarray,
    known: np.ndarray,
    strong: int,
    folds: np.ndarray | None = None,
    bins: int | None = None,
) -> tuple[ThresholdSweep, np.ndarray]:
    """The sweep over the prompts whose two true scores are known, and those prompts' rows. `folds`: the
    split that predicted each row (cross-validation): thresholds then act on within-fold ranks."""
    rows = np.flatnonzero(known.all(axis=1))
    score = strong_score(pred_quality[rows], strong)
    if folds is not None:
        score = within_fold_ranks(score, folds[rows])
    return ThresholdSweep.of(score, quality[rows, strong], quality[rows, 1 - strong], bins), rows


def routellm_scores(curve: ThresholdCurve) -> dict[str, float | None]:
    """The `Scores` fields RouteLLM defines: APGR, CPT(50%), CPT(80%)."""
    return {"apgr": curve.apgr(), "cpt50": curve.cpt(0.5), "cpt80": curve.cpt(0.8)}

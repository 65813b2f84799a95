"""Thresholds chosen for a precision target, not guessed: the lowest similarity (and word overlap) at which
the cache's hits are right often enough, with a one-sided confidence bound.

From labelled pairs (same question or not) with their cosine similarity and word overlap: among pairs the
rule would serve (similarity >= t and overlap >= o), `hits` are served and `right` of them are true
paraphrases. A rule qualifies when the one-sided Clopper-Pearson lower bound of right/hits at `confidence`
is at least `precision`; of the qualifying rules the one serving the most true paraphrases (recall) wins.
Few pairs give a loose bound, so a category with little data gets a high threshold (or none: exact only),
never an optimistic one. The same function tunes online, on feedback about served semantic hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import beta

OVERLAP_GRID = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MIN_HITS = 20  # fewer served pairs than this never qualify, whatever the bound says


@dataclass(frozen=True)
class Threshold:
    """A category's rule and what it achieved on the pairs it was tuned on."""

    threshold: float | None  # None: no rule reached the target (exact matches only)
    min_overlap: float
    precision: float  # right / hits at the rule (nan without hits)
    lower_bound: float  # the one-sided bound of that precision
    recall: float  # right / all true pairs
    hits: int
    pairs: int
    positives: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Threshold:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def lower_bound(right: np.ndarray | int, hits: np.ndarray | int, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound of the success rate right/hits (0 where right == 0)."""
    right, hits = np.asarray(right, dtype=float), np.asarray(hits, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lb = beta.ppf(1.0 - confidence, right, hits - right + 1.0)
    return np.where(right > 0, np.nan_to_num(lb, nan=0.0), 0.0)


def tune(
    similarity: np.ndarray,
    label: np.ndarray,
    overlap: np.ndarray | None = None,
    *,
    precision: float = 0.99,
    confidence: float = 0.95,
    overlaps: Sequence[float] = OVERLAP_GRID,
    bound: bool = True,
    min_hits: int = MIN_HITS,
) -> Threshold:
    """The rule with the best recall whose precision bound meets `precision` (`bound=False`: the point
    estimate instead, as a fixed-threshold cache would be tuned; kept for comparison)."""
    sim = np.asarray(similarity, dtype=float)
    lab = np.asarray(label, dtype=bool)
    ovl = np.ones_like(sim) if overlap is None else np.asarray(overlap, dtype=float)
    positives = int(lab.sum())
    best: Threshold | None = None
    for o in overlaps if overlap is not None else (0.0,):
        found = _best_cut(sim[ovl >= o], lab[ovl >= o], precision, confidence, bound, min_hits)
        if found is None:
            continue
        t, hits, right, lb = found
        cand = Threshold(t, o, right / hits, lb, right / max(positives, 1), hits, len(sim), positives)
        if best is None or cand.recall > best.recall:
            best = cand
    if best is None:
        return Threshold(None, 0.0, float("nan"), 0.0, 0.0, 0, len(sim), positives)
    return best


def _best_cut(
    sim: np.ndarray, lab: np.ndarray, precision: float, confidence: float, bound: bool, min_hits: int
) -> tuple[float, int, int, float] | None:
    """The lowest similarity cut meeting the target: (threshold, hits, right, bound) or None."""
    if not len(sim):
        return None
    order = np.argsort(-sim, kind="stable")
    s, y = sim[order], lab[order]
    hits = np.arange(1, len(s) + 1)
    right = np.cumsum(y)
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # a cut between equal similarities is not a threshold
    score = lower_bound(right, hits, confidence) if bound else right / hits
    ok = (score >= precision) & last_of_tie & (hits >= min_hits)
    if not ok.any():
        return None
    k = int(np.flatnonzero(ok)[-1])
    lb = float(lower_bound(right[k], hits[k], confidence))
    return float(s[k]), int(hits[k]), int(right[k]), lb


def evaluate(
    threshold: Threshold, similarity: np.ndarray, label: np.ndarray, overlap: np.ndarray | None = None
) -> tuple[float, float, int]:
    """(precision, recall, hits) of a tuned rule on other pairs (precision nan without hits)."""
    sim = np.asarray(similarity, dtype=float)
    lab = np.asarray(label, dtype=bool)
    if threshold.threshold is None:
        return float("nan"), 0.0, 0
    served = sim >= threshold.threshold
    if overlap is not None:
        served &= np.asarray(overlap, dtype=float) >= threshold.min_overlap
    hits = int(served.sum())
    right = int((served & lab).sum())
    return (right / hits if hits else float("nan")), right / max(int(lab.sum()), 1), hits


def upper_bound(right: int, hits: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound of right/hits (1 where every hit is right)."""
    if hits == 0 or right >= hits:
        return 1.0
    return float(beta.ppf(confidence, right + 1.0, hits - right))


def tune_categories(
    similarity: np.ndarray,
    label: np.ndarray,
    overlap: np.ndarray | None,
    categories: Sequence[str],
    *,
    precision: float = 0.99,
    confidence: float = 0.95,
) -> dict[str, Threshold]:
    """A rule per category, and `*` over all pairs. A category whose own pairs show no rule meeting the
    target inherits the global one, unless its pairs at the global rule contradict the target (the upper
    bound of their precision is below it): then exact matches only (threshold None)."""
    sim = np.asarray(similarity, dtype=float)
    lab = np.asarray(label, dtype=bool)
    cats = np.asarray(categories)
    glob = tune(sim, lab, overlap, precision=precision, confidence=confidence)
    out = {"*": glob}
    for cat in sorted(set(cats.tolist()) - {"*"}):
        rows = cats == cat
        ovl = overlap[rows] if overlap is not None else None
        own = tune(sim[rows], lab[rows], ovl, precision=precision, confidence=confidence)
        if own.threshold is None and glob.threshold is not None:
            served = sim[rows] >= glob.threshold
            if ovl is not None:
                served &= ovl >= glob.min_overlap
            hits, right = int(served.sum()), int((served & lab[rows]).sum())
            if upper_bound(right, hits, confidence) >= precision:
                own = Threshold(
                    glob.threshold,
                    glob.min_overlap,
                    right / hits if hits else float("nan"),
                    float(lower_bound(right, hits, confidence)),
                    right / max(int(lab[rows].sum()), 1),
                    hits,
                    int(rows.sum()),
                    int(lab[rows].sum()),
                )
        out[cat] = own
    return out

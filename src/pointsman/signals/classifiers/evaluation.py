"""Held-out evaluation results of a classifier: per-set scores, pooled accuracy/F1, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class SetScore:
    """One held-out set: rows, share decided right, and share flagged positive (unsafe / out of domain)."""

    name: str
    n: int
    accuracy: float
    flagged: float | None = None


@dataclass
class Evaluation:
    """What `pointsman signals eval` prints and the benchmark checks.

    `accuracy`/`f1` are pooled over every held-out row: for a binary decision (`positive` names it, e.g.
    "unsafe") F1 is that class's F1; otherwise macro-F1 over the classes. `macro_set_accuracy` is the mean of
    the per-set accuracies (so a large pool does not drown a small set). `confusion` is over `labels`.
    """

    kind: str
    sets: list[SetScore]
    accuracy: float
    f1: float
    macro_set_accuracy: float
    labels: list[str]
    confusion: np.ndarray
    positive: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        return {
            "accuracy": self.accuracy,
            "f1": self.f1,
            "macro_set_accuracy": self.macro_set_accuracy,
            **self.extra,
        }


def binary_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.sum(truth & pred))
    denom = float(np.sum(truth) + np.sum(pred))
    return 2 * tp / denom if denom else 1.0


def confusion(truth: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(truth, pred):
        out[index[t], index[p]] += 1
    return out


def macro_f1(matrix: np.ndarray) -> float:
    tp = np.diag(matrix).astype(np.float64)
    denom = matrix.sum(axis=0) + matrix.sum(axis=1)
    present = matrix.sum(axis=1) > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean()) if present.any() else float("nan")


def evaluate_sets(
    kind: str,
    names: Sequence[str],
    truth: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    labels: Sequence[str],
    positive: tuple[str, frozenset[str]] | None = None,
) -> Evaluation:
    """Score predicted labels against the truth, set by set and pooled.

    `positive` = (name, classes): also a binary decision, "in one of these classes" (e.g. ("unsafe",
    {"harmful", "jailbreak", "injection"})); accuracy and F1 are then of that decision.
    """
    sets = []
    all_truth = [t for ts in truth for t in ts]
    all_pred = [p for ps in pred for p in ps]
    for name, ts, ps in zip(names, truth, pred):
        if positive:
            t_pos = np.array([t in positive[1] for t in ts])
            p_pos = np.array([p in positive[1] for p in ps])
            sets.append(SetScore(name, len(ts), float(np.mean(t_pos == p_pos)), float(np.mean(p_pos))))
        else:
            sets.append(SetScore(name, len(ts), float(np.mean([t == p for t, p in zip(ts, ps)]))))
    matrix = confusion(all_truth, all_pred, labels)
    if positive:
        t_pos = np.array([t in positive[1] for t in all_truth])
        p_pos = np.array([p in positive[1] for p in all_pred])
        accuracy, f1 = float(np.mean(t_pos == p_pos)), binary_f1(t_pos, p_pos)
    else:
        accuracy, f1 = float(np.trace(matrix) / max(matrix.sum(), 1)), macro_f1(matrix)
    return Evaluation(
        kind=kind,
        sets=sets,
        accuracy=accuracy,
        f1=f1,
        macro_set_accuracy=float(np.mean([s.accuracy for s in sets])) if sets else float("nan"),
        labels=list(labels),
        confusion=matrix,
        positive=positive[0] if positive else None,
    )

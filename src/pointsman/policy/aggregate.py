"""Multi-model aggregation (Router-R1 / FusionFactory / TCAR, in the simplest honest form): when to ask k models
instead of one, and which of their answers to return.

- `vote`: the answers vote on their normalised final answers (`cascade.answers.final_answer`: option letters,
  numbers, code, the first words of text), optionally weighted; ties and answers nobody shares go to the
  best-ranked member;
- `fan_out_gain`: the predicted gain of a vote over the single best model, P(majority right) - p_best, where
  P(majority right) is the chance that more than half of k independent answers with the router's predicted
  probabilities are right (Condorcet); worth it when it exceeds lambda x the extra predicted cost.
A vote needs answers that can be equal: `closed_form(prompt)` says whether a request lists options or asks for
a number. The lab (`evaluate.aggregation`) and the gateway's `aggregate` profiles use these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from pointsman.cascade.answers import final_answer

_OPTIONS = re.compile(r"(?:^|\n)\s*\(?[A-E][\)\.:]\s+\S", re.MULTILINE)
_NUMBER_ASKED = re.compile(
    r"\b(how (many|much)|what is the (value|number|sum|total)|calculate|compute)\b", re.IGNORECASE
)


def closed_form(prompt: str) -> bool:
    """The request lists answer options (two or more) or asks for a number."""
    return len(_OPTIONS.findall(prompt)) >= 2 or bool(_NUMBER_ASKED.search(prompt))


def p_majority(p: np.ndarray) -> float:
    """P(more than half of len(p) independent answers are right), answer i right with probability p[i]."""
    k = len(p)
    total = 0.0
    for r in range(k // 2 + 1, k + 1):
        for right in combinations(range(k), r):
            mask = np.zeros(k, dtype=bool)
            mask[list(right)] = True
            total += float(np.prod(np.where(mask, p, 1.0 - p)))
    return total


def fan_out_gain(p: np.ndarray) -> float:
    """Predicted quality gain of a vote of these members (best first) over the first alone."""
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=np.float64), nan=0.0), 0.0, 1.0)
    return p_majority(p) - float(p[0])


def vote(answers: Sequence[str], weights: Sequence[float] | None = None) -> int:
    """Index of the answer with the most votes (`weights`: each answer's vote, default 1); the answers are in
    rank order, best first, which breaks ties."""
    finals = [final_answer(a) for a in answers]
    w = [1.0] * len(finals) if weights is None else list(weights)
    totals: dict[str, float] = {}
    for f, x in zip(finals, w):
        totals[f] = totals.get(f, 0.0) + x
    top = max(totals.values())
    return next(j for j, f in enumerate(finals) if totals[f] >= top - 1e-12)


def log_odds_weights(p: np.ndarray) -> np.ndarray:
    """Votes weighted by each member's predicted log-odds of being right (at least a little)."""
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=np.float64), nan=0.5), 0.01, 0.99)
    return np.maximum(np.log(p / (1 - p)), 1e-3)


__all__ = ["closed_form", "fan_out_gain", "log_odds_weights", "p_majority", "vote"]

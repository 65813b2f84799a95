"""Cascade policies: when to stop at an answer and when to pay for another model.

- `FixedChain`: models in a fixed order (cheap -> mid -> strong) with one threshold per step but the last.
  Step k's answer is scored beside the earlier steps' answers; the chain stops at the first answer scoring
  at least its step's threshold. An answer reached at the last step is not simply the last model's: every
  answer called is scored beside all the others and the best-scored one is returned (`pick_best`).
- `CostAware`: the route-or-cascade decision at every step. With the prompt-only router's predicted quality
  q_m and cost c_m per model and the best answer's score s so far, calling model m is worth
  gain_m = discount x (1 - s) x q_m (the chance that the current answer is wrong and m's is right, shrunk
  by `discount` since models tend to fail on the same prompts); it calls the model with the largest
  gain_m - lambda x c_m while that is positive, else stops. With nothing called yet (s = 0) the first call
  is the router's own choice at that lambda, so a small lambda jumps straight to a strong model and a
  large one starts cheap: routing and cascading are the two ends of one rule. An answer's score s is the
  scorer's, blended with the router's prediction for its model (`blend`): two estimates of one chance.

Both are pure decisions over scores; `pointsman.evaluate.cascades` simulates them on recorded answers and
the gateway's cascade profile runs `FixedChain` against real backends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FixedChain:
    models: tuple[str, ...]
    thresholds: tuple[float, ...]  # len(models) - 1: the last step always stops
    pick_best: bool = True

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise ValueError("a cascade needs at least two steps")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"a model appears twice in the cascade {list(self.models)}")
        if len(self.thresholds) != len(self.models) - 1:
            raise ValueError(
                f"{len(self.models)} steps need {len(self.models) - 1} thresholds (the last step always "
                f"stops), got {len(self.thresholds)}"
            )
        for t in self.thresholds:
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"a threshold is a probability in [0, 1], got {t}")

    def accepts(self, step: int, score: float) -> bool:
        """Whether the answer of `step` (0-based), scored `score`, ends the cascade."""
        return step >= len(self.thresholds) or score >= self.thresholds[step]

    def pick(self, final_scores: Sequence[float]) -> int:
        """The answer returned once the last step is reached: the best-scored (the last on a tie)."""
        if not self.pick_best:
            return len(final_scores) - 1
        best = max(final_scores)
        return max(k for k, s in enumerate(final_scores) if s == best)


def simulate_chain(
    prefix_scores: np.ndarray, final_scores: np.ndarray, thresholds: np.ndarray, pick_best: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `FixedChain` on recorded answers.

    prefix_scores: (n, K) step k's score beside steps < k; final_scores: (n, K) each answer beside all
    others (read only when the last step is reached); thresholds: (T, K - 1) settings.
    Returns (T, n) the step whose answer is returned and (T, n) the number of steps called.
    """
    n, k = prefix_scores.shape
    passed = prefix_scores[None, :, : k - 1] >= thresholds[:, None, :]  # (T, n, K-1)
    stop = np.where(passed.any(axis=2), passed.argmax(axis=2), k - 1)
    if pick_best:
        rev = final_scores[:, ::-1]
        best = k - 1 - rev.argmax(axis=1)  # the last of the best on a tie
    else:
        best = np.full(n, k - 1)
    answer = np.where(stop == k - 1, best[None, :], stop)
    return answer, stop + 1


@dataclass(frozen=True)
class CostAware:
    lam: float
    discount: float = 0.25
    max_steps: int | None = None

    def next_model(
        self,
        called: Sequence[int],
        best_score: float,
        pred_quality: np.ndarray,
        pred_cost: np.ndarray,
        allowed: np.ndarray | None = None,
    ) -> int | None:
        """The model to call next (a column index), or None to stop with the best answer so far."""
        if self.max_steps is not None and len(called) >= self.max_steps:
            return None
        gain = (1.0 - best_score) * np.nan_to_num(pred_quality, nan=0.0)
        if called:
            gain = self.discount * gain
        value = gain - (0.0 if self.lam == 0 else self.lam) * np.nan_to_num(pred_cost, nan=math.inf)
        if math.isinf(self.lam):  # cheapest first, then stop
            if called:
                return None
            value = -np.nan_to_num(pred_cost, nan=math.inf)
        value = np.asarray(value, dtype=np.float64).copy()
        value[list(called)] = -math.inf
        if allowed is not None:
            value[~allowed] = -math.inf
        j = int(np.argmax(value))
        if not math.isfinite(value[j]) or (called and value[j] <= 0):
            return None
        return j

"""Targets for the two classifiers learned from routing data: task (domain) and difficulty.

- task: the task label of each prompt (LLMRouter: 14 tasks such as math, mbpp, mmlu, trivia_qa).
- difficulty: how much a strong model beats a cheap one on the prompt. With quality q in [0, 1] the soft
  target is clip(q_strong - q_cheap, 0, 1): for 0/1 scores exactly the event "strong right, cheap wrong",
  so the classifier's P(hard) estimates the chance that paying for the strong model changes the answer.
  By default the cheap model is the lowest-priced one and the strong model the best on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointsman.data.dataset import RoutingDataset

HARD, EASY = "hard", "easy"


@dataclass(frozen=True)
class DifficultyTarget:
    """Per prompt: the soft target in [0, 1], for the prompts where both models have a score."""

    rows: np.ndarray  # prompt rows of the dataset used
    gain: np.ndarray  # q_strong - q_cheap, in [-1, 1]
    strong: str
    cheap: str

    @property
    def soft(self) -> np.ndarray:
        return np.clip(self.gain, 0.0, 1.0)


def pick_models(dataset: RoutingDataset, strong: str | None = None, cheap: str | None = None) -> tuple[str, str]:
    """(strong, cheap): given names (checked), else the best on average and the lowest-priced model."""
    means = np.nanmean(dataset.quality, axis=0)
    if cheap is None:
        prices = [m.input_price + m.output_price for m in dataset.models]
        cheap = dataset.models[int(np.argmin(prices))].name  # first of equal prices: the file's order
    if strong is None:
        order = np.argsort(-means)
        strong = next(dataset.model_names[i] for i in order if dataset.model_names[i] != cheap)
    dataset.model_index(strong), dataset.model_index(cheap)  # KeyError naming the known models
    if strong == cheap:
        raise ValueError(f"strong and cheap model are the same ({strong!r})")
    return strong, cheap


def difficulty_target(dataset: RoutingDataset, strong: str | None = None, cheap: str | None = None) -> DifficultyTarget:
    strong, cheap = pick_models(dataset, strong, cheap)
    q_strong = dataset.quality[:, dataset.model_index(strong)]
    q_cheap = dataset.quality[:, dataset.model_index(cheap)]
    rows = np.flatnonzero(~(np.isnan(q_strong) | np.isnan(q_cheap)))
    if not len(rows):
        raise ValueError(f"no prompt has scores for both {strong!r} and {cheap!r}")
    return DifficultyTarget(rows=rows, gain=(q_strong - q_cheap)[rows], strong=strong, cheap=cheap)


def soft_labels(soft: np.ndarray) -> tuple[list[int], list[str], np.ndarray]:
    """A soft binary target as weighted hard rows: (row index, label, weight) with each row in twice,
    once as "hard" with weight p and once as "easy" with weight 1 - p (rows with weight 0 dropped)."""
    idx, labels, weights = [], [], []
    for i, p in enumerate(soft):
        for label, w in ((HARD, p), (EASY, 1.0 - p)):
            if w > 0:
                idx.append(i)
                labels.append(label)
                weights.append(w)
    return idx, labels, np.asarray(weights, dtype=np.float64)

"""The measured quality and cost that routing choices are scored against, and the reference policies.

Unknown scores (NaN) are never read as 0: a routing choice may only land on a known entry (evaluation
restricts every policy's choices to the models with a known score for that prompt, see `known`), a single
model's figures are means over its known entries, and prompts with no known score at all are left out by
the caller and counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pointsman.data.dataset import RoutingDataset


@dataclass(frozen=True)
class Truth:
    """(n, m) true quality and cost per call (USD); NaN where unknown."""

    quality: np.ndarray
    cost: np.ndarray

    def __post_init__(self) -> None:
        if self.quality.shape != self.cost.shape or self.quality.ndim != 2:
            raise ValueError(
                f"quality {self.quality.shape} and cost {self.cost.shape} must be equal 2-D shapes"
            )
        empty = ~self.known.any(axis=1)
        if empty.any():
            raise ValueError(
                f"{int(empty.sum())} prompts have no known score (first: row {int(np.argmax(empty))}); "
                "drop them before evaluating"
            )

    @classmethod
    def of(cls, dataset: RoutingDataset) -> Truth:
        return cls(np.asarray(dataset.quality, float), np.asarray(dataset.cost, float))

    @property
    def n_prompts(self) -> int:
        return self.quality.shape[0]

    @cached_property
    def known(self) -> np.ndarray:
        """Entries a choice may land on: quality and cost both measured."""
        return ~np.isnan(self.quality) & ~np.isnan(self.cost)

    def subset(self, rows: np.ndarray) -> Truth:
        return Truth(self.quality[rows], self.cost[rows])

    # -- single models and the oracle, optionally under prompt weights (bootstrap counts) -----------------

    def model_means(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, m) mean quality and cost of each model over its known entries, per row of (B, n) weights."""
        w_known = weights @ self.known
        with np.errstate(invalid="ignore", divide="ignore"):
            quality = (weights @ np.where(self.known, self.quality, 0.0)) / w_known
            cost = (weights @ np.where(self.known, self.cost, 0.0)) / w_known
        return quality, cost

    @cached_property
    def _means(self) -> tuple[np.ndarray, np.ndarray]:
        quality, cost = self.model_means(np.ones((1, self.n_prompts)))
        return quality[0], cost[0]

    @property
    def model_quality(self) -> np.ndarray:
        """(m,) mean quality of each model over its known entries."""
        return self._means[0]

    @property
    def model_cost(self) -> np.ndarray:
        """(m,) mean cost per call of each model over its known entries."""
        return self._means[1]

    @property
    def best_single(self) -> int:
        return best_model(self.model_quality, self.model_cost)

    @cached_property
    def oracle_choice(self) -> np.ndarray:
        """Per prompt, the cheapest of the models with the best known score."""
        q = np.where(self.known, self.quality, -np.inf)
        top = self.known & (q == q.max(axis=1, keepdims=True))
        return np.where(top, self.cost, np.inf).argmin(axis=1)

    @cached_property
    def oracle_per_prompt(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) quality and cost of the oracle's choice."""
        return self.gather(self.quality, self.oracle_choice), self.gather(self.cost, self.oracle_choice)

    @property
    def oracle_quality(self) -> float:
        return float(self.oracle_per_prompt[0].mean())

    @property
    def oracle_cost(self) -> float:
        return float(self.oracle_per_prompt[1].mean())

    # -- scoring choices -------------------------------------------------------------------------------

    def gather(self, values: np.ndarray, choices: np.ndarray) -> np.ndarray:
        """values[i, choices[i, ...]]: (n,) choices give (n,), (n, L) give (n, L)."""
        idx = choices if choices.ndim == 2 else choices[:, None]
        out = np.take_along_axis(values, idx, axis=1)
        return out if choices.ndim == 2 else out[:, 0]


def best_model(model_quality: np.ndarray, model_cost: np.ndarray) -> int:
    """The model with the highest mean quality (the cheaper one on a tie; models with no data last)."""
    return int(np.lexsort((model_cost, -np.nan_to_num(model_quality, nan=-np.inf)))[0])

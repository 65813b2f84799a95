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
            raise ValueError(f"quality {self.quality.shape} and cost {self.cost.shape} must be equal 2-D shapes")
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

    # -- single models --------------------------------------------------------------------------------

    @cached_property
    def model_quality(self) -> np.ndarray:
        """(m,) mean quality of each model over its known entries."""
        return _known_mean(self.quality, self.known)

    @cached_property
    def model_cost(self) -> np.ndarray:
        """(m,) mean cost per call of each model over its known entries."""
        return _known_mean(self.cost, self.known)

    @cached_property
    def best_single(self) -> int:
        """The model with the highest mean quality (the cheaper one on a tie)."""
        return int(np.lexsort((self.model_cost, -self.model_quality))[0])

    # -- the oracle: per prompt, the cheapest of the models with the best known score -----------------

    @cached_property
    def oracle_choice(self) -> np.ndarray:
        q = np.where(self.known, self.quality, -np.inf)
        top = self.known & (q == q.max(axis=1, keepdims=True))
        return np.where(top, self.cost, np.inf).argmin(axis=1)

    @property
    def oracle_quality(self) -> float:
        return float(self.gather(self.quality, self.oracle_choice).mean())

    @property
    def oracle_cost(self) -> float:
        return float(self.gather(self.cost, self.oracle_choice).mean())

    # -- scoring choices -------------------------------------------------------------------------------

    def gather(self, values: np.ndarray, choices: np.ndarray) -> np.ndarray:
        """values[i, choices[i, ...]]: (n,) choices give (n,), (n, L) give (n, L)."""
        idx = choices if choices.ndim == 2 else choices[:, None]
        out = np.take_along_axis(values, idx, axis=1)
        return out if choices.ndim == 2 else out[:, 0]


def _known_mean(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    counts = known.sum(axis=0)
    sums = np.where(known, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

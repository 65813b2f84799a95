"""Reference routers: random, the best single model, and the oracle (evaluation only)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from pointsman.data.dataset import RoutingDataset, normalize_prompt
from pointsman.routers.base import Queries, Router
from pointsman.routers.fitting import array, model_priors
from pointsman.routers.registry import register


@register
class RandomRouter(Router):
    """Uniform random scores per (query, model): at lambda = 0 every model is equally likely to be chosen
    (RouterBench's random baseline); with a cost penalty it leans to cheap models. The scores depend only
    on `seed` and the query text, so a query always gets the same ones."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, dataset: RoutingDataset) -> RandomRouter:
        self._fit_common(dataset)
        return self

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        m = len(self.models_)
        rows = [np.random.default_rng([self.seed, zlib.crc32(t.encode())]).random(m) for t in q.texts]
        return np.array(rows).reshape(len(q), m)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass


@register
class BestSingleRouter(Router):
    """Every query gets each model's mean known score (shrunk toward the mean of all scores by `shrinkage`
    pseudo-prompts): lambda = 0 always picks the best single model, larger lambdas cheaper single models."""

    name = "best-single"

    def __init__(self, shrinkage: float = 5.0) -> None:
        self.shrinkage = shrinkage

    def fit(self, dataset: RoutingDataset) -> BestSingleRouter:
        quality = self._fit_common(dataset)
        self.means_ = model_priors(quality, self.shrinkage)
        return self

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        return np.tile(self.means_, (len(q), 1))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"means": self.means_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.means_ = array(arrays, "means", (len(self.models_),))


@register
class OracleRouter(Router):
    """The upper bound: it predicts the TRUE scores, so it only works on prompts it was fitted on.

    Evaluation only: `fit` it on the very prompts you evaluate (`OracleRouter().fit(test_set)`); `predict`
    refuses any prompt it has not seen. Unknown scores come out as one below the lowest known score, so
    the oracle never picks a model whose score it does not know.
    """

    name = "oracle"
    evaluation_only = True

    def fit(self, dataset: RoutingDataset) -> OracleRouter:
        quality = self._fit_common(dataset)
        floor = float(np.nanmin(quality)) - 1.0
        self.keys_ = np.array(dataset.keys(), dtype=str)
        self.scores_ = np.where(np.isfinite(quality), quality, floor)
        self._index = {k: i for i, k in enumerate(self.keys_.tolist())}
        return self

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        rows = []
        for text in q.texts:
            i = self._index.get(normalize_prompt(text))
            if i is None:
                raise KeyError(
                    f"the oracle has no true scores for {text[:60]!r}: fit it on the prompts you evaluate "
                    "(it is an evaluation-only upper bound, not a router for new prompts)"
                )
            rows.append(self.scores_[i])
        return np.array(rows).reshape(len(q), len(self.models_))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"keys": self.keys_, "scores": self.scores_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.keys_ = array(arrays, "keys", (None,))
        self.scores_ = array(arrays, "scores", (len(self.keys_), len(self.models_)))
        self._index = {k: i for i, k in enumerate(self.keys_.tolist())}

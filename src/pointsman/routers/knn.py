"""k nearest neighbours over prompt embeddings (RouterBench's KNN baseline, Hu et al. 2024).

A query's predicted quality for a model is the mean known score of its k most similar training prompts
(cosine similarity of MiniLM embeddings), pulled toward the model's prior by `shrinkage` pseudo-neighbours
so that a model few neighbours have a score for does not swing on one or two of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pointsman.data.dataset import RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.fitting import array, model_priors
from pointsman.routers.graph import nearest
from pointsman.routers.registry import register


@register
class KnnRouter(Router):
    name = "knn"
    uses_embeddings = True

    def __init__(self, k: int = 40, shrinkage: float = 1.0) -> None:
        self.k = k
        self.shrinkage = shrinkage

    def fit(self, dataset: RoutingDataset) -> KnnRouter:
        if self.k < 1:
            raise ValueError(f"knn: k must be >= 1, got {self.k}")
        quality = self._fit_common(dataset)
        self.embeddings_ = self._embed(Queries.of(dataset))
        self.quality_ = quality
        self.prior_ = model_priors(quality)
        return self

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        if self.k < len(self.embeddings_):  # in chunks of queries: an n x N similarity matrix can be GBs
            scores = self.quality_[nearest(self._embed(q), self.embeddings_, self.k)]
        else:
            scores = np.broadcast_to(self.quality_, (len(q), *self.quality_.shape))
        known = np.isfinite(scores)
        total = np.where(known, scores, 0.0).sum(axis=1) + self.shrinkage * self.prior_
        return total / (known.sum(axis=1) + self.shrinkage)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"embeddings": self.embeddings_, "quality": self.quality_, "prior": self.prior_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        m = len(self.models_)
        self.embeddings_ = array(arrays, "embeddings", (None, None)).astype(np.float32)
        n = len(self.embeddings_)
        self.quality_ = arrays["quality"]
        if self.quality_.shape != (n, m):
            raise ValueError(f"array 'quality' has shape {self.quality_.shape}, expected ({n}, {m})")
        self.prior_ = array(arrays, "prior", (m,))

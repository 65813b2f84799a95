"""Matrix factorisation (RouteLLM's MF router, Ong et al. 2024, arXiv:2406.18665), pointwise.

RouteLLM scores a (model, query) pair as w2ᵀ(v_model ⊙ (W1 e_query + b1)): the query embedding projected
into a latent space, multiplied element-wise by a learned model embedding. With one score per (query,
model) instead of RouteLLM's pairwise preferences, the logit of the expected quality is that score plus a
per-model bias; w2 is absorbed into the model embeddings. Trained on the known scores only (masked
cross-entropy) with L2 on the projection and the model embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from pointsman.data.dataset import RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.fitting import Params, ScoreScale, array, fit_params, logit, masked_bce, model_priors
from pointsman.routers.registry import register


@register
class MfRouter(Router):
    name = "mf"
    uses_embeddings = True

    def __init__(self, dim: int = 32, l2: float = 1e-3, max_iter: int = 300, seed: int = 0) -> None:
        self.dim = dim
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, dataset: RoutingDataset) -> MfRouter:
        quality = self._fit_common(dataset)
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        known = np.isfinite(y)
        x = self._embed(Queries.of(dataset))  # float32: the loss runs in single precision
        d, m = x.shape[1], y.shape[1]
        rng = np.random.default_rng(self.seed)
        init = {
            "proj": rng.normal(0, 1 / np.sqrt(d), (d, self.dim)),
            "proj_b": np.zeros(self.dim),
            "models": rng.normal(0, 0.1, (m, self.dim)),
            "bias": logit(model_priors(y)),
        }

        def loss_grad(p: Params) -> tuple[float, Params]:
            u = x @ p["proj"].astype(np.float32) + p["proj_b"].astype(np.float32)
            value, g = masked_bce(u @ p["models"].T + p["bias"], y, known)
            du = g.astype(np.float32) @ p["models"].astype(np.float32)
            value += 0.5 * self.l2 * float((p["proj"] ** 2).sum() + (p["models"] ** 2).sum())
            return value, {
                "proj": x.T @ du + self.l2 * p["proj"],
                "proj_b": du.sum(axis=0),
                "models": g.T @ u + self.l2 * p["models"],
                "bias": g.sum(axis=0),
            }

        self.params_ = fit_params(init, loss_grad, self.max_iter)
        return self

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        p = self.params_
        u = self._embed(q) @ p["proj"] + p["proj_b"]
        return self.scale_.from_unit(expit(u @ p["models"].T + p["bias"]))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"scale": [self.scale_.lo, self.scale_.hi]}, dict(self.params_)

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        m = len(self.models_)
        self.params_ = {
            "proj": array(arrays, "proj", (None, self.dim)),
            "proj_b": array(arrays, "proj_b", (self.dim,)),
            "models": array(arrays, "models", (m, self.dim)),
            "bias": array(arrays, "bias", (m,)),
        }
        self.scale_ = ScoreScale(*map(float, meta["scale"]))

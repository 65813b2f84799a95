"""A multi-layer perceptron over prompt embeddings (RouterBench's MLP baseline, Hu et al. 2024).

One hidden ReLU layer maps the MiniLM embedding to one logit per model; trained on the known scores only
(masked cross-entropy, so unknown scores are never read as 0), with L2 weight decay and a capped number of
full-batch L-BFGS steps (which acts as early stopping).
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
class MlpRouter(Router):
    name = "mlp"
    uses_embeddings = True

    def __init__(self, hidden: int = 128, l2: float = 1e-3, max_iter: int = 200, seed: int = 0) -> None:
        self.hidden = hidden
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, dataset: RoutingDataset) -> MlpRouter:
        quality = self._fit_common(dataset)
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        known = np.isfinite(y)
        x = self._embed(Queries.of(dataset))  # float32: the loss runs in single precision
        d, m = x.shape[1], y.shape[1]
        rng = np.random.default_rng(self.seed)
        init = {
            "w1": rng.normal(0, np.sqrt(2 / d), (d, self.hidden)),
            "b1": np.zeros(self.hidden),
            "w2": rng.normal(0, np.sqrt(1 / self.hidden), (self.hidden, m)) * 0.1,
            "b2": logit(model_priors(y)),
        }

        def loss_grad(p: Params) -> tuple[float, Params]:
            w1, w2 = p["w1"].astype(np.float32), p["w2"].astype(np.float32)
            pre = x @ w1 + p["b1"].astype(np.float32)
            h = np.maximum(pre, 0.0)
            value, g = masked_bce(h @ w2 + p["b2"], y, known)
            g = g.astype(np.float32)
            dh = (g @ w2.T) * (pre > 0)
            value += 0.5 * self.l2 * float((p["w1"] ** 2).sum() + (p["w2"] ** 2).sum())
            return value, {
                "w1": x.T @ dh + self.l2 * p["w1"],
                "b1": dh.sum(axis=0),
                "w2": h.T @ g + self.l2 * p["w2"],
                "b2": g.sum(axis=0),
            }

        self.params_ = fit_params(init, loss_grad, self.max_iter)
        return self

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        p = self.params_
        h = np.maximum(self._embed(q) @ p["w1"] + p["b1"], 0.0)
        return self.scale_.from_unit(expit(h @ p["w2"] + p["b2"]))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"scale": [self.scale_.lo, self.scale_.hi]}, dict(self.params_)

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        m = len(self.models_)
        w1 = array(arrays, "w1", (None, self.hidden))
        self.params_ = {
            "w1": w1,
            "b1": array(arrays, "b1", (self.hidden,)),
            "w2": array(arrays, "w2", (self.hidden, m)),
            "b2": array(arrays, "b2", (m,)),
        }
        self.scale_ = ScoreScale(*map(float, meta["scale"]))

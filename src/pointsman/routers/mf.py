"""Matrix factorisation (RouteLLM's MF router, Ong et al. 2024, arXiv:2406.18665), pointwise.

RouteLLM scores a (model, query) pair as w2ᵀ(v_model ⊙ (W1 e_query + b1)): the query embedding projected
into a latent space, multiplied element-wise by a learned model embedding. With one score per (query,
model) instead of RouteLLM's pairwise preferences, the logit of the expected quality is that score plus a
per-model bias; w2 is absorbed into the model embeddings. Fitting: see `latent.py`.
"""

from __future__ import annotations

import numpy as np

from pointsman.routers.fitting import Params
from pointsman.routers.latent import Backward, LatentRouter, f32
from pointsman.routers.registry import register


@register
class MfRouter(LatentRouter):
    name = "mf"
    penalised = ("proj", "models")

    def __init__(self, dim: int = 32, l2: float = 1e-3, max_iter: int = 300, seed: int = 0) -> None:
        self.dim = dim
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    def _shapes(self, d: int, m: int) -> dict[str, tuple[int, ...]]:
        return {"proj": (d, self.dim), "proj_b": (self.dim,), "models": (m, self.dim), "bias": (m,)}

    def _init(self, d: int, m: int, rng: np.random.Generator, bias: np.ndarray) -> Params:
        return {
            "proj": rng.normal(0, 1 / np.sqrt(d), (d, self.dim)),
            "proj_b": np.zeros(self.dim),
            "models": rng.normal(0, 0.1, (m, self.dim)),
            "bias": bias,
        }

    def _forward(self, p: Params, x: np.ndarray) -> tuple[np.ndarray, Backward]:
        models = f32(p["models"])
        u = x @ f32(p["proj"]) + f32(p["proj_b"])

        def backward(g: np.ndarray) -> Params:
            du = g @ models
            return {"proj": x.T @ du, "proj_b": du.sum(axis=0), "models": g.T @ u, "bias": g.sum(axis=0)}

        return u @ models.T + p["bias"], backward

"""A multi-layer perceptron over prompt embeddings (RouterBench's MLP baseline, Hu et al. 2024).

One hidden ReLU layer maps the MiniLM embedding to one logit per model (see `latent.py` for the fitting).
"""

from __future__ import annotations

import numpy as np

from pointsman.routers.fitting import Params
from pointsman.routers.latent import Backward, LatentRouter, f32
from pointsman.routers.registry import register


@register
class MlpRouter(LatentRouter):
    name = "mlp"
    penalised = ("w1", "w2")

    def __init__(self, hidden: int = 128, l2: float = 1e-3, max_iter: int = 200, seed: int = 0) -> None:
        self.hidden = hidden
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    def _shapes(self, d: int, m: int) -> dict[str, tuple[int, ...]]:
        return {"w1": (d, self.hidden), "b1": (self.hidden,), "w2": (self.hidden, m), "b2": (m,)}

    def _init(self, d: int, m: int, rng: np.random.Generator, bias: np.ndarray) -> Params:
        return {
            "w1": rng.normal(0, np.sqrt(2 / d), (d, self.hidden)),
            "b1": np.zeros(self.hidden),
            "w2": rng.normal(0, 0.1 / np.sqrt(self.hidden), (self.hidden, m)),
            "b2": bias,
        }

    def _forward(self, p: Params, x: np.ndarray) -> tuple[np.ndarray, Backward]:
        w1, w2 = f32(p["w1"]), f32(p["w2"])
        pre = x @ w1 + f32(p["b1"])
        h = np.maximum(pre, 0.0)

        def backward(g: np.ndarray) -> Params:
            dh = (g @ w2.T) * (pre > 0)
            return {"w1": x.T @ dh, "b1": dh.sum(axis=0), "w2": h.T @ g, "b2": g.sum(axis=0)}

        return h @ w2 + p["b2"], backward

"""Routers whose prediction is sigmoid(logits of the query's features), learned end to end (mlp, mf, irt).

Fitted on the known scores only (masked cross-entropy: unknown scores are never read as 0), with L2 on the
weights and a capped number of full-batch L-BFGS steps (which acts as early stopping). The loss runs in
single precision. A subclass declares its parameters (`_init`, `_shapes`), its logits and their gradient
(`_forward`) and which parameters are penalised.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit

from pointsman.data.dataset import RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.features import Featurizer
from pointsman.routers.fitting import Params, ScoreScale, array, fit_params, logit, masked_bce, model_priors

Backward = Callable[[np.ndarray], Params]


def f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


class LatentRouter(Router):
    uses_embeddings = True
    # Read the lexical features (`Featurizer`) besides the embedding.
    lexical: ClassVar[bool] = False
    penalised: ClassVar[tuple[str, ...]]
    l2: float
    max_iter: int
    seed: int
    lexical_weight: float = 0.3

    @abstractmethod
    def _init(self, d: int, m: int, rng: np.random.Generator, bias: np.ndarray) -> Params:
        """Starting parameters for d input features and m models; `bias` is the logit of the priors."""

    @abstractmethod
    def _shapes(self, d: int, m: int) -> dict[str, tuple[int, ...]]: ...

    @abstractmethod
    def _forward(self, p: Params, x: np.ndarray) -> tuple[np.ndarray, Backward]:
        """(n, m) logits, and the map from d loss / d logits to the parameters' gradients."""

    def fit(self, dataset: RoutingDataset) -> LatentRouter:
        quality = self._fit_common(dataset)
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        known = np.isfinite(y)
        emb = self._embed(Queries.of(dataset))
        if self.lexical:
            self.featurizer_ = Featurizer.fit(emb, dataset.prompts, self.lexical_weight)
        x = f32(self._features(emb, dataset.prompts))
        self.input_dim_ = x.shape[1]
        rng = np.random.default_rng(self.seed)
        init = self._init(x.shape[1], y.shape[1], rng, logit(model_priors(y)))

        def loss_grad(p: Params) -> tuple[float, Params]:
            z, backward = self._forward(p, x)
            value, g = masked_bce(z, y, known)
            grads = backward(f32(g))
            for name in self.penalised:
                value += 0.5 * self.l2 * float((p[name] ** 2).sum())
                grads[name] = grads[name] + self.l2 * p[name]
            return value, grads

        self.params_ = fit_params(init, loss_grad, self.max_iter)
        return self

    def _features(self, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return self.featurizer_.transform(emb, texts) if self.lexical else emb

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        z, _ = self._forward(self.params_, f32(self._features(self._embed(q), q.texts)))
        return self.scale_.from_unit(expit(np.asarray(z, dtype=np.float64)))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"scale": [self.scale_.lo, self.scale_.hi], "input_dim": self.input_dim_}
        arrays = dict(self.params_)
        if self.lexical:
            arrays.update(self.featurizer_.state("lexical_"))
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if self.lexical:
            self.featurizer_ = Featurizer.from_state(arrays, "lexical_", self.lexical_weight)
        self.input_dim_ = int(meta["input_dim"])
        shapes = self._shapes(self.input_dim_, len(self.models_))
        self.params_ = {name: array(arrays, name, shape) for name, shape in shapes.items()}
        self.scale_ = ScoreScale(*map(float, meta["scale"]))

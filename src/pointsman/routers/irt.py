"""Item-response theory routing (in the spirit of RADAR, arXiv:2509.25426, and IRT-Router, arXiv:2506.01048).

A multidimensional two-parameter IRT model: query i has a discrimination vector a_i (K dims, positive) and
a difficulty d_i, model j an ability vector theta_j and a bias c_j, and

    P(model j answers query i) = sigmoid(a_i . theta_j + c_j - d_i).

The query side is predicted from the query's features (MiniLM embedding + lexical features):
a(x) = softplus(x Wa + ba), d(x) = x wd, so a new query needs no labels. Everything is fitted jointly on
the known scores (masked cross-entropy, L2 on the weights and abilities).

Because the query side does not depend on any particular model, a NEW model is onboarded from a small
calibration set (say 50 prompts it answered) without touching the others: `onboard` fits only its
theta and c (K + 1 numbers), by maximum a posteriori with a Gaussian prior centred on the existing models'
abilities, so 10 prompts give a cautious estimate and 200 a sharp one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit, log_expit

from pointsman.data.cost import CostModel
from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.features import Featurizer
from pointsman.routers.fitting import Params, ScoreScale, array, fit_params, logit, masked_bce, model_priors
from pointsman.routers.registry import register


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


@register
class IrtRouter(Router):
    name = "irt"
    uses_embeddings = True

    def __init__(
        self,
        dim: int = 8,
        l2: float = 1e-3,
        max_iter: int = 300,
        lexical_weight: float = 0.3,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.l2 = l2
        self.max_iter = max_iter
        self.lexical_weight = lexical_weight
        self.seed = seed

    # -- fitting -------------------------------------------------------------------------------------

    def fit(self, dataset: RoutingDataset) -> IrtRouter:
        quality = self._fit_common(dataset)
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        known = np.isfinite(y)
        emb = self._embed(Queries.of(dataset))
        self.featurizer_ = Featurizer.fit(emb, dataset.prompts, self.lexical_weight)
        x = self.featurizer_.transform(emb, dataset.prompts).astype(np.float32)  # single-precision loss
        d, m, k = x.shape[1], y.shape[1], self.dim
        rng = np.random.default_rng(self.seed)
        init = {
            "disc_w": rng.normal(0, 0.1 / np.sqrt(d), (d, k)),
            "disc_b": np.zeros(k),
            "diff_w": np.zeros(d),
            "ability": rng.normal(0, 0.1, (m, k)),
            "bias": logit(model_priors(y)),
        }

        def loss_grad(p: Params) -> tuple[float, Params]:
            pre = x @ p["disc_w"].astype(np.float32) + p["disc_b"].astype(np.float32)
            a = _softplus(pre)
            z = a @ p["ability"].T + p["bias"] - (x @ p["diff_w"].astype(np.float32))[:, None]
            value, g = masked_bce(z, y, known)
            dpre = (g @ p["ability"]).astype(np.float32) * expit(pre)
            ddiff = -g.sum(axis=1).astype(np.float32)
            reg = (p["disc_w"] ** 2).sum() + (p["diff_w"] ** 2).sum() + (p["ability"] ** 2).sum()
            value += 0.5 * self.l2 * float(reg)
            return value, {
                "disc_w": x.T @ dpre + self.l2 * p["disc_w"],
                "disc_b": dpre.sum(axis=0),
                "diff_w": x.T @ ddiff + self.l2 * p["diff_w"],
                "ability": g.T @ a + self.l2 * p["ability"],
                "bias": g.sum(axis=0),
            }

        self.params_ = fit_params(init, loss_grad, self.max_iter)
        return self

    # -- predicting ----------------------------------------------------------------------------------

    def item_parameters(
        self, queries: Queries | RoutingDataset | Sequence[str] | str
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, K) discrimination and (n,) difficulty of each query."""
        q = self._queries(queries)
        x = self.featurizer_.transform(self._embed(q), q.texts)
        return _softplus(x @ self.params_["disc_w"] + self.params_["disc_b"]), x @ self.params_["diff_w"]

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        a, diff = self.item_parameters(q)
        z = a @ self.params_["ability"].T + self.params_["bias"] - diff[:, None]
        return self.scale_.from_unit(expit(z))

    # -- onboarding ----------------------------------------------------------------------------------

    def onboard(
        self,
        model: ModelInfo,
        queries: Queries | Sequence[str],
        scores: Sequence[float] | np.ndarray,
        prior_strength: float = 1.0,
    ) -> IrtRouter:
        """Add `model`, calibrated on its `scores` for `queries` (NaN = unknown); the others stay as fitted.

        Fits the new model's ability and bias only (MAP, Gaussian prior from the existing models scaled by
        `prior_strength`). Its cost is priced from its `input_price`/`output_price` like the existing models'
        (their modelled cost per unit of price, averaged).
        """
        self._check_fitted()
        if model.name in self.model_names:
            raise ValueError(f"model {model.name!r} is already routed by this router")
        q = self._queries(queries)
        y = self.scale_.to_unit(np.asarray(scores, dtype=np.float64))
        if y.shape != (len(q),):
            raise ValueError(f"{y.shape[0] if y.ndim else 0} scores for {len(q)} calibration queries")
        known = np.isfinite(y)
        if not known.any():
            raise ValueError(f"no known score to calibrate {model.name!r} on")
        if ((y[known] < -1e-9) | (y[known] > 1 + 1e-9)).any():
            raise ValueError(
                f"calibration scores for {model.name!r} fall outside the training scores' range "
                f"[{self.scale_.lo}, {self.scale_.hi}]"
            )
        a, diff = self.item_parameters(q)
        theta, bias = self._fit_new_model(a[known], diff[known], y[known], prior_strength)
        self.params_["ability"] = np.vstack([self.params_["ability"], theta])
        self.params_["bias"] = np.append(self.params_["bias"], bias)
        _extend_cost_model(self.cost_model_, self.models_, model)
        self.models_ = [*self.models_, model]
        return self

    def _fit_new_model(
        self, a: np.ndarray, diff: np.ndarray, y: np.ndarray, prior_strength: float
    ) -> tuple[np.ndarray, float]:
        abilities, biases = self.params_["ability"], self.params_["bias"]
        mu = np.append(abilities.mean(axis=0), biases.mean())
        var = np.append(abilities.var(axis=0), biases.var()) + 1e-2
        prec = prior_strength / var

        def loss_grad(p: Params) -> tuple[float, Params]:
            t = p["t"]
            z = a @ t[:-1] + t[-1] - diff
            nll = -(y * log_expit(z) + (1 - y) * log_expit(-z))
            g = expit(z) - y
            value = float(nll.sum() + 0.5 * (prec * (t - mu) ** 2).sum())
            return value, {"t": np.append(a.T @ g, g.sum()) + prec * (t - mu)}

        t = fit_params({"t": mu.copy()}, loss_grad, 200)["t"]
        return t[:-1], float(t[-1])

    # -- state ---------------------------------------------------------------------------------------

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"scale": [self.scale_.lo, self.scale_.hi]}
        return meta, {**self.params_, **self.featurizer_.state("lexical_")}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        m, k = len(self.models_), self.dim
        self.featurizer_ = Featurizer.from_state(arrays, "lexical_", self.lexical_weight)
        w = array(arrays, "disc_w", (None, k))
        d = w.shape[0]
        self.params_ = {
            "disc_w": w,
            "disc_b": array(arrays, "disc_b", (k,)),
            "diff_w": array(arrays, "diff_w", (d,)),
            "ability": array(arrays, "ability", (m, k)),
            "bias": array(arrays, "bias", (m,)),
        }
        self.scale_ = ScoreScale(*map(float, meta["scale"]))


def _extend_cost_model(cost: CostModel, models: Sequence[ModelInfo], new: ModelInfo) -> None:
    """Append a column for `new` to a fitted CostModel: the existing models' modelled cost per unit of
    mean price (their token counts, in effect), averaged, times the new model's mean price."""
    price = np.array([(mi.input_price + mi.output_price) / 2 for mi in models])
    ok = np.isfinite(price) & (price > 0)
    new_price = (new.input_price + new.output_price) / 2

    def column(values: np.ndarray) -> float:
        return float(np.mean(values[ok] / price[ok]) * new_price) if ok.any() else 0.0

    cost.model_names = [*cost.model_names, new.name]
    cost.base = np.append(cost.base, column(cost.base))
    cost.per_token = np.append(cost.per_token, column(cost.per_token))
    cost.task_offset = {t: np.append(v, column(v)) for t, v in cost.task_offset.items()}
    if cost.expected_output_tokens is not None:
        tokens = cost.expected_output_tokens
        cost.expected_output_tokens = np.append(tokens, float(np.mean(tokens)))

"""Item-response theory routing (in the spirit of RADAR, arXiv:2509.25426, and IRT-Router, arXiv:2506.01048).

A multidimensional two-parameter IRT model: query i has a discrimination vector a_i (K dims, positive) and
a difficulty d_i, model j an ability vector theta_j and a bias c_j, and

    P(model j answers query i) = sigmoid(a_i . theta_j + c_j - d_i).

The query side is predicted from the query's features (MiniLM embedding + lexical features):
a(x) = softplus(x Wa + ba), d(x) = x wd, so a new query needs no labels. Everything is fitted jointly on
the known scores (masked cross-entropy, L2 on the weights and abilities; see `latent.py`).

Because the query side does not depend on any particular model, a NEW model is onboarded from a small
calibration set (say 50 prompts it answered) without touching the others: `onboard` fits only its
theta and c (K + 1 numbers), by maximum a posteriori with a Gaussian prior centred on the existing models'
abilities, so 10 prompts give a cautious estimate and 200 a sharp one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit, log_expit

from pointsman.data.cost import CostModel
from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.routers.base import Queries
from pointsman.routers.fitting import Params, fit_params
from pointsman.routers.latent import Backward, LatentRouter, f32
from pointsman.routers.registry import register


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


@register
class IrtRouter(LatentRouter):
    name = "irt"
    lexical = True
    penalised = ("disc_w", "diff_w", "ability")

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

    def _shapes(self, d: int, m: int) -> dict[str, tuple[int, ...]]:
        k = self.dim
        return {"disc_w": (d, k), "disc_b": (k,), "diff_w": (d,), "ability": (m, k), "bias": (m,)}

    def _init(self, d: int, m: int, rng: np.random.Generator, bias: np.ndarray) -> Params:
        return {
            "disc_w": rng.normal(0, 0.1 / np.sqrt(d), (d, self.dim)),
            "disc_b": np.zeros(self.dim),
            "diff_w": np.zeros(d),
            "ability": rng.normal(0, 0.1, (m, self.dim)),
            "bias": bias,
        }

    def _forward(self, p: Params, x: np.ndarray) -> tuple[np.ndarray, Backward]:
        pre = x @ f32(p["disc_w"]) + f32(p["disc_b"])
        a = _softplus(pre)
        ability = f32(p["ability"])

        def backward(g: np.ndarray) -> Params:
            dpre = (g @ ability) * expit(pre)
            ddiff = -g.sum(axis=1)
            return {
                "disc_w": x.T @ dpre,
                "disc_b": dpre.sum(axis=0),
                "diff_w": x.T @ ddiff,
                "ability": g.T @ a,
                "bias": g.sum(axis=0),
            }

        return a @ ability.T + p["bias"] - (x @ f32(p["diff_w"]))[:, None], backward

    def item_parameters(
        self, queries: Queries | RoutingDataset | Sequence[str] | str
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, K) discrimination and (n,) difficulty of each query."""
        q = self._queries(queries)
        x = self.featurizer_.transform(self._embed(q), q.texts)
        return _softplus(x @ self.params_["disc_w"] + self.params_["disc_b"]), x @ self.params_["diff_w"]

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

"""Personalised routing in the spirit of PersonalizedRouter (Dai et al., "PersonalizedRouter: Personalized
LLM Routing via Graph-based User Preference Modeling", 2025): each tenant (or user) prefers some models over
others beyond what a global router predicts, and that preference is learned from its own pairwise
judgements (model A's answer was better than B's) and feedback.

A Bradley-Terry model over the global router's predictions: for tenant t and a pair (better b, worse w) on
a query with predicted qualities q,

    P(b preferred to w) = sigmoid(alpha x (q_b - q_w) + beta_t,b - beta_t,w),

with alpha shared by every tenant (how much the global router's difference is worth) and beta_t one offset
per model and tenant, L2-shrunk toward 0 with `strength` pseudo-observations. A tenant with no judgements has
beta = 0: cold start is the global router. Ranking for a tenant: q + beta_t / alpha (in quality units, so the
objective's lambda keeps its meaning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from pointsman.routers.fitting import Params, fit_params


@dataclass(frozen=True, slots=True)
class Judgement:
    """One pairwise preference: on a query whose global predictions are `quality` (m,), `tenant` preferred
    model index `better` to `worse`."""

    tenant: str
    better: int
    worse: int
    quality: np.ndarray


class PersonalPreferences:
    def __init__(self, n_models: int, strength: float = 5.0, max_iter: int = 200) -> None:
        self.n_models = n_models
        self.strength = strength
        self.max_iter = max_iter
        self.alpha_ = 1.0
        self.offsets_: dict[str, np.ndarray] = {}

    def fit(self, judgements: Sequence[Judgement]) -> PersonalPreferences:
        if not judgements:
            raise ValueError("no judgements to learn preferences from")
        tenants = sorted({j.tenant for j in judgements})
        index = {t: k for k, t in enumerate(tenants)}
        t = np.array([index[j.tenant] for j in judgements])
        b = np.array([j.better for j in judgements])
        w = np.array([j.worse for j in judgements])
        if ((b < 0) | (b >= self.n_models) | (w < 0) | (w >= self.n_models) | (b == w)).any():
            raise ValueError(
                f"a judgement names a model outside 0..{self.n_models - 1} or the same model twice"
            )
        diff = np.array([j.quality[j.better] - j.quality[j.worse] for j in judgements], dtype=np.float64)
        per_tenant = np.bincount(t, minlength=len(tenants)).astype(np.float64)
        shape = (len(tenants), self.n_models)

        def loss_grad(p: Params) -> tuple[float, Params]:
            alpha, beta = p["alpha"][0], p["beta"]
            z = alpha * diff + beta[t, b] - beta[t, w]
            g = -expit(-z)  # d(-log sigmoid z)/dz
            gbeta = np.zeros(shape)
            np.add.at(gbeta, (t, b), g)
            np.add.at(gbeta, (t, w), -g)
            # strength pseudo-observations per tenant, spread over its offsets: few judgements stay near 0
            reg = self.strength / max(self.n_models, 1)
            value = float(-log_expit(z).sum() + 0.5 * reg * (beta**2).sum())
            return value, {"alpha": np.array([(g * diff).sum()]), "beta": gbeta + reg * beta}

        init = {"alpha": np.array([1.0]), "beta": np.zeros(shape)}
        fitted = fit_params(init, loss_grad, self.max_iter)
        self.alpha_ = max(float(fitted["alpha"][0]), 1e-3)  # a global difference never counts against
        self.offsets_ = {name: fitted["beta"][k] for k, name in enumerate(tenants) if per_tenant[k] > 0}
        return self

    def offsets(self, tenant: str | None) -> np.ndarray:
        """(m,) the tenant's offsets in quality units (zeros for an unknown tenant: the global router)."""
        beta = self.offsets_.get(tenant or "")
        return np.zeros(self.n_models) if beta is None else beta / self.alpha_

    def adjust(self, tenant: str | None, quality: np.ndarray) -> np.ndarray:
        """The global predictions (..., m) as this tenant would rank them."""
        return np.asarray(quality, dtype=np.float64) + self.offsets(tenant)

    def to_state(self) -> dict:
        """JSON-able state (what a gateway would load beside its router file)."""
        return {"n_models": self.n_models, "strength": self.strength, "alpha": self.alpha_,
                "offsets": {t: b.tolist() for t, b in self.offsets_.items()}}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> PersonalPreferences:
        out = cls(int(state["n_models"]), float(state["strength"]))
        out.alpha_ = float(state["alpha"])
        out.offsets_ = {t: np.asarray(b, dtype=np.float64) for t, b in state["offsets"].items()}
        if any(b.shape != (out.n_models,) for b in out.offsets_.values()):
            raise ValueError(f"offsets must have {out.n_models} values per tenant")
        return out

    def prefers(self, tenant: str | None, quality: np.ndarray, a: int, b: int) -> float:
        """P(tenant prefers model a to model b) on a query with global predictions `quality`."""
        z = self.alpha_ * (quality[a] - quality[b])
        beta = self.offsets_.get(tenant or "")
        if beta is not None:
            z += beta[a] - beta[b]
        return float(expit(z))

"""pointsman's own router: a task-gated mixture of shrunk per-task experts (the gateway's default).

Why this shape (measured on LLMRouter, docs/routers.md): which model answers a prompt depends first of all
on what kind of prompt it is (its benchmark, i.e. its answer format and metric) and only weakly on the
prompt's content within a kind. So:

1. a gate predicts p(task | query) from the MiniLM embedding plus lexical / structural features (casing,
   punctuation, LaTeX, code, lists) and hashed word n-grams, which MiniLM alone cannot see;
2. per task, one logistic regression per model on the same features predicts P(model's score | query)
   within that task. Its intercept is pulled toward the task's mean score, itself shrunk toward the
   model's overall mean (empirical Bayes), and its weights are penalised in proportion to how few prompts
   the task has: with thin data an expert is its task mean, with no data the model prior;
3. the prediction mixes the experts by the gate's probabilities (a soft decision: a query that looks like
   two tasks gets a blend, which beats committing to the likelier one).

Unknown scores are masked in every mean and likelihood. Continuous scores in [0, 1] are cross-entropy
targets; other score ranges are mapped to [0, 1] and back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from pointsman.routers.fitting import ScoreScale, array, fit_logistic, model_priors, shrunk_means
from pointsman.routers.gating import GatedRouter
from pointsman.routers.registry import register


@register
class MixtureRouter(GatedRouter):
    name = "mixture"

    def __init__(
        self,
        expert_reg: float = 30.0,
        shrinkage: float = 10.0,
        min_group: int = 20,
        gate_reg: float = 0.1,
        lexical_weight: float = 0.3,
        ngram_weight: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.expert_reg = expert_reg
        self.shrinkage = shrinkage
        self.min_group = min_group
        self.gate_reg = gate_reg
        self.lexical_weight = lexical_weight
        self.ngram_weight = ngram_weight
        self.seed = seed

    def _fit_groups(self, x: np.ndarray, quality: np.ndarray, labels: np.ndarray) -> None:
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        prior = model_priors(y)
        ws, bs = [], []
        for g in range(len(self.gate_.names)):
            rows = labels == g
            mean = shrunk_means(y[rows], prior, self.shrinkage)
            w, b = fit_logistic(
                x[rows], y[rows], self.expert_reg / rows.sum(), prior=mean, prior_strength=self.shrinkage
            )
            ws.append(w)
            bs.append(b)
        self.w_ = np.stack(ws)  # (groups, d, m)
        self.b_ = np.stack(bs)  # (groups, m)

    def _predict_groups(self, x: np.ndarray, proba: np.ndarray) -> np.ndarray:
        p = expit(np.einsum("nd,gdm->ngm", x, self.w_) + self.b_)
        return self.scale_.from_unit(np.einsum("ng,ngm->nm", proba, p))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._gate_state()
        meta["scale"] = [self.scale_.lo, self.scale_.hi]
        return meta, {**arrays, "expert_w": self.w_, "expert_b": self.b_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._set_gate_state(meta, arrays)
        g, m = len(self.gate_.names), len(self.models_)
        self.w_ = array(arrays, "expert_w", (g, self.featurizer_.dim, m))
        self.b_ = array(arrays, "expert_b", (g, m))
        lo, hi = meta["scale"]
        self.scale_ = ScoreScale(float(lo), float(hi))

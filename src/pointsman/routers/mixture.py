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
   two tasks gets a blend, which beats committing to the likelier one);
4. the mixture is blended with the mean scores of the query's `neighbours` most similar training prompts
   (kNN over the embedding), (1 - w) mixture + w neighbours, and a final "trust" t in [0, 1] blends that
   with the models' overall priors, prior + t (blend - prior); w and t are chosen together by an inner
   cross-validation on the training data (the pair whose held-out predictions have the best
   log-likelihood): on thin or unfamiliar data the router falls back toward the best single model by
   itself, on rich data t is near 1; where a prompt's neighbours say more about which model wins than its
   task does (two models of one family, one kind of prompt), w grows. With w = 0 the router file carries
   no training embeddings.

Unknown scores are masked in every mean and likelihood. Continuous scores in [0, 1] are cross-entropy
targets; other score ranges are mapped to [0, 1] and back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from pointsman.data.dataset import RoutingDataset
from pointsman.data.splits import group_kfold
from pointsman.routers.base import Queries
from pointsman.routers.fitting import EPS, ScoreScale, array, fit_logistic, model_priors, shrunk_means
from pointsman.routers.gating import GatedRouter
from pointsman.routers.graph import nearest, neighbour_means
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
        calibration_folds: int = 3,
        neighbours: int = 40,
        seed: int = 0,
    ) -> None:
        self.expert_reg = expert_reg
        self.shrinkage = shrinkage
        self.min_group = min_group
        self.gate_reg = gate_reg
        self.lexical_weight = lexical_weight
        self.ngram_weight = ngram_weight
        self.calibration_folds = calibration_folds
        self.neighbours = neighbours
        self.seed = seed

    def fit(self, dataset: RoutingDataset) -> MixtureRouter:
        if self.neighbours < 0:
            raise ValueError(f"mixture: neighbours must be >= 0 (0: no kNN blend), got {self.neighbours}")
        super().fit(dataset)
        y = self.scale_.to_unit(np.asarray(dataset.quality, dtype=np.float64))
        none = np.zeros((0, 0), np.float32), np.zeros((0, y.shape[1]))
        self.nodes_, self.labels_ = (self._embed(Queries.of(dataset)), y) if self.neighbours > 0 else none
        self.trust_, self.knn_weight_ = self._calibrate_trust(dataset)
        if self.knn_weight_ == 0.0:  # the neighbours are not used: the router file need not carry them
            self.nodes_, self.labels_ = none
        return self

    def _calibrate_trust(self, dataset: RoutingDataset) -> tuple[float, float]:
        """The blend weights (trust t toward the mixture, weight of the neighbours in it) whose inner-CV
        predictions score best (log-likelihood)."""
        k = self.calibration_folds
        if k < 2:
            return 1.0, 0.0
        if len(set(dataset.keys())) < 5 * k:
            return 0.0, 0.0  # too few prompts to tell whether the mixture beats the priors: keep the priors
        y = self.scale_.to_unit(np.asarray(dataset.quality, dtype=np.float64))
        mixed, prior, near = np.zeros_like(y), np.zeros_like(y), np.zeros_like(y)
        inner = type(self)(**{**self.get_params(), "calibration_folds": 0, "neighbours": 0})
        for train, test in group_kfold(dataset, k, self.seed):
            # warm starts from this router's own fit: the losses are convex, the optima the same
            inner._fit_gated(dataset.subset(train), warm=self)
            x, proba = inner._features_and_proba(Queries([dataset.prompts[i] for i in test]))
            # back to raw scores, then to this router's [0, 1] scale (an inner fold may see another range)
            for out, unit in ((mixed, inner._unit_mixture(x, proba)), (prior, inner.prior_)):
                out[test] = self.scale_.to_unit(inner.scale_.from_unit(unit))
            if self.neighbours > 0:
                nbrs = nearest(self.nodes_[test], self.nodes_[train], self.neighbours)
                near[test] = neighbour_means(nbrs, y[train], model_priors(y[train]), 1.0)
        known = np.isfinite(y)
        target = y[known]
        grid = np.linspace(0.0, 1.0, 21)
        betas = np.linspace(0.0, 1.0, 11) if self.neighbours > 0 else np.zeros(1)

        def loglik(t: float, beta: float) -> float:
            blend = (1 - beta) * mixed[known] + beta * near[known]
            p = np.clip(prior[known] + t * (blend - prior[known]), EPS, 1 - EPS)
            return float(np.mean(target * np.log(p) + (1 - target) * np.log(1 - p)))

        scores = np.array([[loglik(t, b) for b in betas] for t in grid])
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return float(grid[i]), float(betas[j])

    def _fit_groups(
        self, x: np.ndarray, quality: np.ndarray, labels: np.ndarray, warm: GatedRouter | None = None
    ) -> None:
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        prior = self.prior_ = model_priors(y)
        start = {}
        if isinstance(warm, MixtureRouter) and warm.w_.shape[1:] == (x.shape[1], y.shape[1]):
            start = {name: (warm.w_[i], warm.b_[i]) for i, name in enumerate(warm.gate_.names)}
        ws, bs = [], []
        for g, name in enumerate(self.gate_.names):
            rows = labels == g
            mean = shrunk_means(y[rows], prior, self.shrinkage)
            w, b = fit_logistic(
                x[rows], y[rows], self.expert_reg / rows.sum(), prior=mean, prior_strength=self.shrinkage,
                init=start.get(name),
            )  # fmt: skip
            ws.append(w)
            bs.append(b)
        self.w_ = np.stack(ws)  # (groups, d, m)
        self.b_ = np.stack(bs)  # (groups, m)

    def _unit_mixture(self, x: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """The experts mixed by the gate, on the [0, 1] scale, before the trust blend."""
        return np.einsum("ng,ngm->nm", proba, expit(np.einsum("nd,gdm->ngm", x, self.w_) + self.b_))

    def _predict_groups(self, x: np.ndarray, proba: np.ndarray) -> np.ndarray:
        blend = self._unit_mixture(x, proba)
        if self.knn_weight_ > 0 and len(x):
            nbrs = nearest(np.asarray(x[:, : self.nodes_.shape[1]], np.float32), self.nodes_, self.neighbours)
            near = neighbour_means(nbrs, self.labels_, model_priors(self.labels_), 1.0)
            blend = (1 - self.knn_weight_) * blend + self.knn_weight_ * near
        unit = self.prior_ + self.trust_ * (blend - self.prior_)
        return self.scale_.from_unit(unit)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._gate_state()
        meta.update(scale=[self.scale_.lo, self.scale_.hi], trust=self.trust_, knn_weight=self.knn_weight_)
        return meta, {
            **arrays, "expert_w": self.w_, "expert_b": self.b_, "prior": self.prior_,
            "nodes": self.nodes_, "node_scores": self.labels_,
        }  # fmt: skip

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._set_gate_state(meta, arrays)
        g, m = len(self.gate_.names), len(self.models_)
        self.w_ = array(arrays, "expert_w", (g, self.featurizer_.dim, m))
        self.b_ = array(arrays, "expert_b", (g, m))
        self.prior_ = array(arrays, "prior", (m,))
        lo, hi = meta["scale"]
        self.scale_ = ScoreScale(float(lo), float(hi))
        self.trust_ = float(meta["trust"])
        self.knn_weight_ = float(meta.get("knn_weight", 0.0))  # files before the neighbours: none
        for name, value in (("trust", self.trust_), ("knn_weight", self.knn_weight_)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} {value} outside [0, 1]")
        if self.knn_weight_ > 0:
            self.nodes_ = array(arrays, "nodes", (None, self.featurizer_.embedding_dim)).astype(np.float32)
            self.labels_ = arrays["node_scores"]
            if self.labels_.shape != (len(self.nodes_), m) or len(self.nodes_) == 0:
                raise ValueError(f"array 'node_scores' has shape {self.labels_.shape}, expected (n, {m})")
        else:
            self.nodes_, self.labels_ = np.zeros((0, 0), np.float32), np.zeros((0, m))

"""A contrastive dual-encoder router in the spirit of RouterDC (Chen et al., "RouterDC: Query-Based Router by
Dual Contrastive Learning for Assembling Large Language Models", NeurIPS 2024).

Queries and models live in one space: a query's vector is its MiniLM embedding (run by onnxruntime) through a
small learned head (tanh layer, linear layer, unit length); each model is a learned unit vector; their
affinity is the cosine similarity over a temperature. Two contrastive losses shape the space:
- sample-LLM: for each query, every model that answered it best is pulled toward it against the models that
  answered it worst (InfoNCE with each positive against all the query's negatives); a query every model got
  equally right (or wrong) teaches nothing here and is skipped;
- sample-sample: a query is pulled toward another query of its task (or of its embedding cluster when the
  data has no tasks) against queries of other tasks, which keeps similar queries together and the training
  stable (RouterDC's second loss).
The affinities rank models but are not qualities, so each model's affinity is calibrated into an expected
quality by a one-feature logistic regression fitted on the training scores: the router then predicts (n, m)
quality like every other, and the objective can trade it against cost.

Differences from the paper: RouterDC fine-tunes the whole encoder (mDeBERTa) with AdamW; here the encoder
stays frozen and only the head and model vectors are fitted (full-batch L-BFGS, seconds on a CPU), and the
calibration step is ours (RouterDC picks the top model and has no cost objective).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit, log_expit

from pointsman.data.dataset import RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.fitting import Params, ScoreScale, array, fit_params
from pointsman.routers.registry import register

# Scores within this of a query's best (worst) score make the model a positive (negative) for it.
MARGIN = 0.05


def _unit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    return x / norm, norm


def _unit_backward(g: np.ndarray, unit: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The gradient through x -> x / |x|."""
    return (g - unit * (g * unit).sum(axis=1, keepdims=True)) / norm


def _info_nce(s: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray]:
    """Sum over (query i, positive p) of -log(e^s_ip / (e^s_ip + sum_neg e^s_in)), and d/ds. pos, neg: (n, m)
    boolean masks."""
    shift = s.max(axis=1, keepdims=True)
    e = np.exp(s - shift)
    neg_sum = (e * neg).sum(axis=1, keepdims=True)  # (n, 1)
    z = e + neg_sum  # per (i, p): e_ip + sum of the negatives
    loss = float(np.where(pos, np.log(z) - (s - shift), 0.0).sum())
    g = np.where(pos, e / z - 1.0, 0.0)
    g += neg * e * np.where(pos, 1.0 / z, 0.0).sum(axis=1, keepdims=True)
    return loss, g


def contrast_sets(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, m) positive and negative masks: models within MARGIN of the query's best / worst known score, for
    queries whose best and worst differ."""
    known = np.isfinite(y)
    hi = np.nanmax(np.where(known, y, -np.inf), axis=1, keepdims=True)
    lo = np.nanmin(np.where(known, y, np.inf), axis=1, keepdims=True)
    informative = (hi - lo) > MARGIN
    pos = known & (y >= hi - MARGIN) & informative
    neg = known & (y <= lo + MARGIN) & informative
    return pos, neg


def sample_pairs(
    groups: np.ndarray, negatives: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, one other query of its group (itself if alone) and `negatives` of other groups."""
    n = len(groups)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, groups, side="left")
    ends = np.searchsorted(sorted_groups, groups, side="right")
    partner = order[starts + (rng.random(n) * (ends - starts)).astype(np.int64)]
    neg = rng.integers(0, n, size=(n, negatives))
    same = groups[neg] == groups[:, None]
    neg = np.where(same, rng.integers(0, n, size=(n, negatives)), neg)  # mostly other groups
    return partner, neg


@register
class DualRouter(Router):
    name = "dual"
    uses_embeddings = True

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 128,
        temperature: float = 0.1,
        sample_weight: float = 0.5,
        l2: float = 1e-3,
        max_iter: int = 60,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.temperature = temperature
        self.sample_weight = sample_weight
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, dataset: RoutingDataset) -> DualRouter:
        quality = self._fit_common(dataset)
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        x = self._embed(Queries.of(dataset)).astype(np.float64)
        rng = np.random.default_rng(self.seed)
        pos, neg = contrast_sets(y)
        groups = _groups(dataset.tasks, x, rng)
        partner, others = sample_pairs(groups, 4, rng)
        n, d = x.shape
        m = y.shape[1]
        count = max(int(pos.sum()), 1)
        tau = self.temperature
        per_row = 1 + others.shape[1]  # the partner and the negatives of each query
        indptr = np.arange(0, n * per_row + 1, per_row)

        def loss_grad(p: Params) -> tuple[float, Params]:
            h = np.tanh(x @ p["w1"] + p["b1"])
            u, u_norm = _unit(h @ p["w2"])
            k, k_norm = _unit(p["models"])
            value, gs = _info_nce(u @ k.T / tau, pos, neg)
            value, gs = value / count, gs / (count * tau)
            du = gs @ k
            dk = gs.T @ u
            if self.sample_weight > 0:
                # Partner first, then the negatives: InfoNCE with the partner as the one positive.
                cand = np.concatenate([partner[:, None], others], axis=1)  # (n, 1 + H)
                ss = np.einsum("nd,nhd->nh", u, u[cand]) / tau
                mask_pos = np.zeros_like(ss, dtype=bool)
                mask_pos[:, 0] = True
                v2, g2 = _info_nce(ss, mask_pos, ~mask_pos)
                w = self.sample_weight / (n * tau)
                value += self.sample_weight * v2 / n
                g2 *= w
                du += np.einsum("nh,nhd->nd", g2, u[cand])
                # du[cand[i, h]] += g2[i, h] u[i], as one sparse product (np.add.at is slow)
                scatter = sparse.csr_matrix((g2.ravel(), cand.ravel(), indptr), shape=(n, n))
                du += scatter.T @ u
            du_raw = _unit_backward(du, u, u_norm)
            dh = (du_raw @ p["w2"].T) * (1 - h * h)
            grads = {
                "w1": x.T @ dh + self.l2 * p["w1"],
                "b1": dh.sum(axis=0),
                "w2": h.T @ du_raw + self.l2 * p["w2"],
                "models": _unit_backward(dk, k, k_norm),
            }
            value += 0.5 * self.l2 * float((p["w1"] ** 2).sum() + (p["w2"] ** 2).sum())
            return value, grads

        init = {
            "w1": rng.normal(0, 1 / np.sqrt(d), (d, self.hidden)),
            "b1": np.zeros(self.hidden),
            "w2": rng.normal(0, 1 / np.sqrt(self.hidden), (self.hidden, self.dim)),
            "models": rng.normal(0, 1, (m, self.dim)),
        }
        self.params_ = fit_params(init, loss_grad, self.max_iter)
        self.calibration_ = _calibrate(self._affinity(x), y)
        return self

    def _affinity(self, x: np.ndarray) -> np.ndarray:
        """(n, m) cosine similarity of the queries' and models' vectors."""
        p = self.params_
        u, _ = _unit(np.tanh(x @ p["w1"] + p["b1"]) @ p["w2"])
        k, _ = _unit(p["models"])
        return u @ k.T

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        s = self._affinity(self._embed(q).astype(np.float64))
        a, b = self.calibration_
        return self.scale_.from_unit(expit(s * a + b))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"scale": [self.scale_.lo, self.scale_.hi], "input_dim": int(self.params_["w1"].shape[0])}
        return meta, {**self.params_, "calib_a": self.calibration_[0], "calib_b": self.calibration_[1]}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        m, d = len(self.models_), int(meta["input_dim"])
        shapes = {
            "w1": (d, self.hidden),
            "b1": (self.hidden,),
            "w2": (self.hidden, self.dim),
            "models": (m, self.dim),
        }
        self.params_ = {k: array(arrays, k, s) for k, s in shapes.items()}
        self.calibration_ = (array(arrays, "calib_a", (m,)), array(arrays, "calib_b", (m,)))
        self.scale_ = ScoreScale(*map(float, meta["scale"]))


def _groups(tasks: Sequence[str | None], x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) group ids for the sample-sample loss: the task labels, or k-means clusters without them."""
    if all(tasks):
        _, ids = np.unique(np.array(tasks, dtype=object).astype(str), return_inverse=True)
        return ids
    from sklearn.cluster import KMeans

    k = int(min(20, max(2, len(x) // 200)))
    return KMeans(k, n_init=1, random_state=int(rng.integers(1 << 31))).fit_predict(x)


def _calibrate(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per model (a, b) of P(good) = sigmoid(a * affinity + b), on its known scores."""
    m = y.shape[1]
    a, b = np.ones(m), np.zeros(m)
    for j in range(m):
        known = np.isfinite(y[:, j])
        if known.any():
            a[j], b[j] = _platt(s[known, j], y[known, j])
    return a, b


def _platt(s: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """One-feature logistic regression of fractional targets y on s (slight L2 on the slope)."""

    def loss_grad(p: Params) -> tuple[float, Params]:
        slope, icept = p["t"]
        z = s * slope + icept
        nll = -(y * log_expit(z) + (1 - y) * log_expit(-z))
        g = (expit(z) - y) / len(y)
        value = float(nll.mean()) + 0.5 * l2 * float(slope**2)
        return value, {"t": np.array([(g * s).sum() + l2 * slope, g.sum()])}

    slope, icept = fit_params({"t": np.array([1.0, 0.0])}, loss_grad, 100)["t"]
    return float(slope), float(icept)

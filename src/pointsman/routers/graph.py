"""A graph router in the spirit of GraphRouter (Feng et al., "GraphRouter: A Graph-based Router for LLM
Selections", ICLR 2025).

The routing data is a heterogeneous graph: query nodes (MiniLM embeddings), task nodes, model nodes (the
model's description embedded, its log size and log price) and query-model edges labelled with the observed
quality. Routing is edge prediction: how good would the edge (new query, model) be?

One round of message passing builds each query's state from its neighbourhood: its own embedding, the mean
embedding of its `neighbours` most similar training queries, and its task nodes (a soft assignment to the
task centroids, since a gateway request has no task label). Two edge messages per model carry the labels
of that neighbourhood: the neighbours' mean score on the model (shrunk to the model's mean) and the tasks'
mean score. The edge scorer is a bilinear form between the projected query state and the model node's state
(description features x W + a free vector), plus the two label messages with shared weights and a bias per
model; fitted end to end on the known edges (masked cross-entropy, L2, L-BFGS). During fitting a training
query never sees itself as a neighbour, so its label messages are what a new query would get.

Because a model enters only through its node features and its edges, a NEW model is onboarded inductively
(`onboard`): its node state comes from its description, its label messages from the few queries it was
calibrated on, and only its free vector and bias are fitted (MAP, shrunk to zero and to the others' mean).

Differences from the paper: GraphRouter trains a GNN (GeneralConv) on node features from a BERT-style
encoder, with the task description as a node and the cost in the edge features; here the message passing
is one fixed aggregation layer and the learned part is the edge scorer, fitted with full-batch L-BFGS on a
CPU in seconds. Cost is the project's cost model, as for every router.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit, log_expit

from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.fitting import (
    Params,
    ScoreScale,
    array,
    fit_params,
    logit,
    masked_bce,
    model_priors,
    shrunk_means,
)
from pointsman.routers.registry import register

# Soft task assignment: softmax over cosine similarity to the task centroids at this temperature.
TASK_TEMPERATURE = 0.05
# Rows of the query-query similarity matrix computed at once: bounds memory on large data (24k nodes: 50 MB of
# similarities, 100 MB of argpartition's indices), and was faster than 2,048 rows (12 s vs 17 s, 24k x 24k).
CHUNK = 512


def nearest(queries: np.ndarray, nodes: np.ndarray, k: int, *, self_at: int | None = None) -> np.ndarray:
    """(n, k) indices of each query's k most similar nodes (cosine: the embeddings are unit vectors). With
    `self_at`, query i is node `self_at + i` and is never its own neighbour."""
    k = min(k, len(nodes) - int(self_at is not None))
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), CHUNK):
        sim = queries[start : start + CHUNK] @ nodes.T
        if self_at is not None:
            rows = np.arange(len(sim))
            sim[rows, rows + start + self_at] = -np.inf
        out[start : start + CHUNK] = np.argpartition(sim, -k, axis=1)[:, -k:]
    return out


def neighbour_means(nbrs: np.ndarray, labels: np.ndarray, prior: np.ndarray, shrinkage: float) -> np.ndarray:
    """(n, m) mean known label of each query's neighbours per model, pulled toward `prior`."""
    scores = labels[nbrs]  # (n, k, m)
    known = np.isfinite(scores)
    total = np.where(known, scores, 0.0).sum(axis=1) + shrinkage * prior
    return total / (known.sum(axis=1) + shrinkage)


def model_features(models: Sequence[ModelInfo]) -> np.ndarray:
    """(m, 384 + 2) model node features: the embedded description (or name), log size (B params), log price."""
    from pointsman.text import CachedEncoder, get_encoder

    texts = [str(m.metadata.get("feature") or m.metadata.get("description") or m.name) for m in models]
    desc = CachedEncoder(get_encoder()).encode(texts)
    size = np.array([m.size_billions for m in models])
    price = np.array([(m.input_price + m.output_price) / 2 for m in models], dtype=np.float64)
    extra = np.stack([_log_or_mean(size), _log_or_mean(price)], axis=1)
    return np.hstack([desc, extra]).astype(np.float32)


def _log_or_mean(values: np.ndarray) -> np.ndarray:
    """log(1 + x), unknown (NaN or negative) values replaced by the known ones' mean (0 when none)."""
    ok = np.isfinite(values) & (values >= 0)
    logs = np.log1p(np.where(ok, values, 0.0))
    return np.where(ok, logs, logs[ok].mean() if ok.any() else 0.0)


@register
class GraphRouter(Router):
    name = "graph"
    uses_embeddings = True

    def __init__(
        self,
        dim: int = 16,
        neighbours: int = 40,
        shrinkage: float = 1.0,
        l2: float = 1e-3,
        max_iter: int = 200,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.neighbours = neighbours
        self.shrinkage = shrinkage
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    # -- fitting ----------------------------------------------------------------------------------------

    def fit(self, dataset: RoutingDataset) -> GraphRouter:
        if self.neighbours < 1 or self.dim < 1:
            raise ValueError(f"graph: neighbours and dim must be >= 1, got {self.neighbours}, {self.dim}")
        quality = self._fit_common(dataset)
        self.scale_ = ScoreScale.of(quality)
        y = self.scale_.to_unit(quality)
        emb = self._embed(Queries.of(dataset))
        self.nodes_, self.labels_ = emb, y
        self.prior_ = model_priors(y)
        self._fit_tasks(emb, dataset.tasks, y)
        self.model_features_ = model_features(self.models_)
        state, messages = self._messages(emb, self_at=0)
        known = np.isfinite(y)
        rng = np.random.default_rng(self.seed)
        d, f, m = state.shape[1], self.model_features_.shape[1], y.shape[1]
        init = {
            "proj": rng.normal(0, 1 / np.sqrt(d), (d, self.dim)),
            "desc": rng.normal(0, 1 / np.sqrt(f), (f, self.dim)),
            "free": rng.normal(0, 0.1, (m, self.dim)),
            "message": np.array([1.0, 0.5]),
            "bias": np.zeros(m),
        }

        def loss_grad(p: Params) -> tuple[float, Params]:
            z, backward = self._forward(p, state, messages, self.model_features_)
            value, g = masked_bce(z, y, known)
            grads = backward(g)
            for name in ("proj", "desc", "free"):
                value += 0.5 * self.l2 * float((p[name] ** 2).sum())
                grads[name] = grads[name] + self.l2 * p[name]
            return value, grads

        self.params_ = fit_params(init, loss_grad, self.max_iter)
        return self

    def _fit_tasks(self, emb: np.ndarray, tasks: Sequence[str | None], y: np.ndarray) -> None:
        """Task nodes: each task's centroid (unit length) and mean score per model."""
        names = sorted({t for t in tasks if t})
        labels = np.array([t or "" for t in tasks], dtype=object)
        centroids, means = [], []
        for t in names:
            rows = labels == t
            c = emb[rows].mean(axis=0)
            centroids.append(c / max(float(np.linalg.norm(c)), 1e-12))
            means.append(shrunk_means(y[rows], self.prior_, self.shrinkage))
        dim, m = emb.shape[1], y.shape[1]
        self.task_centroids_ = np.array(centroids, dtype=np.float32).reshape(len(names), dim)
        self.task_means_ = np.array(means, dtype=np.float64).reshape(len(names), m)

    def _messages(self, emb: np.ndarray, *, self_at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each query's state (n, 3 dim) and its two label messages per model (n, m, 2), as logits (with
        `self_at`: the queries are nodes from that index on, and never their own neighbours)."""
        nbrs = nearest(emb, self.nodes_, self.neighbours, self_at=self_at)
        nbr_emb = self.nodes_[nbrs].mean(axis=1)
        by_nbrs = neighbour_means(nbrs, self.labels_, self.prior_, self.shrinkage)
        if len(self.task_centroids_):
            w = _task_weights(emb, self.task_centroids_)
            task_emb, by_task = w @ self.task_centroids_, w @ self.task_means_
        else:
            task_emb, by_task = np.zeros_like(emb), np.broadcast_to(self.prior_, by_nbrs.shape)
        state = np.hstack([emb, nbr_emb, task_emb]).astype(np.float32)
        messages = np.stack([logit(by_nbrs), logit(by_task)], axis=2).astype(np.float32)
        return state, messages

    @staticmethod
    def _forward(
        p: Params, state: np.ndarray, messages: np.ndarray, feats: np.ndarray
    ) -> tuple[np.ndarray, Any]:
        proj = p["proj"].astype(np.float32)
        u = state @ proj  # (n, dim) the query's projected state
        v = feats @ p["desc"].astype(np.float32) + p["free"].astype(np.float32)  # (m, dim) model states
        z = u @ v.T + messages @ p["message"].astype(np.float32) + p["bias"]

        def backward(g: np.ndarray) -> Params:
            g = g.astype(np.float32)
            dv = g.T @ u  # (m, dim)
            return {
                "proj": state.T @ (g @ v),
                "desc": feats.T @ dv,
                "free": dv,
                "message": np.einsum("nm,nmk->k", g, messages),
                "bias": g.sum(axis=0),
            }

        return z, backward

    # -- prediction -------------------------------------------------------------------------------------

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        q = self._queries(queries)
        if len(q) == 0:
            return np.zeros((0, len(self.models_)))
        state, messages = self._messages(self._embed(q))
        z, _ = self._forward(self.params_, state, messages, self.model_features_)
        return self.scale_.from_unit(expit(np.asarray(z, dtype=np.float64)))

    # -- onboarding a new model -------------------------------------------------------------------------

    def onboard(
        self,
        model: ModelInfo,
        queries: Queries | Sequence[str],
        scores: Sequence[float] | np.ndarray,
        prior_strength: float = 1.0,
    ) -> GraphRouter:
        """Add `model` from its description and its `scores` on a few `queries` (NaN = unknown); the other
        models, the scorer and the graph stay as fitted. The calibration queries become the new model's
        labelled edges (for its label messages); its free vector and bias are fitted by MAP."""
        self._check_fitted()
        if model.name in self.model_names:
            raise ValueError(f"model {model.name!r} is already routed by this router")
        q = self._queries(queries)
        y = self.scale_.to_unit(np.asarray(scores, dtype=np.float64))
        if y.shape != (len(q),):
            raise ValueError(f"{y.shape[0] if y.ndim else 0} scores for {len(q)} calibration queries")
        if not np.isfinite(y).any():
            raise ValueError(f"no known score to calibrate {model.name!r} on")
        emb = self._embed(q)
        # The new model's column: its calibration edges are attached to the calibration queries as nodes.
        first = len(self.nodes_)
        self.nodes_ = np.vstack([self.nodes_, emb])
        m = len(self.models_)
        labels = np.full((len(self.nodes_), m + 1), np.nan)
        labels[: len(self.labels_), :m] = self.labels_
        labels[len(self.labels_) :, m] = y
        self.labels_ = labels
        level = float(np.nanmean(y))
        self.prior_ = np.append(self.prior_, level)
        self.task_means_ = np.hstack([self.task_means_, self._task_profile(emb, y, level)[:, None]])
        feats = np.vstack([self.model_features_, model_features([model])])
        state, messages = self._messages(emb, self_at=first)
        known = np.isfinite(y)
        target = np.where(known, y, 0.0)
        base = dict(self.params_)
        b0 = float(base["bias"].mean())  # the new model's bias is shrunk to the others' mean
        prec = prior_strength

        def loss_grad(p: Params) -> tuple[float, Params]:
            full = {
                **base,
                "free": np.vstack([base["free"], p["free"]]),
                "bias": np.append(base["bias"], p["bias"]),
            }
            z, backward = self._forward(full, state, messages, feats)
            zn = z[:, -1].astype(np.float64)
            nll = -(target * log_expit(zn) + (1 - target) * log_expit(-zn))
            g = np.zeros_like(z)
            g[:, -1] = np.where(known, expit(zn) - target, 0.0)
            grads = backward(g)
            value = float(np.where(known, nll, 0.0).sum())
            value += 0.5 * prec * float((p["free"] ** 2).sum() + ((p["bias"] - b0) ** 2).sum())
            return value, {
                "free": grads["free"][-1:] + prec * p["free"],
                "bias": grads["bias"][-1:] + prec * (p["bias"] - b0),
            }

        new = fit_params({"free": np.zeros((1, self.dim)), "bias": np.array([b0])}, loss_grad, 200)
        self.params_ = {
            **base,
            "free": np.vstack([base["free"], new["free"]]),
            "bias": np.append(base["bias"], new["bias"]),
        }
        self.model_features_ = feats
        from pointsman.routers.irt import _extend_cost_model

        _extend_cost_model(self.cost_model_, self.models_, model)
        self.models_ = [*self.models_, model]
        return self

    def _task_profile(self, emb: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
        """(tasks,) a new model's mean score per task node from its calibration queries (soft task
        assignment), shrunk toward its overall `level`."""
        if not len(self.task_centroids_):
            return np.zeros(0)
        w = _task_weights(emb, self.task_centroids_)
        known = np.isfinite(y)
        total = w[known].T @ y[known] + self.shrinkage * level
        return total / (w[known].sum(axis=0) + self.shrinkage)

    # -- files ------------------------------------------------------------------------------------------

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"scale": [self.scale_.lo, self.scale_.hi]}
        arrays = {
            **{f"param_{k}": v for k, v in self.params_.items()},
            "nodes": self.nodes_,
            "labels": self.labels_,
            "prior": self.prior_,
            "task_centroids": self.task_centroids_,
            "task_means": self.task_means_,
            "model_features": self.model_features_,
        }
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        m = len(self.models_)
        self.scale_ = ScoreScale(*map(float, meta["scale"]))
        self.nodes_ = array(arrays, "nodes", (None, None)).astype(np.float32)
        n, dim = self.nodes_.shape
        self.labels_ = arrays["labels"]
        if self.labels_.shape != (n, m):
            raise ValueError(f"array 'labels' has shape {self.labels_.shape}, expected ({n}, {m})")
        self.prior_ = array(arrays, "prior", (m,))
        self.task_centroids_ = array(arrays, "task_centroids", (None, dim)).astype(np.float32)
        self.task_means_ = array(arrays, "task_means", (len(self.task_centroids_), m))
        self.model_features_ = array(arrays, "model_features", (m, None)).astype(np.float32)
        f = self.model_features_.shape[1]
        shapes = {
            "proj": (3 * dim, self.dim),
            "desc": (f, self.dim),
            "free": (m, self.dim),
            "message": (2,),
            "bias": (m,),
        }
        self.params_ = {k: array(arrays, f"param_{k}", s) for k, s in shapes.items()}


def _task_weights(emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(n, tasks) soft assignment of queries to task nodes."""
    z = (emb @ centroids.T) / TASK_TEMPERATURE
    w = np.exp(z - z.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)

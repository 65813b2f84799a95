"""Groups of prompts (tasks, else embedding clusters) and the gate that predicts a query's group.

Category-style routers (Composition of Experts: Jain et al. 2024, arXiv:2411.01102) route in two steps:
which kind of prompt is this, then which model is good at that kind. The groups are the dataset's task
labels when it has them; tasks with fewer than `min_size` prompts and unlabelled prompts share an "other"
group; data without tasks is clustered (k-means on the embeddings). The gate is a multinomial logistic
regression on embedding + lexical features + hashed word n-grams, so a new query gets a probability for
every group.
"""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from pointsman.data.dataset import RoutingDataset
from pointsman.routers.base import Queries, Router
from pointsman.routers.features import NGRAM_COLUMNS, Featurizer, hashed_ngrams, ngram_columns
from pointsman.routers.fitting import array, fit_softmax_blocks, softmax

OTHER = "(other)"
# Prompts per k-means cluster when a dataset has no tasks, and at most this many clusters.
PROMPTS_PER_CLUSTER = 150
MAX_CLUSTERS = 12


def group_labels(
    tasks: Sequence[str | None], embeddings: np.ndarray, min_size: int, seed: int
) -> tuple[list[str], np.ndarray]:
    """(group names, (n,) group index per prompt): tasks with >= min_size prompts, else clusters."""
    counts = Counter(t for t in tasks if t is not None)
    names = sorted(t for t, c in counts.items() if c >= min_size)
    if names:
        index = {t: i for i, t in enumerate(names)}
        labels = np.array([index.get(t, len(names)) if t is not None else len(names) for t in tasks])
        if (labels == len(names)).any():
            names.append(OTHER)
        return names, labels
    k = int(np.clip(len(tasks) // PROMPTS_PER_CLUSTER, 1, MAX_CLUSTERS))
    if k == 1:
        return ["cluster-0"], np.zeros(len(tasks), dtype=np.int64)
    from sklearn.cluster import KMeans

    labels = KMeans(k, n_init=4, random_state=seed).fit_predict(embeddings)
    return [f"cluster-{i}" for i in range(k)], labels.astype(np.int64)


@dataclass
class Gate:
    """p(group | query features): softmax(x @ w + b); one group means probability 1.

    Its input is the dense features and `ngram_weight` x the hashed n-grams (`gate_matrix` stacks them).
    """

    names: list[str]
    w: np.ndarray  # (d, k) float32
    b: np.ndarray  # (k,)

    @classmethod
    def fit(
        cls,
        names: list[str],
        labels: np.ndarray,
        x: np.ndarray,
        texts: Sequence[str],
        ngram_weight: float,
        reg: float,
        init: Gate | None = None,
    ) -> Gate:
        """Fitted on dense features x and the texts' n-grams; `init`: a gate over the same groups to start
        from (a warm start: fewer iterations to the same optimum)."""
        k = len(names)
        if k == 1:
            return cls(names, np.zeros((x.shape[1] + NGRAM_COLUMNS, 1), np.float32), np.zeros(1))
        start = None
        if init is not None and init.names == names and init.w.shape == (x.shape[1] + NGRAM_COLUMNS, k):
            start = (init.w.astype(np.float64), init.b)
        ngrams = hashed_ngrams(texts) * ngram_weight
        w, b = fit_softmax_blocks(x, ngrams, labels, k, reg / x.shape[0], init=start)
        return cls(names, w.astype(np.float32), b)

    def proba(self, x: np.ndarray, texts: Sequence[str], ngram_weight: float) -> np.ndarray:
        """(n, k) group probabilities, softmax(gate_matrix(...) @ w + b). One query at a time (the
        gateway) sums its n-grams' rows directly: a sparse matrix costs more to assemble than that."""
        d = x.shape[1]
        z = x @ self.w[:d] + self.b
        if len(texts) > 16:
            z += (hashed_ngrams(texts) * ngram_weight) @ self.w[d:]
            return softmax(z)
        for row, text in enumerate(texts):
            cols = ngram_columns(text)
            if len(cols):
                z[row] += self.w[d + cols].sum(axis=0) * (ngram_weight / np.sqrt(len(cols)))
        return softmax(z)

    def state(self) -> tuple[list[str], dict[str, np.ndarray]]:
        return self.names, {"gate_w": self.w, "gate_b": self.b}

    @classmethod
    def from_state(cls, names: list[str], arrays: dict[str, np.ndarray], dim: int) -> Gate:
        k = len(names)
        return cls(list(names), array(arrays, "gate_w", (dim, k)), array(arrays, "gate_b", (k,)))


# Gates fitted in this process, by everything that determines them. The gate is the optimum of a strictly
# convex loss, a pure function of its inputs: `category` and `mixture` fit the very same gate on each
# cross-validation fold, and a refit on the same data gets it back instead of refitting.
_GATES: OrderedDict[bytes, Gate] = OrderedDict()
_GATES_KEPT = 8


def fitted_gate(
    names: list[str],
    labels: np.ndarray,
    x: np.ndarray,
    texts: Sequence[str],
    ngram_weight: float,
    reg: float,
    warm: Gate | None = None,
) -> Gate:
    """`Gate.fit`, shared with earlier fits on the same inputs in this process."""
    h = hashlib.sha256(json.dumps([names, float(ngram_weight), float(reg)]).encode())
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
    h.update(np.ascontiguousarray(x, np.float64).tobytes())
    h.update("\0".join(texts).encode("utf-8", "surrogatepass"))
    key = h.digest()
    if key in _GATES:
        _GATES.move_to_end(key)
        return _GATES[key]
    gate = _GATES[key] = Gate.fit(names, labels, x, texts, ngram_weight, reg, warm)
    if len(_GATES) > _GATES_KEPT:
        _GATES.popitem(last=False)
    return gate


def gate_matrix(x: np.ndarray, texts: Sequence[str], ngram_weight: float) -> sparse.csr_matrix:
    """The gate's input: dense features and `ngram_weight` x hashed word n-grams, side by side."""
    return sparse.hstack([sparse.csr_matrix(x), hashed_ngrams(texts) * ngram_weight], format="csr")


class GatedRouter(Router):
    """A router that first predicts the query's group with a `Gate`, then mixes per-group predictions.

    Subclasses implement `_fit_groups(x, quality, labels)` and `_predict_groups(x, proba)` and their part of
    the state. A query that comes with a task label naming a group uses that group for sure.
    """

    uses_embeddings = True
    fit_group = "gated"  # with the same gate parameters they share a fold's gate (`fitted_gate`)
    lexical_weight: float
    ngram_weight: float
    gate_reg: float
    min_group: int
    seed: int

    def fit(self, dataset: RoutingDataset) -> GatedRouter:
        return self._fit_gated(dataset)

    def _fit_gated(self, dataset: RoutingDataset, warm: GatedRouter | None = None) -> GatedRouter:
        """`fit`, optionally warm-started from `warm`, a router of this kind fitted on overlapping data (the
        losses are strictly convex: a warm start changes how many iterations it takes, not the optimum)."""
        quality = self._fit_common(dataset)
        emb = self._embed(Queries.of(dataset))
        self.featurizer_ = Featurizer.fit(emb, dataset.prompts, self.lexical_weight)
        x = self.featurizer_.transform(emb, dataset.prompts)
        names, labels = group_labels(dataset.tasks, emb, self.min_group, self.seed)
        self.gate_ = fitted_gate(
            names, labels, x, dataset.prompts, self.ngram_weight, self.gate_reg, warm.gate_ if warm else None
        )
        self._fit_groups(x, quality, labels, warm)
        return self

    @abstractmethod
    def _fit_groups(
        self, x: np.ndarray, quality: np.ndarray, labels: np.ndarray, warm: GatedRouter | None = None
    ) -> None: ...

    @abstractmethod
    def _predict_groups(self, x: np.ndarray, proba: np.ndarray) -> np.ndarray: ...

    def group_proba(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        """(n, groups) probability of each group (`self.gate_.names`) for each query."""
        return self._features_and_proba(self._queries(queries))[1]

    def predict(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        x, proba = self._features_and_proba(self._queries(queries))
        return self._predict_groups(x, proba)

    def predict_cost(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        """The cost model's price of each query, with output lengths expected over the predicted tasks."""
        q = self._queries(queries)
        if q.tasks is not None:
            return self.cost_model_.predict(q.texts, q.tasks)
        cost = self.cost_model_.predict(q.texts)
        offsets = self.cost_model_.task_offset
        m = len(self.models_)
        table = np.array([offsets.get(name, np.zeros(m)) for name in self.gate_.names])
        return np.maximum(cost + self._features_and_proba(q)[1] @ table, 0.0)

    def _features_and_proba(self, q: Queries) -> tuple[np.ndarray, np.ndarray]:
        """Features and group probabilities of the queries. The gateway asks `predict` and then
        `predict_cost` about the same `Queries`: the last answer is kept (one entry, holding the queries
        so that their identity cannot be reused) and handed out again while the queries are unchanged."""
        content = (tuple(q.texts), q.encoder_id, None if q.tasks is None else tuple(q.tasks))
        memo = getattr(self, "_memo", None)
        if memo is not None and memo[0] is q and memo[1] is q.embeddings and memo[2] == content:
            return memo[3]
        result = self._compute_features_and_proba(q)
        self._memo = (q, q.embeddings, content, result)
        return result

    def _compute_features_and_proba(self, q: Queries) -> tuple[np.ndarray, np.ndarray]:
        if len(q) == 0:
            return np.zeros((0, self.featurizer_.dim)), np.zeros((0, len(self.gate_.names)))
        x = self.featurizer_.transform(self._embed(q), q.texts)
        proba = self.gate_.proba(x, q.texts, self.ngram_weight)
        if q.tasks is not None:
            index = {name: i for i, name in enumerate(self.gate_.names)}
            for row, task in enumerate(q.tasks):
                if task in index:
                    proba[row] = 0.0
                    proba[row, index[task]] = 1.0
        return x, proba

    def _gate_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        names, arrays = self.gate_.state()
        return {"groups": names}, {**arrays, **self.featurizer_.state("lexical_")}

    def _set_gate_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.featurizer_ = Featurizer.from_state(arrays, "lexical_", self.lexical_weight)
        self.gate_ = Gate.from_state(meta["groups"], arrays, self.featurizer_.dim + NGRAM_COLUMNS)

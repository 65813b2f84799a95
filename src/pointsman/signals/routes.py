"""Embedding similarity to named example sets ("routes"): which route a request is closest to.

A route is a few example utterances and a similarity threshold. The utterances are embedded once when
the signal is built; per request the signal only needs the request embedding the runner shares with the
router (one (U, d) @ (d,) product and a per-route max: microseconds for hundreds of utterances).
Thresholds can be tuned from labelled examples (`RouteSignal.tune`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Hashable, Literal

import numpy as np

from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind

DEFAULT_THRESHOLD = 0.5
TOP_SCORES = 5  # routes whose similarity a result reports (for explanations)


@dataclass(frozen=True)
class Route:
    name: str
    utterances: tuple[str, ...]
    threshold: float | None = None  # None: the signal's default threshold


class RouteSignal(Signal):
    """Value: the name of the most similar route if its similarity reaches that route's threshold, else
    None. Confidence: that best similarity (cosine, clipped to [0, 1]). Scores: the similarity of the
    `TOP_SCORES` most similar routes.

    Similarity to a route is the maximum cosine similarity to any of its utterances.
    """

    kind = ValueKind.LABEL
    needs_embedding = True
    budget_ms = 2.0

    def __init__(
        self, name: str, routes: Sequence[Route], encoder: Any, *, threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        super().__init__(name)
        if not routes:
            raise ValueError("no routes given")
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError(f"route names repeat: {sorted(n for n in set(names) if names.count(n) > 1)}")
        for r in routes:
            if not r.utterances or not all(isinstance(u, str) and u.strip() for u in r.utterances):
                raise ValueError(f"routes.{r.name}: needs at least one non-empty utterance")
        self.route_names = names
        self.encoder_id = getattr(encoder, "id", None)
        self.thresholds = np.array(
            [threshold if r.threshold is None else r.threshold for r in routes], np.float32
        )
        counts = np.array([len(r.utterances) for r in routes])
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._matrix = np.ascontiguousarray(
            encoder.encode([u for r in routes for u in r.utterances]), np.float32
        )

    def cache_key(self, view: RequestView) -> Hashable | None:
        return view.last_user_key  # the embedding is computed from the last user message

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Best cosine similarity per route: (n, d) -> (n, routes), or (d,) -> (routes,)."""
        sims = np.asarray(embeddings, np.float32) @ self._matrix.T
        return np.maximum.reduceat(sims, self._starts, axis=-1)

    def compute(self, view: RequestView) -> SignalResult:
        embedding = view.embedding
        if embedding is None:
            raise RuntimeError("the request embedding was not computed")
        if embedding.shape[-1] != self._matrix.shape[1]:
            raise ValueError(
                f"request embedding has {embedding.shape[-1]} dims, the routes' encoder {self.encoder_id} "
                f"{self._matrix.shape[1]}: the runner and the signal must use the same encoder"
            )
        sims = self.similarities(embedding)
        best = int(np.argmax(sims))
        value = self.route_names[best] if sims[best] >= self.thresholds[best] else None
        top = np.argsort(-sims)[:TOP_SCORES]
        scores = {self.route_names[i]: round(float(sims[i]), 4) for i in top}
        return SignalResult(value, float(np.clip(sims[best], 0.0, 1.0)), scores=scores)

    def predict(self, embeddings: np.ndarray) -> list[str | None]:
        """Route (or None) for each row of a (n, d) embedding matrix: offline evaluation."""
        sims = self.similarities(embeddings)
        best = sims.argmax(axis=1)
        hit = sims[np.arange(len(best)), best] >= self.thresholds[best]
        return [self.route_names[b] if h else None for b, h in zip(best, hit)]

    def tune(
        self,
        embeddings: np.ndarray,
        labels: Sequence[str | None],
        *,
        objective: Literal["f1", "accuracy"] = "accuracy",
        per_route: bool = False,
    ) -> dict[str, float]:
        """Set the thresholds to maximise `objective` on labelled examples (label None: no route).

        One shared threshold by default; `per_route` fits one per route, which needs many examples per
        route (with a handful each it overfits). A request goes to its most similar route if the
        similarity reaches that route's threshold, so each route's threshold only decides among the
        examples closest to that route, and per-route thresholds are optimised one route at a time,
        exactly. Accuracy counts "no route" answers; F1 is micro-F1 over the routes (shared threshold)
        or the route's own F1. Returns the thresholds by route name.
        """
        if len(labels) != len(embeddings):
            raise ValueError(f"{len(embeddings)} embeddings but {len(labels)} labels")
        unknown = {lab for lab in labels if lab is not None} - set(self.route_names)
        if unknown:
            raise ValueError(f"labels name unknown routes {sorted(unknown)}; routes: {self.route_names}")
        sims = self.similarities(embeddings)
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(len(best)), best]
        labels_arr = np.array([-1 if lab is None else self.route_names.index(lab) for lab in labels])
        if not per_route:
            self.thresholds[:] = _best_threshold(
                best_sim, labels_arr == best, labels_arr == -1, int((labels_arr >= 0).sum()), objective
            )
            return {n: float(t) for n, t in zip(self.route_names, self.thresholds)}
        for r in range(len(self.route_names)):
            mine = best == r
            if mine.any():
                self.thresholds[r] = _best_threshold(
                    best_sim[mine],
                    labels_arr[mine] == r,
                    labels_arr[mine] == -1,
                    int((labels_arr == r).sum()),
                    objective,
                )
        return {n: float(t) for n, t in zip(self.route_names, self.thresholds)}


def _best_threshold(
    sim: np.ndarray, is_route: np.ndarray, is_none: np.ndarray, n_route: int, objective: str
) -> float:
    """The threshold over `sim` that maximises the objective; midway between neighbouring scores."""
    order = np.argsort(-sim)
    sim, is_route, is_none = sim[order], is_route[order], is_none[order]
    tp = np.concatenate([[0], np.cumsum(is_route)])  # accepting the top k, k = 0..n
    fp = np.arange(len(sim) + 1) - tp
    if objective == "accuracy":
        none_below = is_none.sum() - np.concatenate([[0], np.cumsum(is_none)])
        gain = tp + none_below
    else:
        gain = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + (n_route - tp), 1), 0.0)
    k = int(np.argmax(gain))  # first best: the highest threshold among ties
    if k == 0:
        return float(sim[0]) + 1e-4
    if k == len(sim):
        return float(sim[-1]) - 1e-4
    return float((sim[k - 1] + sim[k]) / 2)

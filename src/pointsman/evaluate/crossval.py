"""Held-out predictions: fit a router on each split's train rows, predict its test rows, pool the results.

With k grouped folds every prompt is predicted exactly once by a router that never saw it (out-of-fold),
and the metrics are computed once over the pooled predictions rather than averaged over folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pointsman.data.dataset import RoutingDataset
from pointsman.data.splits import Split
from pointsman.routers.base import Queries, Router


class EvaluationError(ValueError):
    """An evaluation that cannot run as asked (bad router spec, splits, or a router breaking its contract)."""


@dataclass(frozen=True)
class RouterSpec:
    """A router to evaluate: registry name and hyper-parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"

    def make(self) -> Router:
        from pointsman.routers.registry import make_router

        try:
            return make_router(self.name, **self.params)
        except TypeError as exc:
            raise EvaluationError(f"router {self.name!r}: bad parameters {self.params}: {exc}") from None


def evaluable_routers() -> list[str]:
    """Registered routers that can be cross-validated: all but those marked `evaluation_only` (the oracle
    reads the answers; the report shows the oracle from the data instead)."""
    from pointsman.routers.registry import router_class, router_names

    return [n for n in router_names() if not getattr(router_class(n), "evaluation_only", False)]


def default_router_name() -> str | None:
    """The router the gateway uses by default: the registry's `DEFAULT_ROUTER`."""
    from pointsman.routers import registry

    return getattr(registry, "DEFAULT_ROUTER", None)


@dataclass(frozen=True)
class Predictions:
    """Held-out predicted quality and cost (n_rows, m) for `rows` of the dataset, in its model order."""

    rows: np.ndarray
    quality: np.ndarray
    cost: np.ndarray
    fit_seconds: float
    predict_seconds: float
    # Which split predicted each row (its router was fitted on that split's train side).
    folds: np.ndarray | None = None


def evaluation_rows(splits: Sequence[Split]) -> np.ndarray:
    """The rows the splits hold out, in order; each at most once."""
    rows = np.concatenate([test for _, test in splits]) if splits else np.zeros(0, np.int64)
    if len(np.unique(rows)) != len(rows):
        raise EvaluationError("the splits hold out some rows more than once")
    for train, test in splits:
        if np.intersect1d(train, test).size:
            raise EvaluationError("a split has rows on both its train and test side")
    return np.sort(rows)


def predict_held_out(
    spec: RouterSpec,
    dataset: RoutingDataset,
    splits: Sequence[Split],
    task_labels: bool = False,
    on_fold: Callable[[int], None] | None = None,
) -> Predictions:
    """Fit on each split's train rows, predict its test rows; pooled over splits.

    task_labels: pass the prompts' task labels to predict (a router may use them); off by default since a
    gateway does not know a request's task.
    """
    folds = []
    for k, (train, test) in enumerate(splits):
        folds.append(predict_fold(spec, dataset, train, test, task_labels))
        if on_fold is not None:
            on_fold(k)
    return pooled(dataset, splits, folds)


@dataclass(frozen=True)
class Fold:
    """One split's held-out predictions: (len(test), m) in the dataset's model order."""

    quality: np.ndarray
    cost: np.ndarray
    fit_seconds: float
    predict_seconds: float


def predict_fold(
    spec: RouterSpec, dataset: RoutingDataset, train: np.ndarray, test: np.ndarray, task_labels: bool = False
) -> Fold:
    """Fit a new router on the train rows, predict the test rows (NaN for a model the router leaves out)."""
    router = spec.make()
    t0 = time.perf_counter()
    router.fit(dataset.subset(train))
    t1 = time.perf_counter()
    part = dataset.subset(test)
    queries = Queries(texts=list(part.prompts), tasks=list(part.tasks) if task_labels else None)
    cols = _columns(spec, router, dataset)
    quality = np.full((len(test), dataset.n_models), np.nan)
    cost = np.full((len(test), dataset.n_models), np.nan)
    quality[:, cols] = _check(spec, "predict", router.predict(queries), len(test), len(cols))
    cost[:, cols] = _check(spec, "predict_cost", router.predict_cost(queries), len(test), len(cols))
    return Fold(quality, cost, t1 - t0, time.perf_counter() - t1)


def pooled(dataset: RoutingDataset, splits: Sequence[Split], folds: Sequence[Fold]) -> Predictions:
    """The folds' predictions pooled over the rows the splits hold out."""
    rows = evaluation_rows(splits)
    m = dataset.n_models
    quality = np.full((dataset.n_prompts, m), np.nan)
    cost = np.full((dataset.n_prompts, m), np.nan)
    fold = np.full(dataset.n_prompts, -1, dtype=np.int64)
    for k, ((_, test), part) in enumerate(zip(splits, folds)):
        quality[test], cost[test], fold[test] = part.quality, part.cost, k
    fit_s = sum(f.fit_seconds for f in folds)
    predict_s = sum(f.predict_seconds for f in folds)
    return Predictions(rows, quality[rows], cost[rows], fit_s, predict_s, fold[rows])


def _columns(spec: RouterSpec, router: Router, dataset: RoutingDataset) -> np.ndarray:
    """Dataset columns of the router's models (a router may leave out a model it has no data for)."""
    unknown = set(router.model_names) - set(dataset.model_names)
    if unknown:
        raise EvaluationError(f"router {spec.label!r} predicts models not in the data: {sorted(unknown)}")
    return np.array([dataset.model_index(name) for name in router.model_names], dtype=np.int64)


def _check(spec: RouterSpec, method: str, values: Any, n: int, m: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n, m):
        raise EvaluationError(
            f"router {spec.label!r}: {method} returned shape {arr.shape}, expected ({n}, {m})"
        )
    return arr

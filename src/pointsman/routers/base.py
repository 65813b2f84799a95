"""The Router contract (scikit-learn's estimator shape) and its portable file format.

Every routing algorithm: hyper-parameters in `__init__` (stored as attributes of the same name, no work
there), `fit(dataset) -> self`, `predict(queries) -> (n, m)` expected quality per model, and `save`/`load`
to a versioned `.npz` file holding a JSON header and named numpy arrays (no pickle).
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pointsman.data.cost import CostModel
from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.npzfile import read_npz, write_npz

FILE_FORMAT = "pointsman-router"
FILE_VERSION = 1


@dataclass
class Queries:
    """What a router predicts for: texts, and optionally their embeddings and task labels.

    The gateway embeds a request once and passes the vector here, so the router does not embed again.
    """

    texts: list[str]
    embeddings: np.ndarray | None = None
    encoder_id: str | None = None
    tasks: list[str | None] | None = None

    @classmethod
    def of(cls, queries: Queries | RoutingDataset | Sequence[str] | str) -> Queries:
        if isinstance(queries, Queries):
            return queries
        if isinstance(queries, RoutingDataset):
            return cls(texts=list(queries.prompts), tasks=list(queries.tasks))
        if isinstance(queries, str):
            return cls(texts=[queries])
        return cls(texts=list(queries))

    def __len__(self) -> int:
        return len(self.texts)


class RouterFileError(ValueError):
    """A router file that cannot be read: wrong format, version or content."""


class Router(ABC):
    """Base class. Subclasses set `name`, implement `fit`, `predict`, `_get_state`, `_set_state`.

    `fit` starts with `self._fit_common(dataset)`, which records the models, fits the cost model every
    router file carries (`predict_cost`) and, for `uses_embeddings` routers, fixes the encoder.
    """

    name: ClassVar[str]
    # Needs the true scores of the very prompts it predicts (the oracle): never trained for serving.
    evaluation_only: ClassVar[bool] = False
    # Reads prompt embeddings: the file records the encoder id, `_embed` encodes with that encoder.
    uses_embeddings: ClassVar[bool] = False
    # Routers of one fit group share fitted parts within a process: cross-validation runs a fold of all of
    # them in one process (evaluate/parallel.py). None: a group of its own.
    fit_group: ClassVar[str | None] = None
    models_: list[ModelInfo]
    cost_model_: CostModel
    encoder_id_: str | None = None

    @abstractmethod
    def fit(self, dataset: RoutingDataset) -> Router: ...

    @abstractmethod
    def predict(self, queries: Queries | RoutingDataset | Sequence[str]) -> np.ndarray:
        """(n_queries, n_models) expected quality, columns in `self.model_names` order."""

    @abstractmethod
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON-able dict, named arrays)."""

    @abstractmethod
    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None: ...

    # -- parameters (scikit-learn style) --------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {
            p.name: getattr(self, p.name)
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in named
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def model_names(self) -> list[str]:
        self._check_fitted()
        return [m.name for m in self.models_]

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(dataset) first")

    # -- what every router does ---------------------------------------------------------------------

    def _fit_common(self, dataset: RoutingDataset) -> np.ndarray:
        """Record the models, fit the cost model, fix the encoder; the (n, m) quality matrix (NaN kept)."""
        if not isinstance(dataset, RoutingDataset):
            raise TypeError(f"fit() takes a RoutingDataset, not {type(dataset).__name__}")
        if dataset.n_prompts == 0 or dataset.n_models == 0:
            raise ValueError(
                f"cannot fit {self.name!r} on {dataset.name!r}: it has {dataset.n_prompts} prompts and "
                f"{dataset.n_models} models"
            )
        quality = np.asarray(dataset.quality, dtype=np.float64)
        if not np.isfinite(quality).any():
            raise ValueError(f"cannot fit {self.name!r} on {dataset.name!r}: no known quality score")
        self.models_ = list(dataset.models)
        self.cost_model_ = CostModel().fit(dataset)
        if self.uses_embeddings:
            from pointsman.text import get_encoder

            self.encoder_id_ = get_encoder().id
        return quality

    def _queries(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> Queries:
        """The input of predict / predict_cost, checked: a fitted router and a well-formed query set."""
        self._check_fitted()
        q = Queries.of(queries)
        if q.embeddings is not None and np.shape(q.embeddings)[0] != len(q):
            raise ValueError(f"{np.shape(q.embeddings)[0]} embeddings for {len(q)} texts")
        if q.tasks is not None and len(q.tasks) != len(q):
            raise ValueError(f"{len(q.tasks)} tasks for {len(q)} texts")
        return q

    def _embed(self, queries: Queries) -> np.ndarray:
        """(n, dim) float32 embeddings with this router's encoder: the gateway's when it used the same
        encoder, else encoded here (through the on-disk cache)."""
        if queries.embeddings is not None and queries.encoder_id == self.encoder_id_:
            return np.asarray(queries.embeddings, dtype=np.float32)
        if len(queries) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        from pointsman.text import CachedEncoder, encoder_for_id

        if self.encoder_id_ is None:
            raise RuntimeError(f"{type(self).__name__} has no encoder recorded")
        return CachedEncoder(encoder_for_id(self.encoder_id_)).encode(
            queries.texts, progress=len(queries) > 500
        )

    def predict_cost(self, queries: Queries | RoutingDataset | Sequence[str] | str) -> np.ndarray:
        """(n_queries, n_models) expected USD per call, columns in `self.model_names` order."""
        q = self._queries(queries)
        return self.cost_model_.predict(q.texts, q.tasks)

    # -- files ----------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        meta, arrays = self._get_state()
        header = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "router": self.name,
            "params": self.get_params(),
            "models": [
                {"name": m.name, "input_price": m.input_price, "output_price": m.output_price}
                | ({"metadata": _jsonable(m.metadata)} if m.metadata else {})
                for m in self.models_
            ],
            "cost_model": self.cost_model_.to_state(),
            "encoder_id": self.encoder_id_,
            "state": meta,
        }
        return write_npz(path, header, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Router:
        """Load any router file; on a subclass, also checks the file holds that router."""
        from pointsman.routers.registry import router_class

        header, arrays = read_router_file(path)
        try:
            klass = router_class(header.get("router"))
        except RouterFileError as exc:
            raise RouterFileError(f"{path}: {exc}") from None
        if cls is not Router and not issubclass(klass, cls):
            raise RouterFileError(f"{path}: holds a {header['router']!r} router, not {cls.name!r}")
        try:
            router = klass(**header["params"])
            router.models_ = [ModelInfo(**m) for m in header["models"]]
            router.cost_model_ = CostModel.from_state(header["cost_model"])
            router.encoder_id_ = header["encoder_id"]
            if router.cost_model_.model_names != router.model_names:
                raise ValueError("the cost model's models differ from the router's")
            if klass.uses_embeddings and not isinstance(router.encoder_id_, str):
                raise ValueError("no encoder id for a router that reads embeddings")
            router._set_state(header["state"], arrays)
        except (TypeError, KeyError, ValueError, IndexError) as exc:
            raise RouterFileError(f"{path}: bad {header['router']!r} router state: {exc}") from exc
        return router


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    """Model metadata as the file's JSON header can hold it (dates and other objects as strings)."""
    return json.loads(json.dumps(meta, default=str))


def read_router_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a router file, with clear errors for anything else."""
    return read_npz(path, FILE_FORMAT, FILE_VERSION, RouterFileError, "router")

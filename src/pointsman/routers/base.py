"""The Router contract (scikit-learn's estimator shape) and its portable file format.

Every routing algorithm: hyper-parameters in `__init__` (stored as attributes of the same name, no work
there), `fit(dataset) -> self`, `predict(queries) -> (n, m)` expected quality per model, and `save`/`load`
to a versioned `.npz` file holding a JSON header and named numpy arrays (no pickle).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

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
    """Base class. Subclasses set `name`, implement `fit`, `predict`, `_get_state`, `_set_state`."""

    name: ClassVar[str]
    models_: list[ModelInfo]

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
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

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
                for m in self.models_
            ],
            "state": meta,
        }
        return write_npz(path, header, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Router:
        """Load any router file; on a subclass, also checks the file holds that router."""
        from pointsman.routers.registry import router_class

        header, arrays = read_router_file(path)
        klass = router_class(header["router"])
        if cls is not Router and not issubclass(klass, cls):
            raise RouterFileError(f"{path}: holds a {header['router']!r} router, not {cls.name!r}")
        try:
            router = klass(**header["params"])
            router.models_ = [ModelInfo(**m) for m in header["models"]]
            router._set_state(header["state"], arrays)
        except (TypeError, KeyError, ValueError) as exc:
            raise RouterFileError(f"{path}: bad {header['router']!r} router state: {exc}") from exc
        return router


def read_router_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a router file, with clear errors for anything else."""
    return read_npz(path, FILE_FORMAT, FILE_VERSION, RouterFileError, "router")

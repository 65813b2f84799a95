"""RoutingDataset: prompts x models -> quality, cost, latency.

The one shape every loader produces and every router, split and metric consumes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

_SPACE = re.compile(r"\s+")


def normalize_prompt(text: str) -> str:
    """The de-duplication key: whitespace-normalised, lower-cased text."""
    return _SPACE.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class ModelInfo:
    """One candidate model. Prices are USD per 1M tokens."""

    name: str
    input_price: float = 0.0
    output_price: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def size_billions(self) -> float:
        """Parameters in billions from the metadata's `parameters` (a number) or `size` ('7B', '135M');
        NaN when unknown."""
        params = self.metadata.get("parameters")
        if isinstance(params, (int, float)) and not isinstance(params, bool):
            return float(params)
        text = str(self.metadata.get("size") or "").strip().upper()
        scale = {"B": 1.0, "M": 1e-3, "T": 1e3}.get(text[-1:])
        try:
            return float(text[:-1]) * scale if scale is not None else float(text)
        except ValueError:
            return float("nan")


@dataclass
class RoutingDataset:
    """n prompts x m models.

    quality: (n, m) float, NaN where unknown.
    cost: (n, m) USD per call, NaN where unknown.
    latency: (n, m) seconds or None when the source has none.
    """

    prompt_ids: list[str]
    prompts: list[str]
    tasks: list[str | None]
    models: list[ModelInfo]
    quality: np.ndarray
    cost: np.ndarray
    latency: np.ndarray | None = None
    name: str = "dataset"
    # Free-form provenance: source files, cost-model description, dedup counts.
    info: dict[str, Any] = field(default_factory=dict)
    # Optional per-call token counts (n, m), when the source recorded them.
    input_tokens: np.ndarray | None = None
    output_tokens: np.ndarray | None = None
    # Optional (n, m) object array of each call's answer text (None where not recorded), and (n, m) mean
    # token log-probabilities (NaN where unknown): what answer-aware policies (cascades) read.
    responses: np.ndarray | None = None
    logprobs: np.ndarray | None = None

    def __post_init__(self) -> None:
        for label in ("quality", "cost", "latency", "input_tokens", "output_tokens"):
            arr = getattr(self, label)
            if arr is not None and not isinstance(arr, np.ndarray):  # accept nested lists
                setattr(self, label, np.asarray(arr, dtype=np.float64))
        if self.responses is not None:
            self.responses = _object_array(self.responses)
        if self.logprobs is not None:
            self.logprobs = np.asarray(self.logprobs, dtype=np.float64)
        n, m = len(self.prompts), len(self.models)
        if len(self.prompt_ids) != n or len(self.tasks) != n:
            raise ValueError("prompt_ids, prompts and tasks must have the same length")
        for label in ("quality", "cost", "latency", "input_tokens", "output_tokens", "responses", "logprobs"):
            arr = getattr(self, label)
            if arr is not None and np.shape(arr) != (n, m):
                raise ValueError(f"{label} has shape {np.shape(arr)}, expected ({n}, {m})")
        if len({mi.name for mi in self.models}) != m:
            raise ValueError("model names must be unique")

    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def model_names(self) -> list[str]:
        return [mi.name for mi in self.models]

    def model_index(self, name: str) -> int:
        try:
            return self.model_names.index(name)
        except ValueError:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(self.model_names)}") from None

    def keys(self) -> list[str]:
        """De-duplication / grouping key per prompt."""
        return [normalize_prompt(p) for p in self.prompts]

    def subset(self, rows: Sequence[int] | np.ndarray) -> RoutingDataset:
        """The dataset restricted to the given prompt rows (in that order)."""
        idx = np.asarray(rows, dtype=np.int64)

        def take(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr[idx]

        return replace(
            self,
            prompt_ids=[self.prompt_ids[i] for i in idx],
            prompts=[self.prompts[i] for i in idx],
            tasks=[self.tasks[i] for i in idx],
            quality=self.quality[idx],
            cost=self.cost[idx],
            latency=take(self.latency),
            input_tokens=take(self.input_tokens),
            output_tokens=take(self.output_tokens),
            responses=take(self.responses),
            logprobs=take(self.logprobs),
            info=dict(self.info),
        )

    def select_models(self, names: Sequence[str]) -> RoutingDataset:
        """The dataset restricted to the given models (in that order)."""
        cols = np.array([self.model_index(n) for n in names], dtype=np.int64)

        def take(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr[:, cols]

        return replace(
            self,
            models=[self.models[c] for c in cols],
            quality=self.quality[:, cols],
            cost=self.cost[:, cols],
            latency=take(self.latency),
            input_tokens=take(self.input_tokens),
            output_tokens=take(self.output_tokens),
            responses=take(self.responses),
            logprobs=take(self.logprobs),
            info=dict(self.info),
        )


def _object_array(rows: object) -> np.ndarray:
    """Nested lists of str/None as a 2-D object array (np.asarray would make a string array)."""
    if isinstance(rows, np.ndarray) and rows.dtype == object:
        return rows
    rows = [list(r) for r in rows]  # type: ignore[attr-defined]
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for i, row in enumerate(rows):
        out[i, :] = row
    return out

"""What is in a RoutingDataset, as figures (for `pointsman data inspect` and reports)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pointsman.data.dataset import RoutingDataset


@dataclass(frozen=True)
class ModelSummary:
    name: str
    input_price: float
    output_price: float
    scored: int
    missing: int
    score_type: str  # "binary" (all scores 0/1), "continuous" (none are) or "mixed (NN% 0/1)"
    mean_quality: float
    mean_cost: float  # USD per call, NaN when unknown


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    format: str
    n_prompts: int
    models: list[ModelSummary]
    tasks: dict[str, int]  # task -> prompts; "(none)" for prompts without a task
    duplicate_rows: int  # rows whose normalised prompt repeats an earlier row (still in the data)
    duplicates_dropped: int  # removed by the loader
    best_model: str
    best_quality: float
    oracle_quality: float
    cost_model: str


def summarize(ds: RoutingDataset) -> DatasetSummary:
    q = ds.quality
    known = np.isfinite(q)
    means = np.array([np.mean(q[known[:, j], j]) for j in range(ds.n_models)])
    best = int(np.nanargmax(means))
    any_score = known.any(axis=1)
    oracle = float(np.max(np.where(known, q, -np.inf), axis=1)[any_score].mean())
    models = []
    for j, m in enumerate(ds.models):
        scores = q[known[:, j], j]
        costs = ds.cost[np.isfinite(ds.cost[:, j]), j]
        models.append(
            ModelSummary(
                name=m.name,
                input_price=m.input_price,
                output_price=m.output_price,
                scored=int(known[:, j].sum()),
                missing=int((~known[:, j]).sum()),
                score_type=_score_type(scores),
                mean_quality=float(means[j]),
                mean_cost=float(costs.mean()) if len(costs) else float("nan"),
            )
        )
    keys = ds.keys()
    return DatasetSummary(
        name=ds.name,
        format=str(ds.info.get("format", "?")),
        n_prompts=ds.n_prompts,
        models=models,
        tasks=dict(Counter(t if t is not None else "(none)" for t in ds.tasks).most_common()),
        duplicate_rows=len(keys) - len(set(keys)),
        duplicates_dropped=int(ds.info.get("duplicates_dropped", 0)),
        best_model=ds.models[best].name,
        best_quality=float(means[best]),
        oracle_quality=oracle,
        cost_model=str(ds.info.get("cost_model", "?")),
    )


def _score_type(scores: np.ndarray) -> str:
    share = float(np.isin(scores, (0.0, 1.0)).mean()) if len(scores) else 0.0
    if share == 1.0:
        return "binary"
    return "continuous" if share == 0.0 else f"mixed ({share:.0%} 0/1)"

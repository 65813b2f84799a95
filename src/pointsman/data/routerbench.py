"""RouterBench's wide table (withmartian/routerbench): one row per prompt.

Columns: `sample_id`, `prompt`, `eval_name` (the task), one score column per model named after the model,
`<model>|total_cost` (USD per call), optionally `<model>|model_response` (the answer text, kept in
`responses`), and others that are ignored (`oracle_model_to_route_to`). The models are the names that have a `|total_cost` column.

The published files are pandas pickles: unpickling runs code stored in the file, so a pickle is only read
when it is asked for (format="routerbench") or named .pkl/.pickle; prefer the CSV export when you can.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.data.errors import DataFormatError, parse_number
from pointsman.data.tables import optional_text, read_table

COST_SUFFIX = "|total_cost"
RESPONSE_SUFFIX = "|model_response"


def load_routerbench(path: str | Path) -> RoutingDataset:
    path = Path(path)
    table = read_table(path, allow_pickle=True)
    names = [c[: -len(COST_SUFFIX)] for c in table.columns if c.endswith(COST_SUFFIX)]
    if not names:
        raise DataFormatError(path, None, f"no `<model>{COST_SUFFIX}` columns: not a RouterBench table")
    for name in names:
        table.require(name)
    table.require("prompt")

    n, m = len(table.rows), len(names)
    quality, cost = np.full((n, m), np.nan), np.full((n, m), np.nan)
    with_text = [name + RESPONSE_SUFFIX in table.columns for name in names]
    responses = np.full((n, m), None, dtype=object) if any(with_text) else None
    ids, prompts, tasks = [], [], []
    for i, (where, row) in enumerate(table.rows):
        prompts.append(_prompt(row.get("prompt"), path, where))
        ids.append(str(row.get("sample_id", i)))
        tasks.append(optional_text(row.get("eval_name")))
        for j, name in enumerate(names):
            quality[i, j] = parse_number(row.get(name), path, f"{where}, column {name!r}", "score")
            cost[i, j] = parse_number(
                row.get(name + COST_SUFFIX), path, f"{where}, column {name + COST_SUFFIX!r}", "cost"
            )
            if responses is not None and with_text[j]:
                responses[i, j] = _response(row.get(name + RESPONSE_SUFFIX))
    for j, name in enumerate(names):
        if np.isnan(quality[:, j]).all():
            raise DataFormatError(path, f"model {name!r}", "has no scores at all")
    ids, renamed = _unique(ids)
    return RoutingDataset(
        prompt_ids=ids, prompts=prompts, tasks=tasks,
        models=[ModelInfo(name, math.nan, math.nan) for name in names],  # RouterBench gives costs, not prices
        quality=quality, cost=cost, name=path.stem, responses=responses,
        info={"format": "routerbench", "source": [str(path)], "cost_model": "real: RouterBench total_cost",
              "renamed_duplicate_ids": renamed, "missing_scores": int(np.isnan(quality).sum())},
    )  # fmt: skip


def _prompt(value: Any, path: Path, where: str) -> str:
    if isinstance(value, (list, tuple)):  # some RouterBench prompts are lists of turns
        value = "\n".join(str(v) for v in value)
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(path, f"{where}, column prompt", "empty or missing prompt")
    return value


def _response(value: Any) -> str | None:
    """A recorded answer: text, or a list of turns' texts (multi-turn tasks); None when absent."""
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return optional_text(value)


def _unique(ids: list[str]) -> tuple[list[str], int]:
    """Make repeated sample ids unique (`id#2`, ...); rows are distinct observations, so none is dropped."""
    count: dict[str, int] = {}
    out = []
    for pid in ids:
        count[pid] = count.get(pid, 0) + 1
        out.append(pid if count[pid] == 1 else f"{pid}#{count[pid]}")
    return out, sum(c - 1 for c in count.values())

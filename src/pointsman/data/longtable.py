"""The generic long table: one row per (prompt, model) call.

Columns: prompt_id, prompt, model, score, and optionally cost (USD per call), latency (s), task,
input_price / output_price (USD per 1M tokens), response (the call's answer text) and logprob (its mean
token log-probability). CSV, JSONL or Parquet (pyarrow).

A (prompt, model) pair without a row is NaN (unknown), never dropped. Cost comes from the `cost` column
when there is one; otherwise from prices (a prices file or the price columns) with modelled tokens (see
cost.py); otherwise it is unknown (NaN).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pointsman.data.cost import modelled_cost
from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.data.errors import DataFormatError, parse_number
from pointsman.data.prices import PRICE_FIELDS, load_price_table, model_infos
from pointsman.data.tables import optional_text, read_table

REQUIRED = ("prompt_id", "prompt", "model", "score")


def load_long_table(path: str | Path, prices: str | Path | Mapping[str, Any] | None = None) -> RoutingDataset:
    path = Path(path)
    table = read_table(path)
    table.require(*REQUIRED)
    has = {c: c in table.columns for c in ("cost", "latency", "task", "response", "logprob", *PRICE_FIELDS)}

    prompt_row: dict[str, int] = {}
    prompts: list[str] = []
    tasks: list[str | None] = []
    first_seen: dict[str, str] = {}  # prompt_id -> where it first appeared
    models: dict[str, int] = {}
    cells: dict[tuple[int, int], tuple[float, ...]] = {}  # -> (score, cost, latency)
    seen_at: dict[tuple[int, int], str] = {}
    column_prices: dict[str, tuple[float, float, str]] = {}
    answers: dict[tuple[int, int], tuple[str | None, float]] = {}  # -> (response, logprob)

    for where, row in table.rows:
        pid, prompt, model = (_text(row.get(c), path, where, c) for c in ("prompt_id", "prompt", "model"))
        task = optional_text(row.get("task")) if has["task"] else None
        if pid not in prompt_row:
            prompt_row[pid] = len(prompts)
            prompts.append(prompt)
            tasks.append(task)
            first_seen[pid] = where
        i = prompt_row[pid]
        if prompts[i] != prompt:
            raise DataFormatError(
                path, where, f"prompt_id {pid!r} has a different prompt text than at {first_seen[pid]}"
            )
        if tasks[i] != task:
            raise DataFormatError(
                path, where, f"prompt_id {pid!r} has task {task!r}, at {first_seen[pid]} {tasks[i]!r}"
            )
        j = models.setdefault(model, len(models))
        if (i, j) in seen_at:
            raise DataFormatError(
                path,
                f"{seen_at[i, j]} and {where}",
                f"duplicate rows for (prompt_id, model) = ({pid!r}, {model!r})",
            )
        seen_at[i, j] = where
        cells[i, j] = tuple(
            parse_number(row.get(c), path, f"{where}, column {c}", c) if c == "score" or has[c] else math.nan
            for c in ("score", "cost", "latency")
        )
        if has["input_price"] or has["output_price"]:
            _column_price(column_prices, model, row, path, where)
        if has["response"] or has["logprob"]:
            lp = parse_number(row.get("logprob"), path, f"{where}, column logprob", "logprob")
            if lp > 0:
                raise DataFormatError(
                    path, f"{where}, column logprob", f"a log-probability is <= 0, got {lp}"
                )
            answers[i, j] = (optional_text(row.get("response")), lp)

    names = list(models)
    n, m = len(prompts), len(names)
    quality, cost, latency = (np.full((n, m), np.nan) for _ in range(3))
    for (i, j), (s, c, lat) in cells.items():
        quality[i, j], cost[i, j], latency[i, j] = s, c, lat
    for j, name in enumerate(names):
        if np.isnan(quality[:, j]).all():
            raise DataFormatError(path, f"model {name!r}", "has no scores at all")

    if prices is not None:
        priced = model_infos(names, *load_price_table(prices), require=True)
    else:
        priced = [ModelInfo(nm, *column_prices.get(nm, (math.nan, math.nan, ""))[:2]) for nm in names]
    info: dict[str, Any] = {
        "format": "long",
        "source": [str(path)],
        "missing_scores": int(np.isnan(quality).sum()),
    }
    responses, logprobs = _answers(answers, n, m, has)
    ds = RoutingDataset(
        prompt_ids=list(prompt_row), prompts=prompts, tasks=tasks, models=priced, quality=quality,
        cost=cost, latency=latency if has["latency"] else None, name=path.stem, info=info,
        responses=responses, logprobs=logprobs,
    )  # fmt: skip
    if has["cost"]:
        info["cost_model"] = "real: the table's cost column"
    elif all(math.isfinite(mi.input_price) and math.isfinite(mi.output_price) for mi in priced):
        mc = modelled_cost(ds.prompts, ds.tasks, ds.models)
        ds.cost, ds.input_tokens, ds.output_tokens = mc.cost, mc.input_tokens, mc.output_tokens
        info["cost_model"] = mc.description
    else:
        info["cost_model"] = "unknown: no cost column and no prices"
    return ds


def _answers(
    cells: dict[tuple[int, int], tuple[str | None, float]], n: int, m: int, has: dict[str, bool]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The optional response and logprob columns as (n, m) arrays (None: the table has no such column)."""
    responses = np.full((n, m), None, dtype=object) if has["response"] else None
    logprobs = np.full((n, m), np.nan) if has["logprob"] else None
    for (i, j), (text, lp) in cells.items():
        if responses is not None:
            responses[i, j] = text
        if logprobs is not None:
            logprobs[i, j] = lp
    return responses, logprobs


def _text(value: Any, path: Path, where: str, column: str) -> str:
    text = optional_text(value)
    if text is None:
        raise DataFormatError(path, f"{where}, column {column}", "empty value")
    return text


def _column_price(
    seen: dict[str, tuple[float, float, str]], model: str, row: dict, path: Path, where: str
) -> None:
    pin, pout = (parse_number(row.get(c), path, f"{where}, column {c}", "price") for c in PRICE_FIELDS)
    if math.isnan(pin) and math.isnan(pout):
        return
    if model in seen and seen[model][:2] != (pin, pout):
        raise DataFormatError(
            path, where, f"model {model!r} has prices {(pin, pout)}, at {seen[model][2]} {seen[model][:2]}"
        )
    seen.setdefault(model, (pin, pout, where))

"""LLMRouter's routing data (ulab-uiuc/LLMRouter): dcrouter JSON + query JSONL (tasks) + default_llm.json.

A directory loads `dcrouter_train.json` and `dcrouter_test.json` together, de-duplicated on the normalised
prompt (train first, so a test prompt that repeats a train prompt is the one dropped); the ids of the rows
that came from the test file are kept in `info["upstream_test_ids"]` for `splits.llmrouter_test_split`.
A single dcrouter file loads alone. Tasks come from `default_query_*.jsonl` (query == question), prices
from `default_llm.json`, both looked up beside the dcrouter file(s). There are no per-call token counts, so
cost is modelled (see cost.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pointsman.data.cost import modelled_cost
from pointsman.data.dataset import RoutingDataset
from pointsman.data.errors import DataFormatError, iter_json_records, iter_jsonl
from pointsman.data.prices import load_price_table, model_infos
from pointsman.data.splits import deduplicate

SPLIT_FILES = {"train": "dcrouter_train.json", "test": "dcrouter_test.json"}
PRICES_FILE = "default_llm.json"
QUERY_GLOB = "default_query_*.jsonl"


def load_llmrouter(path: str | Path) -> RoutingDataset:
    """An LLMRouter directory (train + test, de-duplicated) or one dcrouter JSON file."""
    path = Path(path)
    if path.is_dir():
        parts = [(split, path / name) for split, name in SPLIT_FILES.items() if (path / name).is_file()]
        if not parts:
            raise DataFormatError(path, None, f"no {' or '.join(SPLIT_FILES.values())} in this directory")
        folder = path
    else:
        split = "test" if path.name == SPLIT_FILES["test"] else "train"
        parts, folder = [(split, path)], path.parent

    ids, prompts, scores = [], [], []
    for split, file in parts:
        for i, (question, row) in enumerate(_read_dcrouter(file)):
            ids.append(f"{split}:{i}")
            prompts.append(question)
            scores.append(row)

    price_table = _price_table(folder)
    names = _model_order(scores, price_table)
    for m in names:
        if all(math.isnan(row.get(m, math.nan)) for row in scores):
            where = " + ".join(str(f) for _, f in parts)
            raise DataFormatError(where, f"model {m!r}", "has no scores at all")
    models = model_infos(names, price_table, str(folder / PRICES_FILE))
    quality = np.array([[row.get(m, math.nan) for m in names] for row in scores], dtype=np.float64)
    task_of, conflicts = _tasks(folder)
    tasks = [task_of.get(p) for p in prompts]
    info = {
        "format": "llmrouter",
        "source": [str(f) for _, f in parts],
        "upstream_test_ids": [pid for pid in ids if pid.startswith("test:")],
        "duplicates_dropped": 0,
        "task_conflicts": conflicts,
        "prompts_without_task": sum(t is None for t in tasks),
    }
    full = RoutingDataset(
        prompt_ids=ids, prompts=prompts, tasks=tasks, models=models, quality=quality,
        cost=np.full(quality.shape, np.nan), name=path.name, info=info,
    )  # fmt: skip
    ds = deduplicate(full)
    ds.info["upstream_test_ids"] = [pid for pid in ds.prompt_ids if pid.startswith("test:")]
    mc = modelled_cost(ds.prompts, ds.tasks, ds.models)
    ds.cost, ds.input_tokens, ds.output_tokens = mc.cost, mc.input_tokens, mc.output_tokens
    ds.info["cost_model"] = mc.description
    return ds


def _read_dcrouter(file: Path) -> list[tuple[str, dict[str, float]]]:
    out = []
    for where, rec in iter_json_records(file, "{question, scores}"):
        question = rec.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DataFormatError(file, where, "field 'question' is missing or not a non-empty string")
        raw = rec.get("scores")
        if not isinstance(raw, dict) or not raw:
            raise DataFormatError(
                file, where, "field 'scores' is missing or not a non-empty {model: score} object"
            )
        row = {}
        for model, value in raw.items():
            if value is None:
                row[model] = math.nan
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                row[model] = float(value)
            else:
                raise DataFormatError(file, f"{where}, scores[{model!r}]", f"non-numeric score {value!r}")
        out.append((question, row))
    return out


def _model_order(scores: list[dict[str, float]], prices: Mapping[str, Any]) -> list[str]:
    """Models in the price file's order (stable across runs), then any others in first-seen order."""
    seen = list(dict.fromkeys(m for row in scores for m in row))
    return [m for m in prices if m in seen] + [m for m in seen if m not in prices]


def _price_table(folder: Path) -> Mapping[str, Any]:
    file = folder / PRICES_FILE
    return load_price_table(file)[0] if file.is_file() else {}


def _tasks(folder: Path) -> tuple[dict[str, str], int]:
    """question -> task_name from the query files (train file first; first label wins), and how many
    questions carry more than one label upstream."""
    files = sorted(folder.glob(QUERY_GLOB), key=lambda f: (f.name != "default_query_train.jsonl", f.name))
    task_of: dict[str, str] = {}
    conflicts: set[str] = set()
    for file in files:
        for lineno, obj in iter_jsonl(file):
            query, task = obj.get("query"), obj.get("task_name")
            if not isinstance(query, str) or not isinstance(task, str):
                raise DataFormatError(file, f"line {lineno}", "needs string fields 'query' and 'task_name'")
            if task_of.setdefault(query, task) != task:
                conflicts.add(query)
    return task_of, len(conflicts)

"""RouteProfile's routing data (ulab-uiuc/RouteProfile): real calls with real token counts.

`routing_test_data.json`: a list of {task_name, query, ..., model_performance: {model: {response,
prompt_tokens, completion_tokens, success, task_performance}}}. Quality = task_performance; cost = the
real prompt/completion tokens x the prices in `candidate_models.json` (looked up beside the file). A call
with success=false is no observation of quality: NaN (and its cost still counts, it was paid for).
The responses themselves are in `RoutingDataset.responses` (for cascades) and, keyed by prompt text,
from `load_recorded_responses` (for the gateway's replay backend).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from pointsman.data.cost import PER_TOKEN
from pointsman.data.dataset import RoutingDataset, normalize_prompt
from pointsman.data.errors import DataFormatError, iter_json_records
from pointsman.data.prices import load_price_table, model_infos

DATA_FILE = "routing_test_data.json"
PRICES_FILE = "candidate_models.json"


@dataclass(frozen=True)
class RecordedCall:
    model: str
    response: str
    prompt_tokens: int
    completion_tokens: int
    quality: float  # NaN when the call failed


def _data_file(path: Path) -> Path:
    return path / DATA_FILE if path.is_dir() else path


def _calls(file: Path) -> Iterator[tuple[int, dict[str, Any], dict[str, RecordedCall]]]:
    """(record index, record, {model: call}) with every field checked."""
    for i, (where, rec) in enumerate(iter_json_records(file, "{query, model_performance}")):
        if not isinstance(rec.get("query"), str) or not rec["query"].strip():
            raise DataFormatError(file, where, "field 'query' is missing or not a non-empty string")
        perf = rec.get("model_performance")
        if not isinstance(perf, dict) or not perf:
            raise DataFormatError(file, where, "field 'model_performance' is missing or empty")
        yield (
            i,
            rec,
            {
                model: _call(file, f"{where}, model_performance[{model!r}]", model, c)
                for model, c in perf.items()
            },
        )


def _call(file: Path, where: str, model: str, raw: Any) -> RecordedCall:
    if not isinstance(raw, dict):
        raise DataFormatError(file, where, f"expected an object, got {type(raw).__name__}")
    for name in ("prompt_tokens", "completion_tokens"):
        value = raw.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataFormatError(file, f"{where}.{name}", f"expected a non-negative integer, got {value!r}")
    quality = raw.get("task_performance")
    if quality is not None and (not isinstance(quality, (int, float)) or isinstance(quality, bool)):
        raise DataFormatError(file, f"{where}.task_performance", f"non-numeric score {quality!r}")
    ok = raw.get("success", True) is not False and quality is not None
    return RecordedCall(
        model=model,
        response=str(raw.get("response") or ""),
        prompt_tokens=raw["prompt_tokens"],
        completion_tokens=raw["completion_tokens"],
        quality=float(quality) if ok else math.nan,
    )


def load_routeprofile(path: str | Path) -> RoutingDataset:
    """A RouteProfile directory or routing_test_data.json file -> RoutingDataset with real cost and tokens."""
    file = _data_file(Path(path))
    rows = list(_calls(file))
    names = list(dict.fromkeys(m for _, _, calls in rows for m in calls))
    n, m = len(rows), len(names)
    quality = np.full((n, m), np.nan)
    tin, tout = np.full((n, m), np.nan), np.full((n, m), np.nan)
    responses = np.full((n, m), None, dtype=object)
    for r, (_, _, calls) in enumerate(rows):
        for j, name in enumerate(names):
            if name in calls:
                c = calls[name]
                quality[r, j], tin[r, j], tout[r, j] = c.quality, c.prompt_tokens, c.completion_tokens
                responses[r, j] = c.response
    for j, name in enumerate(names):
        if np.isnan(quality[:, j]).all():
            raise DataFormatError(file, f"model {name!r}", "has no scores at all")
    prices_file = file.parent / PRICES_FILE
    table = load_price_table(prices_file)[0] if prices_file.is_file() else {}
    models = model_infos(names, table, str(prices_file))
    pin = np.array([mi.input_price for mi in models])
    pout = np.array([mi.output_price for mi in models])
    return RoutingDataset(
        prompt_ids=[f"routeprofile:{i}" for i, _, _ in rows],
        prompts=[rec["query"] for _, rec, _ in rows],
        tasks=[rec.get("task_name") for _, rec, _ in rows],
        models=models,
        quality=quality,
        cost=(tin * pin + tout * pout) * PER_TOKEN,
        name=file.parent.name if file.name == DATA_FILE else file.stem,
        info={
            "format": "routeprofile",
            "source": [str(file)],
            "cost_model": "real: recorded prompt/completion tokens x candidate_models.json prices",
            "failed_calls": int(np.isnan(quality).sum() - np.isnan(tin).sum()),
        },
        input_tokens=tin,
        output_tokens=tout,
        responses=responses,
    )


class RecordedResponses(Mapping[tuple[str, str], RecordedCall]):
    """(prompt, model) -> the response that model really gave, with its real token counts.

    Prompts match on `normalize_prompt`, so whitespace and case differences still find the recording.
    """

    def __init__(self, calls: dict[tuple[str, str], RecordedCall], source: str) -> None:
        self._calls = calls
        self.source = source
        self.models = sorted({m for _, m in calls})

    def __getitem__(self, key: tuple[str, str]) -> RecordedCall:
        prompt, model = key
        return self._calls[normalize_prompt(prompt), model]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and (normalize_prompt(key[0]), key[1]) in self._calls


def load_recorded_responses(path: str | Path) -> RecordedResponses:
    """Recorded responses of a RouteProfile file or directory (first recording of a prompt wins)."""
    file = _data_file(Path(path))
    calls: dict[tuple[str, str], RecordedCall] = {}
    for _, rec, by_model in _calls(file):
        key = normalize_prompt(rec["query"])
        for model, call in by_model.items():
            calls.setdefault((key, model), call)
    return RecordedResponses(calls, str(file))

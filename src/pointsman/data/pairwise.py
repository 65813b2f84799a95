"""Pairwise preference data: (query, task, better model, worse model) rows, e.g. RouteProfile's
`pairwise_training_data_standard.json` ({"pairwise_data": [{query, task_name, better_model, worse_model}]})
or a JSONL file of such objects; an optional `tenant` names whose judgement it is (personalised routing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pointsman.data.errors import DataFormatError, read_json


@dataclass(frozen=True, slots=True)
class Preference:
    query: str
    task: str | None
    better: str
    worse: str
    tenant: str | None = None


def load_preferences(path: str | Path) -> list[Preference]:
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        import json

        rows: list[Any] = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataFormatError(path, f"line {i}", f"bad JSON ({exc.msg})") from None
    else:
        data = read_json(path)
        rows = data.get("pairwise_data") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise DataFormatError(path, "top level", "expected a list or {'pairwise_data': [...]}")
    out = []
    for i, row in enumerate(rows):
        where = f"row {i}"
        if not isinstance(row, dict):
            raise DataFormatError(path, where, "expected an object")
        fields = {k: row.get(k) for k in ("query", "better_model", "worse_model")}
        bad = [k for k, v in fields.items() if not isinstance(v, str) or not v]
        if bad:
            raise DataFormatError(path, where, f"needs non-empty strings {', '.join(bad)}")
        if fields["better_model"] == fields["worse_model"]:
            raise DataFormatError(path, where, "better_model and worse_model are the same model")
        task, tenant = row.get("task_name") or row.get("task"), row.get("tenant")
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise DataFormatError(path, where, "tenant must be a non-empty string")
        out.append(Preference(fields["query"], task if isinstance(task, str) else None,
                              fields["better_model"], fields["worse_model"], tenant))  # fmt: skip
    return out

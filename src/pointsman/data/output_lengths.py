"""How long answers are: expected output (and prompt-overhead) tokens per task and model, from real calls.

RouteProfile recorded 4,800 real calls (600 prompts x 8 models, 12 tasks) with their real token counts.
`build_length_table` turns them into a small table, shipped as `output_lengths.json` so that users without
that file get the same cost model; `tests/data/test_cost.py` checks the shipped table against the real file.

Lookup for (task, model), most specific first:
  1. the mean completion tokens of that model on that task (the model was measured there);
  2. the task's median across the measured models' means (another model, a measured task);
  3. that model's mean over all tasks (a measured model, an unmeasured task);
  4. the global default: the median across models of their all-task means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pointsman.data.errors import DataFormatError, read_json
from pointsman.data.tokens import count_tokens

TABLE_PATH = Path(__file__).with_name("output_lengths.json")


@dataclass(frozen=True)
class LengthTable:
    by_task_model: dict[str, dict[str, float]]
    by_task: dict[str, float]
    by_model: dict[str, float]
    default: float
    # Real prompt tokens minus MiniLM tokens of the prompt: the chat template / system prompt overhead.
    input_overhead: float
    source: str = ""

    def output_tokens(self, task: str | None, model: str) -> float:
        if task in self.by_task_model and model in self.by_task_model[task]:
            return self.by_task_model[task][model]
        if task in self.by_task:
            return self.by_task[task]
        return self.by_model.get(model, self.default)

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "statistic": "mean completion_tokens per (task, model); medians across models above that",
            "input_overhead": self.input_overhead,
            "default": self.default,
            "by_model": self.by_model,
            "by_task": self.by_task,
            "by_task_model": self.by_task_model,
        }


@lru_cache(maxsize=1)
def default_length_table() -> LengthTable:
    """The shipped table (built from RouteProfile)."""
    raw = json.loads(TABLE_PATH.read_text())
    return LengthTable(
        by_task_model=raw["by_task_model"],
        by_task=raw["by_task"],
        by_model=raw["by_model"],
        default=raw["default"],
        input_overhead=raw["input_overhead"],
        source=raw["source"],
    )


def build_length_table(routing_test_data: str | Path) -> LengthTable:
    """Measure the table from RouteProfile's routing_test_data.json (real completion/prompt tokens)."""
    path = Path(routing_test_data)
    records = read_json(path)
    if not isinstance(records, list) or not records:
        raise DataFormatError(path, "top level", "expected a non-empty JSON list of RouteProfile records")
    out: dict[tuple[str, str], list[int]] = {}
    overhead: list[float] = []
    prompt_counts = count_tokens([r["query"] for r in records])
    for rec, n_prompt in zip(records, prompt_counts, strict=True):
        for model, call in rec["model_performance"].items():
            out.setdefault((rec["task_name"], model), []).append(call["completion_tokens"])
            overhead.append(call["prompt_tokens"] - n_prompt)
    tasks = sorted({t for t, _ in out})
    models = sorted({m for _, m in out})
    by_task_model = {t: {m: _r(np.mean(out[t, m])) for m in models if (t, m) in out} for t in tasks}
    by_model = {m: _r(np.mean([x for (_, mm), xs in out.items() if mm == m for x in xs])) for m in models}
    return LengthTable(
        by_task_model=by_task_model,
        by_task={t: _r(np.median(list(by_task_model[t].values()))) for t in tasks},
        by_model=by_model,
        default=_r(np.median(list(by_model.values()))),
        input_overhead=_r(np.median(overhead)),
        source=f"RouteProfile {path.name}: {len(records)} prompts x {len(models)} models, {len(tasks)} tasks",
    )


def _r(x: float) -> float:
    return round(float(x), 1)


if __name__ == "__main__":  # regenerate: python -m pointsman.data.output_lengths ROUTING_TEST_DATA_JSON
    import sys

    table = build_length_table(sys.argv[1])
    TABLE_PATH.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    print(f"wrote {TABLE_PATH}")

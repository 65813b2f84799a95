"""Cost per call: modelled from prices where a source has none, and a CostModel for new queries.

Where a source has prices but no per-call tokens (LLMRouter, price-only long tables):
    cost = input_tokens x input_price + output_tokens x output_price    (prices in USD per 1M tokens)
    input_tokens  = MiniLM tokens of the prompt + the chat-template overhead measured on RouteProfile
    output_tokens = RouteProfile's mean completion tokens for (task, model) (see output_lengths.py)

`CostModel` learns, from any RoutingDataset, what a NEW query will cost on each model; routers store its
state in their files and the gateway uses it to price a request before choosing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from pointsman.data.dataset import ModelInfo, RoutingDataset
from pointsman.data.output_lengths import LengthTable, default_length_table
from pointsman.data.tokens import TOKENIZER_ID, count_tokens

PER_TOKEN = 1e-6  # prices are per 1M tokens
STATE_VERSION = 1
# Pseudo-count pulling a task's estimate toward the model's overall one when the task has few prompts.
TASK_SHRINK = 5.0
# Fewer priced calls than this per model: fit a mean, not a line in input length.
MIN_FOR_SLOPE = 10


@dataclass
class ModelledCost:
    input_tokens: np.ndarray  # (n, m)
    output_tokens: np.ndarray  # (n, m)
    cost: np.ndarray  # (n, m) USD per call, NaN where a model has no price

    description: str = ""


def modelled_cost(
    prompts: Sequence[str],
    tasks: Sequence[str | None],
    models: Sequence[ModelInfo],
    table: LengthTable | None = None,
) -> ModelledCost:
    """Tokens and cost per call from prices alone, with the RouteProfile length table."""
    table = table or default_length_table()
    counts = count_tokens(prompts) + table.input_overhead
    input_tokens = np.repeat(counts[:, None], len(models), axis=1)
    output_tokens = np.array(
        [[table.output_tokens(t, m.name) for m in models] for t in tasks], dtype=np.float64
    )
    output_tokens = output_tokens.reshape(len(prompts), len(models))
    pin = np.array([m.input_price for m in models], dtype=np.float64)
    pout = np.array([m.output_price for m in models], dtype=np.float64)
    cost = (input_tokens * pin + output_tokens * pout) * PER_TOKEN
    return ModelledCost(
        input_tokens,
        output_tokens,
        cost,
        description=(
            f"modelled: (MiniLM prompt tokens + {table.input_overhead:.0f} template tokens) x input price"
            f" + expected output tokens per (task, model) from {table.source} x output price"
        ),
    )


class CostModel:
    """Expected USD per call of a new query on each model.

    predicted cost[m] = base[m] + per_token[m] x (MiniLM tokens of the query) + task_offset[task][m]

    Fitted from whatever the dataset has, best first:
      - "tokens": per-call token counts and prices: input tokens as a line in MiniLM tokens per model, output
        tokens as the model's mean per task (shrunk toward its overall mean), times prices;
      - "cost": a cost matrix only: per model a non-negative line in MiniLM tokens (a mean when there are
        too few calls or no length variation), plus per-task mean residuals;
      - "none": no cost information at all: every model costs 0 (routing is then on quality alone).
    """

    def __init__(self) -> None:
        self.mode: str = "none"
        self.model_names: list[str] = []
        self.base = np.zeros(0)
        self.per_token = np.zeros(0)
        self.task_offset: dict[str, np.ndarray] = {}
        self.expected_output_tokens: np.ndarray | None = None

    # -- fitting ----------------------------------------------------------------------------------------

    def fit(self, dataset: RoutingDataset) -> CostModel:
        self.model_names = dataset.model_names
        m = dataset.n_models
        self.base, self.per_token, self.task_offset = np.zeros(m), np.zeros(m), {}
        self.expected_output_tokens = None
        counts = count_tokens(dataset.prompts)
        pin = np.array([mi.input_price for mi in dataset.models], dtype=np.float64)
        pout = np.array([mi.output_price for mi in dataset.models], dtype=np.float64)
        priced = np.isfinite(pin) & np.isfinite(pout)
        has_tokens = dataset.output_tokens is not None and dataset.input_tokens is not None
        if has_tokens and priced.all() and np.isfinite(_nanmean_cols(dataset.output_tokens)).all():
            self._fit_tokens(dataset, counts, pin, pout)
        elif np.isfinite(dataset.cost).any():
            self._fit_costs(dataset, counts)
        else:
            self.mode = "none"
        return self

    def _fit_tokens(self, ds: RoutingDataset, counts: np.ndarray, pin: np.ndarray, pout: np.ndarray) -> None:
        self.mode = "tokens"
        in_a, in_b = _lines(counts, ds.input_tokens)
        out_mean = _nanmean_cols(ds.output_tokens)
        self.expected_output_tokens = out_mean
        self.base = (in_a * pin + out_mean * pout) * PER_TOKEN
        self.per_token = in_b * pin * PER_TOKEN
        for task, rows in _task_rows(ds.tasks).items():
            out_task = _shrunk_mean(ds.output_tokens[rows], out_mean)
            self.task_offset[task] = (out_task - out_mean) * pout * PER_TOKEN

    def _fit_costs(self, ds: RoutingDataset, counts: np.ndarray) -> None:
        self.mode = "cost"
        self.base, self.per_token = _lines(counts, ds.cost)
        resid = ds.cost - (self.base + counts[:, None] * self.per_token)
        for task, rows in _task_rows(ds.tasks).items():
            self.task_offset[task] = _shrunk_mean(resid[rows], np.zeros(ds.n_models))

    # -- predicting -------------------------------------------------------------------------------------

    def predict(self, texts: Sequence[str], tasks: Sequence[str | None] | None = None) -> np.ndarray:
        """(len(texts), n_models) expected USD per call, columns in `model_names` order."""
        if not self.model_names:
            raise RuntimeError("CostModel is not fitted: call fit(dataset) first")
        if self.mode == "none":
            return np.zeros((len(texts), len(self.model_names)))
        counts = count_tokens(texts)
        cost = self.base + counts[:, None] * self.per_token
        if tasks is not None:
            if len(tasks) != len(texts):
                raise ValueError(f"{len(tasks)} tasks for {len(texts)} texts")
            for i, task in enumerate(tasks):
                if task in self.task_offset:
                    cost[i] += self.task_offset[task]
        return np.maximum(cost, 0.0)

    # -- state ------------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "mode": self.mode,
            "tokenizer": TOKENIZER_ID,
            "models": self.model_names,
            "base": self.base.tolist(),
            "per_token": self.per_token.tolist(),
            "task_offset": {t: v.tolist() for t, v in self.task_offset.items()},
        }
        if self.expected_output_tokens is not None:
            state["expected_output_tokens"] = self.expected_output_tokens.tolist()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CostModel:
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"cost model state version {state.get('version')!r}, this pointsman reads {STATE_VERSION}"
            )
        if state.get("tokenizer") != TOKENIZER_ID:
            raise ValueError(
                f"cost model counts tokens with {state.get('tokenizer')!r}, expected {TOKENIZER_ID!r}"
            )
        self = cls()
        self.mode = state["mode"]
        self.model_names = list(state["models"])
        m = len(self.model_names)
        self.base = _vector(state["base"], m, "base")
        self.per_token = _vector(state["per_token"], m, "per_token")
        self.task_offset = {t: _vector(v, m, f"task_offset[{t}]") for t, v in state["task_offset"].items()}
        if "expected_output_tokens" in state:
            self.expected_output_tokens = _vector(
                state["expected_output_tokens"], m, "expected_output_tokens"
            )
        return self

    def __repr__(self) -> str:
        return f"CostModel(mode={self.mode!r}, models={len(self.model_names)}, tasks={len(self.task_offset)})"


def _lines(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of y (n, m): intercept a and slope b >= 0 of y ~ a + b x over finite entries."""
    m = y.shape[1]
    a, b = np.zeros(m), np.zeros(m)
    col_means = _nanmean_cols(y)
    fallback = float(np.nanmedian(col_means)) if np.isfinite(col_means).any() else 0.0
    for j in range(m):
        ok = np.isfinite(y[:, j])
        xs, ys = x[ok], y[ok, j]
        if len(ys) == 0:
            a[j] = fallback  # a model never priced: assume a typical model's cost
            continue
        if len(ys) >= MIN_FOR_SLOPE and np.ptp(xs) > 0:
            b[j] = max(0.0, float(np.polyfit(xs, ys, 1)[0]))
        a[j] = float(np.mean(ys - b[j] * xs))
    return a, b


def _nanmean_cols(y: np.ndarray) -> np.ndarray:
    ok = np.isfinite(y)
    n = ok.sum(axis=0)
    return np.where(n > 0, np.where(ok, y, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)


def _shrunk_mean(y: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Column means of y shrunk toward `prior` by TASK_SHRINK pseudo-observations."""
    ok = np.isfinite(y)
    n = ok.sum(axis=0)
    total = np.where(ok, y, 0.0).sum(axis=0)
    prior = np.nan_to_num(prior)
    return (total + TASK_SHRINK * prior) / (n + TASK_SHRINK)


def _task_rows(tasks: Sequence[str | None]) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for i, t in enumerate(tasks):
        if t is not None:
            rows.setdefault(t, []).append(i)
    return {t: np.array(r) for t, r in rows.items()}


def _vector(values: Any, m: int, label: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (m,):
        raise ValueError(f"cost model state: {label} has shape {arr.shape}, expected ({m},)")
    return arr

"""Token counting, the RouteProfile length table, modelled cost and the CostModel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import CostModel, ModelInfo, RoutingDataset
from pointsman.data.output_lengths import build_length_table, default_length_table
from pointsman.data.tokens import count_tokens


def test_count_tokens_is_untruncated_and_cached():
    long_text = "word " * 1000
    counts = count_tokens(["hello world", long_text, "hello world"])
    assert counts.tolist() == [2, 1000, 2]  # no [CLS]/[SEP], no 128-token truncation
    assert count_tokens([long_text]).tolist() == [1000]


def test_shipped_length_table_matches_the_real_file(shared_data: Path):
    built = build_length_table(shared_data / "routeprofile" / "routing_test_data.json")
    assert built.to_json() == default_length_table().to_json()


def test_length_lookup_order():
    table = default_length_table()
    assert table.output_tokens("gsm8k", "gemma-2-9b-it") == table.by_task_model["gsm8k"]["gemma-2-9b-it"]
    assert table.output_tokens("gsm8k", "unknown-model") == table.by_task["gsm8k"]
    assert (
        table.output_tokens("math", "gemma-2-9b-it") == table.by_model["gemma-2-9b-it"]
    )  # task not measured
    assert table.output_tokens(None, "unknown-model") == table.default


def _dataset(prompts, tasks, models, quality=None, cost=None, tin=None, tout=None) -> RoutingDataset:
    n, m = len(prompts), len(models)
    return RoutingDataset(
        prompt_ids=[str(i) for i in range(n)], prompts=prompts, tasks=tasks, models=models,
        quality=np.zeros((n, m)) if quality is None else quality,
        cost=np.full((n, m), np.nan) if cost is None else cost, input_tokens=tin, output_tokens=tout,
    )  # fmt: skip


def test_tokens_mode_recovers_the_generating_rule():
    words = [" ".join(["w"] * k) for k in range(1, 41)]  # "w w w": k tokens
    tasks = ["short" if k % 2 else "long" for k in range(1, 41)]
    models = [ModelInfo("a", 1.0, 2.0), ModelInfo("b", 3.0, 4.0)]
    k = np.arange(1, 41, dtype=float)
    tin = np.stack([k + 10, 2 * k], axis=1)  # model b's tokenizer splits twice as fine
    tout = np.array([[100.0, 50.0] if t == "long" else [10.0, 5.0] for t in tasks])
    cost = (tin * [1.0, 3.0] + tout * [2.0, 4.0]) / 1e6
    ds = _dataset(words, tasks, models, cost=cost, tin=tin, tout=tout)
    cm = CostModel().fit(ds)
    assert cm.mode == "tokens"
    np.testing.assert_allclose(cm.expected_output_tokens, [55.0, 27.5])
    no_task = cm.predict(["w w w w w"])[0]
    np.testing.assert_allclose(no_task, [(15 * 1 + 55 * 2) / 1e6, (10 * 3 + 27.5 * 4) / 1e6])
    long_task = cm.predict(["w w w w w"], ["long"])[0]
    shrunk = (20 * 100 + 5 * 55) / 25  # 20 "long" prompts, shrunk toward the overall mean by 5
    assert long_task[0] == pytest.approx((15 + 2 * shrunk) / 1e6)


def test_cost_mode_learns_a_line_per_model_and_a_mean_when_that_is_all():
    prompts = [" ".join(["w"] * k) for k in range(1, 31)]
    k = np.arange(1, 31, dtype=float)
    cost = np.stack([0.001 + 0.0001 * k, np.full(30, 0.05)], axis=1)
    cost[::3, 1] = np.nan  # missing costs are skipped, not zeros
    ds = _dataset(prompts, [None] * 30, [ModelInfo("a"), ModelInfo("b")], cost=cost)
    cm = CostModel().fit(ds)
    assert cm.mode == "cost"
    np.testing.assert_allclose(cm.predict(["w " * 50]), [[0.001 + 0.005, 0.05]], rtol=1e-6)
    few = _dataset(prompts[:3], [None] * 3, [ModelInfo("a")], cost=np.array([[1.0], [2.0], [6.0]]))
    np.testing.assert_allclose(CostModel().fit(few).predict(["w " * 100]), [[3.0]])  # too few: the mean


def test_no_cost_information_predicts_zero():
    ds = _dataset(["a", "b"], [None, None], [ModelInfo("a"), ModelInfo("b")])
    cm = CostModel().fit(ds)
    assert cm.mode == "none" and cm.predict(["x"]).tolist() == [[0.0, 0.0]]


def test_state_round_trip_through_json(routeprofile):
    cm = CostModel().fit(routeprofile)
    again = CostModel.from_state(json.loads(json.dumps(cm.to_state())))
    texts, tasks = routeprofile.prompts[:20], routeprofile.tasks[:20]
    np.testing.assert_array_equal(again.predict(texts, tasks), cm.predict(texts, tasks))
    assert again.model_names == routeprofile.model_names
    with pytest.raises(ValueError, match="version"):
        CostModel.from_state({**cm.to_state(), "version": 99})
    with pytest.raises(ValueError, match="base has shape"):
        CostModel.from_state({**cm.to_state(), "base": [1.0]})
    with pytest.raises(RuntimeError, match="not fitted"):
        CostModel().predict(["x"])


def test_real_cost_is_predicted_well_on_routeprofile(routeprofile):
    cm = CostModel().fit(routeprofile)
    pred = cm.predict(routeprofile.prompts, routeprofile.tasks)
    np.testing.assert_allclose(pred.mean(axis=0), routeprofile.cost.mean(axis=0), rtol=0.02)
    ranks = [np.corrcoef(pred[:, j], routeprofile.cost[:, j])[0, 1] for j in range(routeprofile.n_models)]
    assert min(ranks) > 0.5  # per-call, from the text and task alone


def test_llmrouter_cost_model_reproduces_the_modelled_cost(llmrouter):
    cm = CostModel().fit(llmrouter)
    pred = cm.predict(llmrouter.prompts[:300], llmrouter.tasks[:300])
    np.testing.assert_allclose(pred, llmrouter.cost[:300], rtol=0.05)

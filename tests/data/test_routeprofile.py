"""The RouteProfile loader and the recorded responses, on the real file and malformed ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import DataFormatError, load_dataset
from pointsman.data.routeprofile import load_recorded_responses


def test_real_data(routeprofile):
    assert (routeprofile.n_prompts, routeprofile.n_models) == (600, 8)
    assert len(set(routeprofile.tasks)) == 12
    assert not np.isnan(routeprofile.quality).any()
    assert routeprofile.input_tokens.shape == (600, 8) and routeprofile.output_tokens.min() >= 0


def test_cost_is_real_tokens_times_prices(routeprofile, shared_data: Path):
    raw = json.loads((shared_data / "routeprofile" / "routing_test_data.json").read_text())
    call = raw[7]["model_performance"]["mistral-small-24b-instruct-2501-bf16"]
    j = routeprofile.model_index("mistral-small-24b-instruct-2501-bf16")
    m = routeprofile.models[j]
    assert (m.input_price, m.output_price) == (0.1, 0.3)
    expected = (call["prompt_tokens"] * 0.1 + call["completion_tokens"] * 0.3) / 1e6
    assert routeprofile.cost[7, j] == pytest.approx(expected)
    assert routeprofile.quality[7, j] == call["task_performance"]


def test_recorded_responses(shared_data: Path):
    rec = load_recorded_responses(shared_data / "routeprofile")
    raw = json.loads((shared_data / "routeprofile" / "routing_test_data.json").read_text())
    assert len(rec) == 600 * 8 and len(rec.models) == 8
    call = raw[3]["model_performance"]["gemma-2-9b-it"]
    got = rec["  " + raw[3]["query"].upper() + "\n", "gemma-2-9b-it"]  # found on the normalised prompt
    assert (got.response, got.prompt_tokens, got.completion_tokens) == (
        call["response"],
        call["prompt_tokens"],
        call["completion_tokens"],
    )
    assert ("never asked", "gemma-2-9b-it") not in rec


def _record(**perf_overrides) -> dict:
    call = {
        "response": "r",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "success": True,
        "task_performance": 1.0,
    }
    call.update(perf_overrides)
    return {"task_name": "t", "query": "q", "model_performance": {"m": call}}


@pytest.mark.parametrize(
    ("records", "where", "why"),
    [
        ({"a": 1}, "top level", "expected a JSON list"),
        ([{"task_name": "t", "model_performance": {}}], "record 0", "'query'"),
        ([{"query": "q", "model_performance": {}}], "record 0", "'model_performance'"),
        (
            [_record(prompt_tokens="ten")],
            "record 0, model_performance['m'].prompt_tokens",
            "non-negative integer",
        ),
        ([_record(task_performance="abc")], "task_performance", "non-numeric score 'abc'"),
        ([_record(success=False)], "model 'm'", "no scores at all"),
    ],
)
def test_malformed(tmp_path: Path, records, where: str, why: str):
    file = tmp_path / "routing_test_data.json"
    file.write_text(json.dumps(records))
    with pytest.raises(DataFormatError) as err:
        load_dataset(file, format="routeprofile")
    assert err.value.path == str(file) and where in err.value.where and why in err.value.why


def test_failed_call_is_unknown_quality_but_paid(tmp_path: Path):
    rec = _record()
    rec["model_performance"]["n"] = dict(rec["model_performance"]["m"], success=False)
    ok = _record()
    ok["model_performance"]["n"] = ok["model_performance"]["m"]
    (tmp_path / "routing_test_data.json").write_text(json.dumps([rec, ok]))
    (tmp_path / "candidate_models.json").write_text(json.dumps({"m": {"input_price": 1, "output_price": 2}}))
    ds = load_dataset(tmp_path)
    assert np.isnan(ds.quality[0, 1]) and ds.info["failed_calls"] == 1
    assert ds.cost[0, 0] == pytest.approx((10 * 1 + 5 * 2) / 1e6)
    assert np.isnan(ds.cost[0, 1])  # model n has no price in candidate_models.json

"""The LLMRouter loader on the real files, and on malformed copies of their shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import DataFormatError, load_dataset

MODELS = [
    "qwen2.5-7b-instruct", "codegemma-7b", "gemma-2-9b-it", "llama-3.1-8b-instruct", "llama3-chatqa-1.5-8b",
    "mistral-7b-instruct-v0.3", "llama-3.3-nemotron-super-49b-v1", "llama-3.1-nemotron-51b-instruct",
    "llama3-chatqa-1.5-70b",
]  # fmt: skip


def test_directory_loads_train_and_test_deduplicated(llmrouter):
    assert llmrouter.n_prompts == 5989  # 5,608 train + 500 test - 119 test prompts already in train
    assert llmrouter.model_names == MODELS
    assert llmrouter.info["duplicates_dropped"] == 119
    assert len(llmrouter.info["upstream_test_ids"]) == 381
    assert len(set(llmrouter.keys())) == llmrouter.n_prompts


def test_headline_figures(llmrouter):
    means = llmrouter.quality.mean(axis=0)
    assert llmrouter.model_names[int(means.argmax())] == "llama-3.1-nemotron-51b-instruct"
    assert means.max() == pytest.approx(0.620, abs=5e-4)
    assert np.nanmax(llmrouter.quality, axis=1).mean() == pytest.approx(0.798, abs=5e-4)


def test_tasks_and_prices_joined(llmrouter):
    assert None not in llmrouter.tasks
    assert len(set(llmrouter.tasks)) == 14
    assert llmrouter.info["task_conflicts"] == 6  # upstream labels 6 questions with two tasks
    gemma = llmrouter.models[llmrouter.model_index("gemma-2-9b-it")]
    assert (gemma.input_price, gemma.output_price) == (0.1, 0.1)
    assert gemma.metadata["size"] == "9B"


def test_cost_is_modelled_from_prices_and_lengths(llmrouter):
    assert np.isfinite(llmrouter.cost).all() and (llmrouter.cost > 0).all()
    j = llmrouter.model_index("llama-3.1-nemotron-51b-instruct")
    m = llmrouter.models[j]
    expected = (
        llmrouter.input_tokens[:, j] * m.input_price + llmrouter.output_tokens[:, j] * m.output_price
    ) / 1e6
    np.testing.assert_allclose(llmrouter.cost[:, j], expected)
    assert "modelled" in llmrouter.info["cost_model"]


def test_single_file_without_siblings(tmp_path: Path, shared_data: Path):
    records = json.loads((shared_data / "llmrouter" / "dcrouter_test.json").read_text())[:20]
    file = tmp_path / "dcrouter_test.json"
    file.write_text(json.dumps(records))
    ds = load_dataset(file)
    assert ds.n_prompts == 20 and ds.n_models == 9
    assert ds.tasks == [None] * 20  # no query files beside it
    assert np.isnan(ds.cost).all()  # no price file beside it: cost unknown, not invented
    assert len(ds.info["upstream_test_ids"]) == 20


def _write(tmp_path: Path, payload: str) -> Path:
    file = tmp_path / "dcrouter_train.json"
    file.write_text(payload)
    return file


@pytest.mark.parametrize(
    ("payload", "where", "why"),
    [
        ("", None, "empty file"),
        ('[{"question": "a", "scores": {"m": 1}},\n {"question": "b", "scores": ', "line 2", "bad JSON"),
        ('{"question": "a"}', "top level", "expected a JSON list"),
        ("[]", None, "no records"),
        ('[{"scores": {"m": 1}}]', "record 0", "'question'"),
        ('[{"question": "a", "scores": {"m": 1}}, {"question": "b", "scores": []}]', "record 1", "'scores'"),
        ('[{"question": "a", "scores": {"m": "abc"}}]', "record 0, scores['m']", "non-numeric score 'abc'"),
        ('[{"question": "a", "scores": {"m": 1, "n": null}}]', "model 'n'", "no scores at all"),
    ],
)
def test_malformed_files(tmp_path: Path, payload: str, where: str | None, why: str):
    file = _write(tmp_path, payload)
    with pytest.raises(DataFormatError) as err:
        load_dataset(file, format="llmrouter")
    assert str(file) in str(err.value)
    assert err.value.where is None if where is None else where in err.value.where
    assert why in err.value.why


def test_bad_query_file_names_the_line(tmp_path: Path):
    _write(tmp_path, '[{"question": "a", "scores": {"m": 1}}]')
    (tmp_path / "default_query_train.jsonl").write_text('{"query": "a", "task_name": "t"}\n{"query": oops}\n')
    with pytest.raises(DataFormatError, match=r"default_query_train.jsonl: line 2: bad JSON"):
        load_dataset(tmp_path)

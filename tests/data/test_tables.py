"""Long tables (CSV, JSONL, Parquet) and RouterBench wide tables (CSV, pickle), good and malformed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import DataFormatError, load_dataset

LONG = """prompt_id,prompt,model,score,cost,latency,task
p1,What is 2+2?,small,1,0.001,0.5,math
p1,What is 2+2?,big,1,0.01,1.5,math
p2,"Write a poem,
about rain",small,0.2,0.002,0.4,
p2,"Write a poem,
about rain",big,0.9,0.02,2.0,
p3,Capital of France?,big,1,0.01,1.0,geo
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def _check_long(ds):
    assert ds.prompt_ids == ["p1", "p2", "p3"] and ds.model_names == ["small", "big"]
    assert ds.prompts[1] == "Write a poem,\nabout rain"
    assert ds.tasks == ["math", None, "geo"]
    np.testing.assert_array_equal(ds.quality, [[1, 1], [0.2, 0.9], [np.nan, 1]])  # missing pair is NaN
    np.testing.assert_array_equal(ds.cost, [[0.001, 0.01], [0.002, 0.02], [np.nan, 0.01]])
    np.testing.assert_array_equal(ds.latency, [[0.5, 1.5], [0.4, 2.0], [np.nan, 1.0]])
    assert ds.info["missing_scores"] == 1


def test_long_csv_jsonl_parquet_agree(tmp_path: Path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    _check_long(load_dataset(_write(tmp_path, "t.csv", LONG)))
    rows = _rows(LONG)
    for r in rows:
        for c in ("score", "cost", "latency"):
            r[c] = float(r[c])
        r["task"] = r["task"] or None
    _check_long(load_dataset(_write(tmp_path, "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    _check_long(load_dataset(tmp_path / "t.parquet"))


def test_long_prices_give_modelled_cost(tmp_path: Path):
    text = "prompt_id,prompt,model,score\na,hello world,m1,1\na,hello world,m2,0\n"
    file = _write(tmp_path, "t.csv", text)
    prices = _write(
        tmp_path,
        "prices.yaml",
        "m1: {input_price: 1.0, output_price: 2.0}\nm2: {input_price: 0, output_price: 0.5}\n",
    )
    ds = load_dataset(file, prices=prices)
    assert ds.models[0].input_price == 1.0 and ds.info["cost_model"].startswith("modelled")
    expected = (ds.input_tokens[0, 0] * 1.0 + ds.output_tokens[0, 0] * 2.0) / 1e6
    assert ds.cost[0, 0] == pytest.approx(expected) and ds.cost[0, 1] > 0
    unpriced = load_dataset(file)
    assert np.isnan(unpriced.cost).all() and unpriced.info["cost_model"].startswith("unknown")


@pytest.mark.parametrize(
    ("name", "text", "where", "why"),
    [
        ("t.csv", "", None, "empty file"),
        ("t.csv", "prompt_id,prompt,model,score\n", None, "no data rows"),
        ("t.csv", "prompt_id,prompt,model\np,x,m\n", None, "missing column `score`"),
        (
            "t.csv",
            "prompt_id,prompt,model,score\np,x,m,1\nq,y,m,abc\n",
            "line 3, column score",
            "non-numeric score 'abc'",
        ),
        ("t.csv", "prompt_id,prompt,model,score\np,x,m,1\np,x,m,0\n", "line 2 and line 3", "duplicate rows"),
        ("t.csv", "prompt_id,prompt,model,score\np,x,m,1\np,y,n,0\n", "line 3", "different prompt text"),
        ("t.csv", "prompt_id,prompt,model,score\np,x,m,1\np,x,n,\n", "model 'n'", "no scores at all"),
        ("t.csv", "prompt_id,prompt,model,score\np,,m,1\n", "line 2, column prompt", "empty value"),
        ("t.csv", "prompt_id,prompt,model,score\np,x,m,1,9\n", "line 2", "5 cells, header has 4"),
        (
            "t.jsonl",
            '{"prompt_id": "p", "prompt": "x", "model": "m", "score": 1}\n{"prompt_id": \n',
            "line 2",
            "bad JSON",
        ),
        (
            "t.jsonl",
            '{"prompt_id": "p", "prompt": "x", "model": "m", "score": true}\n',
            "line 1, column score",
            "non-numeric",
        ),
        ("t.parquet", "not parquet at all", None, "not a readable Parquet file"),
        ("t.txt", "x", None, "cannot tell the format"),
    ],
)
def test_long_malformed(tmp_path: Path, name: str, text: str, where: str | None, why: str):
    file = _write(tmp_path, name, text)
    with pytest.raises(DataFormatError) as err:
        load_dataset(file)
    assert err.value.path == str(file)
    assert err.value.where is None if where is None else where in err.value.where
    assert why in err.value.why


def test_bad_prices_file(tmp_path: Path):
    file = _write(tmp_path, "t.csv", "prompt_id,prompt,model,score\na,x,m1,1\n")
    prices = _write(tmp_path, "p.json", json.dumps({"other": {"input_price": 1, "output_price": 1}}))
    with pytest.raises(DataFormatError, match=r"p.json: model 'm1': no \{input_price, output_price\}"):
        load_dataset(file, prices=prices)
    prices.write_text(json.dumps({"m1": {"input_price": "cheap", "output_price": 1}}))
    with pytest.raises(DataFormatError, match=r"m1.input_price: non-numeric price 'cheap'"):
        load_dataset(file, prices=prices)


ROUTERBENCH = {
    "sample_id": ["mmlu.1", "gsm8k.2", "mmlu.1"],
    "prompt": ["q1", ["turn 1", "turn 2"], "q3"],
    "eval_name": ["mmlu", "gsm8k", "mmlu"],
    "gpt-4": [1.0, 0.0, None],
    "gpt-4|total_cost": [0.01, 0.02, 0.03],
    "gpt-4|model_response": ["a", "b", "c"],
    "mistral": [0.0, 1.0, 1.0],
    "mistral|total_cost": [0.001, 0.002, 0.003],
    "oracle_model_to_route_to": ["gpt-4", "mistral", "mistral"],
}


def test_routerbench_pickle_and_csv(tmp_path: Path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(ROUTERBENCH)
    frame.to_pickle(tmp_path / "rb.pkl")
    frame.assign(prompt=["q1", "turn 1\nturn 2", "q3"]).to_csv(tmp_path / "rb.csv", index=False)
    for file in (tmp_path / "rb.pkl", tmp_path / "rb.csv"):
        ds = load_dataset(file)
        assert ds.info["format"] == "routerbench" and ds.model_names == ["gpt-4", "mistral"]
        assert ds.prompts[1] == "turn 1\nturn 2" and ds.tasks == ["mmlu", "gsm8k", "mmlu"]
        assert ds.prompt_ids == ["mmlu.1", "gsm8k.2", "mmlu.1#2"] and ds.info["renamed_duplicate_ids"] == 1
        np.testing.assert_array_equal(ds.quality, [[1, 0], [0, 1], [np.nan, 1]])
        np.testing.assert_array_equal(ds.cost, [[0.01, 0.001], [0.02, 0.002], [0.03, 0.003]])


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("prompt,a|total_cost\nx,1\n", None, "missing column `a`"),
        ("sample_id,a,a|total_cost\n1,1,0.1\n", None, "missing column `prompt`"),
        ("prompt,a,a|total_cost\nx,yes,0.1\n", "line 2, column 'a'", "non-numeric score 'yes'"),
        ("prompt,a,a|total_cost\nx,1,free\n", "line 2, column 'a|total_cost'", "non-numeric cost 'free'"),
        ("prompt,a,a|total_cost,b,b|total_cost\nx,1,0.1,,0.2\n", "model 'b'", "no scores at all"),
    ],
)
def test_routerbench_malformed(tmp_path: Path, text: str, where: str | None, why: str):
    file = _write(tmp_path, "rb.csv", text)
    with pytest.raises(DataFormatError) as err:
        load_dataset(file, format="routerbench")
    assert err.value.where is None if where is None else where in err.value.where
    assert why in err.value.why


def test_bad_pickle_is_a_clean_error(tmp_path: Path):
    pytest.importorskip("pandas")
    file = _write(tmp_path, "rb.pkl", "this is not a pickle")
    with pytest.raises(DataFormatError, match="not a readable pandas pickle"):
        load_dataset(file)

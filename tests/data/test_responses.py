"""Answer texts and log-probabilities in the loaders (what cascades read), and their bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import DataFormatError, RoutingDataset, load_dataset


def test_routeprofile_keeps_every_response(routeprofile: RoutingDataset, shared_data: Path):
    raw = json.loads((shared_data / "routeprofile" / "routing_test_data.json").read_text())
    assert routeprofile.responses is not None and routeprofile.responses.shape == (600, 8)
    j = routeprofile.model_index("llama-3.2-3b-instruct")
    assert routeprofile.responses[11, j] == raw[11]["model_performance"]["llama-3.2-3b-instruct"]["response"]
    assert routeprofile.logprobs is None
    part = routeprofile.subset([11, 3]).select_models(["llama-3.2-3b-instruct", "gemma-2-9b-it"])
    assert part.responses.shape == (2, 2) and part.responses[0, 0] == routeprofile.responses[11, j]


def test_long_table_response_and_logprob(tmp_path: Path):
    file = tmp_path / "t.csv"
    file.write_text(
        "prompt_id,prompt,model,score,cost,response,logprob\n"
        "a,what is 2+2?,m1,1,0.1,4,-0.05\n"
        "a,what is 2+2?,m2,0,0.2,5,\n"
        "b,name a colour,m1,1,0.1,,-1.5\n"
    )
    ds = load_dataset(file)
    assert ds.responses.tolist() == [["4", "5"], [None, None]]
    np.testing.assert_array_equal(ds.logprobs, [[-0.05, np.nan], [-1.5, np.nan]])


def test_long_table_without_answers_has_none(tmp_path: Path):
    file = tmp_path / "t.csv"
    file.write_text("prompt_id,prompt,model,score\na,x,m1,1\n")
    ds = load_dataset(file)
    assert ds.responses is None and ds.logprobs is None


@pytest.mark.parametrize(
    ("value", "why"), [("high", "non-numeric logprob 'high'"), ("0.5", "a log-probability is <= 0")]
)
def test_long_table_bad_logprob(tmp_path: Path, value: str, why: str):
    file = tmp_path / "t.csv"
    file.write_text(f"prompt_id,prompt,model,score,logprob\na,x,m1,1,{value}\n")
    with pytest.raises(DataFormatError, match=f"line 2, column logprob: {why}"):
        load_dataset(file)


def test_routerbench_responses(tmp_path: Path):
    file = tmp_path / "rb.csv"
    file.write_text(
        "sample_id,prompt,eval_name,gpt-4,gpt-4|total_cost,gpt-4|model_response,mistral,mistral|total_cost\n"
        "s1,q1,mmlu,1,0.01,A,0,0.001\n"
        "s2,q2,mmlu,0,0.02,,1,0.002\n"
    )
    ds = load_dataset(file)
    assert ds.responses.tolist() == [["A", None], [None, None]]


def test_responses_of_the_wrong_shape_are_refused(routeprofile: RoutingDataset):
    from dataclasses import replace

    with pytest.raises(ValueError, match=r"responses has shape \(1, 8\), expected \(600, 8\)"):
        replace(routeprofile, responses=[[None] * 8])

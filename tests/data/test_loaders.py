"""load_dataset: format detection and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pointsman.data import DataFormatError, detect_format, load_dataset


def test_detects_real_directories_and_files(shared_data: Path):
    assert detect_format(shared_data / "llmrouter") == "llmrouter"
    assert detect_format(shared_data / "llmrouter" / "dcrouter_test.json") == "llmrouter"
    assert detect_format(shared_data / "routeprofile") == "routeprofile"
    assert detect_format(shared_data / "routeprofile" / "routing_test_data.json") == "routeprofile"


def test_detects_tables(tmp_path: Path):
    (tmp_path / "wide.csv").write_text("sample_id,prompt,a,a|total_cost\n1,x,1,0.1\n")
    (tmp_path / "long.csv").write_text("prompt_id,prompt,model,score\n1,x,a,1\n")
    (tmp_path / "long.jsonl").write_text("{}\n")
    assert detect_format(tmp_path / "wide.csv") == "routerbench"
    assert detect_format(tmp_path / "long.csv") == "long"
    assert detect_format(tmp_path / "long.jsonl") == "long"
    assert detect_format(tmp_path / "x.pkl") == "routerbench"  # by name only: not opened


def test_errors(tmp_path: Path):
    with pytest.raises(DataFormatError, match="no such file or directory"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(DataFormatError, match="not a known data directory"):
        load_dataset(tmp_path)
    (tmp_path / "other.json").write_text('[{"a": 1}]')
    with pytest.raises(DataFormatError, match="neither LLMRouter"):
        load_dataset(tmp_path / "other.json")
    with pytest.raises(DataFormatError, match="unknown format 'xml'"):
        load_dataset(tmp_path / "other.json", format="xml")
    with pytest.raises(DataFormatError, match="prices are only taken for long tables"):
        load_dataset(tmp_path / "other.json", format="llmrouter", prices={})


def test_data_format_error_is_a_value_error():
    assert issubclass(DataFormatError, ValueError)

"""Fixtures for the embedding tests: the real encoders, and a tiny random BERT for fast model-file tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pointsman.text.minilm import MiniLMEncoder
from pointsman.text.weights import ModelFiles

from .tiny_bert import write_tiny_bert


@pytest.fixture(scope="session")
def fp32() -> MiniLMEncoder:
    return MiniLMEncoder(quantized=False)


@pytest.fixture(scope="session")
def int8() -> MiniLMEncoder:
    return MiniLMEncoder(quantized=True)


@pytest.fixture
def tiny_bert(tmp_path: Path) -> ModelFiles:
    return write_tiny_bert(tmp_path / "tiny")

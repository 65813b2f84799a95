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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from safetensors.numpy import load_file

from pointsman.text.cache_dir import cache_dir
from pointsman.text.onnx_graph import GRAPH_VERSION, BertConfig, build_sentence_encoder
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
        _write_atomic(int8, lambda tmp: quantize_int8(fp32, tmp))
    return int8


def _build_fp32(files: ModelFiles, out: Path) -> None:
    config = BertConfig.from_json(json.loads(files.config.read_text()))
    model = build_sentence_encoder(load_file(str(files.weights)), config)
    out.write_bytes(model.SerializeToString())


def quantize_int8(fp32: Path, out: Path) -> None:
    """onnxruntime dynamic quantisation: int8 weights per output channel, uint8 activations per tensor.

    Every MatMul and the attention are quantised (per-tensor weights lose too much: cosine to fp32 about
    0.95). Keeping the feed-forward down-projections in fp32 would lift agreement from about 0.994 to 0.997
    but cost a third of the speed-up; see docs/embeddings.md for the measurements.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _without_preprocessing_advice():
        quantize_dynamic(
            fp32,
            out,
            weight_type=QuantType.QInt8,
            per_channel=True,
            # The fused com.microsoft ops have no ONNX shape inference: their outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


@contextmanager
def _without_preprocessing_advice() -> Iterator[None]:
    """Drop the quantiser's root-logger advice to run shape pre-processing (it does not apply here)."""

    def keep(record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; the cache may be shared by users of one machine
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

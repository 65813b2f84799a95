"""Sentence encoders: text -> L2-normalised float32 vectors, offline.

Contract used by routers, signals and the cache, and `get_encoder()` for the shared instance
(implementation: text/minilm.py; on-disk cache: text/embedding_cache.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds text.

    `id` names the weights and numerics (e.g. "all-MiniLM-L6-v2/onnx-fp32"): two encoders with the same id
    give the same vectors, so it keys the on-disk cache and is stored in router files.
    """

    id: str
    dim: int

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


def text_list(texts: Sequence[str]) -> list[str]:
    """`texts` as a list, with a clear error for a bare string or a non-string item (encoders share this)."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of texts, not one string: use encode([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
    return texts


# int8 for everyone: training and serving must embed alike (the id is stored in router files), and
# only int8 is fast enough for serving. docs/embeddings.md ("Which numerics") has the measurements.
DEFAULT_QUANTIZED = True
_ENCODERS = {"minilm": "all-MiniLM-L6-v2"}
_shared: dict[tuple[str, bool], Encoder] = {}
_shared_lock = threading.Lock()


def get_encoder(name: str = "minilm", *, quantized: bool = DEFAULT_QUANTIZED) -> Encoder:
    """The process-wide shared encoder `name` (built lazily, thread-safe); int8 weights if `quantized`."""
    if name not in _ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {', '.join(sorted(_ENCODERS))}")
    key = (name, quantized)
    with _shared_lock:
        if key not in _shared:
            from pointsman.text.minilm import MiniLMEncoder

            _shared[key] = MiniLMEncoder(quantized=quantized)
        return _shared[key]


def encoder_for_id(encoder_id: str) -> Encoder:
    """The shared encoder whose `id` is `encoder_id` (as stored in a router file)."""
    model, _, numerics = encoder_id.partition("/onnx-")
    for name, known in _ENCODERS.items():
        if model == known and numerics in ("fp32", "int8"):
            return get_encoder(name, quantized=numerics == "int8")
    known_ids = [f"{m}/onnx-{n}" for m in _ENCODERS.values() for n in ("fp32", "int8")]
    raise ValueError(f"unknown encoder id {encoder_id!r}; known: {', '.join(known_ids)}")

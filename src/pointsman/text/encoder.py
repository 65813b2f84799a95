"""Sentence encoders: text -> L2-normalised float32 vectors, offline.

Contract used by routers, signals and the cache (implementation: see text/minilm.py).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

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

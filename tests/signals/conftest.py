"""Fixtures for the signal tests: a small real encoder (hashed character trigrams) that counts its calls,
and the shared MiniLM encoder for tests about meaning."""

from __future__ import annotations

import hashlib
import threading
from typing import Sequence

import numpy as np
import pytest


class TrigramEncoder:
    """A real, deterministic `Encoder`: hashed character trigrams, L2-normalised. Counts `encode` calls
    and can be slowed down to test time budgets."""

    id = "test-trigram-256"
    dim = 256

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.texts: list[str] = []
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.texts.extend(texts)
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                h = int.from_bytes(
                    hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest(), "little"
                )
                out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


@pytest.fixture
def trigram() -> TrigramEncoder:
    return TrigramEncoder()


@pytest.fixture(scope="session")
def minilm():
    from pointsman.text.encoder import get_encoder

    return get_encoder()

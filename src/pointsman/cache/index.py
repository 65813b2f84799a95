"""Nearest cached questions: one vector set per partition (scope + context fingerprint).

A partition holds unit vectors (float32) and answers "the k most similar to this one" by cosine similarity.
Small partitions are searched exactly with numpy (a matrix-vector product over a few thousand rows costs
less than an ANN query's overhead); past `ann_from` vectors a partition moves to a usearch HNSW index
(measured against hnswlib, faiss-cpu and exact numpy in benchmarks/cache.py; figures in docs/cache.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ANN_FROM = 4096


@dataclass(frozen=True, slots=True)
class Neighbour:
    key: str
    similarity: float


class _Exact:
    """Rows of unit vectors, swap-removed; search is one matrix-vector product."""

    __slots__ = ("keys", "rows", "vectors")

    def __init__(self, dim: int) -> None:
        self.vectors = np.empty((16, dim), dtype=np.float32)
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, vector: np.ndarray) -> None:
        if key in self.rows:
            self.vectors[self.rows[key]] = vector
            return
        n = len(self.keys)
        if n == len(self.vectors):
            self.vectors = np.concatenate([self.vectors, np.empty_like(self.vectors)])
        self.vectors[n] = vector
        self.rows[key] = n
        self.keys.append(key)

    def remove(self, key: str) -> bool:
        row = self.rows.pop(key, None)
        if row is None:
            return False
        last = len(self.keys) - 1
        if row != last:
            moved = self.keys[last]
            self.vectors[row] = self.vectors[last]
            self.keys[row] = moved
            self.rows[moved] = row
        self.keys.pop()
        return True

    def search(self, vector: np.ndarray, k: int) -> list[Neighbour]:
        n = len(self.keys)
        if n == 0:
            return []
        sims = self.vectors[:n] @ vector
        if n <= k:
            order = np.argsort(-sims)
        else:
            top = np.argpartition(-sims, k - 1)[:k]
            order = top[np.argsort(-sims[top])]
        return [Neighbour(self.keys[i], float(sims[i])) for i in order]

    def items(self) -> list[tuple[str, np.ndarray]]:
        return [(key, self.vectors[i]) for i, key in enumerate(self.keys)]

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes


class _HNSW:
    """A usearch index (cosine, float16 storage); usearch keys are integers, mapped to entry keys here."""

    __slots__ = ("index", "keys", "labels", "next")

    def __init__(self, dim: int) -> None:
        # onnxruntime first: loaded after usearch 2.26, it crashes the process (a native library clash,
        # `python -c "import usearch.index; import onnxruntime"` segfaults); the encoder needs it later.
        import onnxruntime  # noqa: F401
        from usearch.index import Index

        self.index: Any = Index(ndim=dim, metric="cos", dtype="f16", connectivity=16, expansion_search=32)
        self.labels: dict[str, int] = {}
        self.keys: dict[int, str] = {}
        self.next = 0

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, key: str, vector: np.ndarray) -> None:
        self.remove(key)
        label = self.next
        self.next += 1
        self.index.add(label, vector)
        self.labels[key] = label
        self.keys[label] = key

    def remove(self, key: str) -> bool:
        label = self.labels.pop(key, None)
        if label is None:
            return False
        del self.keys[label]
        self.index.remove(label)
        return True

    def search(self, vector: np.ndarray, k: int) -> list[Neighbour]:
        if not self.labels:
            return []
        found = self.index.search(vector, k, threads=1)
        return [
            Neighbour(self.keys[int(label)], 1.0 - float(dist))
            for label, dist in zip(found.keys, found.distances, strict=False)
            if int(label) in self.keys
        ]

    @property
    def nbytes(self) -> int:
        return int(self.index.memory_usage)


class VectorIndex:
    """Partitions of vectors; `search(partition, vector)` never looks outside the partition."""

    def __init__(self, dim: int | None = None, *, ann_from: int = ANN_FROM) -> None:
        self.dim = dim
        self.ann_from = ann_from
        self._parts: dict[str, _Exact | _HNSW] = {}
        self._where: dict[str, str] = {}  # entry key -> partition

    def __len__(self) -> int:
        return len(self._where)

    def add(self, partition: str, key: str, vector: np.ndarray) -> None:
        vector = _unit(vector)
        if self.dim is None:
            self.dim = vector.shape[0]
        elif vector.shape[0] != self.dim:
            raise ValueError(f"vector of {vector.shape[0]} dimensions; the index holds {self.dim}")
        old = self._where.get(key)
        if old is not None and old != partition:
            self.remove(key)
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Exact(self.dim)
        if isinstance(part, _Exact) and len(part) >= self.ann_from:
            part = self._parts[partition] = _promote(part, self.dim)
        part.add(key, vector)
        self._where[key] = partition

    def remove(self, key: str) -> bool:
        partition = self._where.pop(key, None)
        if partition is None:
            return False
        part = self._parts[partition]
        part.remove(key)
        if not len(part):
            del self._parts[partition]
        return True

    def search(self, partition: str, vector: np.ndarray, k: int = 4) -> list[Neighbour]:
        part = self._parts.get(partition)
        if part is None:
            return []
        return part.search(_unit(vector), k)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def keys(self) -> list[str]:
        return list(self._where)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self._parts.values())


def _promote(part: _Exact, dim: int) -> _HNSW:
    hnsw = _HNSW(dim)
    for key, vector in part.items():
        hnsw.add(key, vector)
    return hnsw


def _unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("a zero or non-finite vector cannot be indexed")
    return v / norm

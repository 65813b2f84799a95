"""An on-disk embedding cache keyed by (encoder id, text hash), so repeated evaluations do not re-embed.

One SQLite file in the cache dir (`embeddings.sqlite3`), in WAL mode with a generous busy timeout, so
several processes (cross-validation workers, a gateway, the CLI) can read and write it at once. A vector is
stored once per (encoder id, sha256 of the UTF-8 text); encoders with different ids never share rows.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from pointsman.text.cache_dir import cache_dir
from pointsman.text.encoder import Encoder, text_list

FILE_NAME = "embeddings.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    encoder_id TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (encoder_id, text_hash)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SELECT (SQLite's default limit on bound parameters is 999 in old builds)


class EmbeddingCacheError(RuntimeError):
    """The cache file cannot be used (unreadable, corrupt, or holds vectors of another shape)."""


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Vectors by (encoder id, text hash) in one SQLite file. A connection per call: thread- and fork-safe."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise EmbeddingCacheError(f"cannot open the embedding cache {self.path}: {e}") from e

    def get(self, encoder_id: str, keys: Sequence[bytes], dim: int) -> dict[bytes, np.ndarray]:
        """The cached vectors among `keys` (missing keys are absent from the result)."""
        found: dict[bytes, np.ndarray] = {}
        with closing(self._connect()) as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                rows = self._query(
                    db,
                    f"SELECT text_hash, vector FROM embeddings WHERE encoder_id = ? "
                    f"AND text_hash IN ({','.join('?' * len(chunk))})",
                    (encoder_id, *chunk),
                )
                for key, blob in rows:
                    if len(blob) != dim * 4:
                        raise EmbeddingCacheError(
                            f"{self.path}: a vector for encoder {encoder_id!r} has {len(blob) // 4} values, "
                            f"expected {dim}; delete the file to rebuild the cache"
                        )
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, encoder_id: str, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = [(encoder_id, key, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for key, v in items]
        with closing(self._connect()) as db, db:
            # Another process may have stored the same text meanwhile: same encoder, same vector.
            self._query(db, "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", rows, many=True)

    def count(self, encoder_id: str | None = None) -> int:
        with closing(self._connect()) as db:
            if encoder_id is None:
                return self._query(db, "SELECT COUNT(*) FROM embeddings", ())[0][0]
            return self._query(db, "SELECT COUNT(*) FROM embeddings WHERE encoder_id = ?", (encoder_id,))[0][
                0
            ]

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable enough for a rebuildable cache
        return db

    def _query(self, db: sqlite3.Connection, sql: str, params, many: bool = False) -> list:
        try:
            return (db.executemany if many else db.execute)(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            raise EmbeddingCacheError(
                f"embedding cache {self.path}: {e}; it only holds rebuildable vectors, so deleting it is safe"
            ) from e


class CachedEncoder:
    """An `Encoder` that looks texts up in an `EmbeddingCache` first and embeds (and stores) only the rest.

    Same `id` and `dim` as the wrapped encoder, so it can stand wherever an encoder is expected.
    """

    def __init__(self, encoder: Encoder, cache: EmbeddingCache | None = None) -> None:
        self.encoder = encoder
        self.cache = cache or EmbeddingCache()
        self.id = encoder.id
        self.dim = encoder.dim

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, cache={str(self.cache.path)!r})"

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        texts = text_list(texts)
        keys = [text_key(t) for t in texts]
        found = self.cache.get(self.id, list(dict.fromkeys(keys)), self.dim)
        missing = {key: text for key, text in zip(keys, texts) if key not in found}
        if missing:
            vectors = self.encoder.encode(list(missing.values()), progress=progress)
            new = dict(zip(missing, vectors))
            self.cache.put(self.id, new.items())
            found.update(new)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

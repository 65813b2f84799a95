"""An on-disk embedding cache keyed by (encoder id, text hash), so repeated evaluations do not re-embed.

One SQLite file in the cache dir (`embeddings.sqlite3`), in WAL mode with a generous busy timeout, so
several processes (cross-validation workers, a gateway, the CLI) can read and write it at once. A vector is
stored once per (encoder id, sha256 of the UTF-8 text); encoders with different ids never share rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pointsman.text.cache_dir import cache_dir
from pointsman.text.encoder import Encoder, text_list

log = logging.getLogger(__name__)

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
    """Vectors by (encoder id, text hash) in one SQLite file; safe to use from threads and processes.

    `timeout`: seconds to wait for another process's write lock before giving up.
    """

    def __init__(self, path: Path | str | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME
        self.timeout = timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EmbeddingCacheError(f"cannot open the embedding cache {self.path}: {e}") from e
        for attempt in range(10):
            try:
                with self._db() as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute(_SCHEMA)
                return
            except EmbeddingCacheError as e:
                # Two processes switching a new file to WAL at once can deadlock; SQLite then fails one of
                # them at once instead of waiting, so wait here.
                if "locked" not in str(e) or attempt == 9:
                    raise
                time.sleep(0.01 * 2**attempt)

    def get(self, encoder_id: str, keys: Sequence[bytes], dim: int) -> dict[bytes, np.ndarray]:
        """The cached vectors among `keys` (missing keys are absent from the result)."""
        found: dict[bytes, np.ndarray] = {}
        with self._db() as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT text_hash, vector FROM embeddings WHERE encoder_id = ? AND text_hash IN ({marks})"
                rows = db.execute(sql, (encoder_id, *chunk))
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
        with self._db() as db:
            # Another process may have stored the same text meanwhile: same encoder, same vector.
            db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", rows)

    def count(self, encoder_id: str | None = None) -> int:
        with self._db() as db:
            if encoder_id is None:
                return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
            return db.execute(
                "SELECT COUNT(*) FROM embeddings WHERE encoder_id = ?", (encoder_id,)
            ).fetchone()[0]

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction; SQLite errors become EmbeddingCacheError naming the file."""
        try:
            db = _connection(self.path)
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            with db:
                yield db
        except sqlite3.Error as e:
            raise EmbeddingCacheError(
                f"embedding cache {self.path}: {e}; it only holds rebuildable vectors, so deleting it is safe"
            ) from e


# One open connection per (process, thread, file), reused across calls and EmbeddingCache objects: when the
# last connection to a WAL database closes, SQLite checkpoints and syncs the file, which made every
# one-text miss cost 20 ms when each call opened and closed its own connection.
_connections = threading.local()


def _connection(path: Path) -> sqlite3.Connection:
    if not hasattr(_connections, "open"):
        _connections.open = {}
    key = (os.getpid(), str(path))  # a connection inherited through fork() is never reused
    if key not in _connections.open:
        db = sqlite3.connect(path)
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable enough for a rebuildable cache
        _connections.open[key] = db
    return _connections.open[key]


# Vectors by (cache file, encoder id) and text, for this process (each is also in that file); cleared when
# it would pass this many (~150 MB).
_MEMO_LIMIT = 100_000
_memo: dict[tuple[str, str], dict[str, np.ndarray]] = {}


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
        """Like the wrapped encoder's. A cache that fails (damaged file, full disk) is logged and bypassed.

        Vectors read or computed here are also kept in this process (`_memo`): cross-validation asks for
        the same texts once per router, fold and inner fit, and a text's vector never changes."""
        texts = text_list(texts)
        memo = _memo.setdefault((str(self.cache.path), self.id), {})
        rows = [memo.get(t) for t in texts]
        if all(r is not None for r in rows):
            return np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        out = self._encode(texts, progress)
        if sum(map(len, _memo.values())) + len(texts) > _MEMO_LIMIT:
            _memo.clear()
            memo = _memo.setdefault((str(self.cache.path), self.id), {})
        memo.update(zip(texts, out.copy()))  # a copy: the caller may write into `out`
        return out

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        try:
            found = self.cache.get(self.id, list(dict.fromkeys(keys)), self.dim)
        except EmbeddingCacheError as e:
            log.warning("embedding cache not used: %s", e)
            found = {}
        missing = {key: text for key, text in zip(keys, texts) if key not in found}
        if missing:
            vectors = self.encoder.encode(list(missing.values()), progress=progress)
            new = dict(zip(missing, vectors))
            try:
                self.cache.put(self.id, new.items())
            except EmbeddingCacheError as e:  # the vectors are computed: return them, just uncached
                log.warning("%d embeddings not cached: %s", len(new), e)
            found.update(new)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

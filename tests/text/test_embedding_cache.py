"""The on-disk embedding cache: hits and misses, ids kept apart, concurrent writers, damaged files."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pointsman.text.embedding_cache import CachedEncoder, EmbeddingCache, EmbeddingCacheError, text_key
from pointsman.text.encoder import Encoder
from pointsman.text.minilm import MiniLMEncoder

TEXTS = ["What is 2 + 2?", "Translate 'cat' into French.", "", "Write a haiku about routers."]


class Counting:
    """A real encoder that records which texts reach it (i.e. were not served from the cache)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder, self.id, self.dim = encoder, encoder.id, encoder.dim
        self.asked: list[str] = []

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.asked += texts
        return self.encoder.encode(texts, progress=progress)


def test_miss_then_hit(fp32: MiniLMEncoder, tmp_path: Path) -> None:
    counting = Counting(fp32)
    cached = CachedEncoder(counting, EmbeddingCache(tmp_path / "e.sqlite3"))
    assert isinstance(cached, Encoder) and cached.id == fp32.id
    first = cached.encode(TEXTS + [TEXTS[0]])  # a repeated text is embedded once
    assert counting.asked == TEXTS
    np.testing.assert_array_equal(first[:-1], fp32.encode(TEXTS))
    np.testing.assert_array_equal(first[-1], first[0])
    again = CachedEncoder(counting, EmbeddingCache(tmp_path / "e.sqlite3")).encode(TEXTS[::-1] + ["new"])
    assert counting.asked == TEXTS + ["new"]
    np.testing.assert_array_equal(again[:-1], first[:-1][::-1])
    assert cached.encode([]).shape == (0, 384)
    np.testing.assert_array_equal(cached.encode(t for t in TEXTS), first[:-1])  # any iterable of texts
    with pytest.raises(TypeError, match=r"texts\[0\] is bytes"):
        cached.encode([b"raw"])


def test_encoder_ids_never_collide(fp32: MiniLMEncoder, int8: MiniLMEncoder, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite3")
    a = CachedEncoder(fp32, cache).encode(TEXTS)
    b = CachedEncoder(int8, cache).encode(TEXTS)
    assert cache.count(fp32.id) == cache.count(int8.id) == len(TEXTS)
    np.testing.assert_array_equal(CachedEncoder(fp32, cache).encode(TEXTS), a)
    np.testing.assert_array_equal(CachedEncoder(int8, cache).encode(TEXTS), b)
    assert not np.array_equal(a, b)


def _vector(text: str) -> np.ndarray:
    return (
        np.random.default_rng(int.from_bytes(text_key(text)[:8], "little")).normal(size=8).astype(np.float32)
    )


def _write(args: tuple[str, int]) -> None:
    path, worker = args
    cache = EmbeddingCache(path)
    # Overlapping ranges, small transactions: the writers contend for the lock all the time.
    texts = [f"text {i}" for i in range(worker * 100, worker * 100 + 300)]
    for start in range(0, len(texts), 10):
        chunk = texts[start : start + 10]
        cache.put("toy/fp32", [(text_key(t), _vector(t)) for t in chunk])
        cache.get("toy/fp32", [text_key(t) for t in chunk], 8)


def test_concurrent_writers(tmp_path: Path) -> None:
    path = str(tmp_path / "e.sqlite3")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_write, [(path, w) for w in range(4)])
    cache = EmbeddingCache(path)
    texts = [f"text {i}" for i in range(600)]
    found = cache.get("toy/fp32", [text_key(t) for t in texts], 8)
    assert cache.count() == len(found) == 600
    for t in texts:
        np.testing.assert_array_equal(found[text_key(t)], _vector(t))


def test_vectors_of_another_shape_are_an_error(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite3")
    cache.put("toy/fp32", [(text_key("a"), np.ones(4, np.float32))])
    with pytest.raises(EmbeddingCacheError, match="encoder 'toy/fp32' has 4 values, expected 8"):
        cache.get("toy/fp32", [text_key("a")], 8)


def test_damaged_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EmbeddingCacheError, match=f"embedding cache {path}: file is not a database; .*safe"):
        EmbeddingCache(path)


def test_cached_encoder_bypasses_a_failing_cache(
    fp32: MiniLMEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite3", timeout=0.2)
    cached = CachedEncoder(fp32, cache)
    # Reading fails: a stored vector of the wrong shape.
    cache.put(fp32.id, [(text_key(TEXTS[0]), np.ones(4, np.float32))])
    np.testing.assert_array_equal(cached.encode(TEXTS), fp32.encode(TEXTS))
    assert f"embedding cache not used: {cache.path}: a vector for encoder" in caplog.text
    # Writing fails: another process holds the write lock for longer than the timeout.
    caplog.clear()
    other = sqlite3.connect(cache.path)
    other.execute("BEGIN IMMEDIATE")
    try:
        np.testing.assert_array_equal(cached.encode(["a new text"]), fp32.encode(["a new text"]))
    finally:
        other.rollback()
    assert f"1 embeddings not cached: embedding cache {cache.path}: database is locked" in caplog.text


def test_unwritable_location_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(EmbeddingCacheError, match="cannot open the embedding cache .*file/e.sqlite3"):
        EmbeddingCache(blocker / "e.sqlite3")


def test_default_location_follows_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTSMAN_CACHE_DIR", str(tmp_path / "c"))
    assert EmbeddingCache().path == tmp_path / "c" / "embeddings.sqlite3"
    monkeypatch.delenv("POINTSMAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert EmbeddingCache().path == tmp_path / "x" / "pointsman" / "embeddings.sqlite3"
    assert (
        sqlite3.connect(tmp_path / "x" / "pointsman" / "embeddings.sqlite3")
        .execute("PRAGMA journal_mode")
        .fetchone()[0]
        == "wal"
    )


def test_vectors_kept_in_memory_are_safe_from_callers(fp32: MiniLMEncoder, tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    counting = Counting(fp32)
    first = CachedEncoder(counting, EmbeddingCache(path)).encode(TEXTS)
    expected = first.copy()
    first[:] = 0.0  # a caller writing into its array
    with sqlite3.connect(path) as db:  # gone from the file: served from this process's memory
        db.execute("DELETE FROM embeddings")
    again = CachedEncoder(counting, EmbeddingCache(path)).encode(TEXTS)
    np.testing.assert_array_equal(again, expected)
    assert counting.asked == TEXTS
    # another cache file is its own: its vectors are looked up (and stored) there
    CachedEncoder(counting, EmbeddingCache(tmp_path / "other.sqlite3")).encode(TEXTS[:1])
    assert counting.asked == TEXTS + TEXTS[:1]

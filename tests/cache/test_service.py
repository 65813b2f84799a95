"""The response cache on a real store (EmbeddedState persisted to SQLite): quotas, eviction, expiry,
invalidation, damaged entries, online tuning from feedback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from pointsman.cache.entry import BadEntry, Entry
from pointsman.cache.service import PREFIX, ResponseCache, scope_of
from pointsman.config.cache import CacheConfig
from pointsman.state import EmbeddedState


def entry(
    text: str, vector: np.ndarray | None, category: str = "general", ttl: float = 60.0, context: str = "ctx"
) -> Entry:
    now = time.time()
    response = {
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "answer " + text},
                "finish_reason": "stop",
            }
        ],
    }
    return Entry(response, "m", category, now, now + ttl, "acme", "k1", text, context, vector)


def vec(seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


async def make(tmp_path: Path, **cfg) -> ResponseCache:
    config = CacheConfig(enabled=True, **cfg)
    cache = ResponseCache(config, EmbeddedState(tmp_path / "c.db"), owns_state=True)
    await cache.start()
    return cache


def test_entry_round_trip_and_damage() -> None:
    e = entry("q", vec(0))
    back = Entry.decode(e.encode())
    assert back.response == e.response and back.question == "q"
    assert np.allclose(back.vector, e.vector, atol=1e-3)
    with pytest.raises(BadEntry):
        Entry.decode(b"\x05\x00\x00\x00{nope")


async def test_category_quota_and_global_quota_evict_least_recently_used(tmp_path: Path) -> None:
    cache = await make(tmp_path, max_entries=5, categories={"small": {"max_entries": 2}})
    s = scope_of("acme", None, False)
    small = cache.rule("small")
    for i in range(3):
        await cache.put(s, f"s{i}", entry(f"s{i}", vec(i), "small"), small)
    assert await cache.get_exact(s, "s0") is None  # evicted: the category keeps 2
    assert await cache.get_exact(s, "s1") is not None  # touched: now the most recent
    general = cache.rule("general")
    for i in range(4):
        await cache.put(s, f"g{i}", entry(f"g{i}", vec(10 + i)), general)
    assert cache.entries == 5 and cache.evicted == 2
    assert await cache.get_exact(s, "s2") is None  # least recently used of all
    assert await cache.get_exact(s, "s1") is not None
    await cache.close()


async def test_byte_quota_holds(tmp_path: Path) -> None:
    cache = await make(tmp_path, max_bytes=20_000)
    s = scope_of("acme", None, False)
    rule = cache.rule("general")
    for i in range(200):
        await cache.put(s, f"e{i}", entry("x" * 200, vec(i)), rule)
        assert cache.nbytes <= 20_000
    assert 0 < cache.entries < 200 and len(await cache.state.scan(PREFIX)) == cache.entries
    await cache.close()


async def test_expired_entries_are_not_served_and_are_swept(tmp_path: Path) -> None:
    cache = await make(tmp_path, default={"threshold": 0.5})
    s = scope_of("acme", None, False)
    rule = cache.rule("general")
    await cache.put(s, "old", entry("old", vec(1), ttl=0.05), rule)
    await asyncio.sleep(0.1)
    assert await cache.get_exact(s, "old") is None
    assert await cache.get_semantic(s, "ctx", vec(1), "old", rule) is None
    await cache.sweep()
    assert cache.entries == 0 and len(cache.index) == 0
    await cache.close()


async def test_semantic_lookup_respects_scope_context_threshold_and_overlap(tmp_path: Path) -> None:
    cache = await make(tmp_path, default={"threshold": 0.9, "min_overlap": 0.5})
    a, b = scope_of("acme", None, False), scope_of("globex", None, False)
    rule = cache.rule("general")
    v = vec(7)
    await cache.put(a, "q", entry("how do I reset my password", v, context=f"{a}:ctx"), rule)
    near = v + 0.05 * vec(8)
    hit = await cache.get_semantic(a, "ctx", near, "how can I reset my password", rule)
    assert hit is not None and hit.level == "semantic" and 0.9 <= hit.similarity < 1
    assert await cache.get_semantic(b, "ctx", near, "how can I reset my password", rule) is None
    assert await cache.get_semantic(a, "other", near, "how can I reset my password", rule) is None
    assert await cache.get_semantic(a, "ctx", vec(9), "how can I reset my password", rule) is None
    assert await cache.get_semantic(a, "ctx", near, "password reset steps please", rule) is None  # overlap
    await cache.close()


async def test_restart_rebuilds_index_and_bad_rows_are_dropped(tmp_path: Path) -> None:
    cache = await make(tmp_path, default={"threshold": 0.9})
    s = scope_of("acme", None, False)
    rule = cache.rule("general")
    await cache.put(s, "q", entry("question", vec(3), context=f"{s}:ctx"), rule)
    await cache.state.set(PREFIX + s + ":junk", b"not an entry")
    await cache.close()
    again = await make(tmp_path, default={"threshold": 0.9})
    assert again.entries == 1 and len(again.index) == 1
    assert await again.get_semantic(s, "ctx", vec(3), "question", again.rule("general")) is not None
    assert await again.state.get(PREFIX + s + ":junk") is None
    await again.close()


async def test_invalidate(tmp_path: Path) -> None:
    cache = await make(tmp_path)
    a, b = scope_of("acme", None, False), scope_of("globex", None, False)
    await cache.put(a, "1", entry("1", None, "x"), cache.rule("x"))
    await cache.put(a, "2", entry("2", None, "y"), cache.rule("y"))
    await cache.put(b, "3", entry("3", None, "x"), cache.rule("x"))
    assert await cache.invalidate() == 0  # nothing selected: nothing deleted
    assert await cache.invalidate(category="x") == 2
    assert await cache.invalidate(tenant="globex") == 0
    assert await cache.invalidate(tenant="acme") == 1
    assert cache.entries == 0
    await cache.close()


async def test_false_hit_feedback_deletes_the_entry_and_raises_the_threshold(tmp_path: Path) -> None:
    cache = await make(tmp_path, default={"threshold": 0.8})
    s = scope_of("acme", None, False)
    rule = cache.rule("general")
    base = vec(5)
    rng = np.random.default_rng(0)
    for i in range(60):  # hits near 0.85 are wrong, those near 0.99 right
        v = base + rng.normal(scale=0.02, size=16).astype(np.float32)
        await cache.put(s, f"e{i}", entry("same words", v, context=f"{s}:ctx"), rule)
    wrong = 0
    for i in range(60):
        hit = await cache.get_semantic(s, "ctx", base, "same words", cache.rule("general"))
        if hit is None:
            break
        fake = type(hit)(hit.key, hit.entry, hit.level, 0.85 if i % 2 else 0.99, 1.0)
        cache.served(f"req{i}", fake)
        assert await cache.feedback(f"req{i}", 0.0 if i % 2 else 1.0)
        wrong += i % 2
    assert not await cache.feedback("unknown", 0.0)
    raised = cache.rule("general").threshold
    assert raised is not None and raised > 0.85
    assert cache.entries == 60 - wrong
    await cache.close()
    again = await make(tmp_path, default={"threshold": 0.8})  # the observations persist
    assert again.rule("general").threshold == raised
    await again.close()

"""The SharedState contract, for every store (tests/state/conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

from pointsman.state import EmbeddedState, SharedState
from pointsman.state.base import window_buckets, window_retry_after


async def test_incr_adds_and_expires(store: SharedState) -> None:
    assert await store.number("c") == 0.0
    assert await store.incr("c") == 1.0
    assert await store.incr("c", 2.5) == 3.5
    assert await store.number("c") == 3.5
    await store.incr("short", 1, ttl=0.05)
    await asyncio.sleep(0.08)
    assert await store.number("short") == 0.0
    assert await store.incr("short", 1, ttl=10) == 1.0  # expired: starts again from 0


async def test_ttl_counts_from_creation_not_from_each_increment(store: SharedState) -> None:
    await store.incr("budget", 1, ttl=0.1)
    await asyncio.sleep(0.06)
    await store.incr("budget", 1, ttl=0.1)  # does not push the expiry out
    await asyncio.sleep(0.06)
    assert await store.number("budget") == 0.0


async def test_values_set_get_delete_scan(store: SharedState) -> None:
    assert await store.get("v") is None
    assert await store.set("v", b"one")
    assert await store.get("v") == b"one"
    assert not await store.set("v", b"two", only_if_absent=True)
    assert await store.get("v") == b"one"
    await store.set("p:a", b"1")
    await store.set("p:b", b"2", ttl=0.05)
    await store.set("q:c", b"3")
    assert sorted(await store.scan("p:")) == ["p:a", "p:b"]
    assert await store.get_many(["p:a", "nope", "q:c"]) == [b"1", None, b"3"]
    await asyncio.sleep(0.08)
    assert await store.scan("p:") == ["p:a"]
    assert await store.delete("p:a", "p:b", "nope") == 1
    assert await store.get("p:a") is None


async def test_window_take_enforces_the_limit_atomically(store: SharedState) -> None:
    t = 1_200_000.0  # the start of a bucket of 60 s (60 x 20,000)
    results = await asyncio.gather(
        *(store.window_take("rpm", 1, window=60, limit=10, now=t + 1) for _ in range(25))
    )
    assert sum(r.allowed for r in results) == 10
    refused = [r for r in results if not r.allowed]
    assert all(r.total == 10 and r.retry_after > 0 for r in refused)
    # The previous bucket's 10 weigh 1 - 30/60 = 0.5 halfway through the next bucket: room for 5 more.
    allowed = [await store.window_take("rpm", 1, window=60, limit=10, now=t + 90) for _ in range(8)]
    assert sum(r.allowed for r in allowed) == 5
    assert await store.window_total("rpm", window=60, now=t + 90) == pytest.approx(10.0)
    assert await store.window_total("rpm", window=60, now=t + 200) == 0.0


async def test_window_without_limit_always_adds(store: SharedState) -> None:
    for _ in range(3):
        r = await store.window_take("tpm", 400, window=60, now=1_200_000.0)
        assert r.allowed
    assert await store.window_total("tpm", window=60, now=1_200_000.0) == 1200


def test_retry_after_is_when_the_amount_fits() -> None:
    window, limit = 60.0, 10.0
    t = 1_200_000.0 + 90  # halfway through a bucket; the previous one held 10, this one 5
    previous, current = 10.0, 5.0
    wait = window_retry_after(previous, current, 1, limit, t, window)
    # fits when 10 * w + 5 + 1 <= 10, w <= 0.4: w is 0.5 now and falls 1/60 per second: 6 s.
    assert wait == pytest.approx(6.0)
    _index, weight = window_buckets(t + wait, window)
    assert previous * weight + current + 1 == pytest.approx(limit)
    # The current bucket alone is full: not before the next bucket, then until its share has shrunk.
    assert window_retry_after(0.0, 10.0, 1, limit, 1_200_000.0, window) == pytest.approx(60 + 6)


async def test_embedded_state_survives_a_restart(tmp_path) -> None:
    path = tmp_path / "state.db"
    first = EmbeddedState(path, flush_interval=0.02)
    await first.start()
    await first.incr("spend:t1", 0.25, ttl=3600)
    await first.set("bandit:p:r1", b"\x00\x01")
    await first.set("gone", b"x", ttl=0.01)
    await first.set("deleted", b"x")
    await asyncio.sleep(0.05)  # the flusher has written these
    await first.delete("deleted")
    await first.close()  # and the delete at close

    second = EmbeddedState(path)
    await second.start()
    assert await second.number("spend:t1") == 0.25
    assert await second.get("bandit:p:r1") == b"\x00\x01"
    assert await second.get("gone") is None
    assert await second.get("deleted") is None
    await second.close()


async def test_window_take_all_is_all_or_none(store: SharedState) -> None:
    t = 1_200_000.0
    takes = [("tenant", 1, 3), ("key", 1, 2), ("tokens", 0, None)]
    results = await asyncio.gather(*(store.window_take_all(takes, window=60, now=t + 1) for _ in range(5)))
    assert [all(r.allowed for r in rs) for rs in results].count(True) == 2  # the key's limit of 2 binds
    refused = next(rs for rs in results if not rs[0].allowed)
    assert [r.allowed for r in refused] == [False, False, False]
    assert refused[0].retry_after == 0.0 and refused[1].retry_after > 0  # only the key's take did not fit
    # Nothing of a refused call was added: the tenant's window holds the 2 admitted requests only.
    assert await store.window_total("tenant", window=60, now=t + 1) == 2
    assert await store.window_total("key", window=60, now=t + 1) == 2
    assert await store.window_take_all([], window=60, now=t) == []

"""The SharedState contract, for every store (tests/state/conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

from pointsman.state import EmbeddedState, SharedState
from pointsman.state.base import SLOTS, window_retry_after, window_slots, window_sum


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
    t = 1_200_000.0  # the start of a bucket (buckets of 60 / 12 = 5 s)
    results = await asyncio.gather(
        *(store.window_take("rpm", 1, window=60, limit=10, now=t + 1) for _ in range(25))
    )
    assert sum(r.allowed for r in results) == 10
    refused = [r for r in results if not r.allowed]
    assert all(r.total == 10 and r.retry_after > 0 for r in refused)
    # 61 s later the bucket holding the 10 is leaving the window: 1 s of its 5 gone, it weighs 0.8: room for 2.
    allowed = [await store.window_take("rpm", 1, window=60, limit=10, now=t + 61) for _ in range(8)]
    assert sum(r.allowed for r in allowed) == 2
    assert await store.window_total("rpm", window=60, now=t + 61) == pytest.approx(10.0)
    assert await store.window_total("rpm", window=60, now=t + 200) == 0.0


async def test_window_without_limit_always_adds(store: SharedState) -> None:
    for _ in range(3):
        r = await store.window_take("tpm", 400, window=60, now=1_200_000.0)
        assert r.allowed
    assert await store.window_total("tpm", window=60, now=1_200_000.0) == 1200


def test_retry_after_is_when_the_amount_fits() -> None:
    # The oldest bucket held 10 and half of it is still in the window; the current one holds 5.
    counts = [10.0] + [0.0] * (SLOTS - 1) + [5.0]
    wait = window_retry_after(counts, 0.5, 1, 10, 60)
    # fits when 10 * w + 5 + 1 <= 10, w <= 0.4: w falls from 0.5 by 1/5 a second: 0.5 s.
    assert wait == pytest.approx(0.5)
    assert window_sum(counts, 0.5 - wait / 5) + 1 == pytest.approx(10)
    # The current bucket alone is full: not before it is the oldest (12 buckets on), then until 1 of its 10
    # has left.
    assert window_retry_after([0.0] * SLOTS + [10.0], 1.0, 1, 10, 60) == pytest.approx(60 + 0.5)
    assert window_retry_after([0.0] * (SLOTS + 1), 1.0, 11, 10, 60) == pytest.approx(65)  # never fits
    index, weight = window_slots(1_200_000.0 + 61, 60)
    assert index == 1_200_061 // 5 and weight == pytest.approx(0.8)


async def test_a_limit_holds_in_any_window_after_a_quiet_spell(store: SharedState) -> None:
    """A burst at the end of one minute and another at the start of the next: never much more than the
    limit in any 60 s (two-bucket windows let up to twice through here)."""
    t = 1_200_000.0
    admitted = []
    for step in range(1200):  # 2 requests a second for 10 minutes of virtual time, limit 60 a minute
        now = t + 55 + step * 0.5
        if (await store.window_take("burst", 1, window=60, limit=60, now=now)).allowed:
            admitted.append(now)
    worst = max(sum(1 for x in admitted if a <= x < a + 60) for a in admitted)
    assert worst <= 60 * 1.05
    assert len(admitted) >= 60 * 9  # and it admits the limit's rate


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


async def test_incr_many(store: SharedState) -> None:
    await store.incr("m:a", 1.0)
    await store.incr_many([("m:a", 2.0, 60), ("m:b", 0.5, 0.05), ("m:b", 0.25, 0.05)])
    assert await store.number("m:a") == 3.0
    assert await store.number("m:b") == 0.75
    await asyncio.sleep(0.08)
    assert await store.number("m:b") == 0.0  # the TTL given when the pipeline created it
    await store.incr_many([])


async def test_embedded_state_does_not_persist_window_buckets(tmp_path) -> None:
    path = tmp_path / "state.db"
    first = EmbeddedState(path, flush_interval=10)
    await first.start()
    await first.window_take("rpm", 1, window=60, limit=5)
    await first.incr("spend:t", 1.0)
    await first.close()
    second = EmbeddedState(path)
    await second.start()
    assert await second.window_total("rpm", window=60) == 0.0
    assert await second.number("spend:t") == 1.0
    await second.close()

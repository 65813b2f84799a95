"""What only the Redis store has to show: counters always expire, an outage is StateUnavailable (fast), and
the store recovers by itself when a restarted server comes back (its scripts reloaded)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from pydantic import ValidationError

from pointsman.config.gateway import StateConfig
from pointsman.state import StateUnavailable, open_state
from pointsman.state.redis import RedisState
from pointsman.testing.redis import RedisServer


async def test_counters_and_buckets_always_carry_a_ttl(redis_server: RedisServer) -> None:
    store = RedisState(redis_server.url, prefix=f"t:{uuid.uuid4().hex}:")
    await store.start()
    try:
        await store.incr("spend", 0.5, ttl=3600)
        await store.window_take("rpm", 1, window=60, limit=5)
        client = store._client
        keys = await client.keys(store.prefix + "*")
        assert len(keys) == 2
        for key in keys:
            ttl = await client.pttl(key)
            assert 0 < ttl <= 3600 * 1000, (key, ttl)
    finally:
        await store.close()


async def test_prefix_separates_gateways_and_scan_escapes_globs(redis_server: RedisServer) -> None:
    tag = uuid.uuid4().hex
    a, b = RedisState(redis_server.url, prefix=f"{tag}:a:"), RedisState(redis_server.url, prefix=f"{tag}:b:")
    try:
        await a.set("k*[x]", b"1")
        await a.set("k-other", b"2")
        await b.set("k*[x]", b"3")
        assert await a.scan("k*[") == ["k*[x]"]
        assert await b.get("k*[x]") == b"3"
    finally:
        await a.close()
        await b.close()


async def test_an_outage_fails_fast_and_the_store_recovers() -> None:
    with RedisServer() as server:
        store = RedisState(server.url, prefix="outage:")
        await store.start()
        assert (await store.window_take("rpm", 1, window=60, limit=10)).allowed
        server.kill()
        for op in (
            store.incr("c"),
            store.window_take("rpm", 1, window=60, limit=10),
            store.get("v"),
            store.set("v", b"x"),
            store.scan(""),
        ):
            started = time.perf_counter()
            with pytest.raises(StateUnavailable):
                await op
            assert time.perf_counter() - started < 2.0  # refused connections answer at once
        with pytest.raises(StateUnavailable, match="did not answer"):
            await RedisState(server.url).start()
        server.start()  # empty: its script cache too, so the client has to load the scripts again
        assert (await store.window_take("rpm", 1, window=60, limit=10)).total == 1.0
        assert await store.incr("c", 2, ttl=60) == 2.0
        await store.close()


async def test_a_hung_server_times_out() -> None:
    with RedisServer() as server:
        store = RedisState(server.url, prefix="hung:", timeout=0.2)
        await store.start()
        server.process.send_signal(19)  # SIGSTOP: connected, but no answer
        try:
            started = time.perf_counter()
            with pytest.raises(StateUnavailable):
                await store.incr("c")
            assert time.perf_counter() - started < 2.0
        finally:
            server.process.send_signal(18)  # SIGCONT
        await asyncio.sleep(0.05)
        await store.close()


def test_config_selects_redis_and_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="needs state.url"):
        StateConfig(kind="redis")
    store = open_state(StateConfig(kind="redis", url="redis://127.0.0.1:1/0", prefix="x:"))
    assert isinstance(store, RedisState) and store.prefix == "x:"
    monkeypatch.delenv("POINTSMAN_TEST_REDIS", raising=False)
    with pytest.raises(StateUnavailable, match="POINTSMAN_TEST_REDIS"):
        open_state(StateConfig(kind="redis", url_env="POINTSMAN_TEST_REDIS"))
    monkeypatch.setenv("POINTSMAN_TEST_REDIS", "redis://127.0.0.1:2/0")
    assert open_state(StateConfig(kind="redis", url_env="POINTSMAN_TEST_REDIS")).url.endswith(":2/0")

"""A feature's outage policy (state/outage.py) and batched writes (state/batch.py), against a Redis nobody
listens on (refused at once) and one that comes back."""

from __future__ import annotations

import asyncio

import pytest

from pointsman.config.loader import parse_config
from pointsman.gateway.auth import Principal
from pointsman.gateway.budgets import Budgets
from pointsman.gateway.errors import APIError
from pointsman.state import EmbeddedState, StateUnavailable
from pointsman.state.batch import Accumulator
from pointsman.state.outage import Guarded
from pointsman.state.redis import RedisState
from pointsman.testing.redis import RedisServer, free_port

WHO = Principal("k1", "acme", "key:k1", None)


def dead() -> RedisState:
    return RedisState(f"redis://127.0.0.1:{free_port()}/0")


async def test_each_mode_while_the_store_is_unreachable() -> None:
    failures: list[str] = []
    local = Guarded(dead(), "limits", "local", on_failure=failures.append)
    assert await local.run(lambda s: s.incr("c")) == 1.0
    assert await local.run(lambda s: s.incr("c")) == 2.0  # the local store keeps counting
    assert local.down and failures == ["limits"]  # tried once, then not again for `retry` seconds
    assert await Guarded(dead(), "x", "open").run(lambda s: s.incr("c")) is None
    with pytest.raises(StateUnavailable, match="on_outage: closed"):
        await Guarded(dead(), "x", "closed").run(lambda s: s.incr("c"))


async def test_the_store_is_tried_again_after_retry_seconds() -> None:
    with RedisServer() as server:
        server.kill()
        guard = Guarded(RedisState(server.url, prefix="back:"), "limits", "local", retry=0.2)
        assert await guard.run(lambda s: s.incr("c")) == 1.0  # local
        server.start()
        assert await guard.run(lambda s: s.incr("c")) == 2.0  # still local: within `retry`
        await asyncio.sleep(0.25)
        assert await guard.run(lambda s: s.incr("c")) == 1.0  # Redis again (empty)
        assert not guard.down
        await guard.state.close()


def budgets(mode: str) -> Budgets:
    cfg = parse_config(
        f"""
backends: [{{name: m, kind: openai, base_url: "http://127.0.0.1:9/v1", model: m}}]
auth: {{enabled: true, keys: [{{id: k1, tenant: acme, sha256: "{"0" * 64}"}}]}}
budgets: {{tenants: {{acme: {{usd: 1, period: day}}}}, on_outage: {mode}}}
"""
    )
    return Budgets(cfg, dead())


async def test_budgets_on_outage() -> None:
    assert await budgets("open").check(WHO) is None  # unknown: rules reading it do not match
    assert await budgets("local").check(WHO) == 1.0  # this process's own count, from zero
    with pytest.raises(APIError) as refused:
        await budgets("closed").check(WHO)
    assert refused.value.status == 503 and refused.value.code == "state_unavailable"
    assert await budgets("closed").check(Principal("k2", "other", "key:k2", None)) is None  # no budget


async def test_accumulator_batches_and_sums() -> None:
    store = EmbeddedState()
    acc = Accumulator(Guarded(store, "budgets"), interval=0.05)
    for _ in range(10):
        acc.incr("spend:a", 0.5, 60)
        acc.window_add("tokens", 10)
    assert await store.number("spend:a") == 0.0  # not yet written
    await asyncio.sleep(0.1)
    assert await store.number("spend:a") == 5.0
    assert await store.window_total("tokens", window=60) == 100
    acc.incr("spend:a", 1, 60)
    await acc.drain()  # at shutdown: at once
    assert await store.number("spend:a") == 6.0

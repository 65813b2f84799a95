"""Every shared-state store runs the same contract tests: `store` is parametrised over them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pointsman.state import EmbeddedState, SharedState
from pointsman.state.redis import RedisState

# name -> factory(tmp_path, redis_url) of a fresh, empty store (Redis: under a prefix of its own).
STORES: dict[str, Callable[[Path, str], SharedState]] = {
    "embedded": lambda tmp, url: EmbeddedState(),
    "embedded-sqlite": lambda tmp, url: EmbeddedState(tmp / "state.db", flush_interval=0.05),
    "redis": lambda tmp, url: RedisState(url, prefix=f"test:{uuid.uuid4().hex}:"),
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SharedState]:
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    s = STORES[request.param](tmp_path, url)
    await s.start()
    yield s
    await s.close()

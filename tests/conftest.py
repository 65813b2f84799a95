"""Shared test fixtures: where the real routing data lives (../shared/data beside the checkout)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pointsman.testing.redis import RedisServer, ensure_redis_server

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"routing data not found at {SHARED_DATA}: the checkout needs ../shared beside it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for the whole session (installed with apt when missing)."""
    if ensure_redis_server() is None:
        pytest.fail("redis-server is not installed and cannot be (apt-get install redis-server, as root)")
    with RedisServer() as server:
        yield server

"""Fixtures for backend tests: real local upstream servers and configs with short timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pointsman.config.backends import BackendConfig
from pointsman.testing.upstreams import UpstreamServer


def http_config(name: str, server: UpstreamServer, kind: str = "openai", **overrides: Any) -> BackendConfig:
    """A backend config pointing at `server`, with timeouts short enough for tests."""
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "base_url": server.url + "/v1",
        "timeouts": {"connect": 1, "first_byte": 2, "idle": 1, "total": 5, "queue": 0.05},
        "retry": {"attempts": 2, "backoff": 0.01, "max_backoff": 0.5},
        "breaker": {"failures": 3, "cooldown": 0.3},
    }
    fields.update(overrides)
    return BackendConfig(**fields)


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def stream_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamServer]:
    async with UpstreamServer() as server:
        yield server


@pytest.fixture
async def upstream_b() -> AsyncIterator[UpstreamServer]:
    async with UpstreamServer() as server:
        yield server

"""What gateway replicas share (limits, spend, breakers, bandit statistics, cache entries): `SharedState`,
in this process by default (`EmbeddedState`) or in Redis for several replicas."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pointsman.state.base import SharedState, StateUnavailable, WindowCount
from pointsman.state.embedded import EmbeddedState

if TYPE_CHECKING:
    from pointsman.config.gateway import StateConfig

__all__ = ["EmbeddedState", "SharedState", "StateUnavailable", "WindowCount", "open_state"]


def open_state(config: StateConfig) -> SharedState:
    """The configured store (not yet started)."""
    if config.kind == "redis":
        from pointsman.state.redis import RedisState  # the redis package only when configured

        url = config.url or os.environ.get(config.url_env or "", "")
        if not url:
            raise StateUnavailable(f"state.url_env: the environment variable {config.url_env} is not set")
        return RedisState(url, prefix=config.prefix, timeout=config.timeout)
    return EmbeddedState(config.path, flush_interval=config.flush_interval)

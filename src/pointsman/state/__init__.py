"""What gateway replicas share (limits, spend, breakers, bandit statistics, cache entries): `SharedState`,
in this process by default (`EmbeddedState`) or in Redis for several replicas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pointsman.state.base import SharedState, StateUnavailable, WindowCount
from pointsman.state.embedded import EmbeddedState

if TYPE_CHECKING:
    from pointsman.config.gateway import StateConfig

__all__ = ["EmbeddedState", "SharedState", "StateUnavailable", "WindowCount", "open_state"]


def open_state(config: StateConfig) -> SharedState:
    """The configured store (not yet started)."""
    return EmbeddedState(config.path, flush_interval=config.flush_interval)

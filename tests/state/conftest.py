"""Every shared-state store runs the same contract tests: `store` is parametrised over them."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from pointsman.state import EmbeddedState, SharedState

# name -> factory(tmp_path) of a fresh, empty store; the scale-out part adds Redis here.
STORES: dict[str, Callable[[Path], SharedState]] = {
    "embedded": lambda tmp: EmbeddedState(),
    "embedded-sqlite": lambda tmp: EmbeddedState(tmp / "state.db", flush_interval=0.05),
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SharedState]:
    s = STORES[request.param](tmp_path)
    await s.start()
    yield s
    await s.close()

"""One feature's use of the shared state with its outage policy (`on_outage`: local | open | closed).

While the store is unreachable a feature does not wait on it request after request: after a failure it
goes straight to its fallback for `retry` seconds, then tries the store again. `local` keeps serving from
this process's own `EmbeddedState` (a limit then holds per replica, not globally), `open` answers None (the
feature lets the request through unchecked), `closed` raises StateUnavailable (the feature refuses).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pointsman.state.base import SharedState, StateUnavailable
from pointsman.state.embedded import EmbeddedState

log = logging.getLogger("pointsman.state")
T = TypeVar("T")


class Guarded:
    def __init__(
        self,
        state: SharedState,
        feature: str,
        on_outage: str = "local",
        *,
        retry: float = 1.0,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.state = state
        self.feature = feature
        self.on_outage = on_outage
        self.retry = retry
        self.local: SharedState | None = EmbeddedState() if on_outage == "local" else None
        self.down_until = 0.0  # monotonic time before which the store is not tried again
        self.failures = 0  # operations that found the store unreachable
        self._down = False
        self._on_failure = on_failure

    @property
    def down(self) -> bool:
        return self._down

    async def run(self, op: Callable[[SharedState], Awaitable[T]]) -> T | None:
        """`op` on the shared store, or on the fallback while it is unreachable (see the module doc)."""
        if time.monotonic() >= self.down_until:
            try:
                result = await op(self.state)
            except StateUnavailable as exc:
                self._failed(exc)
            else:
                if self._down:
                    self._down = False
                    log.warning("%s: the shared state is back; using it again", self.feature)
                return result
        if self.local is not None:
            return await op(self.local)
        if self.on_outage == "closed":
            raise StateUnavailable(f"{self.feature}: the shared state is unreachable (on_outage: closed)")
        return None

    def _failed(self, exc: StateUnavailable) -> None:
        self.failures += 1
        self.down_until = time.monotonic() + self.retry
        if self._on_failure is not None:
            self._on_failure(self.feature)
        if not self._down:
            self._down = True
            log.warning("%s: %s; on_outage %s until it answers again", self.feature, exc, self.on_outage)

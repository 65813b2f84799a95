"""Circuit breakers replicas share: a breaker one replica opens, every replica sees open.

Each replica keeps its own breakers on the request path (no store round trip per call). A background task
every `interval` seconds publishes the breakers this replica opened since (`breaker:<backend>`: when the
cooldown ends, wall-clock, with a TTL of the cooldown left) and opens its own breakers for the ones others
published, until the same moment. After the cooldown each replica probes for itself. While the state is
unreachable the breakers simply stay local.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

import orjson

from pointsman.backends.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from pointsman.background import cancel_task
from pointsman.state import SharedState
from pointsman.state.base import clock
from pointsman.state.outage import Guarded

log = logging.getLogger("pointsman.gateway")
REPLICA = f"{socket.gethostname()}:{os.getpid()}"


class SharedBreakers:
    def __init__(
        self,
        breakers: Mapping[str, CircuitBreaker],
        state: SharedState,
        *,
        interval: float = 0.25,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.breakers = dict(breakers)
        self.interval = interval
        self.guard = Guarded(state, "breakers", "open", on_failure=on_failure)
        self._seen: dict[str, float] = {}  # backend -> opened_at of the opening already published/adopted
        self.adopted = 0  # breakers opened because another replica had
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None and self.breakers:
            self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        await cancel_task(self._task)
        self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:  # never let the task die: breakers would stop being shared silently
                log.exception("breakers: sync failed")
            await asyncio.sleep(self.interval)

    async def sync(self) -> None:
        """Publish this replica's new openings, then adopt the others'."""
        wall = clock()
        for name, breaker in self.breakers.items():
            left = breaker.remaining()
            if breaker.state is OPEN and left > 0 and self._seen.get(name) != breaker.opened_at:
                self._seen[name] = breaker.opened_at
                value = orjson.dumps({"until": wall + left, "by": REPLICA})
                await self.guard.run(lambda s, n=name, v=value, t=left: s.set(f"breaker:{n}", v, ttl=t))
        names = list(self.breakers)
        values = await self.guard.run(lambda s: s.get_many([f"breaker:{n}" for n in names]))
        for name, raw in zip(names, values or ()):
            if raw is not None:
                self._adopt(name, raw, wall)

    def _adopt(self, name: str, raw: bytes, wall: float) -> None:
        try:
            shared = orjson.loads(raw)
            left = float(shared["until"]) - wall
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        breaker = self.breakers[name]
        if left <= 0 or (breaker.state is HALF_OPEN and breaker.probing):
            return  # over, or our own probe is deciding
        if breaker.state is CLOSED or breaker.state is HALF_OPEN or breaker.remaining() < left - 0.05:
            breaker.open_for(left)
            self._seen[name] = breaker.opened_at
            self.adopted += 1
            log.warning(
                "backend %s: circuit breaker open for %.1f s (opened by %s)", name, left, shared.get("by")
            )

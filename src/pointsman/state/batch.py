"""Writes that need not be seen at once (spend, tokens used), gathered for `interval` seconds and sent in one
round trip each: a request then costs the store no write of its own, and replicas see each other's spend at
most `interval` later."""

from __future__ import annotations

import asyncio
import logging

from pointsman.state.base import StateUnavailable
from pointsman.state.outage import Guarded

log = logging.getLogger("pointsman.state")
INTERVAL = 0.1  # seconds between writes


class Accumulator:
    def __init__(self, guard: Guarded, *, interval: float = INTERVAL, window: float = 60.0) -> None:
        self.guard = guard
        self.interval = interval
        self.window = window
        self._counters: dict[str, list] = {}  # key -> [amount, ttl]
        self._windows: dict[str, float] = {}  # key -> amount
        self._task: asyncio.Task | None = None

    def incr(self, key: str, amount: float, ttl: float | None) -> None:
        entry = self._counters.setdefault(key, [0.0, ttl])
        entry[0] += amount
        self._schedule()

    def window_add(self, key: str, amount: float) -> None:
        self._windows[key] = self._windows.get(key, 0.0) + amount
        self._schedule()

    def _schedule(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        try:
            await asyncio.sleep(self.interval)
        finally:
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        counters, self._counters = self._counters, {}
        windows, self._windows = self._windows, {}
        try:
            if counters:
                items = [(k, amount, ttl) for k, (amount, ttl) in counters.items()]
                await self.guard.run(lambda s: s.incr_many(items))
            if windows:
                takes = [(k, amount, None) for k, amount in windows.items()]
                await self.guard.run(lambda s: s.window_take_all(takes, window=self.window))
        except StateUnavailable:
            pass  # on_outage closed: requests are refused meanwhile; these counts are lost
        except Exception:
            log.exception("%s: could not write counters", self.guard.feature)

    async def drain(self) -> None:
        """Write what is pending now (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()

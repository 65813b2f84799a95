"""A per-backend concurrency limit that waits briefly for a free slot, then gives up (the backend is
saturated)."""

from __future__ import annotations

import asyncio
from collections import deque


class ConcurrencyLimit:
    __slots__ = ("_waiters", "active", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        if self.active < self.limit:
            self.active += 1
            return True
        return False

    async def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most `timeout` seconds (first come, first served). False if none freed."""
        if self.try_acquire():
            return True
        if timeout <= 0:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return waiter.done() and not waiter.cancelled()  # handed a slot just as the wait ran out
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise
        return True

    def release(self) -> None:
        """Free a slot, handing it straight to the longest waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1

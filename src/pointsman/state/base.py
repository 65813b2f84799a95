"""The state gateway replicas share: counters, sliding windows and values with a time to live.

One small async interface, two stores behind it (`pointsman.state.open_state`):
- `EmbeddedState`: in this process (optionally persisted to SQLite), the default for one replica;
- `RedisState` (scale-out): one Redis shared by every replica and host.
What is built on it (rate limits, budgets, breakers, bandit statistics, cache entries) names its keys under
its own prefix (`limit:`, `spend:`, `breaker:`, `bandit:`, `cache:`) and decides what an outage means for it
(`StateUnavailable`): fail open, fail closed, or fall back to local state.

Sliding windows are the two-bucket approximation (Cloudflare's "sliding window counter"): buckets of `window`
seconds, and the window's total is the current bucket plus the previous one weighted by how much of it the
window still covers. Each store does a take atomically, so a limit holds across replicas.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


class StateUnavailable(Exception):
    """The shared store could not be reached (or answered garbage); the caller's feature decides what then."""


@dataclass(frozen=True, slots=True)
class WindowCount:
    allowed: bool  # the amount fitted under the limit (always True without a limit) and was added
    total: float  # the window's total after this call (the amount included only when allowed)
    retry_after: float  # seconds until the amount would fit (0.0 when allowed)


def window_buckets(now: float, window: float) -> tuple[int, float]:
    """The current bucket's index and the share of the previous bucket the window still covers."""
    index = math.floor(now / window)
    return index, 1.0 - (now / window - index)


def window_retry_after(
    previous: float, current: float, amount: float, limit: float, now: float, window: float
) -> float:
    """Seconds until `amount` fits: the previous bucket's weight falls linearly to 0 over the current bucket,
    then the current bucket becomes the previous one."""
    index, weight = window_buckets(now, window)
    room = limit - amount - current
    if previous > 0 and room >= 0:  # the previous bucket's share has to shrink to `room`
        return max(0.0, (weight - room / previous) * window)
    # Not before the next bucket, where the current total weighs (1 - t) of itself.
    to_next = (index + 1) * window - now
    if current <= 0:
        return to_next
    return to_next + max(0.0, 1.0 - (limit - amount) / current) * window


class SharedState(ABC):
    """Async, atomic operations on keys. Keys are str, values bytes or numbers; a `ttl` (seconds) makes a
    key expire that long after it was created (counters) or written (values)."""

    kind: str = ""

    async def start(self) -> None:
        """Connect / load (idempotent)."""

    async def close(self) -> None:
        """Persist what must survive and release connections."""

    # -- counters ---------------------------------------------------------------------------------------

    @abstractmethod
    async def incr(self, key: str, amount: float = 1.0, *, ttl: float | None = None) -> float:
        """Add `amount` to the number at `key` (0 when absent) and return the new value."""

    @abstractmethod
    async def number(self, key: str) -> float:
        """The number at `key` (0.0 when absent or expired)."""

    @abstractmethod
    async def window_take(
        self, key: str, amount: float, *, window: float, limit: float | None = None, now: float | None = None
    ) -> WindowCount:
        """Add `amount` to the sliding window at `key` if the window's total stays <= `limit` (always, when no
        limit): check and add are one atomic step."""

    async def window_take_all(
        self, takes: Sequence[tuple[str, float, float | None]], *, window: float, now: float | None = None
    ) -> list[WindowCount]:
        """Several `(key, amount, limit)` takes on windows of the same length, all or none: each amount is
        added only if every one fits. Each result's `allowed` is the verdict for all; `retry_after` is how
        long that take alone has to wait (0.0 when it fits). This default is not atomic across awaits;
        the stores override it."""
        t = now if now is not None else clock()
        totals = [await self.window_total(key, window=window, now=t) for key, _, _ in takes]
        fits = [lim is None or total + amount <= lim for (_, amount, lim), total in zip(takes, totals)]
        if not all(fits):
            return [WindowCount(False, total, 0.0 if ok else window) for total, ok in zip(totals, fits)]
        return [await self.window_take(key, amount, window=window, now=t) for key, amount, _ in takes]

    @abstractmethod
    async def window_total(self, key: str, *, window: float, now: float | None = None) -> float:
        """The sliding window's total now."""

    # -- values -----------------------------------------------------------------------------------------

    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(k) for k in keys]

    @abstractmethod
    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store `value`; with `only_if_absent`, only when the key does not exist (returns whether it stored)."""

    @abstractmethod
    async def delete(self, *keys: str) -> int:
        """Remove keys; returns how many existed."""

    @abstractmethod
    async def scan(self, prefix: str) -> list[str]:
        """Every live key starting with `prefix` (for small key families: per-replica stats, one tenant's
        entries; not for a hot path)."""


def clock() -> float:
    """Wall-clock seconds: windows and TTLs must agree across hosts, so not a monotonic clock."""
    return time.time()

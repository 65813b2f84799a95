"""The state gateway replicas share: counters, sliding windows and values with a time to live.

One small async interface, two stores behind it (`pointsman.state.open_state`):
- `EmbeddedState`: in this process (optionally persisted to SQLite), the default for one replica;
- `RedisState` (scale-out): one Redis shared by every replica and host.
What is built on it (rate limits, budgets, breakers, bandit statistics, cache entries) names its keys under
its own prefix (`limit:`, `spend:`, `breaker:`, `bandit:`, `cache:`) and decides what an outage means for it
(`StateUnavailable`): fail open, fail closed, or fall back to local state.

Sliding windows are sliding window counters (Cloudflare's, with finer buckets): a window of `window` seconds is
`SLOTS` buckets of `window / SLOTS` seconds plus the bucket that is leaving it, weighted by how much of it the
window still covers. With 12 buckets a limit holds within about 2% in any `window` seconds, even for a burst
after a quiet spell (with two buckets, the common approximation, the overshoot can reach 40%). Each store does
a take atomically, so a limit holds across replicas.
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


SLOTS = 12  # buckets per window


def window_slots(now: float, window: float) -> tuple[int, float]:
    """The current bucket's index and the share of the oldest bucket (index - SLOTS) the window still covers."""
    size = window / SLOTS
    index = math.floor(now / size)
    return index, 1.0 - (now / size - index)


def window_keys(key: str, index: int) -> list[str]:
    """The window's bucket keys, oldest (leaving the window) first, the current bucket last."""
    return [f"{key}#{i}" for i in range(index - SLOTS, index + 1)]


def window_sum(counts: Sequence[float], weight: float) -> float:
    """The window's total: the oldest bucket weighted, the others whole."""
    return counts[0] * weight + sum(counts[1:])


def window_ttl(window: float) -> float:
    """How long a bucket key must live: until it has left the window."""
    return window + 2 * window / SLOTS


def window_retry_after(
    counts: Sequence[float], weight: float, amount: float, limit: float, window: float
) -> float:
    """Seconds until `amount` fits: the oldest bucket's weight falls linearly to 0 over the current bucket,
    then every bucket moves one place older (and a fresh, empty one starts)."""
    size = window / SLOTS
    counts = list(counts)
    waited = 0.0
    for _ in range(SLOTS + 1):
        room = limit - amount - sum(counts[1:])
        if room >= 0:
            if counts[0] <= 0 or counts[0] * weight <= room:
                return waited
            return waited + (weight - room / counts[0]) * size
        waited += weight * size  # to the next bucket boundary
        counts, weight = [*counts[1:], 0.0], 1.0
    return waited  # only an amount above the limit itself gets here: the window is empty by then


def window_verdicts(
    takes: Sequence[tuple[str, float, float | None]],
    counts: Sequence[Sequence[float]],
    weight: float,
    window: float,
    allowed: bool | None = None,
) -> list[WindowCount]:
    """The results of an all-or-none take, from each window's bucket counts before it (`allowed`: the store's
    verdict, when it decided atomically itself)."""
    totals = [window_sum(c, weight) for c in counts]
    fits = [lim is None or total + amount <= lim for (_, amount, lim), total in zip(takes, totals)]
    ok = all(fits) if allowed is None else allowed
    out = []
    for (_, amount, lim), c, total, fit in zip(takes, counts, totals, fits):
        if ok:
            out.append(WindowCount(True, total + amount, 0.0))
        else:
            wait = 0.0 if fit or lim is None else window_retry_after(c, weight, amount, lim, window)
            out.append(WindowCount(False, total, wait))
    return out


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

    async def incr_many(self, items: Sequence[tuple[str, float, float | None]]) -> None:
        """`incr(key, amount, ttl=ttl)` for each item (one round trip where the store can; not atomic)."""
        for key, amount, ttl in items:
            await self.incr(key, amount, ttl=ttl)

    @abstractmethod
    async def number(self, key: str) -> float:
        """The number at `key` (0.0 when absent or expired)."""

    async def window_take(
        self, key: str, amount: float, *, window: float, limit: float | None = None, now: float | None = None
    ) -> WindowCount:
        """Add `amount` to the sliding window at `key` if the window's total stays <= `limit` (always, when no
        limit): check and add are one atomic step."""
        return (await self.window_take_all([(key, amount, limit)], window=window, now=now))[0]

    @abstractmethod
    async def window_take_all(
        self, takes: Sequence[tuple[str, float, float | None]], *, window: float, now: float | None = None
    ) -> list[WindowCount]:
        """Several `(key, amount, limit)` takes on windows of the same length, all or none, as one atomic
        step: each amount is added only if every one fits. Each result's `allowed` is the verdict for all;
        `retry_after` is how long that take alone has to wait (0.0 when it fits)."""

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

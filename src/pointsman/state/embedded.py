"""Shared state in this process: a dict with expiry, optionally persisted to an SQLite file.

The default for one replica. Operations never wait on I/O: writes mark keys dirty and a background task
writes them to SQLite every `flush_interval` seconds (and at close), so spend, budgets and bandit statistics
survive a restart without the request path paying for a disk write. Sliding-window buckets (rate limits,
gone within 70 s) are not persisted. Not shared between processes: several
workers or hosts need `kind: redis`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from pointsman.background import cancel_task
from pointsman.state.base import (
    SharedState,
    WindowCount,
    clock,
    window_keys,
    window_slots,
    window_sum,
    window_ttl,
    window_verdicts,
)

log = logging.getLogger("pointsman.state")

SWEEP_EVERY = 4096  # writes between sweeps of expired keys
_SCHEMA = "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB, number REAL, expires REAL)"


class EmbeddedState(SharedState):
    kind = "embedded"

    def __init__(self, path: str | Path | None = None, *, flush_interval: float = 1.0) -> None:
        self.path = Path(path) if path is not None else None
        self.flush_interval = flush_interval
        self._values: dict[str, bytes | float] = {}
        self._expires: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._flusher: asyncio.Task | None = None
        self._loaded = False
        self._puts = 0

    async def start(self) -> None:
        if self.path is not None and not self._loaded:
            await asyncio.to_thread(self._load)
            if self._flusher is None:
                self._flusher = asyncio.create_task(self._flush_forever())
        self._loaded = True

    async def close(self) -> None:
        await cancel_task(self._flusher)
        self._flusher = None
        if self.path is not None:
            await asyncio.to_thread(self._write, *self._take_dirty())

    # -- the store, synchronous inside (one event loop owns it) -------------------------------------------

    def _live(self, key: str, t: float) -> bool:
        expires = self._expires.get(key)
        if expires is not None and expires <= t:
            self._values.pop(key, None)
            del self._expires[key]
            self._dirty.add(key)
            return False
        return key in self._values

    def _sweep(self, t: float) -> None:
        """Drop expired keys nobody reads again (per-client limit windows): memory stays flat."""
        for key in [k for k, e in self._expires.items() if e <= t]:
            self._live(key, t)

    def _put(self, key: str, value: bytes | float, ttl: float | None, t: float, *, keep_expiry: bool) -> None:
        self._puts += 1
        if self._puts % SWEEP_EVERY == 0:
            self._sweep(t)
        fresh = key not in self._values
        self._values[key] = value
        if ttl is not None and (fresh or not keep_expiry):
            self._expires[key] = t + ttl
        elif ttl is None and not keep_expiry:
            self._expires.pop(key, None)
        self._dirty.add(key)

    def _num(self, key: str, t: float) -> float:
        if not self._live(key, t):
            return 0.0
        v = self._values[key]
        return v if isinstance(v, float) else 0.0

    # -- counters ---------------------------------------------------------------------------------------

    async def incr(self, key: str, amount: float = 1.0, *, ttl: float | None = None) -> float:
        t = clock()
        value = self._num(key, t) + float(amount)
        self._put(key, value, ttl, t, keep_expiry=True)
        return value

    async def number(self, key: str) -> float:
        return self._num(key, clock())

    async def window_take_all(
        self, takes: Sequence[tuple[str, float, float | None]], *, window: float, now: float | None = None
    ) -> list[WindowCount]:
        t = now if now is not None else clock()
        index, weight = window_slots(t, window)
        counts = [[self._num(k, t) for k in window_keys(key, index)] for key, _, _ in takes]
        out = window_verdicts(takes, counts, weight, window)
        if out and out[0].allowed:
            ttl = window_ttl(window)
            for (key, amount, _), c in zip(takes, counts):
                bucket = f"{key}#{index}"
                self._put(bucket, c[-1] + float(amount), ttl, t, keep_expiry=True)
                self._dirty.discard(bucket)  # gone in 70 s: not worth a disk write
        return out

    async def window_total(self, key: str, *, window: float, now: float | None = None) -> float:
        t = now if now is not None else clock()
        index, weight = window_slots(t, window)
        return window_sum([self._num(k, t) for k in window_keys(key, index)], weight)

    # -- values -----------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        if not self._live(key, clock()):
            return None
        v = self._values[key]
        return v if isinstance(v, bytes) else None

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        t = clock()
        if only_if_absent and self._live(key, t):
            return False
        self._put(key, bytes(value), ttl, t, keep_expiry=False)
        return True

    async def delete(self, *keys: str) -> int:
        t = clock()
        found = 0
        for key in keys:
            if self._live(key, t):
                found += 1
                del self._values[key]
                self._expires.pop(key, None)
                self._dirty.add(key)
        return found

    async def scan(self, prefix: str) -> list[str]:
        t = clock()
        return [k for k in list(self._values) if k.startswith(prefix) and self._live(k, t)]

    # -- persistence ------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(_SCHEMA)
        return db

    def _load(self) -> None:
        t = clock()
        db = self._connect()
        try:
            rows = db.execute("SELECT key, value, number, expires FROM state").fetchall()
        finally:
            db.close()
        for key, value, number, expires in rows:
            if expires is not None and expires <= t:
                continue
            self._values[key] = bytes(value) if value is not None else float(number)
            if expires is not None:
                self._expires[key] = expires

    def _take_dirty(self) -> tuple[list[tuple], list[tuple], set[str]]:
        """What changed since the last write, as rows (on the event loop, so nothing changes meanwhile)."""
        dirty, self._dirty = self._dirty, set()
        upserts, deletes = [], []
        for key in dirty:
            value = self._values.get(key)
            if value is None:
                deletes.append((key,))
            elif isinstance(value, bytes):
                upserts.append((key, value, None, self._expires.get(key)))
            else:
                upserts.append((key, None, value, self._expires.get(key)))
        return upserts, deletes, dirty

    def _write(self, upserts: list[tuple], deletes: list[tuple], dirty: set[str]) -> None:
        """Persist the rows (in a worker thread)."""
        if not dirty:
            return
        try:
            db = self._connect()
            try:
                with db:
                    db.execute("BEGIN")
                    db.executemany("DELETE FROM state WHERE key = ?", deletes)
                    db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)", upserts)
            finally:
                db.close()
        except sqlite3.Error:
            self._dirty |= dirty  # written again next time (the latest values then)
            log.exception("state: could not persist %d keys to %s", len(dirty), self.path)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await asyncio.to_thread(self._write, *self._take_dirty())

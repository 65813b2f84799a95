"""Shared state in Redis: one store for every replica and host (`state: {kind: redis, url: ...}`).

Counters are Redis strings changed with INCRBYFLOAT; a counter's TTL is set when the key is created (a Lua
script does both, so a crash between them cannot leave a counter that never expires: the RAM growth LiteLLM's
users report). A sliding-window take reads both buckets, compares and adds in one Lua script, so N replicas
share one limit exactly. Values are plain strings (SET with PX / NX). Every key gets `prefix`, so several
gateways (or tests) can share one Redis.

Timeouts are short on purpose: a request must not wait seconds for a store that is down. Any connection,
timeout or protocol failure raises `StateUnavailable`; the feature using the state decides what that means.
redis-py reloads a script by itself when a restarted server no longer has it (NOSCRIPT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from redis import asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.asyncio.retry import Retry

from pointsman.state.base import (
    SLOTS,
    SharedState,
    StateUnavailable,
    WindowCount,
    clock,
    window_keys,
    window_slots,
    window_sum,
    window_ttl,
    window_verdicts,
)

# KEYS[1] counter; ARGV[1] amount, ARGV[2] ttl in ms ('' none). The TTL counts from creation.
_INCR = """
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if fresh and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""

# Takes on sliding windows, all or none. KEYS: each window's buckets, oldest first, ARGV[3] of them per window;
# ARGV[1] the oldest bucket's weight, ARGV[2] a bucket's ttl in ms, then amount and limit ('' none) of each
# take. Returns {allowed, then every bucket's count before the take} (numbers as strings: Redis would truncate
# Lua numbers to integers). A non-numeric value counts as 0.
_WINDOW_TAKE = """
local w, per = tonumber(ARGV[1]), tonumber(ARGV[3])
local n = #KEYS / per
local counts, ok = {}, 1
for i = 1, n do
  local total = 0
  for j = 1, per do
    local c = tonumber(redis.call('GET', KEYS[(i - 1) * per + j]) or '0') or 0
    counts[(i - 1) * per + j] = c
    if j == 1 then total = total + c * w else total = total + c end
  end
  local limit = ARGV[3 + 2 * i]
  if limit ~= '' and total + tonumber(ARGV[2 + 2 * i]) > tonumber(limit) then ok = 0 end
end
local out = {ok}
for i = 1, n do
  if ok == 1 then
    local key = KEYS[i * per]
    local fresh = redis.call('EXISTS', key) == 0
    redis.call('INCRBYFLOAT', key, ARGV[2 + 2 * i])
    if fresh then redis.call('PEXPIRE', key, ARGV[2]) end
  end
end
for k = 1, #KEYS do out[#out + 1] = string.format('%.17g', counts[k]) end
return out
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _float(raw: Any) -> float:
    try:
        return float(raw) if raw is not None else 0.0
    except (TypeError, ValueError):  # a value, not a counter
        return 0.0


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisState(SharedState):
    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pointsman:",
        timeout: float = 0.25,
        connect_timeout: float = 0.5,
        max_connections: int = 64,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
            max_connections=max_connections,
            retry=Retry(NoBackoff(), 0),  # no retries: an outage answers at once, the feature decides
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._incr = self._client.register_script(_INCR)
        self._take = self._client.register_script(_WINDOW_TAKE)

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def start(self) -> None:
        """Checks that Redis answers; a gateway may still start while it does not (features fall back)."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise StateUnavailable(f"redis at {self.url} did not answer: {exc}") from None

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except (RedisError, OSError) as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}: {exc}") from None

    # -- counters ---------------------------------------------------------------------------------------

    async def incr(self, key: str, amount: float = 1.0, *, ttl: float | None = None) -> float:
        ttl_ms = str(_ms(ttl)) if ttl is not None else ""
        return _float(await self._call(self._incr(keys=[self._k(key)], args=[repr(float(amount)), ttl_ms])))

    async def incr_many(self, items: Sequence[tuple[str, float, float | None]]) -> None:
        if not items:
            return

        async def run() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, amount, ttl in items:
                    ttl_ms = str(_ms(ttl)) if ttl is not None else ""
                    await self._incr(keys=[self._k(key)], args=[repr(float(amount)), ttl_ms], client=pipe)
                await pipe.execute()

        await self._call(run())

    async def number(self, key: str) -> float:
        return _float(await self._call(self._client.get(self._k(key))))

    async def window_take_all(
        self, takes: Sequence[tuple[str, float, float | None]], *, window: float, now: float | None = None
    ) -> list[WindowCount]:
        if not takes:
            return []
        t = now if now is not None else clock()
        index, weight = window_slots(t, window)
        per = SLOTS + 1
        keys: list[str] = []
        args = [repr(weight), str(_ms(window_ttl(window))), str(per)]
        for key, amount, limit in takes:
            keys += [self._k(k) for k in window_keys(key, index)]
            args += [repr(float(amount)), repr(float(limit)) if limit is not None else ""]
        allowed, *numbers = await self._call(self._take(keys=keys, args=args))
        values = [float(x) for x in numbers]
        counts = [values[i * per : (i + 1) * per] for i in range(len(takes))]
        return window_verdicts(takes, counts, weight, window, allowed=bool(allowed))

    async def window_total(self, key: str, *, window: float, now: float | None = None) -> float:
        t = now if now is not None else clock()
        index, weight = window_slots(t, window)
        counts = await self._call(self._client.mget([self._k(k) for k in window_keys(key, index)]))
        return window_sum([_float(c) for c in counts], weight)

    # -- values -----------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return await self._call(self._client.get(self._k(key)))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return list(await self._call(self._client.mget([self._k(k) for k in keys])))

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = _ms(ttl) if ttl is not None else None
        done = await self._call(self._client.set(self._k(key), bytes(value), px=px, nx=only_if_absent))
        return bool(done)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._call(self._client.delete(*(self._k(k) for k in keys))))

    async def scan(self, prefix: str) -> list[str]:
        match = _glob_escape(self._k(prefix)) + "*"
        cut = len(self.prefix)

        async def keys() -> list[str]:
            return [k.decode()[cut:] async for k in self._client.scan_iter(match=match, count=500)]

        return await self._call(keys())

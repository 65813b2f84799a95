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
from redis.retry import Retry

from pointsman.state.base import (
    SharedState,
    StateUnavailable,
    WindowCount,
    clock,
    window_buckets,
    window_retry_after,
)

# KEYS[1] counter; ARGV[1] amount, ARGV[2] ttl in ms ('' none). The TTL counts from creation.
_INCR = """
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if fresh and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""

# Takes on sliding windows, all or none. KEYS: previous and current bucket of each window, in pairs; ARGV[1]
# the previous buckets' weight, ARGV[2] a bucket's ttl in ms, then amount and limit ('' none) of each take.
# Returns {allowed, previous 1, current 1, previous 2, ...} (numbers as strings: Redis would truncate Lua
# numbers to integers). A non-numeric value counts as 0.
_WINDOW_TAKE = """
local n = #KEYS / 2
local w = tonumber(ARGV[1])
local prev, cur, ok = {}, {}, 1
for i = 1, n do
  prev[i] = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') or 0
  cur[i] = tonumber(redis.call('GET', KEYS[2 * i]) or '0') or 0
  local limit = ARGV[2 + 2 * i]
  if limit ~= '' and prev[i] * w + cur[i] + tonumber(ARGV[1 + 2 * i]) > tonumber(limit) then ok = 0 end
end
local out = {ok}
for i = 1, n do
  if ok == 1 then
    local fresh = redis.call('EXISTS', KEYS[2 * i]) == 0
    redis.call('INCRBYFLOAT', KEYS[2 * i], ARGV[1 + 2 * i])
    if fresh then redis.call('PEXPIRE', KEYS[2 * i], ARGV[2]) end
  end
  out[#out + 1] = string.format('%.17g', prev[i])
  out[#out + 1] = string.format('%.17g', cur[i])
end
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

    async def number(self, key: str) -> float:
        return _float(await self._call(self._client.get(self._k(key))))

    async def window_take(
        self, key: str, amount: float, *, window: float, limit: float | None = None, now: float | None = None
    ) -> WindowCount:
        return (await self.window_take_all([(key, amount, limit)], window=window, now=now))[0]

    async def window_take_all(
        self, takes: Sequence[tuple[str, float, float | None]], *, window: float, now: float | None = None
    ) -> list[WindowCount]:
        t = now if now is not None else clock()
        index, weight = window_buckets(t, window)
        keys, args = [], [repr(weight), str(_ms(2 * window))]
        for key, amount, limit in takes:
            keys += [self._k(f"{key}#{index - 1}"), self._k(f"{key}#{index}")]
            args += [repr(float(amount)), repr(float(limit)) if limit is not None else ""]
        allowed, *numbers = await self._call(self._take(keys=keys, args=args))
        out = []
        for (_, amount, limit), previous, current in zip(
            takes, map(float, numbers[::2]), map(float, numbers[1::2])
        ):
            total = previous * weight + current
            if allowed:
                out.append(WindowCount(True, total + amount, 0.0))
            elif limit is None or total + amount <= limit:
                out.append(WindowCount(False, total, 0.0))
            else:
                out.append(
                    WindowCount(False, total, window_retry_after(previous, current, amount, limit, t, window))
                )
        return out

    async def window_total(self, key: str, *, window: float, now: float | None = None) -> float:
        t = now if now is not None else clock()
        index, weight = window_buckets(t, window)
        previous, current = await self._call(
            self._client.mget([self._k(f"{key}#{index - 1}"), self._k(f"{key}#{index}")])
        )
        return _float(previous) * weight + _float(current)

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

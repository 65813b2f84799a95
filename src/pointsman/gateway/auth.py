"""API keys (stored as SHA-256 hashes, each mapping to a tenant) and per-key requests-per-minute limits.

Keys are random tokens of high entropy, so a plain SHA-256 (not a slow password hash) is the right digest:
it cannot be brute-forced and costs a microsecond per request.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass

from pointsman.config.gateway import AuthConfig, LimitsConfig
from pointsman.gateway.errors import APIError

KEY_PREFIX = "pm-"
# Rate-limit buckets kept before idle ones are dropped (client addresses when auth is off).
MAX_BUCKETS = 10_000


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh API key and its SHA-256 (what goes in the config)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id and tenant (None when auth is off), and what its limit is keyed on.
    `admin`: may read the operator endpoints (every caller is, when auth is off)."""

    key_id: str | None
    tenant: str | None
    limit_key: str
    rpm: int | None
    admin: bool = False  # the console shows this key every tenant's decisions


class TokenBucket:
    """`rate` requests per minute with bursts up to `rate`; `take()` returns 0, or seconds until allowed."""

    __slots__ = ("capacity", "per_second", "tokens", "stamp")

    def __init__(self, rate: int, now: float | None = None) -> None:
        self.capacity = float(rate)
        self.per_second = rate / 60.0
        self.tokens = float(rate)
        self.stamp = time.monotonic() if now is None else now

    def take(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second


class Gatekeeper:
    """Authenticates a request's bearer key and applies its requests-per-minute limit."""

    def __init__(self, auth: AuthConfig, limits: LimitsConfig) -> None:
        self.enabled = auth.enabled
        self.default_rpm = limits.requests_per_minute
        self._keys = {
            k.sha256: Principal(
                k.id, k.tenant, f"key:{k.id}", k.requests_per_minute or self.default_rpm, k.admin
            )
            for k in auth.keys
        }
        self.public = frozenset(auth.public_endpoints)
        self._buckets: dict[str, TokenBucket] = {}

    def admit(self, authorization: str | None, client: str | None) -> Principal:
        """The caller, or APIError 401 (bad/missing key) / 429 (over the limit, with Retry-After)."""
        principal = self.authenticate(authorization, client)
        if principal.rpm is not None:
            self.limit(principal)
        return principal

    def authenticate(self, authorization: str | None, client: str | None = None) -> Principal:
        if not self.enabled:
            return Principal(None, None, f"client:{client}", self.default_rpm, admin=True)
        if not authorization:
            raise APIError(401, "Missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise APIError(
                401, "Malformed Authorization header: expected 'Bearer <key>'", code="invalid_api_key"
            )
        principal = self._keys.get(hash_key(key.strip()))
        if principal is None:
            raise APIError(401, "Incorrect API key provided", code="invalid_api_key")
        return principal

    def admin(self, authorization: str | None) -> Principal:
        """The caller if its key is an admin key (any caller when auth is off); APIError 401 / 403."""
        principal = self.authenticate(authorization)
        if not principal.admin:
            raise APIError(
                403, f"The key '{principal.key_id}' is not an admin key (auth.keys[].admin)", code="not_admin"
            )
        return principal

    def endpoint(self, name: str, authorization: str | None, *, admin: bool) -> None:
        """Let a request to endpoint `name` (an `auth.public_endpoints` name) through, or raise APIError:
        public endpoints need nothing, the others a valid key, an admin key when `admin`."""
        if name in self.public:
            return
        if admin:
            self.admin(authorization)
        else:
            self.authenticate(authorization)

    def _prune(self, now: float) -> None:
        # Buckets idle for a minute are full again: forgetting them changes nothing.
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.stamp < 60.0}

    def limit(self, principal: Principal) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(principal.limit_key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now)
            # Stamped `now`, not later: a full bucket must not start a hair short of its first token.
            bucket = self._buckets[principal.limit_key] = TokenBucket(principal.rpm or 0, now)
        wait = bucket.take(now)
        if wait:
            retry = max(1, math.ceil(wait))
            raise APIError(
                429,
                f"Rate limit reached: {principal.rpm} requests per minute"
                + (f" for key '{principal.key_id}'" if principal.key_id else "")
                + f"; retry in {retry} s",
                code="rate_limit_exceeded",
                headers={"retry-after": str(retry)},
            )

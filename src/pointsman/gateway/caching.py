"""The response cache on the request path: what the gateway asks it, and when.

1. Before the decision (after auth and the rate limit): the exact level, one lookup by fingerprint. An entry
   exists only for a request the policy once let through unguarded, with the same text, parameters, tools
   and the same policy-read headers, so serving it needs no signals.
2. After the decision: the category (decision name, or `cache.category_signal`), whether the request may use
   the cache (category cacheable; not redacted; tools, temperature, time-sensitive prompts per category),
   then the semantic level in the request's partition, with the request embedding (the one signals computed,
   or computed now).
3. After a complete answer (never a blocked, redacted, failed or filtered one, never under `no-store`): store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from pointsman.cache.control import BadCacheControl, Directives, parse_cache_control
from pointsman.cache.entry import Entry
from pointsman.cache.fingerprint import Fingerprints, fingerprints
from pointsman.cache.replay import StreamAssembler
from pointsman.cache.service import Hit, ResponseCache, Rule, scope_of
from pointsman.cache.tuning import Threshold
from pointsman.config.cache import CacheConfig
from pointsman.gateway.errors import bad_request
from pointsman.state import EmbeddedState, SharedState, StateUnavailable

log = logging.getLogger("pointsman.cache")

STORABLE_FINISH = frozenset({"stop", "length", "tool_calls", "function_call"})
# Questions about the present: their answers go stale the moment they are given.
_TIME_SENSITIVE = re.compile(
    r"\b(today|tonight|tomorrow|yesterday|now|right now|currently|current|latest|recent(ly)?|this (week|"
    r"month|year|morning|evening)|breaking|weather|forecast|stock price|score of|news|what time|"
    r"what day|what date|heute|aujourd'hui|hoy)\b",
    re.IGNORECASE,
)


def time_sensitive(text: str) -> bool:
    return bool(_TIME_SENSITIVE.search(text))


@dataclass(slots=True)
class CacheTicket:
    """One request's dealings with the cache (on `Exchange.cache`)."""

    directives: Directives
    scope: str
    fps: Fingerprints
    result: str = "miss"  # hit | miss | bypass
    reason: str | None = None  # why bypassed
    hit: Hit | None = None
    rule: Rule | None = None
    write: bool = True
    assembler: StreamAssembler | None = None
    stored: str | None = None  # the key the answer was stored under
    extra: dict = field(default_factory=dict)

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"x-pointsman-cache", self.result.encode())]
        if self.hit is not None:
            out.append((b"x-pointsman-cache-level", self.hit.level.encode()))
            out.append((b"x-pointsman-cache-similarity", f"{self.hit.similarity:.4f}".encode()))
            out.append((b"x-pointsman-cache-key", self.hit.key.encode()))
            out.append((b"age", str(int(self.hit.age)).encode()))
        elif self.write and self.result == "miss":  # where the answer will be stored
            out.append((b"x-pointsman-cache-key", f"{self.scope}:{self.fps.exact}".encode()))
        if self.reason:
            out.append((b"x-pointsman-cache-reason", self.reason.encode()))
        return out

    def annotate(self, record: Any) -> None:  # a pointsman.store.decisions.DecisionRecord
        if self.hit is not None:
            record.action = "cache"
            record.reason = f"cache hit ({self.hit.level}, similarity {self.hit.similarity:.4f})"


class GatewayCache:
    def __init__(
        self, config: CacheConfig, shared: SharedState, registry: Any, runner: Any, policy: str = ""
    ) -> None:
        self.config = config
        self.policy = policy
        if config.store == "state":
            self.cache = ResponseCache(config, shared, owns_state=False, thresholds=load_thresholds(config))
        else:
            state = EmbeddedState(config.path)
            self.cache = ResponseCache(config, state, owns_state=True, thresholds=load_thresholds(config))
        self.runner = runner
        name = config.category_signal
        if name is not None and runner is not None and name not in runner.signals:
            known = ", ".join(sorted(runner.signals))
            raise ValueError(f"cache.category_signal: no signal named {name!r} (known: {known})")
        self.lookups = Counter(
            "pointsman_cache_lookups_total",
            "Cache lookups by level and result",
            ["level", "result"],
            registry=registry,
        )
        entries = Gauge("pointsman_cache_entries", "Entries in the response cache", registry=registry)
        entries.set_function(lambda: self.cache.entries)
        size = Gauge(
            "pointsman_cache_bytes", "Bytes of cached entries (and their vectors)", registry=registry
        )
        size.set_function(lambda: self.cache.nbytes)
        self.evictions = Gauge("pointsman_cache_evictions", "Entries evicted for quota", registry=registry)
        self.evictions.set_function(lambda: self.cache.evicted)
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        await self.cache.start()

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.cache.close()

    # -- the request path -----------------------------------------------------------------------------

    async def before_route(self, ex: Any, cache_control: str | None) -> Hit | None:
        """The exact level; sets `ex.cache`."""
        try:
            directives = parse_cache_control(cache_control)
        except BadCacheControl as exc:
            raise bad_request(str(exc), param="cache-control", code="invalid_header") from None
        who = ex.principal
        scope = scope_of(who.tenant, who.key_id, self.config.scope == "key")
        ex.cache = ticket = CacheTicket(
            directives, scope, fingerprints(ex.request.body, ex.headers_in, self.policy)
        )
        ticket.write = directives.write
        if not directives.read:
            ticket.result, ticket.reason = "bypass", "no-cache"
            return None
        hit = await self._safely(self.cache.get_exact(scope, ticket.fps.exact, directives.max_age))
        if hit is not None:
            ticket.result, ticket.hit = "hit", hit
            self.lookups.labels("exact", "hit").inc()
        return hit

    async def after_route(self, ex: Any) -> Hit | None:
        """The category's rule, bypass reasons, then the semantic level."""
        ticket: CacheTicket = ex.cache
        rule = ticket.rule = self.cache.rule(await self._category(ex))
        reason = self._bypass(ex, rule)
        if reason is not None:
            ticket.result, ticket.reason, ticket.write = "bypass", reason, False
            self.lookups.labels("semantic", "bypass").inc()
            return None
        if ex.request.stream and ticket.write:
            ticket.assembler = StreamAssembler()
        if not ticket.directives.read:
            return None
        hit = None
        if self.config.semantic and rule.threshold is not None and ticket.fps.question:
            vector = await self._embedding(ex)
            if vector is not None:
                hit = await self._safely(
                    self.cache.get_semantic(
                        ticket.scope,
                        ticket.fps.context,
                        vector,
                        ticket.fps.question,
                        rule,
                        ticket.directives.max_age,
                    )
                )
        if hit is not None:
            ticket.result, ticket.hit = "hit", hit
            self.cache.served(ex.request_id, hit)
        self.lookups.labels("semantic", ticket.result).inc()
        return hit

    def _bypass(self, ex: Any, rule: Rule) -> str | None:
        if not rule.cacheable:
            return "uncacheable"
        if ex.redacted is not None:
            return "redacted"
        view, body = ex.view, ex.request.body
        if view.has_tools and not rule.tools:
            return "tools"
        temperature = body.get("temperature")
        if isinstance(temperature, (int, float)) and temperature > rule.max_temperature:
            return "temperature"
        if not rule.time_sensitive and time_sensitive(view.last_user_text):
            return "time_sensitive"
        return None

    async def _category(self, ex: Any) -> str:
        name = self.config.category_signal
        decision = ex.decision
        if name is not None:
            result = decision.signals.get(name)
            if result is None:
                result = (await self.runner.arun(ex.view, [name])).get(name)
            if result is not None and result.ok and isinstance(result.value, str):
                return result.value
        return decision.name

    async def _embedding(self, ex: Any) -> Any:
        view = ex.view
        if view.embedding is not None:
            return view.embedding
        try:
            return await asyncio.to_thread(view.ensure_embedding, self.runner.encoder())
        except Exception as exc:  # noqa: BLE001 -- the cache must never fail a request
            log.warning("cache: no embedding for request %s: %s", ex.request_id, exc)
            return None

    async def store(self, ex: Any, response: dict) -> None:
        """Keep a complete answer (after the client has it)."""
        ticket: CacheTicket | None = ex.cache
        if ticket is None or ticket.hit is not None or not ticket.write or ticket.rule is None:
            return
        if ex.redacted is not None or ex.status != 200 or ex.error_code is not None or ex.answer_edited:
            return
        choices = response.get("choices")
        if not choices or not all(c.get("finish_reason") in STORABLE_FINISH for c in choices):
            return  # no answer, a content filter's, or a stream that never finished
        if ex.served:
            response = {**response, "model": ex.served}
        who, now = ex.principal, ex.arrived
        rule = ticket.rule
        view = ex.view
        entry = Entry(
            response,
            ex.served or str(response.get("model")),
            rule.category,
            now,
            now + rule.ttl,
            who.tenant,
            who.key_id,
            ticket.fps.question,
            f"{ticket.scope}:{ticket.fps.context}",
            view.embedding if view is not None and self.config.semantic else None,
        )
        try:
            ticket.stored = await self.cache.put(ticket.scope, ticket.fps.exact, entry, rule)
        except StateUnavailable as exc:
            log.warning("cache: could not store request %s: %s", ex.request_id, exc)

    async def _safely(self, lookup: Any) -> Hit | None:
        """A lookup whose store is down is a miss, never a failed request."""
        try:
            return await lookup
        except StateUnavailable as exc:
            log.warning("cache: lookup failed: %s", exc)
            return None

    # -- feedback -------------------------------------------------------------------------------------

    def feedback(self, request_id: str, score: float) -> None:
        """Feedback on a request (explicit, or a re-ask of it): online tuning of semantic hits."""
        task = asyncio.get_running_loop().create_task(self.cache.feedback(request_id, score))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def policy_id(config: Any) -> str:  # a GatewayConfig
    """An id of what decides a request (rules, signals, profiles, fallbacks): a changed policy finds none of
    the entries stored under the old one, at either level (they age out by TTL and LRU)."""
    parts = [config.rules, config.profiles, config.fallbacks]
    text = json.dumps(
        [[m.model_dump(mode="json") for m in p] if isinstance(p, list) else p for p in parts]
        + [config.signals],
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def load_thresholds(config: CacheConfig) -> dict[str, Threshold]:
    """The per-category thresholds `pointsman cache tune --out` wrote (none when not configured)."""
    if config.thresholds is None:
        return {}
    path = Path(config.thresholds)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {c: Threshold.from_dict(t) for c, t in data["categories"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cache.thresholds: cannot read {path}: {exc}") from None

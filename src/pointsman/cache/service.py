"""The response cache: entries in a `SharedState`, the semantic index beside them, eviction, invalidation.

Keys: `cache:x:{scope}:{exact fingerprint}`, one entry per stored answer; the scope (`{tenant}.{key}`, both
hashed; the key part is `-` when a tenant's keys share entries) is in every key and every partition, so no
lookup can reach another tenant's entries. The exact level is one `get`; the semantic level searches the
partition (scope + context fingerprint) in the local vector index and reads the candidates' entries, so an
entry deleted or expired elsewhere is never served, only dropped from the index.

Eviction: each category keeps at most `max_entries` (least recently used first), all entries at most
`cache.max_entries` and `cache.max_bytes`; the TTL is the store's. With `store: state` on Redis, replicas
share entries: exact hits at once, semantic ones after the next sync (`sync_interval`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from pointsman.background import cancel_task
from pointsman.cache.entry import BadEntry, Entry
from pointsman.cache.index import VectorIndex
from pointsman.cache.overlap import overlap
from pointsman.cache.tuning import Threshold, lower_bound, tune
from pointsman.config.cache import BUILT_IN, CacheConfig, CategoryConfig
from pointsman.state import SharedState, StateUnavailable

log = logging.getLogger("pointsman.cache")

PREFIX = "cache:x:"
ONLINE = "cache:online:"
SWEEP_INTERVAL = 30.0
RECENT_HITS = 10_000
MAX_ONLINE = 5_000  # feedback observations kept per category


@dataclass(frozen=True, slots=True)
class Rule:
    """A category's effective policy (its own settings over `cache.default`, the tuned threshold)."""

    category: str
    cacheable: bool
    ttl: float
    max_entries: int
    threshold: float | None
    min_overlap: float
    tools: bool
    max_temperature: float
    time_sensitive: bool


@dataclass(frozen=True, slots=True)
class Hit:
    key: str  # the public key: `{scope}:{fingerprint}`
    entry: Entry
    level: str  # exact | semantic
    similarity: float
    overlap: float

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.entry.created)


@dataclass(slots=True)
class _Meta:
    category: str
    nbytes: int
    expires: float
    partition: str


def scope_of(tenant: str | None, key_id: str | None, per_key: bool) -> str:
    tenant_part = _h("t:" + tenant) if tenant is not None else "anon"
    key_part = (_h("k:" + key_id) if key_id is not None else "anon") if per_key else "-"
    return f"{tenant_part}.{key_part}"


def _h(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


class ResponseCache:
    def __init__(
        self,
        config: CacheConfig,
        state: SharedState,
        *,
        owns_state: bool,
        thresholds: dict[str, Threshold] | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.owns_state = owns_state
        self.tuned = dict(thresholds or {})
        self.index = VectorIndex()
        self._lru: OrderedDict[str, _Meta] = OrderedDict()  # state key -> meta, least recent first
        self._by_category: dict[str, OrderedDict[str, None]] = {}
        self.nbytes = 0
        self.evicted = 0
        self._rules: dict[str, Rule] = {}
        self._online: dict[str, list[tuple[float, float, bool]]] = {}
        self._raised: dict[str, float | None] = {}  # category -> threshold raised by feedback
        self.recent_hits: OrderedDict[str, tuple[str, str, float, float]] = OrderedDict()
        self._tasks: list[asyncio.Task] = []

    # -- life -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.owns_state:
            await self.state.start()
        await self.load()
        await self._load_online()
        self._tasks.append(asyncio.create_task(self._every(SWEEP_INTERVAL, self.sweep)))
        if not self.owns_state:
            self._tasks.append(asyncio.create_task(self._every(self.config.sync_interval, self.load)))

    async def close(self) -> None:
        for task in self._tasks:
            await cancel_task(task)
        self._tasks.clear()
        if self.owns_state:
            await self.state.close()

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except StateUnavailable as exc:
                log.warning("cache: %s", exc)
            except Exception:
                log.exception("cache: background job failed")

    async def load(self) -> None:
        """Index the stored entries this replica does not know yet; forget those gone (restart, sync)."""
        keys = set(await self.state.scan(PREFIX))
        for gone in [k for k in self._lru if k not in keys]:
            self._forget(gone)
        new = [k for k in keys if k not in self._lru]
        for i in range(0, len(new), 512):
            chunk = new[i : i + 512]
            for key, data in zip(chunk, await self.state.get_many(chunk), strict=True):
                if data is None:
                    continue
                try:
                    entry = Entry.decode(data)
                except BadEntry:
                    await self.state.delete(key)
                    continue
                self._remember(key, entry, len(data))

    # -- rules ----------------------------------------------------------------------------------------

    def rule(self, category: str) -> Rule:
        rule = self._rules.get(category)
        if rule is None:
            rule = self._rules[category] = self._make_rule(category)
        return rule

    def _make_rule(self, category: str) -> Rule:
        layers = (self.config.categories.get(category, CategoryConfig()), self.config.default, BUILT_IN)

        def pick(name: str) -> Any:
            return next((v for v in (getattr(c, name) for c in layers) if v is not None), None)

        threshold, min_overlap = pick("threshold"), pick("min_overlap")
        tuned = self.tuned.get(category) or self.tuned.get("*")
        if threshold is None and tuned is not None:
            threshold = tuned.threshold
            min_overlap = tuned.min_overlap if min_overlap is None else min_overlap
        if category in self._raised:
            raised = self._raised[category]
            threshold = None if raised is None or threshold is None else max(threshold, raised)
        return Rule(
            category,
            bool(pick("cacheable")),
            float(pick("ttl")),
            int(pick("max_entries")),
            threshold,
            float(min_overlap or 0.0),
            bool(pick("tools")),
            float(pick("max_temperature")),
            bool(pick("time_sensitive")),
        )

    # -- lookups --------------------------------------------------------------------------------------

    async def get_exact(self, scope: str, exact: str, max_age: float | None = None) -> Hit | None:
        key = f"{PREFIX}{scope}:{exact}"
        entry = await self._read(key, max_age)
        if entry is None:
            return None
        return Hit(key[len(PREFIX) :], entry, "exact", 1.0, 1.0)

    async def get_semantic(
        self,
        scope: str,
        context: str,
        vector: np.ndarray,
        question: str,
        rule: Rule,
        max_age: float | None = None,
    ) -> Hit | None:
        """The most similar cached question of this partition, if it passes the category's rule."""
        if rule.threshold is None:
            return None
        partition = f"{scope}:{context}"
        for n in self.index.search(partition, vector, k=4):
            if n.similarity < rule.threshold:
                break
            entry = await self._read(n.key, max_age)
            if entry is None:
                continue
            if entry.category != rule.category:
                continue
            ovl = overlap(question, entry.question)
            if ovl < rule.min_overlap:
                continue
            return Hit(n.key[len(PREFIX) :], entry, "semantic", n.similarity, ovl)
        return None

    async def _read(self, key: str, max_age: float | None) -> Entry | None:
        data = await self.state.get(key)
        if data is None:
            if key in self._lru:
                self._forget(key)
            return None
        try:
            entry = Entry.decode(data)
        except BadEntry:
            await self.state.delete(key)
            self._forget(key)
            return None
        now = time.time()
        if entry.expires <= now:
            return None
        if max_age is not None and now - entry.created > max_age:
            return None
        meta = self._lru.get(key)
        if meta is None:  # written by another replica since the last sync
            self._remember(key, entry, len(data))
        else:
            self._touch(key, meta)
        return entry

    # -- storing --------------------------------------------------------------------------------------

    async def put(self, scope: str, exact: str, entry: Entry, rule: Rule) -> str:
        """Store an answer (replacing one with the same fingerprint); returns its public key."""
        key = f"{PREFIX}{scope}:{exact}"
        data = entry.encode()
        await self.state.set(key, data, ttl=rule.ttl)
        self._remember(key, entry, len(data))
        await self._evict(entry.category, rule.max_entries)
        return key[len(PREFIX) :]

    def _remember(self, key: str, entry: Entry, nbytes: int) -> None:
        if key in self._lru:
            self._forget(key)
        size = nbytes + (4 * entry.vector.shape[0] if entry.vector is not None else 0)
        self._lru[key] = _Meta(entry.category, size, entry.expires, entry.context)
        self._by_category.setdefault(entry.category, OrderedDict())[key] = None
        self.nbytes += size
        if entry.vector is not None:
            try:
                self.index.add(entry.context, key, entry.vector)
            except ValueError as exc:  # another encoder's vectors: exact hits only for this entry
                log.warning("cache: entry %s not indexed: %s", key, exc)

    def _touch(self, key: str, meta: _Meta) -> None:
        self._lru.move_to_end(key)
        self._by_category[meta.category].move_to_end(key)

    def _forget(self, key: str) -> None:
        meta = self._lru.pop(key, None)
        if meta is None:
            return
        self.nbytes -= meta.nbytes
        cat = self._by_category.get(meta.category)
        if cat is not None:
            cat.pop(key, None)
            if not cat:
                del self._by_category[meta.category]
        self.index.remove(key)

    async def _evict(self, category: str, quota: int) -> None:
        victims = []
        cat = self._by_category.get(category)
        while cat and len(cat) > quota:
            victim = next(iter(cat))
            victims.append(victim)
            self._forget(victim)
            cat = self._by_category.get(category)
        cfg = self.config
        while self._lru and (len(self._lru) > cfg.max_entries or self.nbytes > cfg.max_bytes):
            victim = next(iter(self._lru))
            victims.append(victim)
            self._forget(victim)
        if victims:
            self.evicted += len(victims)
            await self.state.delete(*victims)

    async def sweep(self) -> None:
        """Forget expired entries (the store drops them itself; this frees the index and the quota)."""
        now = time.time()
        for key in [k for k, m in self._lru.items() if m.expires <= now]:
            self._forget(key)

    @property
    def entries(self) -> int:
        return len(self._lru)

    # -- invalidation ---------------------------------------------------------------------------------

    async def invalidate(
        self,
        *,
        key: str | None = None,
        tenant: str | None = None,
        category: str | None = None,
        everything: bool = False,
    ) -> int:
        """Delete entries by public key, by tenant (every key of it), by category, or all; returns how many."""
        if key is not None:
            keys = [PREFIX + key]
        elif tenant is not None:
            keys = await self.state.scan(f"{PREFIX}{scope_of(tenant, None, False).split('.')[0]}.")
        else:
            keys = await self.state.scan(PREFIX)
        if category is not None:
            keys = await self._of_category(keys, category)
        elif not (everything or key is not None or tenant is not None):
            return 0
        for k in keys:
            self._forget(k)
        return await self.state.delete(*keys) if keys else 0

    async def _of_category(self, keys: list[str], category: str) -> list[str]:
        out = []
        for i in range(0, len(keys), 512):
            chunk = keys[i : i + 512]
            for k, data in zip(chunk, await self.state.get_many(chunk), strict=True):
                if data is None:
                    continue
                try:
                    if Entry.decode(data).category == category:
                        out.append(k)
                except BadEntry:
                    out.append(k)
        return out

    # -- online tuning --------------------------------------------------------------------------------

    def served(self, request_id: str, hit: Hit) -> None:
        """A semantic hit was served for `request_id`: feedback on it tells whether it was right."""
        self.recent_hits[request_id] = (PREFIX + hit.key, hit.entry.category, hit.similarity, hit.overlap)
        if len(self.recent_hits) > RECENT_HITS:
            self.recent_hits.popitem(last=False)

    async def feedback(self, request_id: str, score: float) -> bool:
        """Feedback (explicit, or an implicit re-ask) on a request; True when it was a semantic hit.

        A score below 0.5 counts as a false hit: the entry is deleted (it is not served again) and the
        category's threshold rises once its observed precision is significantly below `cache.precision`."""
        seen = self.recent_hits.pop(request_id, None)
        if seen is None or not self.config.online:
            return False
        key, category, sim, ovl = seen
        right = score >= 0.5
        if not right:
            self._forget(key)
            await self.state.delete(key)
        obs = self._online.setdefault(category, [])
        obs.append((sim, ovl, right))
        del obs[:-MAX_ONLINE]
        await self.state.set(ONLINE + category, orjson.dumps(obs))
        self._retune(category)
        return True

    def _retune(self, category: str) -> None:
        """Raise the threshold to the lowest cut above which the observed hits do not contradict the target
        (the upper bound of their precision is above it)."""
        obs = self._online.get(category) or []
        self._raised.pop(category, None)
        self._rules.pop(category, None)
        base = self.rule(category).threshold
        if base is None or not obs:
            return
        sim = np.array([o[0] for o in obs])
        right = np.array([o[2] for o in obs])
        order = np.argsort(-sim)
        s, y = sim[order], right[order]
        hits = np.arange(1, len(s) + 1)
        wrong = np.cumsum(~y)
        # upper bound of precision = 1 - lower bound of the false-hit rate
        upper = 1.0 - lower_bound(wrong, hits, self.config.confidence)
        if upper[-1] >= self.config.precision:
            return  # the evidence is consistent with the target at the current threshold
        ok = np.flatnonzero(upper >= self.config.precision)
        raised = float(np.nextafter(s[ok[-1] + 1], 2.0)) if len(ok) and ok[-1] + 1 < len(s) else None
        if raised is None and len(ok) == 0:
            raised = float(np.nextafter(s[0], 2.0))
        self._raised[category] = max(base, raised) if raised is not None else None
        self._rules.pop(category, None)
        log.warning("cache: feedback raised the threshold of %s to %s", category, self._raised[category])

    async def _load_online(self) -> None:
        for key in await self.state.scan(ONLINE):
            data = await self.state.get(key)
            if data is None:
                continue
            try:
                obs = [(float(s), float(o), bool(r)) for s, o, r in orjson.loads(data)]
            except (orjson.JSONDecodeError, TypeError, ValueError):
                continue
            category = key[len(ONLINE) :]
            self._online[category] = obs
            self._retune(category)


__all__ = ["Hit", "ResponseCache", "Rule", "scope_of", "tune"]

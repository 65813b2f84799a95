"""Learning selectors: `OnlineSelector` (what they share: prior router, feedback queue, background updater,
shared state) and `BanditSelector`, a route profile's router with a contextual bandit on top.
(`learn.pheromone.PheromoneSelector` is the other one.)

On the request path (`rank`): the router predicts quality and cost (in a worker thread, as RouterSelector
does), the bandit picks from its current posterior, and the decision carries the propensity of the pick and
a context (the reduced embedding and the router's predictions) that the decision log keeps. Feedback
(`learn`, from `POST /v1/feedback` and the implicit signals) only queues (arm, features, score): a
background task applies the queue in batches every `update_interval` seconds, runs the drift detectors,
writes this replica's statistics to the shared state and sums the other replicas'. Nothing on the request
path waits for learning.

Shared state keys: `bandit:<profile>:<fingerprint>:<replica>` holds one replica's decayed sufficient
statistics (`POINTSMAN_REPLICA`, default the host name); readers sum every replica's, so replicas never
overwrite each other, and a restarted replica resumes from its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from pointsman.background import cancel_task
from pointsman.config.gateway import BanditConfig
from pointsman.learn.bandits import Bandit, Stats, arm_features
from pointsman.learn.drift import PageHinkley
from pointsman.learn.monitor import LearnMetrics
from pointsman.policy.objective import Objective, ObjectiveError
from pointsman.policy.selector import Ranking, Scored
from pointsman.signals.base import RequestView
from pointsman.state import SharedState, StateUnavailable

log = logging.getLogger("pointsman.learn")

EMBEDDING_DIM = 384
MAX_QUEUE = 100_000


class OnlineSelector:
    """What every learning selector shares: the prior router (resolved on first use), a queue of feedback
    applied by a background task every `config.update_interval` seconds, and this replica's learned state
    written to the shared state under `prefix + replica`, the other replicas' read back.

    Subclasses give `rank`, `learn` (queue, never block), `apply` (blocking, one batch), `restore` (this
    replica's saved bytes), `dump` (the bytes to save) and `merge` (the other replicas' saved bytes)."""

    kind = "online"

    def __init__(
        self, prior: Any, config: Any, candidates: Sequence[str], objective: Objective, profile: str
    ):
        self.prior, self.config, self.objective, self.profile = prior, config, objective, profile
        self.candidates = list(candidates)
        self.replica = os.environ.get("POINTSMAN_REPLICA") or socket.gethostname()
        self.prefix = ""
        self._queue: deque = deque()  # feedback waiting for the background updater
        self._state: SharedState | None = None
        self._metrics: LearnMetrics | None = None
        self._task: asyncio.Task | None = None
        self._resolved: Any = None  # the RouterSelector, once known

    def _router(self) -> Any:
        """The RouterSelector (a TrainedSelector trains or loads it on first use: blocking)."""
        if self._resolved is None:
            inner = getattr(self.prior, "selector", None)
            self._resolved = inner() if callable(inner) else self.prior
        return self._resolved

    def warm(self) -> None:
        self._router().warm()

    async def _predict(self, view: RequestView, objective: Objective | None) -> tuple[Any, Any, Objective]:
        """The router's predicted quality and cost for the candidates, and the objective in force."""
        router = self._resolved or await asyncio.to_thread(self._router)
        quality, cost = await asyncio.to_thread(router.predict, view)
        objective = objective or self.objective
        if objective.lambda_ is None:
            raise ObjectiveError(f"profile {self.profile}: a {self.kind} needs a resolved lambda objective")
        return quality, cost, objective

    def _rated(self, feedback: Any, decision: Any) -> tuple[dict, int] | None:
        """(the logged context, the arm) when `feedback` is on a choice this selector made and the queue has
        room; None otherwise."""
        ctx = decision.context
        if not ctx or ctx.get(self.kind) != self.prefix or len(self._queue) >= MAX_QUEUE:
            return None
        # An error blames the model the policy chose; any other score is about the model that answered.
        model = (
            decision.chosen_model
            if feedback.kind == "error"
            else (decision.served_model or decision.chosen_model)
        )
        return (ctx, self.candidates.index(model)) if model in self.candidates else None

    def apply(self) -> int:
        raise NotImplementedError

    def restore(self, data: bytes) -> None:
        raise NotImplementedError

    def dump(self) -> bytes:
        raise NotImplementedError

    def merge(self, others: list[bytes]) -> None:
        raise NotImplementedError

    async def start(self, state: SharedState, registry: CollectorRegistry | None = None) -> None:
        self._state = state
        self._metrics = LearnMetrics.of(registry) if registry is not None else None
        try:
            own = await state.get(self.prefix + self.replica)
        except StateUnavailable:
            own = None
        if own is not None:
            self.restore(own)
        await self.sync()
        self._task = asyncio.create_task(self._update_forever())

    async def stop(self) -> None:
        await cancel_task(self._task)
        self._task = None
        self.apply()
        await self.sync()

    async def _update_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.update_interval)
            try:
                if await asyncio.to_thread(self.apply):
                    await self.sync()
            except Exception:  # learning must never take the gateway down
                log.exception("%s %s: update failed", self.kind, self.profile)

    async def sync(self) -> None:
        """Write this replica's learned state, read the others' (state outage: learn locally)."""
        state = self._state
        if state is None:
            return
        try:
            await state.set(self.prefix + self.replica, self.dump())
            keys = [k for k in await state.scan(self.prefix) if k != self.prefix + self.replica]
            values = await state.get_many(keys) if keys else []
        except StateUnavailable:
            log.warning("%s %s: shared state unavailable; learning locally", self.kind, self.profile)
            return
        self.merge([v for v in values if v is not None])


class BanditSelector(OnlineSelector):
    kind = "bandit"

    def __init__(
        self,
        prior: Any,  # RouterSelector or TrainedSelector: the router whose predictions are the prior
        config: BanditConfig,
        candidates: Sequence[str],
        objective: Objective,
        *,
        profile: str,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(prior, config, candidates, objective, profile)
        self.bandit = Bandit(len(self.candidates), EMBEDDING_DIM, config, rng=rng)
        fingerprint = hashlib.sha256(f"{self.candidates}|{config.dims}|{config.seed}".encode()).hexdigest()[
            :10
        ]
        self.prefix = f"bandit:{profile}:{fingerprint}:"
        self.detectors = [self._detector() for _ in self.candidates]

    def _detector(self) -> PageHinkley:
        d = self.config.drift
        return PageHinkley(d.delta, d.threshold, d.min_samples)

    # -- the request path -----------------------------------------------------------------------------

    async def rank(
        self, view: RequestView, objective: Objective | None = None, *, explore: bool = True
    ) -> Ranking:
        prior_q, cost, objective = await self._predict(view, objective)
        router = self._resolved
        z = self.bandit.reduce(view.embedding)
        X = arm_features(prior_q, z)
        allowed = None
        if objective.max_cost_per_request is not None:
            allowed = cost <= objective.max_cost_per_request
            if not allowed.any():
                allowed = None  # nothing fits: still serve (as Objective.rank does)
        choice = self.bandit.choose(X, cost, objective.lambda_, explore=explore, allowed=allowed)
        scored = [Scored(self.candidates[i], float(choice.quality[i]), float(cost[i])) for i in choice.order]
        top = scored[0]
        how = "exploring" if choice.explored else "greedy"
        reason = (
            f"bandit {self.config.kind} ({how}, p={choice.probability:.3f}) on router {router.router.name}, "
            f"{objective.describe()}: {top.model} quality {top.quality:.2f} at ${top.cost:.6f}"
        )
        context = {
            "bandit": self.prefix,
            "z": np.round(z, 5).tolist(),
            "prior": [None if np.isnan(q) else round(float(q), 5) for q in prior_q],
        }
        return Ranking([s.model for s in scored], scored, reason, choice.probability, context)

    # -- learning -------------------------------------------------------------------------------------

    def learn(self, feedback: Any, decision: Any) -> None:
        """Queue one score (FeedbackRecord) for its logged decision (DecisionRecord). Never blocks."""
        rated = self._rated(feedback, decision)
        if rated is None:
            return
        ctx, arm = rated
        prior = np.array([np.nan if q is None else q for q in ctx["prior"]], dtype=np.float64)
        x = arm_features(prior, np.asarray(ctx["z"], dtype=np.float64))[arm]
        self._queue.append((arm, x, float(feedback.score)))

    def apply(self) -> int:
        """Apply the queued feedback as one batch and run the drift detectors; returns how many. Blocking."""
        n = len(self._queue)
        if not n:
            return 0
        batch = [self._queue.popleft() for _ in range(n)]
        arms = np.array([a for a, _, _ in batch])
        residual = self.bandit.update(
            arms, np.stack([x for _, x, _ in batch]), np.array([y for _, _, y in batch])
        )
        for arm, r in zip(arms.tolist(), residual.tolist()):
            model = self.candidates[arm]
            if self._metrics is not None:
                self._metrics.learned.labels(self.profile, model).inc()
            if not self.config.drift.enabled:
                continue
            direction = self.detectors[arm].update(r)
            if direction is None:
                continue
            log.warning(
                "drift: profile %s, model %s: feedback %s its prediction",
                self.profile,
                model,
                "fell below" if direction == "down" else "rose above",
            )
            if self._metrics is not None:
                self._metrics.alarms.labels(self.profile, model, direction).inc()
            if direction == "down" and self.config.drift.reset:
                self.bandit.forget(arm)
        return n

    # -- shared state -----------------------------------------------------------------------------------

    def restore(self, data: bytes) -> None:
        stats = Stats.from_bytes(data, self.bandit.m, self.bandit.d)
        if stats is not None:
            self.bandit.local = stats

    def dump(self) -> bytes:
        return self.bandit.local.to_bytes()

    def merge(self, others: list[bytes]) -> None:
        """Sum the other replicas' statistics, each decayed to now."""
        total = Stats.zeros(self.bandit.m, self.bandit.d)
        for v in others:
            s = Stats.from_bytes(v, self.bandit.m, self.bandit.d)
            if s is not None:
                total = total + s.decayed(self.bandit.clock(), self.config.half_life)
        self.bandit.merge(total)

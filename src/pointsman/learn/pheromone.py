"""Pheromone specialists (after AMRO-S, 2025): per-task trails over the models, laid by good answers.

Each task (the request's domain label in the gateway, the dataset's task in simulation) keeps one trail
strength per model. A model is chosen by the ant-colony rule, P(a) proportional to tau_a^alpha x eta_a, with
the heuristic eta_a = exp(beta x value_a): value is the router's predicted quality - lambda x cost for this
request, so trails re-weight the router per task rather than replace it. After each answer the chosen
model's trail evaporates by rho and receives a deposit only when the answer's quality passes the gate
(quality-gated): the trail tracks how often that model answers this task well, recently.

Trails start at the same level for every model (the router alone decides at first), non-greedy picks are
capped by the same exploration budget as the bandits, and every pick carries its exact propensity.
`PheromoneSelector` serves this in the gateway (`selector.pheromone` of a route profile).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from pointsman.config.gateway import PheromoneConfig
from pointsman.learn.bandits import cap_exploration
from pointsman.learn.selector import EMBEDDING_DIM, OnlineSelector, log
from pointsman.policy.objective import Objective
from pointsman.policy.selector import Ranking, Scored
from pointsman.signals.base import RequestView


class Pheromone:
    """Trails for `n_arms` models, one row per task seen (created on first use)."""

    def __init__(
        self, n_arms: int, config: PheromoneConfig | None = None, rng: np.random.Generator | None = None
    ) -> None:
        self.m = n_arms
        self.config = config or PheromoneConfig()
        self.rng = rng or np.random.default_rng()
        self.trails: dict[str, np.ndarray] = {}

    def trail(self, task: str) -> np.ndarray:
        if task not in self.trails:
            self.trails[task] = np.full(self.m, self.config.start)
        return self.trails[task]

    def probabilities(self, task: str, value: np.ndarray, *, explore: bool = True) -> np.ndarray:
        """P(each model) for one request of `task` whose per-model value (quality - lambda x cost) is given;
        models with a non-finite value get 0; `explore=False`: all on the greedy model."""
        cfg = self.config
        ok = np.isfinite(value)
        if not ok.any():
            raise ValueError("no model has a finite value")
        v = np.where(ok, value, -np.inf)
        logits = cfg.alpha * np.log(self.trail(task)) + cfg.beta * (v - v[ok].max())
        w = np.exp(logits - logits[ok].max())
        p = w / w.sum()
        return cap_exploration(p, int(np.argmax(p)), cfg.exploration_budget if explore else 0.0)

    def choose(self, task: str, value: np.ndarray, *, explore: bool = True) -> tuple[int, float]:
        """(model index, its probability): a draw from `probabilities`."""
        p = self.probabilities(task, value, explore=explore)
        pick = int(self.rng.choice(self.m, p=p))
        return pick, float(p[pick])

    def update(self, task: str, arm: int, quality: float) -> None:
        cfg = self.config
        trail = self.trail(task)
        deposit = quality if quality >= cfg.gate else 0.0
        trail[arm] = max(cfg.floor, (1.0 - cfg.rho) * trail[arm] + cfg.rho * deposit)


def task_buckets(dim: int, bits: int, seed: int = 0) -> np.ndarray:
    """(dim, bits) random hyperplanes: a request's task is the sign pattern of its embedding on them
    (similar requests share a bucket; the same on every replica, nothing to fit)."""
    return np.random.default_rng(seed).standard_normal((dim, bits))


def task_of(embedding: np.ndarray, planes: np.ndarray) -> str:
    if planes.shape[1] == 0:
        return ""
    bits = (np.asarray(embedding, dtype=np.float64) @ planes) > 0
    return format(int(np.dot(bits, 1 << np.arange(len(bits)))), "x")


class PheromoneSelector(OnlineSelector):
    """A profile's router re-weighted by pheromone trails learned from feedback (`selector.pheromone`).

    Tasks are buckets of the request embedding (`task_bits` random hyperplanes). Each replica lays its own
    trails (saved under `pheromone:<profile>:<fingerprint>:<replica>`) and chooses by the mean of every
    replica's trail for the task."""

    kind = "pheromone"

    def __init__(
        self,
        prior: Any,
        config: PheromoneConfig,
        candidates: Sequence[str],
        objective: Objective,
        *,
        profile: str,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(prior, config, candidates, objective, profile)
        self.colony = Pheromone(len(self.candidates), config, rng)
        self.choice = self.colony  # the trails choices read: this replica's, averaged with the others'
        self.planes = task_buckets(EMBEDDING_DIM, config.task_bits, config.seed)
        key = f"{self.candidates}|{config.task_bits}|{config.seed}"
        self.prefix = f"pheromone:{profile}:{hashlib.sha256(key.encode()).hexdigest()[:10]}:"
        self._others: list[dict[str, np.ndarray]] = []

    async def rank(
        self, view: RequestView, objective: Objective | None = None, *, explore: bool = True
    ) -> Ranking:
        quality, cost, objective = await self._predict(view, objective)
        quality = np.nan_to_num(np.asarray(quality, dtype=np.float64), nan=0.0)
        cost = np.nan_to_num(np.asarray(cost, dtype=np.float64), nan=np.inf)
        value = quality - objective.lambda_ * cost
        cap = objective.max_cost_per_request
        if cap is not None and (cost <= cap).any():  # nothing fits: still serve (as Objective.rank does)
            value = np.where(cost <= cap, value, -np.inf)
        task = task_of(view.embedding, self.planes)
        probs = self.choice.probabilities(task, value, explore=explore)
        pick = int(self.colony.rng.choice(len(probs), p=probs))
        rest = sorted((i for i in range(len(probs)) if i != pick), key=lambda i: -probs[i])
        scored = [Scored(self.candidates[i], float(quality[i]), float(cost[i])) for i in [pick, *rest]]
        how = "exploring" if probs[pick] < probs.max() else "greedy"
        reason = (
            f"pheromone ({how}, p={probs[pick]:.3f}, task {task or '-'}, trail "
            f"{self.choice.trail(task)[pick]:.2f}) on router {self._resolved.router.name}, "
            f"{objective.describe()}: {scored[0].model} quality {scored[0].quality:.2f} at ${scored[0].cost:.6f}"
        )
        context = {"pheromone": self.prefix, "task": task}
        return Ranking([s.model for s in scored], scored, reason, float(probs[pick]), context)

    def learn(self, feedback: Any, decision: Any) -> None:
        """Queue one score for its logged decision. Never blocks."""
        rated = self._rated(feedback, decision)
        if rated is not None:
            ctx, arm = rated
            self._queue.append((str(ctx.get("task", "")), arm, float(feedback.score)))

    def apply(self) -> int:
        n = len(self._queue)
        for _ in range(n):
            task, arm, score = self._queue.popleft()
            self.colony.update(task, arm, score)
            if self._metrics is not None:
                self._metrics.learned.labels(self.profile, self.candidates[arm]).inc()
        if n:
            self._refresh()
        return n

    def dump(self) -> bytes:
        return json.dumps({t: v.round(6).tolist() for t, v in self.colony.trails.items()}).encode()

    def _load(self, data: bytes) -> dict[str, np.ndarray]:
        try:
            raw = json.loads(data)
            return {
                str(t): np.asarray(v, dtype=np.float64)
                for t, v in raw.items()
                if isinstance(v, list) and len(v) == self.colony.m
            }
        except (ValueError, TypeError, AttributeError):
            log.warning("pheromone %s: unreadable trails in the shared state, ignored", self.profile)
            return {}

    def restore(self, data: bytes) -> None:
        self.colony.trails.update(self._load(data))

    def merge(self, others: list[bytes]) -> None:
        self._others = [self._load(v) for v in others]
        self._refresh()

    def _refresh(self) -> None:
        if not self._others:
            self.choice = self.colony
            return
        view = Pheromone(self.colony.m, self.config, self.colony.rng)
        for task in set(self.colony.trails).union(*self._others):
            rows = [t[task] for t in (self.colony.trails, *self._others) if task in t]
            view.trails[task] = np.mean(rows, axis=0)
        self.choice = view


__all__ = ["Pheromone", "PheromoneConfig", "PheromoneSelector", "task_buckets", "task_of"]

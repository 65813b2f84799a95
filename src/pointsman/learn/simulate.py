"""Simulated traffic from recorded routing data: a stream of real prompts, reward = the recorded score of the
model a policy picked, cost by the dataset's cost model. For benchmarks and tests of the learners.

`Traffic.load(data)` splits the prompts: `warm` ones train the router that is every policy's prior (and the
static baseline), the rest form the stream. Embeddings come through the on-disk embedding cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pointsman.config.gateway import BanditConfig
from pointsman.learn.bandits import Bandit
from pointsman.learn.pheromone import Pheromone, PheromoneConfig, task_buckets, task_of


@dataclass
class Traffic:
    models: list[str]
    prior: np.ndarray  # (n, m) the warm-start router's predicted quality for the stream prompts
    quality: np.ndarray  # (n, m) recorded scores
    cost: np.ndarray  # (n, m) modelled USD per call
    embeddings: np.ndarray  # (n, 384)
    router: str = ""
    tasks: list[str] = field(default_factory=list)  # (n,) the dataset's task of each prompt

    @classmethod
    def load(cls, data: str | Path, warm: int = 900, seed: int = 0, router: str | None = None) -> Traffic:
        from pointsman.data import load_dataset
        from pointsman.policy.trained import trained_router
        from pointsman.routers.base import Queries, Router
        from pointsman.text import CachedEncoder, get_encoder

        ds = load_dataset(data)
        keep = np.flatnonzero(~np.isnan(ds.quality).any(axis=1) & ~np.isnan(ds.cost).any(axis=1))
        order = np.random.default_rng(seed).permutation(keep)
        stream = np.sort(order[warm:])
        held_out = {ds.prompts[i] for i in stream}
        path = trained_router(ds, held_out=held_out, name=router)
        r = Router.load(path)
        encoder = CachedEncoder(get_encoder())
        texts = [ds.prompts[i] for i in stream]
        emb = np.asarray(encoder.encode(texts), dtype=np.float64)
        cols = [r.model_names.index(m) for m in ds.model_names]
        prior = np.asarray(r.predict(Queries(texts, emb.astype(np.float32), encoder.id)))[:, cols]
        tasks = [ds.tasks[i] or "" for i in stream]
        return cls(list(ds.model_names), prior, ds.quality[stream], ds.cost[stream], emb, r.name, tasks)

    @property
    def n(self) -> int:
        return len(self.quality)


@dataclass
class Run:
    rewards: np.ndarray  # (T,) quality - lambda x cost of each pick
    quality: np.ndarray  # (T,) recorded quality of each pick
    picks: np.ndarray  # (T,) arm index
    propensity: np.ndarray  # (T,) P(pick)
    alarms: list[tuple[int, int]] = field(default_factory=list)  # (request index, arm)


def best_reward(quality: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    return (quality - lam * cost).max(axis=1)


def run_static(t: Traffic, rows: np.ndarray, lam: float, quality: np.ndarray | None = None) -> Run:
    """The router alone, greedy on predicted quality - lambda x cost."""
    q = t.quality[rows] if quality is None else quality
    picks = np.argmax(t.prior[rows] - lam * t.cost[rows], axis=1)
    got = q[np.arange(len(rows)), picks]
    return Run(got - lam * t.cost[rows, picks], got, picks, np.ones(len(rows)))


def run_bandit(
    t: Traffic,
    rows: np.ndarray,
    lam: float,
    config: BanditConfig,
    *,
    seed: int = 0,
    batch: int = 50,
    quality: np.ndarray | None = None,
    on_alarm: Callable[[int, int], None] | None = None,
) -> Run:
    """A bandit over the stream `rows` (feedback applied in batches of `batch`, like the gateway's async
    updater); `quality` overrides the recorded scores (drift scenarios). Clock: one second per request."""
    from pointsman.learn.drift import PageHinkley

    q = t.quality[rows] if quality is None else quality
    now = [0.0]
    bandit = Bandit(
        t.prior.shape[1], t.embeddings.shape[1], config, clock=lambda: now[0], rng=np.random.default_rng(seed)
    )
    detectors = [
        PageHinkley(config.drift.delta, config.drift.threshold, config.drift.min_samples)
        for _ in range(bandit.m)
    ]
    T = len(rows)
    picks, probs = np.zeros(T, dtype=np.int64), np.zeros(T)
    X_all = np.zeros((T, bandit.d))
    alarms: list[tuple[int, int]] = []
    for k, i in enumerate(rows):
        now[0] = float(k)
        X = bandit.features(t.prior[i], t.embeddings[i])
        choice = bandit.choose(X, t.cost[i], lam)
        picks[k], probs[k] = choice.order[0], choice.probability
        X_all[k] = X[picks[k]]
        if (k + 1) % batch == 0:
            lo = k + 1 - batch
            got = q[np.arange(lo, k + 1), picks[lo : k + 1]]
            residual = bandit.update(picks[lo : k + 1], X_all[lo : k + 1], got)
            if config.drift.enabled:
                for j, (arm, r) in enumerate(zip(picks[lo : k + 1], residual)):
                    if detectors[arm].update(float(r)) == "down":
                        alarms.append((lo + j, int(arm)))
                        if config.drift.reset:
                            bandit.forget(int(arm))
    got = q[np.arange(T), picks]
    return Run(got - lam * t.cost[rows, picks], got, picks, probs, alarms)


def run_pheromone(
    t: Traffic,
    rows: np.ndarray,
    lam: float,
    config: PheromoneConfig | None = None,
    *,
    seed: int = 0,
    quality: np.ndarray | None = None,
    buckets: bool = False,
) -> Run:
    """Pheromone trails per task over the stream `rows`, each answer's quality laid at once. Tasks: the
    dataset's labels, or (`buckets`, as the gateway does) buckets of the embedding."""
    config = config or PheromoneConfig()
    q = t.quality[rows] if quality is None else quality
    colony = Pheromone(t.prior.shape[1], config, np.random.default_rng(seed))
    planes = task_buckets(t.embeddings.shape[1], config.task_bits, config.seed)
    T = len(rows)
    picks, probs = np.zeros(T, dtype=np.int64), np.zeros(T)
    for k, i in enumerate(rows):
        task = task_of(t.embeddings[i], planes) if buckets else (t.tasks[i] if t.tasks else "")
        picks[k], probs[k] = colony.choose(task, t.prior[i] - lam * t.cost[i])
        colony.update(task, int(picks[k]), float(q[k, picks[k]]))
    got = q[np.arange(T), picks]
    return Run(got - lam * t.cost[rows, picks], got, picks, probs)


def drifted(t: Traffic, rows: np.ndarray, at: int, best: int, weak: int) -> np.ndarray:
    """Recorded quality of `rows` where, from position `at` on, model `best` scores what `weak` scored."""
    q = t.quality[rows].copy()
    q[at:, best] = q[at:, weak]
    return q


def with_kind(config: BanditConfig, kind: str, **kw) -> BanditConfig:
    return config.model_copy(update={"kind": kind, **kw})


__all__ = [
    "Run",
    "Traffic",
    "best_reward",
    "drifted",
    "run_bandit",
    "run_pheromone",
    "run_static",
    "with_kind",
]

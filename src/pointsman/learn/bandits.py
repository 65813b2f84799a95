"""Contextual bandits over a profile's candidates: one Bayesian linear model of quality per arm.

Features of arm a for one request: `[1, p_a, z]`, where p_a is the warm-start router's predicted quality of
that model and z the request embedding reduced by a fixed random projection (the same on every replica, no
fitting). The prior puts weight 1 on p_a (the router's prediction) with precision `prior_strength`, so an
untrained bandit ranks exactly as the router; feedback then learns corrections, and a model whose real
quality departs from the prediction loses weight on p_a and gains a negative intercept.

Value = predicted quality - lambda x cost (the profile's objective; cost is known per arm, not learned).

- Thompson sampling: each arm's value is Gaussian, N(x^T mu_a, noise^2 x^T P_a^-1 x), independent across arms.
  The probability that each arm's sample is the largest is computed by Gauss-Hermite quadrature, and the arm
  is drawn from those probabilities: the same distribution as sampling, with the exact propensity to log.
- LinUCB: the arm with the largest mean + alpha x sd; deterministic (propensity 1).
Both are capped by an exploration budget: the non-greedy arms (not the best posterior mean) together get
at most `budget` of the probability (Thompson) or of the picks so far (LinUCB).

Sufficient statistics (A = sum w x x^T, b = sum w x y, n per arm) decay with a half-life in seconds, so old
evidence fades (a floor on the learning rate) and sums over replicas equal the statistics of all traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def projection(dim_in: int, dims: int, seed: int = 0) -> np.ndarray:
    """(dim_in, dims) random orthonormal columns scaled so a unit embedding maps to about unit length."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim_in, dims)))
    return q * math.sqrt(dim_in / dims)


def arm_features(prior_quality: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(m, d) features: intercept, the prior's prediction for the arm, the reduced embedding."""
    m = len(prior_quality)
    return np.hstack([np.ones((m, 1)), np.nan_to_num(prior_quality, nan=0.0)[:, None], np.tile(z, (m, 1))])


@dataclass
class Stats:
    """Sufficient statistics of weighted observations per arm, as of `time` (unix seconds)."""

    A: np.ndarray  # (m, d, d)
    b: np.ndarray  # (m, d)
    n: np.ndarray  # (m,) weighted observation counts
    time: float = 0.0

    @classmethod
    def zeros(cls, m: int, d: int, time: float = 0.0) -> Stats:
        return cls(np.zeros((m, d, d)), np.zeros((m, d)), np.zeros(m), time)

    def decayed(self, now: float, half_life: float) -> Stats:
        f = 0.5 ** (max(0.0, now - self.time) / half_life) if math.isfinite(half_life) else 1.0
        return Stats(self.A * f, self.b * f, self.n * f, max(now, self.time))

    def __add__(self, other: Stats) -> Stats:
        return Stats(self.A + other.A, self.b + other.b, self.n + other.n, max(self.time, other.time))

    def add(self, arms: np.ndarray, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Add observations in place: arm index, (k, d) features, targets, weights."""
        np.add.at(self.A, arms, w[:, None, None] * X[:, :, None] * X[:, None, :])
        np.add.at(self.b, arms, (w * y)[:, None] * X)
        np.add.at(self.n, arms, w)

    def to_bytes(self) -> bytes:
        return np.concatenate([self.A.ravel(), self.b.ravel(), self.n, [self.time]]).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, m: int, d: int) -> Stats | None:
        v = np.frombuffer(data, dtype=np.float64)
        if v.size != m * d * d + m * d + m + 1 or not np.all(np.isfinite(v)):
            return None  # another shape (the profile changed) or garbage: ignored
        A, b = v[: m * d * d].reshape(m, d, d), v[m * d * d : m * d * d + m * d].reshape(m, d)
        return cls(A.copy(), b.copy(), v[-m - 1 : -1].copy(), float(v[-1]))


class Posterior:
    """Per-arm Gaussian posterior of the quality weights given a prior and data statistics (immutable)."""

    def __init__(self, stats: Stats, prior_mean: np.ndarray, prior_strength: float, noise: float) -> None:
        d = stats.b.shape[1]
        precision = stats.A + prior_strength * np.eye(d)[None]
        self.cov = np.linalg.inv(precision)  # (m, d, d)
        self.mean = np.einsum("mij,mj->mi", self.cov, stats.b + prior_strength * prior_mean[None])
        self.noise = noise
        self.n = stats.n

    def quality(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(m,) posterior mean quality and its standard deviation for each arm's features."""
        mean = np.einsum("md,md->m", X, self.mean)
        var = np.einsum("md,mde,me->m", X, self.cov, X)
        return mean, self.noise * np.sqrt(np.maximum(var, 0.0))


def thompson_probabilities(value: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """P(arm a's draw is the largest) for independent N(value_a, sd_a^2) (arms with -inf value get 0)."""
    ok = np.isfinite(value)
    out = np.zeros(len(value))
    if ok.sum() <= 1:
        out[np.argmax(np.where(ok, value, -np.inf))] = 1.0
        return out
    u, s = value[ok], np.maximum(sd[ok], 1e-9)
    draws = u[:, None] + s[:, None] * _NODES[None, :]  # (k, nodes): arm a's draw at each node
    below = ndtr((draws[:, :, None] - u[None, None, :]) / s[None, None, :])  # P(arm b's draw < it)
    idx = np.arange(len(u))
    below[idx, :, idx] = 1.0
    p = (np.prod(below, axis=2) * _WEIGHTS[None, :]).sum(axis=1)
    out[ok] = p / p.sum()
    return out


def cap_exploration(probs: np.ndarray, greedy: int, budget: float) -> np.ndarray:
    """Probabilities with the non-greedy arms' total mass at most `budget` (scaled down proportionally)."""
    rest = 1.0 - probs[greedy]
    if rest <= budget:
        return probs
    out = probs * (budget / rest)
    out[greedy] = 1.0 - budget
    return out


@dataclass(frozen=True, slots=True)
class Choice:
    order: list[int]  # arm indices, the pick first, then by posterior value
    probability: float  # P(the policy picked order[0])
    quality: np.ndarray  # (m,) posterior mean quality
    sd: np.ndarray  # (m,) its standard deviation
    explored: bool  # the pick is not the greedy arm


class Bandit:
    """The learner of one profile: statistics (this replica's + the others'), the posterior, choose, update.

    `choose` only reads the current posterior (an immutable object swapped in by `update` / `merge`), so
    it never waits for learning. `update` and `merge` are for the background updater (one at a time)."""

    def __init__(
        self, n_arms: int, dim_in: int, config, *, clock=None, rng: np.random.Generator | None = None
    ):
        import time

        self.config = config  # pointsman.config.gateway.BanditConfig
        self.m, self.d = n_arms, 2 + config.dims
        self.proj = projection(dim_in, config.dims, config.seed)
        self.clock = clock or time.time
        self.rng = rng or np.random.default_rng()
        self.prior_mean = np.zeros(self.d)
        self.prior_mean[1] = 1.0  # quality = the router's prediction, until feedback says otherwise
        self.prior_scale = np.ones(self.m)  # per arm; lowered after a drift alarm
        self.local = Stats.zeros(self.m, self.d, self.clock())
        self.others = Stats.zeros(self.m, self.d, self.clock())
        self.picks = self.explorations = 0
        self.posterior = self._posterior()

    def reduce(self, embedding: np.ndarray) -> np.ndarray:
        return np.asarray(embedding, dtype=np.float64) @ self.proj

    def features(self, prior_quality: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        return arm_features(np.asarray(prior_quality, dtype=np.float64), self.reduce(embedding))

    def choose(
        self,
        X: np.ndarray,
        cost: np.ndarray,
        lam: float,
        *,
        explore: bool = True,
        allowed: np.ndarray | None = None,
    ) -> Choice:
        """Pick an arm for features X (m, d) and known costs; `explore=False` (guarded routes): greedy."""
        cfg = self.config
        quality, sd = self.posterior.quality(X)
        value = quality - (lam * np.nan_to_num(cost, nan=np.inf) if lam else 0.0)
        if allowed is not None:
            value = np.where(allowed, value, -np.inf)
        greedy = int(np.argmax(value))
        budget = cfg.exploration_budget if explore else 0.0
        if cfg.kind == "epsilon_greedy":  # the baseline: uniform exploration with probability budget
            probs = np.full(self.m, budget / self.m) if budget else np.zeros(self.m)
            probs[greedy] += 1.0 - budget
            pick = int(self.rng.choice(self.m, p=probs)) if budget > 0 else greedy
            p = float(probs[pick])
        elif cfg.kind == "thompson":
            probs = cap_exploration(thompson_probabilities(value, sd), greedy, budget)
            pick = int(self.rng.choice(self.m, p=probs)) if budget > 0 else greedy
            p = float(probs[pick]) if budget > 0 else 1.0
        else:
            ucb = np.where(np.isfinite(value), value + cfg.alpha * sd, -np.inf)
            pick, p = int(np.argmax(ucb)), 1.0
            if pick != greedy and self.explorations >= budget * (self.picks + 1):
                pick = greedy  # over the exploration budget
        self.picks += 1
        self.explorations += pick != greedy
        rest = sorted((i for i in range(self.m) if i != pick), key=lambda i: -value[i])
        return Choice([pick, *rest], p, quality, sd, pick != greedy)

    def update(self, arms: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Learn from a batch: arm index, (k, d) features, observed quality. Returns the residuals (observed
        minus predicted before the update). Targets are clipped to `clip` around the prediction, and a batch
        weighs at most `max_batch_weight` observations in all (a burst of bad feedback moves it no
        further)."""
        cfg = self.config
        arms = np.asarray(arms, dtype=np.int64)
        predicted = np.einsum("kd,kd->k", X, self.posterior.mean[arms])
        residual = y - predicted
        target = predicted + np.clip(residual, -cfg.clip, cfg.clip)
        w = np.full(len(arms), min(1.0, cfg.max_batch_weight / max(1, len(arms))))
        self.local = self.local.decayed(self.clock(), cfg.half_life)
        self.local.add(arms, X, target, w)
        self.posterior = self._posterior()
        return residual

    def merge(self, others: Stats) -> None:
        """The other replicas' summed statistics (read from the shared state)."""
        self.others = others
        self.posterior = self._posterior()

    def forget(self, arm: int) -> None:
        """After a drift alarm: drop the arm's evidence here and weaken its prior, so new feedback rules."""
        for s in (self.local, self.others):
            s.A[arm], s.b[arm], s.n[arm] = 0.0, 0.0, 0.0
        self.prior_scale[arm] = self.config.reset_strength / self.config.prior_strength
        self.posterior = self._posterior()

    def _posterior(self) -> Posterior:
        now = self.clock()
        stats = self.local.decayed(now, self.config.half_life) + self.others.decayed(
            now, self.config.half_life
        )
        # A per-arm prior strength: scale each arm's data instead (same mean, wider for weak priors).
        scale = self.prior_scale[:, None, None]
        scaled = Stats(stats.A / scale, stats.b / scale[:, :, 0], stats.n, stats.time)
        post = Posterior(scaled, self.prior_mean, self.config.prior_strength, self.config.noise)
        post.cov = post.cov / scale
        return post

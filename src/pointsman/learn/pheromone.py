"""Pheromone specialists (after AMRO-S, 2025): per-task trails over the models, laid by good answers.

Each task (the request's domain label in the gateway, the dataset's task in simulation) keeps one trail
strength per model. A model is chosen by the ant-colony rule, P(a) proportional to tau_a^alpha x eta_a, with
the heuristic eta_a = exp(beta x value_a): value is the router's predicted quality - lambda x cost for this
request, so trails re-weight the router per task rather than replace it. After each answer the chosen
model's trail evaporates by rho and receives a deposit only when the answer's quality passes the gate
(quality-gated): the trail tracks how often that model answers this task well, recently.

Trails start at the same level for every model (the router alone decides at first), non-greedy picks are
capped by the same exploration budget as the bandits, and every pick carries its exact propensity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointsman.learn.bandits import cap_exploration


@dataclass(frozen=True)
class PheromoneConfig:
    alpha: float = 4.0  # weight of the trail in the choice
    beta: float = 40.0  # weight of the router's value (per unit of quality)
    rho: float = 0.05  # evaporation of the chosen model's trail per observation
    gate: float = 0.5  # an answer of at least this quality deposits
    start: float = 0.5  # initial trail strength (any level: only ratios between models matter)
    floor: float = 0.05  # a trail never fades below this, so a model can earn its way back
    exploration_budget: float = 0.05


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

    def probabilities(self, task: str, value: np.ndarray) -> np.ndarray:
        """P(each model) for one request of `task` whose per-model value (quality - lambda x cost) is given;
        models with a non-finite value get 0."""
        cfg = self.config
        ok = np.isfinite(value)
        if not ok.any():
            raise ValueError("no model has a finite value")
        v = np.where(ok, value, -np.inf)
        logits = cfg.alpha * np.log(self.trail(task)) + cfg.beta * (v - v[ok].max())
        w = np.exp(logits - logits[ok].max())
        p = w / w.sum()
        return cap_exploration(p, int(np.argmax(p)), cfg.exploration_budget)

    def choose(self, task: str, value: np.ndarray) -> tuple[int, float]:
        """(model index, its probability): a draw from `probabilities`."""
        p = self.probabilities(task, value)
        pick = int(self.rng.choice(self.m, p=p))
        return pick, float(p[pick])

    def update(self, task: str, arm: int, quality: float) -> None:
        cfg = self.config
        trail = self.trail(task)
        deposit = quality if quality >= cfg.gate else 0.0
        trail[arm] = max(cfg.floor, (1.0 - cfg.rho) * trail[arm] + cfg.rho * deposit)


__all__ = ["Pheromone", "PheromoneConfig"]

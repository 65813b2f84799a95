"""Session budgets for multi-step conversations and agent runs (budget-aware routing).

A session (a conversation, an agent run) gets a budget in USD and an expected number of steps. Each step is
routed with the objective quality - lambda x cost, where lambda is the session's price of money: it starts
at a calibrated value and is paced by what is left, so cheap steps early leave room for a hard step later.
Two rules keep the budget:
- reserve: a step may only choose a model whose predicted cost leaves enough for the remaining steps at this
  step's cheapest price (an estimate: longer prompts later can still cost more);
- pacing: after each step lambda is multiplied by exp(gain x (spent - allowance) / allowance), where the
  allowance is the remaining budget spread evenly over the remaining steps: overspending raises the price of
  money, underspending lowers it (within [lambda0 / 100, lambda0 x 100]).
A step whose every model is over what is left goes to the cheapest model (served, never refused; the
overrun is reported by `SessionBudget.overrun`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SessionBudget:
    budget: float  # USD for the whole session
    steps: int  # expected steps (the last one may be the hardest)
    lambda0: float  # starting price of money (quality per USD), e.g. calibrated on past sessions
    gain: float = 0.5  # how fast pacing reacts
    spent: float = 0.0
    taken: int = 0
    lam: float = field(init=False)

    def __post_init__(self) -> None:
        if self.budget <= 0 or self.steps < 1 or self.lambda0 < 0 or not math.isfinite(self.lambda0):
            raise ValueError(
                f"a session budget needs budget > 0, steps >= 1 and a finite lambda >= 0 "
                f"(got {self.budget}, {self.steps}, {self.lambda0})"
            )
        self.lam = self.lambda0

    @property
    def remaining(self) -> float:
        return self.budget - self.spent

    @property
    def overrun(self) -> float:
        return max(0.0, -self.remaining)

    def choose(self, quality: np.ndarray, cost: np.ndarray) -> int:
        """The model index for the next step, from its predicted (m,) quality and cost."""
        quality, cost = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
        left = max(self.steps - self.taken - 1, 0)  # steps after this one
        reserve = left * float(np.nanmin(cost))
        affordable = cost <= self.remaining - reserve
        if not affordable.any():
            return int(np.nanargmin(cost))
        value = np.where(affordable, quality - self.lam * cost, -np.inf)
        return int(np.argmax(value))

    def record(self, cost: float) -> None:
        """What the step really cost; re-paces lambda."""
        left = max(self.steps - self.taken, 1)
        allowance = max(self.remaining, 0.0) / left
        self.spent += cost
        self.taken += 1
        if allowance > 0:
            step = self.gain * (cost - allowance) / allowance
            self.lam = float(np.clip(self.lam * math.exp(np.clip(step, -5, 5)),
                                     self.lambda0 / 100, self.lambda0 * 100 + 1e-12))  # fmt: skip

"""Route profiles: a named set of candidate models, a selector that ranks them, fallbacks, exploration.

`RouteProfile.select(view)` returns a `Selection`: the ranking the dispatcher falls back down, every
candidate's predicted quality and cost, and the probability with which the policy put its first model first
(1.0 unless the profile explores; logged so new policies can be evaluated off-policy on logged traffic).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping

from pointsman.config.backends import BackendConfig
from pointsman.config.gateway import ProfileConfig
from pointsman.policy.flags import FlagError, Flags
from pointsman.policy.objective import Objective
from pointsman.policy.selector import RouterSelector, Scored, Selector, StaticSelector
from pointsman.signals.base import RequestView


@dataclass(frozen=True, slots=True)
class Selection:
    ranking: list[str]  # best first, fallbacks last: what the dispatcher tries, in order
    candidates: list[Scored]  # what the selector saw, in its order
    probability: float  # P(policy puts ranking[0] first | request)
    reason: str
    context: dict | None = None  # a learning selector's context (logged with the decision)


class RouteProfile:
    def __init__(
        self,
        name: str,
        selector: Selector,
        candidates: list[str],
        *,
        fallbacks: list[str] | None = None,
        exploration: float = 0.0,
        description: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.selector = selector
        self.candidates = candidates
        self.fallbacks = [f for f in fallbacks or [] if f not in candidates]
        self.exploration = exploration
        self.description = description
        self._rng = rng or random.Random()

    @property
    def learned(self) -> bool:
        from pointsman.policy.trained import TrainedSelector

        return isinstance(self.selector, (RouterSelector, TrainedSelector)) or hasattr(self.selector, "learn")

    async def select(
        self,
        view: RequestView,
        objective: Objective | None = None,
        *,
        explore: bool = True,
        flags: Flags | None = None,
    ) -> Selection:
        """`explore=False` (a guarded route): a learning selector picks greedily. `flags`: the request's
        objective flags (FlagError on a profile without a plain router: they re-weight its predictions)."""
        from pointsman.policy.trained import TrainedSelector

        if flags is not None and flags.active:
            if not isinstance(self.selector, (RouterSelector, TrainedSelector)):
                raise FlagError(
                    f"profile {self.name!r} does not rank by a router's predictions alone; "
                    "objective flags need a profile with selector.router (or train) and no bandit"
                )
            ranked = await self.selector.rank(view, objective, flags)
        elif hasattr(self.selector, "learn"):
            ranked = await self.selector.rank(view, objective, explore=explore)
        else:
            ranked = await self.selector.rank(view, objective)
        order, reason, p = ranked.models, ranked.reason, ranked.probability
        if self.exploration:
            m, eps = len(order), self.exploration
            if self._rng.random() < eps:
                pick = self._rng.randrange(m)
                order = [order[pick], *order[:pick], *order[pick + 1 :]]
                reason = f"exploring (p={eps:g}): {order[0]} at random; policy said: {reason}"
                p = eps / m + (1 - eps if pick == 0 else 0.0)
            else:
                p = 1 - eps + eps / m
        return Selection([*order, *self.fallbacks], ranked.scored, p, reason, ranked.context)


def build_profile(cfg: ProfileConfig, backends: Mapping[str, BackendConfig], *, encoder=None) -> RouteProfile:
    """A runtime profile from its config (loads the router file, if any)."""
    prices = {c: (backends[c].input_price, backends[c].output_price) for c in cfg.candidates}
    if cfg.selector.train is not None:
        from pointsman.policy.trained import TrainedSelector

        selector: Selector = TrainedSelector(
            cfg.selector.train, cfg.candidates, cfg.objective, prices=prices, encoder=encoder
        )
    elif cfg.selector.router is not None:
        from pointsman.routers.base import Router

        personal = None
        if cfg.selector.personal is not None:
            from pointsman.policy.personal_file import load_preferences_file

            personal = load_preferences_file(cfg.selector.personal, cfg.candidates)
        selector = RouterSelector(
            Router.load(cfg.selector.router),
            cfg.candidates,
            cfg.objective,
            prices=prices,
            encoder=encoder,
            source=cfg.selector.router,
            personal=personal,
        )
    else:
        order = cfg.selector.order or cfg.candidates
        selector = StaticSelector([*order, *(c for c in cfg.candidates if c not in order)])
    if cfg.selector.bandit is not None:
        from pointsman.learn.selector import BanditSelector

        bandit = cfg.selector.bandit
        selector = BanditSelector(selector, bandit, cfg.candidates, cfg.objective, profile=cfg.name)
    elif cfg.selector.pheromone is not None:
        from pointsman.learn.pheromone import PheromoneSelector

        trails = cfg.selector.pheromone
        selector = PheromoneSelector(selector, trails, cfg.candidates, cfg.objective, profile=cfg.name)
    return RouteProfile(
        cfg.name,
        selector,
        list(cfg.candidates),
        fallbacks=cfg.fallbacks,
        exploration=cfg.exploration,
        description=cfg.description,
    )

"""Selectors: rank a route profile's candidates for one request.

- `StaticSelector`: a fixed order (no predictions; the cheapest thing that can route).
- `RouterSelector`: a trained router file's predicted quality and cost per candidate, turned into a ranking by
  the profile's `Objective`. The request is embedded at most once (`RequestView.ensure_embedding`), and the
  embedding + prediction run in a worker thread so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Protocol
from collections.abc import Sequence

import numpy as np

from pointsman.policy.flags import Flags
from pointsman.policy.objective import Objective
from pointsman.signals.base import RequestView

PER_TOKEN = 1e-6
# Output tokens assumed for price-based cost when the request sets no max_tokens and the router predicts none.
DEFAULT_OUTPUT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Scored:
    """One candidate as the selector saw it (None: the selector predicts nothing)."""

    model: str
    quality: float | None = None
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Ranking:
    models: list[str]  # best first
    scored: list[Scored]  # every candidate, in ranking order
    reason: str
    probability: float = 1.0  # P(the selector put models[0] first); < 1 for selectors that randomise
    context: dict | None = None  # what a learning selector needs back with the feedback (logged)


class Selector(Protocol):
    async def rank(self, view: RequestView, objective: Objective | None = None) -> Ranking: ...


class StaticSelector:
    def __init__(self, order: Sequence[str]) -> None:
        self.order = list(order)
        self._ranking = Ranking(self.order, [Scored(m) for m in self.order], "static order")

    async def rank(self, view: RequestView, objective: Objective | None = None) -> Ranking:
        return self._ranking


class RouterSelector:
    """Ranks `candidates` with a trained router (quality, and cost where it predicts it) and an objective."""

    def __init__(
        self,
        router,  # pointsman.routers.base.Router
        candidates: Sequence[str],
        objective: Objective,
        *,
        prices: dict[str, tuple[float, float]],
        encoder=None,  # pointsman.text.Encoder; None: get_encoder() on first use
        source: str = "",
        personal: tuple | None = None,  # (PersonalPreferences, column per candidate): per-tenant offsets
    ) -> None:
        self.router = router
        self.personal = personal
        self.candidates = list(candidates)
        self.objective = objective
        self.source = source
        self._encoder = encoder
        names = list(router.model_names)
        self._columns = np.array([names.index(c) for c in self.candidates], dtype=np.int64)
        self._prices = np.array([prices[c] for c in self.candidates], dtype=np.float64)  # (m, 2) USD / 1M

    @property
    def encoder(self):
        if self._encoder is None:
            from pointsman.text import get_encoder

            self._encoder = get_encoder()
        return self._encoder

    def warm(self) -> None:
        """Load the encoder and run one prediction, so the first request does not pay for it (blocking)."""
        self.predict(RequestView.from_prompt("warm-up"))

    async def rank(
        self, view: RequestView, objective: Objective | None = None, flags: Flags | None = None
    ) -> Ranking:
        """`flags`: the request's objective flags (policy/flags.py), from the models' facts in the router
        file; FlagError when a flag asks for a fact the router's models lack."""
        quality, cost = await asyncio.to_thread(self.predict, view)
        objective = objective or self.objective
        said = ""
        tenant = view.caller.tenant
        if self.personal is not None and tenant in self.personal[0].offsets_:
            prefs, columns = self.personal
            quality = quality + prefs.offsets(tenant)[columns]
            said = f" (preferences of tenant {tenant})"
        if flags is not None and flags.active:
            models = [self.router.models_[i] for i in self._columns]
            quality, _ = flags.apply(quality, models)
            said += f" (flags {flags.describe()})"
        order = objective.rank(quality, cost)
        scored = [Scored(self.candidates[i], _num(quality[i]), _num(cost[i])) for i in order]
        top = scored[0]
        reason = (
            f"router {self.router.name}, {objective.describe()}{said}: {top.model} predicted quality "
            + (f"{top.quality:.2f}" if top.quality is not None else "?")
            + (f" at ${top.cost:.6f}" if top.cost is not None else "")
        )
        return Ranking([s.model for s in scored], scored, reason)

    def predict(self, view: RequestView) -> tuple[np.ndarray, np.ndarray]:
        """(m,) predicted quality and (m,) cost in USD for the candidates (blocking: runs in a worker)."""
        from pointsman.routers.base import Queries

        encoder = self.encoder
        emb = view.ensure_embedding(encoder)
        queries = Queries(texts=[view.embedding_text], embeddings=emb[None, :], encoder_id=encoder.id)
        quality = np.asarray(self.router.predict(queries), dtype=np.float64)[0, self._columns]
        predict_cost = getattr(self.router, "predict_cost", None)
        if predict_cost is not None:
            cost = np.asarray(predict_cost(queries), dtype=np.float64)[0, self._columns]
        else:
            cost = self.price_cost(view)
        return quality, cost

    def price_cost(self, view: RequestView) -> np.ndarray:
        body = view.body
        out = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_OUTPUT_TOKENS
        tokens = np.array([view.prompt_tokens, min(int(out), 1 << 20)], dtype=np.float64)
        return self._prices @ tokens * PER_TOKEN


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)

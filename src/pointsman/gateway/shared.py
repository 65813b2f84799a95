"""What the gateway decides from state replicas share: rate limits (gateway/limits.py), circuit breakers
(gateway/breakers.py) and budgets (gateway/budgets.py), one object for `Gateway` to hold."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.auth import Principal
from pointsman.gateway.breakers import SharedBreakers
from pointsman.gateway.budgets import Budgets, estimate_usage
from pointsman.gateway.limits import RateLimits
from pointsman.state import SharedState, StateUnavailable

if TYPE_CHECKING:
    from pointsman.gateway.service import Exchange

log = logging.getLogger("pointsman.gateway")
PER_TOKEN = 1e-6


class SharedControls:
    def __init__(
        self, config: GatewayConfig, state: SharedState, registry: CollectorRegistry, dispatcher: Any
    ) -> None:
        self.state = state
        self.unavailable = Counter(
            "pointsman_state_unavailable",
            "Operations that found the shared state unreachable, by feature (then on_outage applies)",
            ["feature"],
            registry=registry,
        )
        self.spend = Counter(
            "pointsman_spend_usd",
            "USD spent by tenant and serving model (estimated: from text, the backend reported no usage)",
            ["tenant", "model", "estimated"],
            registry=registry,
        )
        self.prices = {
            b.name: (b.input_price * PER_TOKEN, b.output_price * PER_TOKEN) for b in config.backends
        }
        failed = self._failed
        self.limits = RateLimits(config, state, on_failure=failed)
        self.budgets = Budgets(config, state, on_failure=failed)
        self.breakers: SharedBreakers | None = None
        breakers = getattr(dispatcher, "breakers", None)
        if state.kind != "embedded" and breakers is not None:  # one process: nothing to share
            self.breakers = SharedBreakers(breakers(), state, on_failure=failed)

    def _failed(self, feature: str) -> None:
        self.unavailable.labels(feature).inc()

    async def start(self) -> None:
        try:
            await self.state.start()
        except StateUnavailable as exc:  # features fall back (on_outage) until it answers
            log.warning("shared state unreachable at start: %s", exc)
            self._failed("start")
        if self.breakers is not None:
            self.breakers.start()

    async def close(self) -> None:
        if self.breakers is not None:
            await self.breakers.stop()
        await self.limits.drain()
        await self.budgets.drain()
        await self.state.close()

    async def admit(self, principal: Principal) -> float | None:
        """Rate limits, then budgets (APIError 429 / 503); the caller's remaining budget share, if any."""
        await self.limits.admit(principal)
        return await self.budgets.check(principal)

    def finished(
        self, ex: Exchange, prompt_t: int | None, completion_t: int | None, cost: float | None
    ) -> None:
        """An answered request (or one a backend served before it failed): its tokens and spend."""
        who, model = ex.principal, ex.served
        if who is None or not model:
            return
        body = ex.request.body if ex.request is not None else {}
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        p, c, estimated = estimate_usage(
            prompt_t,
            completion_t,
            ex.view.prompt_tokens if ex.view is not None else 0,
            ex.answer,
            max_tokens if isinstance(max_tokens, int) else None,
        )
        if cost is None or estimated:
            pin, pout = self.prices.get(model, (0.0, 0.0))
            cost = p * pin + c * pout
        self.spend.labels(who.tenant or "", model, "true" if estimated else "false").inc(cost)
        if p + c:
            self.limits.used(who, p + c)
        self.budgets.spend(who, model, cost, p + c)

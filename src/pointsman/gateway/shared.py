"""What the gateway decides from state replicas share: rate limits (gateway/limits.py), circuit breakers
(gateway/breakers.py) and budgets (gateway/budgets.py), one object for `Gateway` to hold."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.auth import Principal
from pointsman.gateway.breakers import SharedBreakers
from pointsman.gateway.limits import RateLimits
from pointsman.state import SharedState, StateUnavailable

log = logging.getLogger("pointsman.gateway")


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
        failed = self._failed
        self.limits = RateLimits(config, state, on_failure=failed)
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
        await self.state.close()

    async def admit(self, principal: Principal) -> None:
        await self.limits.admit(principal)

    def finished(self, principal: Principal | None, tokens: int | None) -> None:
        if principal is not None and tokens:
            self.limits.used(principal, tokens)

"""Rate limits replicas share: requests and tokens per minute, per API key (per client address when auth is
off) and per tenant, on sliding windows in the shared state (`state:`), so N replicas enforce one limit.

A request is admitted when every limit that applies has room (one atomic all-or-none take: a refused request
uses up none of them). Requests count when admitted; tokens when the answer's usage is known (written in
batches every 0.1 s), so a tokens limit admits while any of it is left and can be overshot by the requests
then in flight (docs/deploy.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.auth import Principal
from pointsman.gateway.errors import APIError
from pointsman.state import SharedState, StateUnavailable
from pointsman.state.batch import Accumulator
from pointsman.state.outage import Guarded

log = logging.getLogger("pointsman.gateway")

WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    key: str  # in the state
    per_minute: int
    unit: str  # "requests" | "tokens"
    who: str  # for the message: "key 'alice'", "tenant 'acme'", ""


class RateLimits:
    def __init__(
        self, config: GatewayConfig, state: SharedState, on_failure: Callable[[str], None] | None = None
    ) -> None:
        default_tpm = config.limits.tokens_per_minute
        self.key_tpm = {k.id: k.tokens_per_minute or default_tpm for k in config.auth.keys}
        self.default_tpm = default_tpm
        self.tenants = config.limits.tenants
        self.guard = Guarded(state, "limits", config.limits.on_outage, on_failure=on_failure)
        self.pending = Accumulator(self.guard, window=WINDOW)

    def limits(self, principal: Principal) -> list[Limit]:
        who = f"key '{principal.key_id}'" if principal.key_id else ""
        out = []
        if principal.rpm is not None:
            out.append(Limit(f"limit:rpm:{principal.limit_key}", principal.rpm, "requests", who))
        tpm = self.key_tpm.get(principal.key_id, self.default_tpm) if principal.key_id else self.default_tpm
        if tpm is not None:
            out.append(Limit(f"limit:tpm:{principal.limit_key}", tpm, "tokens", who))
        tenant = self.tenants.get(principal.tenant) if principal.tenant else None
        if tenant is not None:
            name = f"tenant '{principal.tenant}'"
            if tenant.requests_per_minute is not None:
                out.append(
                    Limit(
                        f"limit:rpm:tenant:{principal.tenant}", tenant.requests_per_minute, "requests", name
                    )
                )
            if tenant.tokens_per_minute is not None:
                out.append(
                    Limit(f"limit:tpm:tenant:{principal.tenant}", tenant.tokens_per_minute, "tokens", name)
                )
        return out

    async def admit(self, principal: Principal) -> None:
        """Returns when the request may go on; APIError 429 (with Retry-After) when a limit is reached, 503
        when the state is unreachable and `limits.on_outage` is closed."""
        limits = self.limits(principal)
        if not limits:
            return
        # A request needs one request of room; a tokens limit needs any room left (usage comes later).
        takes = [
            (lim.key, 1.0, float(lim.per_minute))
            if lim.unit == "requests"
            else (lim.key, 0.0, lim.per_minute - 1.0)
            for lim in limits
        ]
        try:
            results = await self.guard.run(lambda s: s.window_take_all(takes, window=WINDOW))
        except StateUnavailable as exc:
            raise APIError(
                503,
                f"Rate limits cannot be checked: {exc}; retry shortly",
                code="state_unavailable",
                headers={"retry-after": "1"},
            ) from None
        if results is None or results[0].allowed:  # None: on_outage open
            return
        lim, result = max(zip(limits, results), key=lambda p: p[1].retry_after)
        retry = max(1, math.ceil(result.retry_after))
        raise APIError(
            429,
            f"Rate limit reached: {lim.per_minute} {lim.unit} per minute"
            + (f" for {lim.who}" if lim.who else "")
            + f"; retry in {retry} s",
            code="rate_limit_exceeded",
            headers={"retry-after": str(retry)},
        )

    def used(self, principal: Principal, tokens: int) -> None:
        """Count an answered request's tokens against its tokens limits (batched: never raises or waits)."""
        if tokens <= 0:
            return
        for lim in self.limits(principal):
            if lim.unit == "tokens":
                self.pending.window_add(lim.key, float(tokens))

    async def drain(self) -> None:
        """Write token counts still pending (at shutdown)."""
        await self.pending.drain()

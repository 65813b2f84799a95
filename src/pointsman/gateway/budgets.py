"""USD budgets per tenant and per API key over a calendar day or month (UTC), from real usage, shared by
every replica through the state.

Spend is counted when a request is answered: the response's token counts x the serving backend's prices
(estimated from the text when the backend reported none; see `estimate_usage`). Before a request, the
caller's budgets are read: the smallest remaining share (0..1) becomes the `budget_remaining` signal rules
read (e.g. `budget_remaining < 0.2` -> a cheaper profile or a larger lambda), and a spent hard budget
answers 429 `budget_exceeded` naming it. Spend is counted after the answer (written in batches every
0.1 s, state/batch.py), so requests in flight when a budget runs out can overshoot it by what they cost
(docs/deploy.md).

State keys: `spend:<tenant|key>:<owner>:<period>` (the budget's counter) and `usage:<day>:<tenant>:<model>:
<usd|requests|tokens>` (for `pointsman usage`; tenant and model %-quoted), each with a TTL past its period.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.auth import Principal
from pointsman.gateway.errors import APIError
from pointsman.signals.base import estimate_tokens
from pointsman.state import SharedState, StateUnavailable
from pointsman.state.base import clock
from pointsman.state.batch import Accumulator
from pointsman.state.outage import Guarded

log = logging.getLogger("pointsman.gateway")

DAY = 86_400.0
USAGE_TTL = 40 * DAY  # `pointsman usage` looks back up to a month
_ADJECTIVE = {"day": "daily", "month": "monthly"}


def period(kind: str, t: float) -> tuple[str, float]:
    """The period containing unix time `t` (`2026-12-04` or `2026-12`) and the seconds left in it."""
    d = datetime.fromtimestamp(t, UTC)
    if kind == "day":
        start = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        return d.strftime("%Y-%m-%d"), start + DAY - t
    days = calendar.monthrange(d.year, d.month)[1]
    start = datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()
    return d.strftime("%Y-%m"), start + days * DAY - t


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str  # "tenant" | "key"
    owner: str
    index: int
    usd: float
    period: str  # "day" | "month"
    hard: bool

    @property
    def name(self) -> str:
        return f"budgets.{self.scope}s.{self.owner}[{self.index}]"

    def key(self, t: float) -> str:
        return f"spend:{self.scope}:{self.owner}:{period(self.period, t)[0]}"


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"


def estimate_usage(
    prompt_tokens: int | None,
    completion_tokens: int | None,
    prompt_estimate: int,
    answer: str | None,
    max_tokens: int | None,
) -> tuple[int, int, bool]:
    """Token counts to bill: the backend's, or estimates (prompt from the request's text; completion from
    the answer's text, else the request's max_tokens, the most it can have cost). Returns (in, out, estimated)."""
    if prompt_tokens is not None and completion_tokens is not None:
        return prompt_tokens, completion_tokens, False
    p = prompt_tokens if prompt_tokens is not None else prompt_estimate
    if completion_tokens is not None:
        c = completion_tokens
    elif answer is not None:
        c = estimate_tokens(answer)
    else:
        c = max_tokens or 0
    return p, c, True


class Budgets:
    def __init__(
        self, config: GatewayConfig, state: SharedState, on_failure: Callable[[str], None] | None = None
    ) -> None:
        cfg = config.budgets
        self.tenants = {
            t: [Budget("tenant", t, i, b.usd, b.period, b.hard) for i, b in enumerate(bs)]
            for t, bs in cfg.tenants.items()
        }
        self.keys = {
            k: [Budget("key", k, i, b.usd, b.period, b.hard) for i, b in enumerate(bs)]
            for k, bs in cfg.keys.items()
        }
        self.guard = Guarded(state, "budgets", cfg.on_outage, on_failure=on_failure)
        self.usage_guard = Guarded(state, "usage", "open", on_failure=on_failure)
        self.pending = Accumulator(self.guard)
        self.usage = Accumulator(self.usage_guard)

    def of(self, principal: Principal) -> list[Budget]:
        out: list[Budget] = []
        if principal.tenant is not None:
            out += self.tenants.get(principal.tenant, ())
        if principal.key_id is not None:
            out += self.keys.get(principal.key_id, ())
        return out

    async def check(self, principal: Principal) -> float | None:
        """The smallest remaining share of the caller's budgets (None: it has none, or the state is
        unreachable with on_outage open); APIError 429 when a hard budget is spent, 503 when the state is
        unreachable with on_outage closed."""
        budgets = self.of(principal)
        if not budgets:
            return None
        t = clock()

        async def spent(s: SharedState) -> list[float]:
            return list(await asyncio.gather(*(s.number(b.key(t)) for b in budgets)))

        try:
            amounts = await self.guard.run(spent)
        except StateUnavailable as exc:
            raise APIError(
                503,
                f"Budgets cannot be checked: {exc}; retry shortly",
                code="state_unavailable",
                headers={"retry-after": "1"},
            ) from None
        if amounts is None:
            return None
        for b, amount in zip(budgets, amounts):
            if b.hard and amount >= b.usd:
                raise self._exceeded(b, amount, t)
        return max(0.0, min(1.0 - amount / b.usd for b, amount in zip(budgets, amounts)))

    def _exceeded(self, b: Budget, amount: float, t: float) -> APIError:
        left = period(b.period, t)[1]
        return APIError(
            429,
            f"Budget exceeded: {b.scope} '{b.owner}' has spent ${amount:.4f} of its ${b.usd:.2f} "
            f"{_ADJECTIVE[b.period]} budget ({b.name}); it resets in {_duration(left)}",
            code="budget_exceeded",
            type="insufficient_quota",
            headers={"retry-after": str(max(1, int(left))), "x-pointsman-budget": b.name},
        )

    def spend(self, principal: Principal, model: str, usd: float, tokens: int) -> None:
        """Count an answered request's cost (batched: never raises, never delays the answer)."""
        t = clock()
        if usd > 0:
            for b in self.of(principal):
                self.pending.incr(b.key(t), usd, period(b.period, t)[1] + DAY)
        day = period("day", t)[0]
        base = f"usage:{day}:{quote(principal.tenant or '-', safe='')}:{quote(model, safe='')}"
        for name, amount in (("usd", usd), ("requests", 1.0), ("tokens", float(tokens))):
            self.usage.incr(f"{base}:{name}", amount, USAGE_TTL)

    async def drain(self) -> None:
        await self.pending.drain()
        await self.usage.drain()

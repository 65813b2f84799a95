"""Spend as the shared state holds it, for `pointsman usage`: per day, tenant and model, and where each
configured budget stands (gateway/budgets.py writes both)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.budgets import DAY, Budgets, period
from pointsman.state import SharedState
from pointsman.state.base import clock


@dataclass
class UsageRow:
    day: str
    tenant: str  # "-": no tenant (auth off)
    model: str
    usd: float = 0.0
    requests: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class BudgetStatus:
    name: str
    scope: str  # "tenant" | "key"
    owner: str
    period: str  # this period's id, e.g. 2026-12-04
    usd: float
    spent: float
    hard: bool

    @property
    def remaining(self) -> float:
        return max(0.0, 1.0 - self.spent / self.usd)


async def read_usage(state: SharedState, *, days: int = 30, tenant: str | None = None) -> list[UsageRow]:
    """Rows of the last `days` days (today included), newest day first, then by spend."""
    t = clock()
    wanted = {period("day", t - i * DAY)[0] for i in range(days)}
    keys = await state.scan("usage:")
    rows: dict[tuple[str, str, str], UsageRow] = {}
    parsed = []
    for key in keys:
        parts = key.split(":")
        if len(parts) != 5 or parts[1] not in wanted:
            continue
        day, who, model, field = parts[1], unquote(parts[2]), unquote(parts[3]), parts[4]
        if tenant is not None and who != tenant:
            continue
        parsed.append((key, (day, who, model), field))
    values = [await state.number(key) for key, _, _ in parsed]
    for (_, ident, field), value in zip(parsed, values):
        row = rows.setdefault(ident, UsageRow(*ident))
        if field == "usd":
            row.usd += value
        elif field == "requests":
            row.requests += round(value)
        elif field == "tokens":
            row.tokens += round(value)
    return sorted(rows.values(), key=lambda r: (r.day, r.usd), reverse=True)


async def budget_status(config: GatewayConfig, state: SharedState) -> list[BudgetStatus]:
    budgets = Budgets(config, state)
    t = clock()
    out = []
    for b in [
        *(x for bs in budgets.tenants.values() for x in bs),
        *(x for bs in budgets.keys.values() for x in bs),
    ]:
        out.append(
            BudgetStatus(
                b.name, b.scope, b.owner, period(b.period, t)[0], b.usd, await state.number(b.key(t)), b.hard
            )
        )
    return out

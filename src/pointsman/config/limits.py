"""Limits and budgets replicas share through the state (`state:`): per-tenant rate limits, USD budgets, and
what each feature does while the shared store is unreachable (docs/deploy.md, "When Redis is down")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from pointsman.config.problems import Problem

# local: this replica's own counters until the store is back (a limit then holds per replica, not globally);
# open: let requests through unchecked; closed: refuse them (503, code state_unavailable).
OnOutage = Literal["local", "open", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TenantLimitConfig(_Strict):
    requests_per_minute: PositiveInt | None = Field(None, description="all keys of the tenant together")
    tokens_per_minute: PositiveInt | None = Field(
        None, description="prompt + completion tokens of the tenant's answered requests in the last minute"
    )


class BudgetConfig(_Strict):
    """At most `usd` of spend per `period` (calendar day or month, UTC). Spend is what the backends' prices
    make of the response's token counts (estimated from the text when a backend reports none)."""

    usd: PositiveFloat = Field(description="the budget in US dollars per period")
    period: Literal["day", "month"] = "month"
    hard: bool = Field(
        True, description="refuse requests (429 budget_exceeded) once spent; false: signal only"
    )


def _listed(value: Any) -> Any:
    """A tenant's budgets: one, or a list (e.g. a daily and a monthly one)."""
    if isinstance(value, dict):
        return {k: [v] if isinstance(v, dict) else v for k, v in value.items()}
    return value


class BudgetsConfig(_Strict):
    """USD budgets per tenant and per API key id. The remaining share (0..1) is the `budget` signal rules
    and objectives can read (e.g. below 0.2: cheaper candidates)."""

    tenants: dict[str, list[BudgetConfig]] = Field(default_factory=dict)
    keys: dict[str, list[BudgetConfig]] = Field(default_factory=dict, description="by auth.keys[].id")
    on_outage: OnOutage = Field("local", description="the state is unreachable: local | open | closed")

    _one_or_many = field_validator("tenants", "keys", mode="before")(classmethod(lambda cls, v: _listed(v)))

    @property
    def enabled(self) -> bool:
        return bool(self.tenants or self.keys)


def check_owners(cfg: Any) -> list[Problem]:
    """Budgets and tenant limits name API key ids and tenants of `auth.keys` (a typo would limit nobody)."""
    out: list[Problem] = []
    sections = [
        ("budgets", "keys", cfg.budgets.keys),
        ("budgets", "tenants", cfg.budgets.tenants),
        ("limits", "tenants", cfg.limits.tenants),
    ]
    if not cfg.auth.enabled:
        for section, kind, names in sections:
            if names:
                out.append(Problem((section, kind), "applies to API keys: needs auth.enabled and auth.keys"))
        return out
    known = {"keys": {k.id for k in cfg.auth.keys}, "tenants": {k.tenant for k in cfg.auth.keys}}
    for section, kind, names in sections:
        for name in names:
            if name not in known[kind]:
                what = "id" if kind == "keys" else "tenant"
                choices = ", ".join(sorted(known[kind])) or "none"
                out.append(
                    Problem(
                        (section, kind, name), f"no auth.keys[] has the {what} {name!r} (known: {choices})"
                    )
                )
    return out

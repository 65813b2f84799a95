"""`pointsman usage`: spend per day, tenant and model, and each budget's standing, from the shared state."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import typer

from pointsman.commands.gateway import CONFIG_ARGUMENT, CONFIG_OPTION, _config_path, _load


def usage(
    file: Path = CONFIG_ARGUMENT,
    config: Path = CONFIG_OPTION,
    days: int = typer.Option(1, min=1, max=40, help="Days back, today included."),
    tenant: str = typer.Option(None, help="Only this tenant."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Spend per tenant and model and where each budget stands, read from the gateway's shared state
    (`state:`; an embedded state needs its `path`, as last persisted by the gateway)."""
    from rich.console import Console
    from rich.table import Table

    from pointsman.gateway.usage import budget_status, read_usage
    from pointsman.state import StateUnavailable, open_state

    path = _config_path(file, config)
    cfg = _load(path)
    err = Console(stderr=True, highlight=False)
    if cfg.state.kind == "embedded" and cfg.state.path is None:
        err.print(f"[red]{path}: state is embedded without a path: the spend lives only in the gateway[/]")
        raise typer.Exit(2)

    async def read():
        state = open_state(cfg.state)
        await state.start()
        try:
            return await read_usage(state, days=days, tenant=tenant), await budget_status(cfg, state)
        finally:
            await state.close()

    try:
        rows, budgets = asyncio.run(read())
    except StateUnavailable as exc:
        err.print(f"[red]the shared state is unreachable: {exc}[/]")
        raise typer.Exit(1) from None
    if tenant is not None:
        keys = {k.id for k in cfg.auth.keys if k.tenant == tenant}
        budgets = [
            b
            for b in budgets
            if b.scope == "tenant" and b.owner == tenant or b.owner in keys and b.scope == "key"
        ]
    if as_json:
        out = {
            "usage": [asdict(r) for r in rows],
            "budgets": [{**asdict(b), "remaining": b.remaining} for b in budgets],
        }
        typer.echo(json.dumps(out, indent=2))
        return
    con = Console(highlight=False)
    table = Table("day", "tenant", "model", "USD", "requests", "tokens", title="Spend")
    for r in rows:
        table.add_row(r.day, r.tenant, r.model, f"{r.usd:.4f}", str(r.requests), str(r.tokens))
    if rows:
        table.add_row(
            "total",
            "",
            "",
            f"{sum(r.usd for r in rows):.4f}",
            str(sum(r.requests for r in rows)),
            str(sum(r.tokens for r in rows)),
            style="bold",
        )
    con.print(table)
    if budgets:
        bt = Table("budget", "period", "spent USD", "budget USD", "remaining", "hard", title="Budgets")
        for b in budgets:
            bt.add_row(
                b.name,
                b.period,
                f"{b.spent:.4f}",
                f"{b.usd:.2f}",
                f"{b.remaining:.0%}",
                "yes" if b.hard else "no",
            )
        con.print(bt)


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)

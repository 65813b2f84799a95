"""Learning commands: feedback import, ope (off-policy evaluation), replay."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

LOG_OPTION = typer.Option(None, "--log", help="A decision log (SQLite file written by the gateway).")
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="A gateway config: use its store (SQLite or PostgreSQL)."
)


def open_store(log: Path | None, config: Path | None):
    """The decision log named by --log or by the store of --config, opened for reading and writing."""
    from pointsman.config.gateway import StoreConfig
    from pointsman.store.decisions import open_log

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if (log is None) == (config is None):
        err.print("[red]give one of --log DB or --config gateway.yaml[/]")
        raise typer.Exit(2)
    if log is not None:
        if not log.is_file():
            err.print(f"[red]{log}: no such decision log[/]")
            raise typer.Exit(2)
        store = StoreConfig(kind="sqlite", path=str(log))
    else:
        from pointsman.commands.gateway import _load

        store = _load(config).store
        if store.kind == "none":
            err.print(f"[red]{config}: store.kind is none: there is no decision log[/]")
            raise typer.Exit(2)
    db = open_log(store)
    try:
        db.open()
    except RuntimeError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    return db


def feedback_import(
    file: Path = typer.Argument(
        ..., help="JSONL or CSV (.csv) rows: request_id, score or thumbs, labels, comment."
    ),
    log: Path = LOG_OPTION,
    config: Path = CONFIG_OPTION,
    replace: bool = typer.Option(False, help="Overwrite imported scores already stored."),
) -> None:
    """Import offline labels for logged requests (kind `import`); bad rows are listed and skipped (exit 1)."""
    from pointsman.learn.feedback_file import import_feedback

    out = Console(highlight=False, soft_wrap=True)
    if not file.is_file():
        out.print(f"[red]{file}: no such file[/]")
        raise typer.Exit(2)
    db = open_store(log, config)
    try:
        report = import_feedback(db, file, replace=replace)
    finally:
        db.shutdown()
    out.print(f"imported {report.imported} score(s) ({report.replaced} replaced) from {file}")
    for line, message in report.errors:
        out.print(f"  [red]line {line}:[/] {message}", soft_wrap=True)
    if report.errors:
        out.print(f"[red]{len(report.errors)} row(s) not imported[/]")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    feedback_app = typer.Typer(help="Feedback on logged requests.", no_args_is_help=True)
    feedback_app.command("import")(feedback_import)
    app.add_typer(feedback_app, name="feedback")
    register_ope(app)


LIMIT_OPTION = typer.Option(100_000, help="At most this many logged decisions (the newest).")


def _replayed(log: Path, candidate: Path, limit: int):
    from pointsman.commands.gateway import _load
    from pointsman.learn.replay import NoContent, replay

    config = _load(candidate)
    db = open_store(log, None)
    try:
        records = db.recent(limit)
        feedback = db.feedback()
    finally:
        db.shutdown()
    try:
        return replay(records, config), feedback
    except NoContent as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]{log}: {exc}[/]")
        raise typer.Exit(2) from None


def replay_command(
    log: Path = typer.Option(..., "--log", help="A decision log (SQLite) written with store.log_content."),
    config: Path = typer.Option(..., "--config", "-c", help="The candidate gateway config."),
    limit: int = LIMIT_OPTION,
) -> None:
    """Run logged prompts through a candidate config (no backend is called) and diff its choices."""
    from rich.table import Table

    from pointsman.learn.replay import diff

    replayed, _ = _replayed(log, config, limit)
    out = Console(highlight=False, soft_wrap=True)
    same = sum(r.chosen == r.record.chosen_model for r in replayed)
    out.print(
        f"{len(replayed)} logged requests replayed; the candidate chose as logged on {same} "
        f"({same / len(replayed):.0%})"
    )
    table = Table(title="logged choice -> candidate choice")
    for col in ("logged", "candidate", "requests"):
        table.add_column(col)
    for (was, now), count in diff(replayed).most_common():
        table.add_row(was, now, str(count))
    out.print(table)
    costs = [r.cost for r in replayed if r.cost is not None]
    if costs:
        out.print(f"candidate's predicted cost: ${sum(costs):.6f} over {len(costs)} routed requests")


def ope_command(
    log: Path = typer.Option(..., "--log", help="A decision log (SQLite) with content and feedback."),
    config: Path = typer.Option(..., "--config", "-c", help="The candidate gateway config."),
    lam: float = typer.Option(0.0, "--lambda", help="value = quality - lambda x cost (USD)."),
    min_ess: float = typer.Option(30.0, help="Refuse below this effective sample size."),
    limit: int = LIMIT_OPTION,
) -> None:
    """Estimate a candidate config's quality, cost and value on logged traffic (IPS, SNIPS, doubly robust)."""
    from rich.table import Table

    from pointsman.learn.ope import OPEError
    from pointsman.learn.replay import off_policy

    replayed, feedback = _replayed(log, config, limit)
    try:
        report = off_policy(replayed, feedback, lam=lam, min_ess=min_ess)
    except OPEError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]cannot estimate: {exc}[/]")
        raise typer.Exit(1) from None
    out = Console(highlight=False, soft_wrap=True)
    q = report.quality
    out.print(
        f"{q.n} decisions with feedback ({report.skipped} without); effective sample size {q.ess:.1f}; "
        f"the candidate could have taken the logged action on {q.matched:.0%}"
    )
    table = Table(title=f"off-policy estimates (95% bootstrap intervals); value = quality - {lam:g} x cost")
    for col in ("estimator", "quality", "cost (USD)", "value"):
        table.add_column(col)
    for name in ("ips", "snips", "dr"):
        cells = []
        for res in (report.quality, report.cost, report.value):
            e = getattr(res, name)
            cells.append("-" if e is None else f"{e.value:.4g} [{e.low:.4g}, {e.high:.4g}]")
        table.add_row(name.upper(), *cells)
    out.print(table)


def register_ope(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
    app.command("ope")(ope_command)

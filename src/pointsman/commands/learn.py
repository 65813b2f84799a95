"""Learning commands: feedback import, ope (off-policy evaluation), replay."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

LOG_OPTION = typer.Option(None, "--log", help="A decision log (SQLite file written by the gateway).")
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="A gateway config: use its store (SQLite or PostgreSQL).")


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
    file: Path = typer.Argument(..., help="JSONL or CSV (.csv) rows: request_id, score or thumbs, labels, comment."),
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

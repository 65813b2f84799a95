"""Data commands: `pointsman data ...`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Look at routing data.", no_args_is_help=True)
    app.add_typer(data_app, name="data")

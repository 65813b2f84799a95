"""Signal commands: train and inspect the learned request classifiers."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    signals_app = typer.Typer(help="Request signals: train and test the learned classifiers.", no_args_is_help=True)
    app.add_typer(signals_app, name="signals")

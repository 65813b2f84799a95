"""Gateway commands: serve, config check, demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Gateway configuration files.", no_args_is_help=True)
    app.add_typer(config_app, name="config")

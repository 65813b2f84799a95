"""The `pointsman` command. Each area adds its commands from `pointsman.commands.<area>`."""

from __future__ import annotations

from typing import Any

import typer
import typer.core

from pointsman import __version__


def _flag_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """Rich help shows no `<bool>` after a flag (`--json`, `--help`): it takes no value. (Typer 0.2x's rich
    help prints every option's type; its plain help already leaves flags bare.)"""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = getattr(typer.core.TyperOption, "display_type_rich", None)
if _option_type is not None:  # older typers print no types at all
    typer.core.TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]
from pointsman.commands import cache, cascade, data, explain, gateway, lab, learn, signals, usage

app = typer.Typer(
    name="pointsman",
    help="Route each LLM request to the model that should answer it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pointsman {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """pointsman: an OpenAI-compatible routing gateway and a lab to train and evaluate routers."""


data.register(app)
lab.register(app)
gateway.register(app)
signals.register(app)
explain.register(app)
learn.register(app)
usage.register(app)
cascade.register(app)
cache.register(app)


def main() -> None:
    app()

"""Data commands: `pointsman data inspect PATH`, `pointsman data fetch NAME --to DIR`."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pointsman.data.fetch import DATASETS, FetchError, fetch_dataset


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Look at and fetch routing data.", no_args_is_help=True)
    data_app.command("inspect")(inspect)
    data_app.command("fetch")(fetch)
    app.add_typer(data_app, name="data")


def inspect(
    path: Path = typer.Argument(..., help="A data file or directory."),
    format: str | None = typer.Option(
        None, "--format", "-f", help="llmrouter, routeprofile, routerbench or long."
    ),
    prices: Path | None = typer.Option(None, "--prices", help="Prices for a long table (JSON/YAML)."),
) -> None:
    """Models (with prices), prompts, tasks, score types, missing values, duplicates and cost."""
    from pointsman.data import DataFormatError, load_dataset
    from pointsman.data.summary import summarize

    console = Console()
    try:
        with console.status(f"loading {path}"):
            ds = load_dataset(path, format, prices=prices)
    except (DataFormatError, ImportError) as exc:
        _fail(exc)
    s = summarize(ds)
    console.print(
        f"[bold]{s.name}[/bold] ({s.format}): {s.n_prompts:,} prompts x {len(s.models)} models, "
        f"{len(s.tasks)} tasks"
    )
    console.print(
        f"duplicates: {s.duplicates_dropped} dropped by the loader, {s.duplicate_rows} still in the data  |  "
        f"best single model: {s.best_model} {s.best_quality:.3f}  |  oracle: {s.oracle_quality:.3f}"
    )
    models = Table(title="models")
    for col in ("model", "$/1M in", "$/1M out", "scored", "missing", "scores", "mean quality", "$/1k calls"):
        models.add_column(col, justify="left" if col in ("model", "scores") else "right")
    for m in s.models:
        models.add_row(
            m.name, _num(m.input_price), _num(m.output_price), f"{m.scored:,}", f"{m.missing:,}",
            m.score_type, f"{m.mean_quality:.3f}", _num(m.mean_cost * 1000, 4),
        )  # fmt: skip
    console.print(models)
    tasks = Table(title="tasks")
    tasks.add_column("task")
    tasks.add_column("prompts", justify="right")
    for task, n in s.tasks.items():
        tasks.add_row(task, f"{n:,}")
    console.print(tasks)
    console.print(f"cost: {s.cost_model}", highlight=False)


def fetch(
    name: str = typer.Argument(..., help=f"One of: {', '.join(DATASETS)}."),
    to: Path = typer.Option(..., "--to", help="Directory to download into."),
    base_url: str | None = typer.Option(None, "--base-url", help="Download from this mirror instead."),
) -> None:
    """Download a public routing dataset (verified by size and checksum)."""
    console = Console()
    try:
        paths = fetch_dataset(name, to, base_url=base_url)
    except FetchError as exc:
        _fail(exc)
    spec = DATASETS[name]
    console.print(f"{spec.description} ({spec.licence}):")
    for p in paths:
        console.print(f"  {p}  {p.stat().st_size:,} bytes")
    if any(p.suffix == ".pkl" for p in paths):
        console.print(
            "[yellow]note:[/yellow] pickles run code when read; load them only if you trust the source."
        )


def _fail(exc: Exception) -> None:
    """One clean line on stderr (no traceback), exit status 2."""
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(2)


def _num(x: float, digits: int = 2) -> str:
    return "-" if math.isnan(x) else f"{x:.{digits}f}"

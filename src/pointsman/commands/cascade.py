"""`pointsman cascade fit`: an answer scorer and a chain's thresholds for a gateway cascade profile."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Cascades: fit an answer scorer and calibrate a chain (docs/cascades.md).")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="cascade")


@app.command("fit")
def fit_command(
    data: Path = typer.Option(..., "--data", "-d", help="Routing data with responses (e.g. RouteProfile)."),
    steps: str = typer.Option(..., "--steps", help="The chain's models, cheapest first, comma-separated."),
    output: Path = typer.Option(..., "--output", "-o", help="The answer scorer file to write (.npz)."),
    scorer: str = typer.Option("learned", "--scorer", help="agreement, learned or logprob."),
    objective: str = typer.Option(
        "quality_target=1.0", "--objective", help="lambda=..., quality_target=... or budget_per_1k=..."
    ),
    format: str | None = typer.Option(None, "--format", "-f", help="Data format (default: guessed)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Fit the scorer on the data, choose per-step thresholds meeting the objective on out-of-fold scores,
    write the scorer and print the profile's `cascade:` section."""
    import yaml

    from pointsman.cascade.scorers import make_scorer
    from pointsman.commands.lab import _fail, clean_errors, parse_objective
    from pointsman.data import load_dataset
    from pointsman.evaluate.cascades import calibrate_chain

    with clean_errors():
        ds = load_dataset(data, format)
        if ds.responses is None:
            _fail(f"{data}: the data has no responses; a cascade scores answers")
        models = [m.strip() for m in steps.split(",") if m.strip()]
        for m in models:
            if m not in ds.model_names:
                _fail(f"--steps: unknown model {m!r}; known: {', '.join(ds.model_names)}")
        try:
            fitted = make_scorer(scorer)
        except ValueError as exc:
            _fail(str(exc))
        chain = calibrate_chain(ds, models, fitted, parse_objective(objective), seed=seed)
        chain.scorer.save(output)
    typer.echo(
        f"# {objective}: quality {chain.quality:.3f} at ${chain.cost * 1000:.4f} per 1k requests on "
        f"out-of-fold scores ({'met' if chain.met else 'NOT met'})"
    )
    typer.echo(yaml.safe_dump({"cascade": chain.profile_yaml(str(output))}, sort_keys=False))

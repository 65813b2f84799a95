"""Signal commands: train and measure the learned request classifiers.

  pointsman signals train KIND [--out FILE] [--data PATH] [--domain NAME=FILE ...] [--negatives FILE ...]
  pointsman signals eval KIND [--model FILE] [--data PATH] [--test FILE ...] [--threshold P] [--json FILE]

KIND: domain, difficulty, jailbreak, ood, harm, privacy. Without --out, train writes the built-in model the
gateway uses (`ensure_trained`), in the cache directory; trained files never belong in the repository.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

KIND_HELP = "domain, difficulty, jailbreak, ood, harm or privacy."


def register(app: typer.Typer) -> None:
    signals_app = typer.Typer(
        help="Request signals: train and test the learned classifiers.", no_args_is_help=True
    )
    signals_app.command("train")(train)
    signals_app.command("eval")(evaluate)
    app.add_typer(signals_app, name="signals")


def train(
    kind: str = typer.Argument(..., help=KIND_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Model file to write (default: the built-in model)."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="jailbreak/ood: the data root holding guard/; domain/difficulty: routing data."
    ),
    domain: list[str] = typer.Option([], "--domain", help="ood: NAME=FILE in-domain examples (repeat)."),
    negatives: list[Path] = typer.Option([], "--negatives", help="ood: extra out-of-domain example files."),
    strong: str | None = typer.Option(None, "--strong", help="difficulty: the strong model (default: best)."),
    cheap: str | None = typer.Option(
        None, "--cheap", help="difficulty: the cheap model (default: cheapest)."
    ),
    hidden: int | None = typer.Option(None, "--hidden", help="Hidden units (0: linear; default per kind)."),
    c: float | None = typer.Option(None, "--C", help="Inverse regularisation strength (default per kind)."),
) -> None:
    """Train a classifier from data and save it (prints held-out figures afterwards)."""
    from pointsman.data.errors import DataFormatError
    from pointsman.signals.classifiers.store import default_model_path
    from pointsman.signals.classifiers.store import kind as get_kind

    console = Console()
    try:
        spec = get_kind(kind)
        options = _train_options(kind, domain, negatives, strong, cheap)
        params = {k: v for k, v in (("hidden", hidden), ("C", c)) if v is not None}
        custom = bool(options or params or data)
        if out is None and custom:
            raise ValueError(
                "a model trained with custom data or options needs --out FILE "
                "(without --out, train writes the built-in model)"
            )
        path = out or default_model_path(kind)
        t0 = time.perf_counter()
        console.print(f"training [bold]{kind}[/bold] ({spec.summary})")
        model = spec.train(data, None, progress=True, params=params or None, **options)
        seconds = time.perf_counter() - t0
        model.save(path)
    except (ValueError, FileNotFoundError, DataFormatError, KeyError) as exc:
        _fail(exc)
    console.print(
        f"saved {path}  ({model.info_['rows']:,} rows, classes {', '.join(model.classes_)}; "
        f"{seconds:.1f} s in all, fit {model.info_['fit_seconds']:.1f} s)",
        highlight=False,
    )
    if not (kind == "ood" and options.get("domains")):
        _evaluate_and_show(console, kind, model, data, test=[], threshold=None)


def evaluate(
    kind: str = typer.Argument(..., help=KIND_HELP),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model file (default: the built-in model)."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="As for train: where the held-out data comes from."
    ),
    test: list[Path] = typer.Option([], "--test", help="ood: labelled test files (text + label) instead."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="jailbreak: on P(unsafe); ood: on P(in)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON."),
) -> None:
    """Accuracy, F1 and the confusion matrix of a trained classifier on held-out data."""
    from pointsman.data.errors import DataFormatError
    from pointsman.signals.classifiers.model import TextClassifier
    from pointsman.signals.classifiers.store import ensure_trained
    from pointsman.signals.classifiers.store import kind as get_kind

    console = Console()
    try:
        get_kind(kind)
        path = model if model is not None else ensure_trained(kind, progress=True)
        clf = TextClassifier.load(path)
        if clf.info_.get("kind") != kind:
            raise ValueError(f"{path} holds a {clf.info_.get('kind')!r} classifier, not {kind!r}")
        result = _evaluate_and_show(console, kind, clf, data, test, threshold)
    except (ValueError, FileNotFoundError, DataFormatError, KeyError) as exc:
        _fail(exc)
    if json_out:
        json_out.write_text(json.dumps(_as_json(result), indent=1))


def _train_options(
    kind: str, domain: list[str], negatives: list[Path], strong: str | None, cheap: str | None
) -> dict[str, Any]:
    if (domain or negatives) and kind != "ood":
        raise ValueError("--domain and --negatives are for the ood kind")
    if (strong or cheap) and kind != "difficulty":
        raise ValueError("--strong and --cheap are for the difficulty kind")
    options: dict[str, Any] = {}
    if domain:
        pairs = [d.partition("=") for d in domain]
        bad = [d for d, (name, eq, file) in zip(domain, pairs) if not (name and eq and file)]
        if bad:
            raise ValueError(f"--domain {bad[0]!r}: expected NAME=FILE")
        options["domains"] = {name: Path(file) for name, _, file in pairs}
    if negatives:
        options["negatives"] = negatives
    if strong or cheap:
        options.update(strong=strong, cheap=cheap)
    return options


def _evaluate_and_show(
    console: Console, kind: str, clf: Any, data: Path | None, test: list[Path], threshold: float | None
) -> Any:
    from pointsman.signals.classifiers.store import kind as get_kind

    extra: dict[str, Any] = {}
    if threshold is not None:
        if kind not in ("jailbreak", "ood", "harm", "privacy"):
            raise ValueError("--threshold is for the jailbreak, ood, harm and privacy kinds")
        extra["threshold"] = threshold
    if test:
        if kind != "ood":
            raise ValueError("--test is for the ood kind")
        extra["test_files"] = test
    result = get_kind(kind).evaluate(clf, data, None, progress=True, **extra)
    _show(console, result)
    return result


def _show(console: Console, result: Any) -> None:
    sets = Table(title=f"{result.kind}: held-out sets")
    for col in ("set", "rows", "accuracy", *(("flagged " + result.positive,) if result.positive else ())):
        sets.add_column(col, justify="left" if col == "set" else "right")
    for s in result.sets:
        row = [s.name, f"{s.n:,}", f"{s.accuracy:.3f}"]
        if result.positive:
            row.append(f"{s.flagged:.3f}")
        sets.add_row(*row)
    console.print(sets)
    what = f"{result.positive} vs rest" if result.positive else "macro-F1"
    figures = "  ".join(f"{k} {v:.3f}" for k, v in result.extra.items())
    console.print(
        f"pooled accuracy [bold]{result.accuracy:.3f}[/bold]  F1 ({what}) [bold]{result.f1:.3f}[/bold]  "
        f"mean of set accuracies {result.macro_set_accuracy:.3f}  {figures}",
        highlight=False,
    )
    confusion = Table(title="confusion (rows: truth, columns: predicted)")
    confusion.add_column("")
    for label in result.labels:
        confusion.add_column(label[:12], justify="right")
    for label, row in zip(result.labels, result.confusion):
        confusion.add_row(label, *(f"{v:,}" for v in row))
    console.print(confusion)


def _as_json(result: Any) -> dict[str, Any]:
    return {
        "kind": result.kind,
        **result.summary(),
        "positive": result.positive,
        "sets": [
            {"name": s.name, "n": s.n, "accuracy": s.accuracy, "flagged": s.flagged} for s in result.sets
        ],
        "labels": result.labels,
        "confusion": result.confusion.tolist(),
    }


def _fail(exc: Exception) -> None:
    """One clean line on stderr (no traceback), exit status 2."""
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(2)

"""Router-lab commands: `pointsman train`, `pointsman route`, `pointsman eval`.

Errors a user can act on (bad data, unknown router, bad parameter or objective, unreadable router file)
print one line and exit with code 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from pointsman.evaluate.parallel import PARALLEL_FROM, auto_jobs

DATA_HELP = "Routing data: a file or a directory in a known format (see `pointsman data inspect`)."
FORMAT_HELP = "llmrouter, routeprofile, routerbench or long (default: from the file's shape)."
PRICES_HELP = "Prices for a long table: JSON/YAML {model: {input_price, output_price}} (USD per 1M tokens)."
OBJECTIVE_HELP = (
    "An objective as key=value pairs or inline YAML, e.g. 'lambda=2000', 'within=0.05', "
    "'quality_target=0.95', 'budget_per_1k=0.05', 'lambda=0,max_cost_per_request=0.001'."
)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("train")(train_command)
    app.command("route")(route_command)
    personal = typer.Typer(help="Per-tenant preferences over a router (personalised routing).")
    personal.command("fit")(personal_fit_command)
    app.add_typer(personal, name="personal")


class UsageError(ValueError):
    """A bad command-line value."""


@contextmanager
def clean_errors() -> Iterator[None]:
    """Known failure modes become a one-line message and exit code 2, not a traceback."""
    from pydantic import ValidationError

    from pointsman.data.errors import DataFormatError
    from pointsman.evaluate.crossval import EvaluationError
    from pointsman.policy.objective import ObjectiveError
    from pointsman.routers.base import RouterFileError

    try:
        yield
    except (
        UsageError,
        DataFormatError,
        EvaluationError,
        ObjectiveError,
        RouterFileError,
        ImportError,
    ) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()))
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


# -- parsing ----------------------------------------------------------------------------------------------


def parse_pairs(items: list[str], what: str) -> dict[str, Any]:
    """['k=v', 'a=1,b=2'] -> {'k': 'v', 'a': 1, 'b': 2}; values are read as YAML (numbers, bools, lists)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        for pair in _split_pairs(item):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"{what}: expected key=value, got {pair!r}")
            try:
                out[key.strip()] = _number(yaml.safe_load(value)) if value.strip() else ""
            except yaml.YAMLError:
                raise UsageError(f"{what}: cannot read the value of {key.strip()!r}: {value!r}") from None
    return out


def _number(value: Any) -> Any:
    """YAML 1.1 reads '1e-3' (no dot) as a string: such a string is the number it spells."""
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            return value
    return value


def _split_pairs(item: str) -> list[str]:
    """Split on commas that start a new key=value (so list values like [1,2] stay whole)."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in item:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in (p.strip() for p in parts) if p]


def parse_objective(text: str | None):
    """An Objective from 'k=v,...' or inline YAML/JSON ('{lambda: 100}')."""
    import yaml

    from pointsman.policy.objective import Objective

    if text is None:
        return Objective()
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise UsageError(f"--objective: not valid YAML/JSON: {exc}") from None
    else:
        data = parse_pairs([stripped], "--objective")
    return Objective.model_validate(data)


def parse_router_params(items: list[str], routers: list[str]) -> dict[str, dict[str, Any]]:
    """['knn.k=80', 'mlp.hidden=64'] -> {'knn': {'k': 80}, 'mlp': {'hidden': 64}}."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_pairs(items, "--param").items():
        router, dot, name = key.partition(".")
        if not dot:
            raise UsageError(f"--param {key}: name the router, e.g. knn.{key}={value}")
        if router not in routers:
            raise UsageError(
                f"--param {key}: router {router!r} is not being evaluated ({', '.join(routers)})"
            )
        out.setdefault(router, {})[name] = value
    return out


# The registered routers (routers/registry.py), named in --help without importing them all;
# tests/routers check it against the registry.
ROUTER_NAMES = "best-single, category, dual, graph, irt, knn, mf, mixture, mlp, oracle, random"


def resolve_routers(text: str, flag: str = "--routers") -> list[str]:
    from pointsman.evaluate.crossval import evaluable_routers
    from pointsman.routers.registry import router_names

    known = router_names()
    if text.strip() == "all" and flag == "--routers":
        return evaluable_routers()
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"{flag}: unknown router {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    if not names:
        raise UsageError(f"{flag}: name at least one router" + (", or 'all'" if flag == "--routers" else ""))
    if flag == "--router" and len(names) > 1:
        raise UsageError(f"--router: one router, got {', '.join(names)}")
    return names


def select_models(dataset, models: str | None):
    if models is None:
        return dataset
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [n for n in names if n not in dataset.model_names]
    if unknown or len(names) < 2:
        raise UsageError(
            f"--models: {'unknown ' + ', '.join(map(repr, unknown)) if unknown else 'give at least two'}; "
            f"the data has: {', '.join(dataset.model_names)}"
        )
    return dataset.select_models(names)


def _load(data: Path, format: str | None, prices: Path | None, console: Console):
    from pointsman.data import load_dataset

    with console.status(f"loading {data}"):
        return load_dataset(data, format, prices=prices)


# -- eval -------------------------------------------------------------------------------------------------


def eval_command(
    data: Path = typer.Option(..., "--data", "-d", help=DATA_HELP),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    prices: Path | None = typer.Option(None, "--prices", help=PRICES_HELP),
    routers: str = typer.Option(
        "all", "--routers", "-r", help=f"'all' or a comma-separated list of: {ROUTER_NAMES}."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="A router parameter, router.key=value (repeat)."
    ),
    models: str | None = typer.Option(
        None, "--models", "-m", help="Only these models (comma-separated); two give RouteLLM's APGR and CPT."
    ),
    cv: int = typer.Option(5, "--cv", min=2, help="Grouped cross-validation folds."),
    test_split: str | None = typer.Option(
        None,
        "--test-split",
        help="Instead of CV: 'llmrouter' trains on train, tests on the 381 clean test prompts.",
    ),
    out: Path = typer.Option(
        Path("eval-out"), "--out", "-o", help="Output directory for report.json/.md, curves.png."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for folds, bootstrap and the calibration halves."),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=0, help="Bootstrap resamples for 95% intervals (0: none)."
    ),
    task_labels: bool = typer.Option(
        False,
        "--task-labels",
        help="Give routers the prompts' task labels at prediction (a gateway has none).",
    ),
    target: list[str] = typer.Option(
        [],
        "--target",
        help="Calibration targets to report (default: quality_target=0.95 and 1.0 of best single).",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Score this gateway config's rules + routers instead (docs/rules.md)."
    ),
    cascades: str = typer.Option(
        "auto",
        "--cascades",
        help="Cascades beside the routers where the data has responses: 'auto', 'none', or e.g. "
        "'chain:agreement,cost_aware:learned' (docs/cascades.md).",
    ),
    threads: int = typer.Option(
        1, "--threads", min=1, help="BLAS threads per process (1: best on a shared machine; docs/lab.md)."
    ),
    jobs: int = typer.Option(
        0, "--jobs", "-j", min=0,
        help=f"Worker processes for the folds (0: one per core from {PARALLEL_FROM:,} prompts, else 1).",
    ),  # fmt: skip
) -> None:
    """Cross-validate routers (and cascades, on data with responses); write report.json, report.md and
    curves.png."""
    if config is not None:  # a whole rule set (evaluate/policy_eval.py)
        from pointsman.commands.explain import eval_config

        return eval_config(config, data, format, prices, out)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from threadpoolctl import threadpool_limits

    from pointsman.evaluate.crossval import RouterSpec, default_router_name
    from pointsman.evaluate.plot import plot_curves
    from pointsman.evaluate.runner import DEFAULT_TARGETS, Protocol, Setup, run_evaluation

    console = Console()
    with clean_errors():
        names = resolve_routers(routers)
        params = parse_router_params(param, names)
        targets = [parse_objective(t) for t in target] or list(DEFAULT_TARGETS)
        for t in targets:
            if not t.is_target:
                raise UsageError(f"--target {t.describe()!r}: give quality_target=... or budget_per_1k=...")
        ds = select_models(_load(data, format, prices, console), models)
        from pointsman.evaluate.cascades import parse_cascades

        setup = Setup(
            Protocol(cv=cv, test_split=test_split, seed=seed), bootstrap, seed, task_labels, targets,
            parse_cascades(cascades, names), jobs or auto_jobs(ds.n_prompts), threads,
        )  # fmt: skip
        specs = [RouterSpec(n, params.get(n, {})) for n in names]
        for spec in specs:
            spec.make()  # bad parameters fail now, not after minutes of work
        start = time.perf_counter()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with threadpool_limits(threads), Progress(*columns, console=console, transient=False) as progress:
            report = run_evaluation(ds, specs, setup, default_router_name(), progress)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        (out / "report.md").write_text(report.to_markdown())
        plot_curves(report, out / "curves.png")
    console.print(_summary_table(report))
    console.print(f"wrote {out}/report.json, report.md, curves.png in {time.perf_counter() - start:.0f} s")


def _summary_table(report) -> Table:
    ds = report.dataset
    best = ds.model(ds.best_single)
    two = len(ds.models) == 2
    table = Table(
        title=f"{ds.name}: {ds.n_prompts} prompts x {len(ds.models)} models; best single {best.name} "
        f"{best.quality:.3f}, oracle {ds.oracle_quality:.3f}"
    )
    columns = ["router", "max quality", "gap closed", "cost ratio @ best single", "AIQ"]
    for col in columns + (["APGR", "CPT(50%)", "CPT(80%)", "cost-aware APGR"] if two else []):
        table.add_column(col, justify="left" if col == "router" else "right")
    for label, r in report.routers.items():
        s = r.scores
        cells = [
            f"{label} (default)" if r.name == report.default_router else label,
            _num(s.max_quality),
            _num(s.oracle_gap_closed),
            "never"
            if s.cost_ratio_at_best_single_quality is None
            else f"{s.cost_ratio_at_best_single_quality:.3f}x",
            _num(s.aiq),
        ]
        if two:
            cells += [_num(s.apgr), _num(s.cpt50), _num(s.cpt80), _num(s.cost_aware_apgr)]
        table.add_row(*cells)
    return table


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


# -- train ------------------------------------------------------------------------------------------------


def train_command(
    data: Path = typer.Option(..., "--data", "-d", help=DATA_HELP),
    router: str = typer.Option(..., "--router", "-r", help=f"Router name: {ROUTER_NAMES}."),
    output: Path = typer.Option(..., "--output", "-o", help="Router file to write."),
    param: list[str] = typer.Option([], "--param", "-p", help="A router parameter, key=value (repeat)."),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    prices: Path | None = typer.Option(None, "--prices", help=PRICES_HELP),
    objective: list[str] = typer.Option(
        [], "--objective", help="A target to calibrate (e.g. quality_target=0.95) on out-of-fold predictions."
    ),
    cv: int = typer.Option(5, "--cv", min=2, help="Folds for calibrating --objective targets."),
    seed: int = typer.Option(0, "--seed", help="Seed for the calibration folds."),
) -> None:
    """Fit a router on all the data and save it; optionally calibrate objective targets for the gateway."""
    import yaml

    from pointsman.evaluate.crossval import RouterSpec, predict_held_out
    from pointsman.evaluate.runner import Protocol, drop_unscored
    from pointsman.evaluate.truth import Truth
    from pointsman.policy.calibration import calibrate

    console = Console()
    with clean_errors():
        resolve_routers(router, "--router")
        spec = RouterSpec(router, parse_pairs(param, "--param"))
        spec.make()
        targets = [parse_objective(t) for t in objective]
        ds, dropped = drop_unscored(_load(data, format, prices, console))
        resolved = []
        if targets:
            with console.status(f"calibrating on {cv}-fold out-of-fold predictions"):
                splits = Protocol(cv=cv, seed=seed).splits(ds)
                preds = predict_held_out(spec, ds, splits)
                truth = Truth(ds.quality[preds.rows], ds.cost[preds.rows])
                resolved = [calibrate(t, preds.quality, preds.cost, truth) for t in targets]
        with console.status(f"fitting {spec.label} on {ds.n_prompts} prompts"):
            start = time.perf_counter()
            fitted = spec.make().fit(ds)
            seconds = time.perf_counter() - start
            path = fitted.save(output)
    console.print(
        f"[bold]{spec.label}[/bold] fitted on {ds.n_prompts:,} prompts x {ds.n_models} models "
        f"({dropped} unscored prompts dropped) in {seconds:.1f} s -> {path} "
        f"({path.stat().st_size / 1024:.0f} KiB)"
    )
    console.print(f"models: {', '.join(fitted.model_names)}")
    for obj in resolved:
        rec = obj.calibration
        status = "met" if rec.met else "[red]NOT met[/red]"
        console.print(
            f"objective {rec.target}: {status} on {rec.n_prompts} held-out prompts "
            f"with lambda={obj.lambda_:g} "
            f"(quality {rec.quality:.3f}, ${rec.cost_per_1k:.4f} per 1k requests); for a route profile:"
        )
        console.print(yaml.safe_dump({"objective": obj.dump()}, sort_keys=False).rstrip(), highlight=False)


# -- route ------------------------------------------------------------------------------------------------


def personal_fit_command(
    router: Path = typer.Option(..., "--router", "-r", help="The router file the gateway profile uses."),
    judgements: Path = typer.Option(
        ...,
        "--judgements",
        "-j",
        help="JSONL of {tenant, query, better_model, worse_model} (docs/routers.md).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The preferences file to write (JSON)."),
    strength: float = typer.Option(
        5.0, "--strength", min=0.0, help="Pseudo-judgements pulling offsets to 0."
    ),
) -> None:
    """Learn per-tenant offsets over a router's predictions from pairwise judgements (`selector.personal`)."""
    from pointsman.data.pairwise import load_preferences
    from pointsman.policy.personal_file import PersonalFileError, fit_preferences, save_preferences
    from pointsman.routers.base import Router

    console = Console()
    with clean_errors():
        model = Router.load(router)
        prefs = load_preferences(judgements)
        try:
            fitted = fit_preferences(model, prefs, strength)
        except (PersonalFileError, ValueError) as exc:
            raise UsageError(f"{judgements}: {exc}") from None
        save_preferences(fitted, list(model.model_names), out)
    tenants = sorted(fitted.offsets_)
    console.print(
        f"{len(prefs)} judgements, {len(tenants)} tenants ({', '.join(tenants)}); alpha {fitted.alpha_:.3f}; "
        f"wrote {out}"
    )
    for t in tenants:
        offsets = fitted.offsets(t)
        top = int(np.argmax(offsets))
        console.print(
            f"  {t}: most preferred beyond the router: {model.model_names[top]} (+{offsets[top]:.3f})"
        )


def route_command(
    prompt: str = typer.Argument(..., help="The prompt to route."),
    router: Path = typer.Option(..., "--router", "-r", help="A router file from `pointsman train`."),
    objective: str | None = typer.Option(None, "--objective", help=OBJECTIVE_HELP),
    flags: str | None = typer.Option(
        None,
        "--flags",
        help="Objective flags (docs/routers.md): prefer_smaller=W, prefer_recent=W, max_latency=S, "
        "licence=a|b, comma-separated.",
    ),
    pareto: bool = typer.Option(False, "--pareto", help="Mark the models on the quality-cost Pareto front."),
    output_json: bool = typer.Option(False, "--json", help="Print the ranking as JSON."),
) -> None:
    """Rank the router's models for one prompt: predicted quality and cost, the chosen one marked."""
    from pointsman.policy.flags import FlagError, Flags, pareto_front
    from pointsman.routers.base import Queries, Router

    console = Console()
    with clean_errors():
        obj = parse_objective(objective)
        if not obj.is_resolved:
            raise UsageError(
                f"--objective {obj.describe()!r} is a target: calibrate it with "
                "`pointsman train --objective` "
                "and pass the lambda it prints"
            )
        model = Router.load(router)
        queries = Queries(texts=[prompt])
        quality = model.predict(queries)[0]
        cost = model.predict_cost(queries)[0]
        try:
            wanted = Flags.parse(flags)
            adjusted, allowed = wanted.apply(quality, model.models_)
        except FlagError as exc:
            raise UsageError(f"--flags: {exc}") from None
        order = obj.rank(adjusted, cost)
        front = pareto_front(np.where(allowed, quality, np.nan), cost)
    names = model.model_names
    if output_json:
        rows = [
            {"model": names[i], "quality": float(quality[i]), "cost": float(cost[i])}
            | ({"adjusted_quality": _num(adjusted[i]), "allowed": bool(allowed[i])} if wanted.active else {})
            | ({"pareto": bool(front[i])} if pareto else {})
            for i in order
        ]
        print(json.dumps({"objective": obj.dump(), "chosen": names[order[0]], "ranking": rows}))
        return
    title = f"{model.name} router, objective: {obj.describe() or 'best predicted quality'}"
    table = Table(title=title + (f", flags: {flags}" if wanted.active else ""))
    table.add_column("")
    table.add_column("rank", justify="right")
    table.add_column("model", no_wrap=True)
    table.add_column("predicted quality", justify="right")
    if wanted.active:
        table.add_column("with flags", justify="right")
    table.add_column("predicted $ per 1k requests", justify="right")
    if pareto:
        table.add_column("Pareto", justify="center")
    for rank, i in enumerate(order, 1):
        mark = "[bold green]>[/bold green]" if rank == 1 else ""
        style = "bold" if rank == 1 else None
        cells = [mark, str(rank), names[i], f"{quality[i]:.3f}"]
        if wanted.active:
            cells.append(f"{adjusted[i]:.3f}" if allowed[i] else "excluded")
        cells.append(f"{cost[i] * 1000:.4f}")
        if pareto:
            cells.append("*" if front[i] else "")
        table.add_row(*cells, style=style)
    console.print(table)
    if pareto:
        console.print("* on the Pareto front: no other model has higher predicted quality at lower cost")

"""`pointsman explain`: what a config decides for a prompt, and why, without calling any backend.

  pointsman explain --config FILE "prompt"         a table: every signal's value and latency, the decision
  pointsman explain --config FILE --input FILE.jsonl [--out FILE]   one JSON line per request

Config problems exit 2 (each named with its key and line); malformed input lines give an error record and the
run goes on.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

PROGRESS_FROM = 50  # input lines; smaller inputs run without a progress bar


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)


def explain(
    prompt: str | None = typer.Argument(None, help="A prompt to explain (or give --input)."),
    config: Path = typer.Option(..., "--config", "-c", help="Gateway config file (YAML)."),
    input: Path | None = typer.Option(
        None, "--input", "-i", help='JSONL: one {"prompt": ...} or {"messages": [...]} per line ("-": stdin).'
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON lines here (default: stdout)."),
    model: str = typer.Option(
        "auto", "--model", "-m", help="The requested model (JSONL lines may set 'model')."
    ),
    select: bool = typer.Option(False, "--select", help="Also rank the route's models (runs the router)."),
    as_json: bool = typer.Option(False, "--json", help="Print the single prompt's record as JSON."),
) -> None:
    """Every signal's value and latency and the decision reached for PROMPT (or each line of --input)."""
    from pointsman.commands.gateway import _load
    from pointsman.policy.explain import Explainer

    if (prompt is None) == (input is None):
        _fail("give a prompt or --input FILE.jsonl (one of them)")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with err.status("loading the config's signals and rules ..."):
        _, policy = _load(config, policy=True)
        policy.warm()  # the encoder's first run is slow: keep it out of the first request's figures
    explainer = Explainer(policy, select=select)
    try:
        if input is not None:
            _explain_file(explainer, input, out, err)
        else:
            _explain_one(explainer, prompt or "", model, as_json)
    finally:
        policy.close()


def _fail(message: str) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


def _explain_one(explainer: Any, prompt: str, model: str, as_json: bool) -> None:
    from pointsman.policy.conditions import config_text_tests
    from pointsman.policy.facts import summarize
    from pointsman.signals.base import RequestView

    result = explainer.explain(RequestView.from_prompt(prompt), model)
    if as_json:
        print(json.dumps(result.record(), ensure_ascii=False))
        return
    console = Console(highlight=False)
    read = set(explainer.policy.decider.signals)
    table = Table(title="signals", title_justify="left")
    for col in ("signal", "value", "confidence", "ms", "read by rules"):
        table.add_column(col, justify="right" if col in ("confidence", "ms") else "left")
    for name, s in summarize(result.signals).items():
        value = s["value"] if "error" not in s else f"[red]error: {s['error']}[/red]"
        table.add_row(
            name, _short(value), f"{s['confidence']:.3f}", f"{s['ms']:.3f}", "yes" if name in read else ""
        )
    for kind, looks_for in config_text_tests(explainer.policy.config.rules):  # inline tests, not signals
        table.add_row(kind, "looks for " + _short(looks_for), "", "", "yes")
    console.print(table)
    d = result.decision
    if d is None:
        console.print(f"[red]no decision:[/red] {result.error}")
        raise typer.Exit(1)
    console.print(
        f"decision [bold]{d.name}[/bold]  action [bold]{d.action}[/bold]"
        + (f"  route [cyan]{d.route}[/cyan]" if d.route else "")
    )
    console.print(f"reason   {d.reason}", markup=False)
    if d.block is not None:
        console.print(f"answer   HTTP {d.block.status} {d.block.code}: {d.block.message}", markup=False)
    if result.ranking is not None:
        console.print(f"models   {' > '.join(result.ranking)}", markup=False)
    console.print(
        f"total    {result.ms:.2f} ms (signals computed eagerly here; the gateway computes only those "
        "the rules reach)",
        style="dim",
    )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _explain_file(explainer: Any, path: Path, out: Path | None, err: Console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pointsman.policy.explain import explain_lines

    try:
        lines = (
            sys.stdin.read().splitlines()
            if str(path) == "-"
            else path.read_text(encoding="utf-8").splitlines()
        )
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    total = sum(1 for line in lines if line.strip())
    sink = open(out, "w", encoding="utf-8") if out is not None else sys.stdout  # noqa: SIM115
    counts: Counter[str] = Counter()
    columns = (TextColumn("explaining"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err, transient=True, disable=total < PROGRESS_FROM) as progress:
            task = progress.add_task("explain", total=total)
            for record in explain_lines(explainer, lines):
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[record.get("action", "error")] += 1
                progress.advance(task)
    finally:
        if out is not None:
            sink.close()
    shares = ", ".join(f"{a} {n} ({n / max(total, 1):.1%})" for a, n in counts.most_common())
    err.print(f"{total} requests: {shares}" + (f"; wrote {out}" if out else ""))


def eval_config(config: Path, data: Path, format: str | None, prices: Path | None, out: Path) -> None:
    """`pointsman eval --config FILE --data PATH`: a rule set + routers scored offline on routing data."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pointsman.commands.gateway import _load
    from pointsman.commands.lab import _load as load_data
    from pointsman.commands.lab import clean_errors
    from pointsman.evaluate.policy_eval import evaluate_policy, plot_policy

    console = Console(highlight=False, soft_wrap=True)
    _, policy = _load(config, policy=True)
    try:
        with clean_errors():
            dataset = load_data(data, format, prices, console)
            start = time.perf_counter()
            with console.status("loading signals and routers (first use may train them) ..."):
                policy.warm()
            columns = (TextColumn("deciding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
                task = progress.add_task("decide", total=dataset.n_prompts)
                report = evaluate_policy(policy, dataset, config_name=config.name,
                                         progress=lambda n: progress.advance(task, n))  # fmt: skip
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
            (out / "report.md").write_text(report.to_markdown())
            plot_policy(report, out / "policy.png")
    finally:
        policy.close()
    console.print(report.to_markdown(), markup=False)
    console.print(f"wrote {out}/report.json, report.md, policy.png in {time.perf_counter() - start:.0f} s")

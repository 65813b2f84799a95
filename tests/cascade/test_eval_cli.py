"""`pointsman eval` shows cascades beside the routers, on the same folds, on data with responses (a long
table cut from the RouteProfile answers), and refuses a bad --cascades."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from pointsman.cli import app


def _long_table(routeprofile, path: Path, per_task: int = 10) -> Path:
    seen: dict[str, int] = {}
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt_id", "prompt", "model", "score", "cost", "task", "response"])
        for i, task in enumerate(routeprofile.tasks):
            if seen.setdefault(task, 0) >= per_task:
                continue
            seen[task] += 1
            for j, name in enumerate(routeprofile.model_names):
                out.writerow(
                    [f"p{i}", routeprofile.prompts[i], name, routeprofile.quality[i, j],
                     routeprofile.cost[i, j], task, routeprofile.responses[i, j]]
                )  # fmt: skip
    return path


def test_eval_shows_cascades_beside_routers(routeprofile, tmp_path: Path):
    data = _long_table(routeprofile, tmp_path / "answers.csv")
    result = CliRunner().invoke(
        app,
        ["eval", "--data", str(data), "--routers", "best-single", "--cascades", "chain:agreement",
         "--cv", "3", "--bootstrap", "20", "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    labels = list(report["routers"])
    assert labels[0] == "best-single" and labels[1].startswith("cascade:chain(")
    cascade = report["routers"][labels[1]]
    assert cascade["router"] == "cascade" and cascade["ci95"]["aiq"][0] is not None
    assert len(cascade["curve"]["cost"]) == len(cascade["params"]["mean_calls_per_lambda"])
    assert "cascade:chain(" in (tmp_path / "out" / "report.md").read_text()


def test_bad_cascades_option(routeprofile, tmp_path: Path):
    data = _long_table(routeprofile, tmp_path / "answers.csv", per_task=2)
    result = CliRunner().invoke(
        app, ["eval", "--data", str(data), "--routers", "best-single", "--cascades", "ladder"]
    )
    assert result.exit_code == 2 and "the policy is chain or cost_aware" in result.output
    result = CliRunner().invoke(
        app, ["eval", "--data", str(data), "--routers", "best-single", "--cascades", "chain:magic"]
    )
    assert result.exit_code == 2 and "unknown answer scorer 'magic'" in result.output

"""`pointsman cascade fit`: a scorer file and a profile's `cascade:` section the gateway config accepts."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from pointsman.cascade.scorers import AnswerScorer
from pointsman.cli import app
from pointsman.config.loader import parse_config

from .test_eval_cli import _long_table

STEPS = "llama-3.2-3b-instruct,gemma-2-9b-it,mistral-small-24b-instruct-2501-bf16"


def test_fit_writes_a_scorer_and_a_profile_section(routeprofile, tmp_path: Path):
    data = _long_table(routeprofile, tmp_path / "answers.csv")
    out = tmp_path / "scorer.npz"
    result = CliRunner().invoke(
        app, ["cascade", "fit", "--data", str(data), "--steps", STEPS, "--scorer", "agreement",
              "--objective", "lambda=1000", "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert AnswerScorer.load(out).name == "agreement"
    assert result.output.startswith("# lambda=1000: quality ")
    section = yaml.safe_load(result.output.split("\n", 1)[1])["cascade"]
    assert [s["model"] for s in section["steps"]] == STEPS.split(",")
    assert (
        all(0 <= s["threshold"] <= 1 for s in section["steps"][:-1])
        and "threshold" not in section["steps"][-1]
    )
    config = {
        "backends": [
            {"name": m, "kind": "openai", "base_url": "http://127.0.0.1:9/v1"} for m in STEPS.split(",")
        ],
        "profiles": [{"name": "cas", "candidates": STEPS.split(","), "cascade": section}],
    }
    cfg = parse_config(yaml.safe_dump(config), source="g.yaml", base_dir=tmp_path)
    assert cfg.profiles[0].cascade.models == STEPS.split(",")


def test_fit_refuses_bad_input(routeprofile, tmp_path: Path):
    data = _long_table(routeprofile, tmp_path / "answers.csv", per_task=2)
    run = CliRunner().invoke
    result = run(
        app, ["cascade", "fit", "--data", str(data), "--steps", "a,b", "-o", str(tmp_path / "s.npz")]
    )
    assert result.exit_code == 2 and "--steps: unknown model 'a'" in result.output
    result = run(
        app, ["cascade", "fit", "--data", str(data), "--steps", STEPS, "--scorer", "x", "-o", "s.npz"]
    )
    assert result.exit_code == 2 and "unknown answer scorer 'x'" in result.output
    plain = tmp_path / "plain.csv"
    plain.write_text("prompt_id,prompt,model,score\na,x,m1,1\n")
    result = run(app, ["cascade", "fit", "--data", str(plain), "--steps", "m1", "-o", "s.npz"])
    assert result.exit_code == 2 and "has no responses" in result.output

"""`pointsman data inspect` and `pointsman data fetch` through the real CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.data import ModelInfo, RoutingDataset
from pointsman.data.summary import summarize

runner = CliRunner()


def test_inspect_long_table(tmp_path: Path):
    file = tmp_path / "t.csv"
    file.write_text(
        "prompt_id,prompt,model,score,cost,task\n"
        "1,What is 2+2?,small,1,0.001,math\n1,What is 2+2?,big,1,0.01,math\n"
        "2,what is  2+2?,small,0,0.001,math\n2,what is  2+2?,big,0.5,0.01,math\n"
        "3,Say hi,big,1,0.02,\n"
    )
    result = runner.invoke(app, ["data", "inspect", str(file)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 prompts x 2 models" in out and "1 still in the data" in out
    assert "best single model: big 0.833" in out and "oracle: 0.833" in out
    assert "binary" in out and "mixed (67% 0/1)" in out
    assert "math" in out and "(none)" in out and "the table's cost column" in out


def test_inspect_errors_are_clean(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt_id,prompt,model,score\np,x,m,abc\n")
    result = runner.invoke(app, ["data", "inspect", str(bad)])
    assert result.exit_code == 2
    assert "line 2, column score: non-numeric score 'abc'" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["data", "inspect", str(tmp_path / "none.csv"), "--format", "long"])
    assert missing.exit_code == 2 and "no such file or directory" in missing.output


def test_fetch_without_a_pinned_address_exits_2(tmp_path: Path):
    result = runner.invoke(app, ["data", "fetch", "llmrouter", "--to", str(tmp_path)])
    assert result.exit_code == 2 and "--base-url" in result.output


def test_summary_handles_missing_scores():
    ds = RoutingDataset(
        prompt_ids=["a", "b"], prompts=["x", "y"], tasks=[None, "t"], models=[ModelInfo("m"), ModelInfo("n")],
        quality=[[1.0, float("nan")], [0.0, 0.4]], cost=[[float("nan")] * 2] * 2,
    )  # fmt: skip
    s = summarize(ds)
    assert [(m.scored, m.missing, m.score_type) for m in s.models] == [(2, 0, "binary"), (1, 1, "continuous")]
    assert s.best_model == "m" and s.oracle_quality == 0.7

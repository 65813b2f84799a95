"""`pointsman eval`, `train` and `route` end to end on a subset of the real LLMRouter data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pointsman.cli import app

ROUTERS = "best-single,knn"


@pytest.fixture(scope="module")
def subset_csv(shared_data: Path, tmp_path_factory) -> Path:
    """900 real LLMRouter prompts (every task) x 9 models as a long table with the modelled cost."""
    from pointsman.data import load_dataset

    ds = load_dataset(shared_data / "llmrouter")
    rows = np.sort(np.random.default_rng(0).choice(ds.n_prompts, 900, replace=False))
    path = tmp_path_factory.mktemp("data") / "llmrouter_subset.csv"
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt_id", "prompt", "model", "score", "cost", "task"])
        for i in rows:
            for j, model in enumerate(ds.model_names):
                out.writerow(
                    [ds.prompt_ids[i], ds.prompts[i], model, ds.quality[i, j], ds.cost[i, j], ds.tasks[i]]
                )
    return path


@pytest.fixture(scope="module")
def gappy_csv(subset_csv: Path, tmp_path_factory) -> Path:
    """The same subset with 15% of its (prompt, model) rows missing: unknown scores (NaN)."""
    with open(subset_csv, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    keep = np.random.default_rng(1).random(len(rows)) >= 0.15
    path = tmp_path_factory.mktemp("data") / "gappy.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header] + [r for r, k in zip(rows, keep, strict=True) if k])
    return path


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_eval_writes_report_markdown_and_plot(subset_csv, tmp_path):
    out = tmp_path / "eval"
    result = run("eval", "--data", str(subset_csv), "--cv", "3", "--routers", ROUTERS, "--out", str(out),
                 "--bootstrap", "50", "-p", "knn.k=20")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    ds = report["dataset"]
    assert ds["n_prompts"] == 900 and ds["n_models"] == 9 and len(ds["models"]) == 9
    assert set(ds["best_single"]) == {"model", "quality", "cost"}
    assert ds["oracle"]["quality"] > ds["best_single"]["quality"]
    assert ds["missing"]["unknown_entries"] == 0
    assert "default_router" in report
    assert set(report["routers"]) == {"best-single", "knn(k=20)"}
    for r in report["routers"].values():
        for key in ("max_quality", "oracle_gap_closed", "cost_ratio_at_best_single_quality", "aiq"):
            assert key in r
        assert "apgr" not in r  # nine models
        assert 0 <= r["aiq"] <= 1 and r["max_quality"] <= ds["oracle"]["quality"]
        lo, hi = r["ci95"]["max_quality"]
        assert lo <= r["max_quality"] <= hi
        assert len(r["curve"]["lambda"]) == len(r["curve"]["cost"]) == len(r["curve"]["quality"])
        assert r["curve"]["lambda"][0] == 0 and r["curve"]["lambda"][-1] == "inf"
        assert [c["target"]["quality_target"] for c in r["calibration"]] == [0.95, 1.0]
    # the best-single baseline reaches exactly the best single model at its cost
    bs = report["routers"]["best-single"]
    assert bs["max_quality"] == pytest.approx(ds["best_single"]["quality"], abs=0.02)
    md = (out / "report.md").read_text()
    assert "| knn(k=20) |" in md and "oracle" in md
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30_000
    from matplotlib.image import imread

    pixels = imread(out / "curves.png")
    assert pixels.shape[0] > 500 and pixels.shape[1] > 900
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_eval_with_unknown_scores_counts_them_and_never_scores_them_as_zero(gappy_csv, tmp_path):
    result = run("eval", "--data", str(gappy_csv), "--cv", "3", "--routers", ROUTERS, "--out", str(tmp_path),
                 "--bootstrap", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    missing = report["dataset"]["missing"]
    assert 0.1 < missing["unknown_entries"] / (900 * 9) < 0.2
    assert missing["prompts_with_unknown"] > 500 and "restricted" in missing["policy"]
    assert sum(m["unknown"] for m in report["dataset"]["models"]) == missing["unknown_entries"]
    for r in report["routers"].values():
        # the routers' first choices often lack a score; those choices went to a scored model instead
        assert 0 < r["unknown_choices_redirected"] < 0.5
        assert all(q is not None and 0 <= q <= 1 for q in r["curve"]["quality"])


def test_eval_two_models_reports_apgr_and_cpt(subset_csv, tmp_path):
    result = run("eval", "--data", str(subset_csv), "--cv", "3", "--routers", "knn,best-single", "--out",
                 str(tmp_path), "--bootstrap", "20", "--jobs", "2",
                 "--models", "gemma-2-9b-it,llama-3.1-nemotron-51b-instruct")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "APGR" in result.output
    routers = json.loads((tmp_path / "report.json").read_text())["routers"]
    r = routers["knn"]
    for prefix in ("", "cost_aware_"):
        assert 0 <= r[f"{prefix}cpt50"] <= r[f"{prefix}cpt80"] <= 1 and r[f"{prefix}apgr"] is not None
        assert r["ci95"][f"{prefix}apgr"][0] <= r[f"{prefix}apgr"] <= r["ci95"][f"{prefix}apgr"][1]
    assert len(r["curve"]["strong_share"]) == len(r["curve"]["lambda"])
    curve = r["threshold_curve"]
    assert curve["strong_share"][0] == 0 and curve["strong_share"][-1] == 1
    # a constant score moves every prompt at once: the straight line from all-weak to all-strong
    assert routers["best-single"]["apgr"] == pytest.approx(0.5)
    assert routers["best-single"]["threshold_curve"]["strong_share"] == [0, 1]
    assert "cost-aware APGR" in (tmp_path / "report.md").read_text()


def test_train_then_route(subset_csv, tmp_path):
    router_file = tmp_path / "knn.router"
    result = run("train", "--data", str(subset_csv), "--router", "knn", "-p", "k=20", "-o", str(router_file),
                 "--objective", "quality_target=0.95", "--cv", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert router_file.is_file() and "quality_target: 0.95" in result.output and "lambda:" in result.output
    result = run("route", "--router", str(router_file), "--json", "--objective", "lambda=inf",
                 "Write a Python function that reverses a string.")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    ranking = out["ranking"]
    assert len(ranking) == 9 and out["chosen"] == ranking[0]["model"]
    costs = [r["cost"] for r in ranking]
    assert costs == sorted(costs)  # lambda=inf: cheapest first
    result = run("route", "--router", str(router_file), "What is 2 + 2?")
    assert result.exit_code == 0 and ">" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--data", "/nonexistent", "--routers", "knn"], "no such file"),
        (["eval", "--data", "{data}", "--routers", "nope"], "unknown router 'nope'"),
        (["eval", "--data", "{data}", "--routers", "knn", "-p", "knn.nope=1"], "bad parameters"),
        (["eval", "--data", "{data}", "--routers", "knn", "-p", "k=1"], "name the router"),
        (["eval", "--data", "{data}", "--routers", "knn", "--models", "gpt-9"], "unknown 'gpt-9'"),
        (["eval", "--data", "{data}", "--routers", "knn", "--target", "lambda=1"], "quality_target"),
        (["eval", "--data", "{data}", "--routers", "knn", "--test-split", "x"], "unknown test split"),
        (["eval", "--data", "{data}", "--routers", "knn", "--jobs", "-1"], "Invalid value"),
        (["route", "--router", "/nonexistent", "hi"], "no such router file"),
        (["route", "--router", "{data}", "hi"], "not a pointsman router file"),
        (["route", "--router", "{data}", "hi", "--objective", "quality_target=0.9"], "calibrate it"),
        (["route", "--router", "{data}", "hi", "--objective", "lamda=2"], "lamda"),
        (["train", "--data", "{data}", "--router", "knn", "-o", "{tmp}/r", "-p", "k"], "expected key=value"),
    ],
)
def test_bad_input_is_a_clean_error(subset_csv, tmp_path, args, message):
    args = [a.format(data=subset_csv, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in " ".join(result.output.split())


def test_router_params_read_numbers_yaml_leaves_as_strings() -> None:
    from pointsman.commands.lab import parse_router_params

    params = parse_router_params(["dual.l2=1e-3,dual.dim=32", "knn.k=80", "dual.name=abc"], ["dual", "knn"])
    assert params == {"dual": {"l2": 1e-3, "dim": 32, "name": "abc"}, "knn": {"k": 80}}

"""Objective flags (Tryage-style) and the Pareto front, and `pointsman route --flags/--pareto`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.data import ModelInfo, load_dataset
from pointsman.policy.flags import FlagError, Flags, pareto_front, release_year
from pointsman.policy.objective import Objective
from pointsman.routers.registry import make_router

MODELS = [
    ModelInfo("big", metadata={"size": "70B", "license": "llama3.3", "released": "2024-12"}),
    ModelInfo("mid", metadata={"parameters": 9.2, "license": "gemma", "released": "2024-06"}),
    ModelInfo("small", metadata={"size": "3B", "license": "Apache-2.0", "released": "2023-09"}),
]


def test_parse_and_reject() -> None:
    f = Flags.parse("prefer_smaller=0.02, licence=apache-2.0|MIT ,max-latency=2")
    assert f == Flags(prefer_smaller=0.02, max_latency=2.0, licences=("apache-2.0", "mit")) and f.active
    assert not Flags.parse(None).active and not Flags.parse(" ").active
    for bad, says in [("colour=red", "unknown flag"), ("prefer_smaller", "name=value"),
                      ("prefer_smaller=much", "not a number"), ("max_latency=-1", ">= 0")]:  # fmt: skip
        with pytest.raises(FlagError, match=says):
            Flags.parse(bad)


def test_prefer_smaller_can_turn_the_ranking_around() -> None:
    quality, cost = np.array([0.80, 0.78, 0.70]), np.array([1e-3, 1e-3, 1e-3])
    assert Objective().rank(quality, cost)[0] == 0
    adjusted, allowed = Flags(prefer_smaller=0.05).apply(quality, MODELS)
    # 0.80 - 0.05 log(71) = 0.587; 0.78 - 0.05 log(10.2) = 0.664; 0.70 - 0.05 log(4) = 0.631
    np.testing.assert_allclose(adjusted, quality - 0.05 * np.log1p([70, 9.2, 3]))
    assert allowed.all() and Objective().rank(adjusted, cost) == [1, 2, 0]


def test_prefer_recent_and_licence() -> None:
    assert release_year({"released": "2024-07"}) == pytest.approx(2024.5)
    quality = np.array([0.7, 0.7, 0.7])
    adjusted, _ = Flags(prefer_recent=0.1).apply(quality, MODELS)
    assert adjusted[0] == 0.7 and adjusted[1] == pytest.approx(0.65) and adjusted[2] < adjusted[1]
    adjusted, allowed = Flags(licences=("apache-2.0",)).apply(quality, MODELS)
    assert allowed.tolist() == [False, False, True] and np.isnan(adjusted[:2]).all()
    # Excluded models are ranked last, not dropped: a request is still served.
    assert Objective().rank(adjusted, np.array([1.0, 2.0, 3.0])) == [2, 0, 1]


def test_a_flag_the_facts_cannot_answer_says_which_models() -> None:
    with pytest.raises(FlagError, match="no latency_s known for big, mid, small"):
        Flags(max_latency=1).apply(np.zeros(3), MODELS)


def test_pareto_front_by_hand() -> None:
    quality = np.array([0.9, 0.8, 0.8, 0.5, 0.95, np.nan])
    cost = np.array([3.0, 1.0, 2.0, 0.5, 3.0, 0.1])
    # 0 is dominated by 4 (better at equal cost), 2 by 1 (equal quality, cheaper); NaN never on the front.
    assert pareto_front(quality, cost).tolist() == [False, True, False, True, True, False]
    latency = np.array([1.0, 9.0, 1.0, 9.0, 9.0, 1.0])
    assert pareto_front(quality, cost, latency).tolist() == [True, True, True, True, True, False]


def test_route_command_pareto_and_flags(shared_data: Path, tmp_path: Path) -> None:
    data = load_dataset(shared_data / "routeprofile")
    path = make_router("best-single").fit(data).save(tmp_path / "r.npz")
    runner = CliRunner()
    args = ["route", "--router", str(path), "What is 2 + 2?", "--pareto", "--json"]
    out = json.loads(runner.invoke(app, [*args, "--flags", "licence=apache-2.0"]).stdout)
    ranking = out["ranking"]
    assert len(ranking) == data.n_models and any(r["pareto"] for r in ranking)
    licences = {m.name: m.metadata.get("license") for m in data.models}
    allowed = [r["model"] for r in ranking if r["allowed"]]
    assert allowed and all(licences[m] == "apache-2.0" for m in allowed)
    assert ranking[0]["allowed"] and not any(r["pareto"] for r in ranking if not r["allowed"])
    bad = runner.invoke(app, [*args, "--flags", "max_latency=1"])
    assert bad.exit_code == 2 and "no latency_s known" in bad.output

"""The objective: rankings, choices, budgets, configs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from pointsman.policy.objective import Objective, ObjectiveError, sweep_lambda

Q = [0.5, 0.9, 0.8]
C = [1.0, 10.0, 2.0]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"lambda": 0}, [1, 2, 0]),
        ({"lambda": 0.05}, [2, 0, 1]),  # scores .45, .40, .70
        ({"lambda": "inf"}, [0, 2, 1]),
        ({"within": 0.15}, [2, 1, 0]),  # band >= 0.765: the cheaper of 1 and 2 first, then 0
        ({"within": 0.0}, [1, 2, 0]),
        ({"lambda": 0, "max_cost_per_request": 5}, [2, 0, 1]),  # model 1 is over the cap: last
        ({"lambda": 0, "max_cost_per_request": 0.5}, [0, 2, 1]),  # nothing fits: cheapest first
        ({"within": 0.15, "max_cost_per_request": 5}, [2, 0, 1]),  # best affordable is 0.8
    ],
)
def test_rank_orders_by_the_objective(config, expected):
    assert Objective.model_validate(config).rank(Q, C) == expected
    assert Objective.model_validate(config).rank(np.array(Q), np.array(C)) == expected


def test_ties_go_to_the_cheaper_model_and_nan_quality_goes_last():
    assert Objective().rank([0.8, 0.8], [2.0, 1.0]) == [1, 0]
    assert Objective().rank([np.nan, 0.9, 0.8], [0.1, 1.0, 2.0]) == [1, 2, 0]
    # a NaN predicted cost counts as unaffordable
    assert Objective().rank([0.9, 0.5], [np.nan, 1.0]) == [1, 0]


def test_rank_and_choose_agree_on_random_predictions():
    rng = np.random.default_rng(0)
    Qm = rng.random((300, 6))
    Cm = rng.random((300, 6)) * 1e-3
    Qm[rng.random(Qm.shape) < 0.1] = np.nan
    Cm[rng.random(Cm.shape) < 0.05] = np.nan
    Qm[:, 3] = Qm[:, 4]  # exact ties
    configs = [
        {"lambda": 0},
        {"lambda": 300},
        {"lambda": "inf"},
        {"within": 0.1},
        {"lambda": 500, "max_cost_per_request": 5e-4},
        {"within": 0.3, "max_cost_per_request": 2e-4},
    ]
    for config in configs:
        obj = Objective.model_validate(config)
        chosen = obj.choose(Qm, Cm)
        for i in range(len(Qm)):
            ranking = obj.rank(Qm[i], Cm[i])
            assert sorted(ranking) == list(range(6))
            assert ranking[0] == chosen[i], (config, i)


def test_choose_respects_allowed_models():
    obj = Objective()
    allowed = np.array([[True, False, True], [False, False, False]])
    assert obj.choose([Q, Q], [C, C], allowed).tolist() == [2, -1]


def test_sweep_lambda_moves_from_best_to_cheapest():
    choices = sweep_lambda(np.array([Q]), np.array([C]), np.array([0.0, 0.05, math.inf]))
    assert choices.tolist() == [[1, 2, 0]]


def test_config_shapes_and_round_trip():
    assert Objective().lambda_ == 0.0
    for config in (
        {"lambda": 0.0},
        {"lambda": "inf", "max_cost_per_request": 0.01},
        {"within": 0.05},
        {"quality_target": 0.95, "relative_to": "best_single"},
        {"budget_per_1k": 0.5},
    ):
        obj = Objective.model_validate(config)
        again = Objective.model_validate(json.loads(json.dumps(obj.dump())))
        assert again == obj
    assert Objective.model_validate({"lambda": "inf"}).dump() == {"lambda": "inf"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"lambda": 1, "within": 0.1}, "either 'lambda' or 'within'"),
        ({"quality_target": 0.9, "budget_per_1k": 1}, "either 'quality_target' or 'budget_per_1k'"),
        ({"within": 0.1, "quality_target": 0.9}, "cannot be combined"),
        ({"lambda": -1}, "greater than or equal to 0"),
        ({"within": 2}, "less than or equal to 1"),
        ({"lamda": 1}, "lamda"),
        ({"quality_target": 0.9, "relative_to": "gpt-4"}, "relative_to"),
    ],
)
def test_bad_configs_name_the_problem(config, message):
    with pytest.raises(ValidationError, match=message):
        Objective.model_validate(config)


def test_an_uncalibrated_target_cannot_choose():
    obj = Objective.model_validate({"quality_target": 0.95})
    with pytest.raises(ObjectiveError, match="calibrate it first"):
        obj.rank(Q, C)
    with pytest.raises(ObjectiveError, match="calibrate it first"):
        obj.choose([Q], [C])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        Objective().rank([0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="differ"):
        Objective().choose(np.zeros((2, 3)), np.zeros((2, 2)))

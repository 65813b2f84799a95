"""Calibration: targets resolved on calibration prompts hold on held-out prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pointsman.evaluate.truth import Truth
from pointsman.policy.calibration import Tradeoff, achieved, calibrate, lambda_grid
from pointsman.policy.objective import Objective, ObjectiveError


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, Truth]:
    """A realistic routing set: 5 models whose ability grows with price but differs per task (4 tasks),
    prompts of varied difficulty, 0/1 outcomes drawn from an IRT model, a router that knows the task but
    estimates a prompt's difficulty with error, and per-call cost = price x a prompt-dependent token
    count, predicted with error."""
    rng = np.random.default_rng(seed)
    ability = np.array([-0.8, -0.2, 0.3, 0.9, 1.2]) + rng.normal(0, 1.0, (4, 5))
    price = np.array([0.1, 0.2, 0.6, 2.0, 8.0]) / 1e6
    task = rng.integers(0, 4, n)
    difficulty = rng.normal(0, 1.5, n)
    guess = difficulty + rng.normal(0, 0.7, n)
    p = 1 / (1 + np.exp(-(ability[task] - difficulty[:, None]) * 1.7))
    p_hat = 1 / (1 + np.exp(-(ability[task] - guess[:, None]) * 1.7))
    quality = (rng.random((n, 5)) < p).astype(float)
    cost = rng.lognormal(6, 0.6, n)[:, None] * price[None]
    pred_q = np.clip(p_hat + rng.normal(0, 0.03, p.shape), 0, 1)
    return pred_q, cost * rng.lognormal(0, 0.1, cost.shape), Truth(quality, cost)


def test_lambda_grid_spans_the_break_points():
    pred_q, pred_c, _ = synthetic(500, 0)
    grid = lambda_grid(pred_q, pred_c)
    assert grid[0] == 0 and math.isinf(grid[-1]) and np.all(np.diff(grid) > 0)
    # at the largest finite lambda nearly every prompt goes to its cheapest model, at the smallest to its best
    choose = lambda lam: Objective(lambda_=lam).choose(pred_q, pred_c)  # noqa: E731
    assert np.mean(choose(grid[-2]) == pred_c.argmin(1)) > 0.99
    assert np.mean(choose(grid[1]) == pred_q.argmax(1)) > 0.99
    assert lambda_grid(np.array([[0.5, 0.4]]), np.array([[1.0, 2.0]])).tolist() == [0.0, math.inf]


@pytest.mark.parametrize("target", [0.9, 0.95, 1.0])
def test_quality_target_holds_on_held_out_prompts(target):
    pred_q, pred_c, truth = synthetic(8000, 3)  # a world where routing beats the best single model
    cal, held = np.arange(4000), np.arange(4000, 8000)
    obj = calibrate(Objective(quality_target=target), pred_q[cal], pred_c[cal], truth.subset(cal))
    assert obj.lambda_ is not None and obj.calibration.met
    assert obj.calibration.relative_quality >= target
    got = achieved(obj, pred_q[held], pred_c[held], truth.subset(held))
    # one standard error of a mean of 4000 0/1 outcomes is under 0.008 (relative ~0.015)
    assert got.relative_quality == pytest.approx(target, abs=0.03)
    # and it is cheaper than sending everything to the best single model
    best = truth.subset(held).best_single
    assert got.cost_per_1k < truth.subset(held).model_cost[best] * 1000


def test_budget_holds_on_held_out_prompts():
    pred_q, pred_c, truth = synthetic(8000, 2)
    cal, held = np.arange(4000), np.arange(4000, 8000)
    best = truth.best_single
    budget = float(truth.model_cost[best] * 1000 * 0.3)
    obj = calibrate(Objective(budget_per_1k=budget), pred_q[cal], pred_c[cal], truth.subset(cal))
    assert obj.calibration.met and obj.calibration.cost_per_1k <= budget
    got = achieved(obj, pred_q[held], pred_c[held], truth.subset(held))
    assert got.cost_per_1k == pytest.approx(budget, rel=0.05)
    # within that budget it beats the best model that costs less than the budget on its own
    affordable = truth.model_cost * 1000 <= budget
    assert got.quality > truth.subset(held).model_quality[affordable].max()


def test_unreachable_targets_report_not_met():
    pred_q, pred_c, truth = synthetic(1000, 3)
    obj = calibrate(Objective(quality_target=1.0, relative_to="oracle"), pred_q, pred_c, truth)
    assert not obj.calibration.met
    tiny = calibrate(Objective(budget_per_1k=1e-9), pred_q, pred_c, truth)
    assert not tiny.calibration.met and math.isinf(tiny.lambda_)


def test_tradeoff_round_trips_and_resolves_like_calibrate():
    pred_q, pred_c, truth = synthetic(1000, 4)
    table = Tradeoff.measure(pred_q, pred_c, truth)
    again = Tradeoff.from_dict(table.to_dict())
    target = Objective(quality_target=0.95)
    assert again.resolve(target) == calibrate(target, pred_q, pred_c, truth)
    with pytest.raises(ObjectiveError, match="bad calibration table"):
        Tradeoff.from_dict({"lambdas": []})
    with pytest.raises(ObjectiveError, match="no target"):
        table.resolve(Objective(lambda_=1.0))


def test_calibrated_objective_serialises_with_its_record():
    pred_q, pred_c, truth = synthetic(1000, 5)
    obj = calibrate(Objective(quality_target=0.95), pred_q, pred_c, truth)
    dumped = obj.dump()
    assert dumped["quality_target"] == 0.95 and dumped["relative_to"] == "best_single"
    assert "lambda" in dumped and dumped["calibration"]["n_prompts"] == 1000
    assert Objective.model_validate(dumped) == obj


def task_mean_predictions(dataset, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of a real (if simple) router on real data: each model's mean score on the
    prompt's task in the other folds, and the data's modelled cost."""
    from pointsman.data import group_kfold

    tasks = np.array(dataset.tasks, dtype=object)
    pred = np.zeros_like(dataset.quality)
    for train, test in group_kfold(dataset, 5, seed):
        for task in set(tasks[test]):
            pred[test[tasks[test] == task]] = np.nanmean(dataset.quality[train[tasks[train] == task]], axis=0)
    return pred, dataset.cost.copy()


@pytest.fixture(scope="module")
def llmrouter_data(shared_data):
    from pointsman.data import load_dataset

    return load_dataset(shared_data / "llmrouter")


@pytest.mark.parametrize("target", [0.95, 1.0])
def test_quality_target_holds_on_real_held_out_prompts(llmrouter_data, target):
    pred_q, pred_c = task_mean_predictions(llmrouter_data)
    truth = Truth.of(llmrouter_data)
    order = np.random.default_rng(0).permutation(truth.n_prompts)
    cal, held = np.sort(order[:3000]), np.sort(order[3000:])
    obj = calibrate(Objective(quality_target=target), pred_q[cal], pred_c[cal], truth.subset(cal))
    got = achieved(obj, pred_q[held], pred_c[held], truth.subset(held))
    # a mean over ~3000 mostly 0/1 scores has a standard error of ~0.009 (relative ~0.015)
    assert obj.calibration.met
    assert got.relative_quality == pytest.approx(target, abs=0.03)
    best = truth.subset(held).best_single
    assert got.cost_per_1k < 0.5 * truth.subset(held).model_cost[best] * 1000


def test_budget_holds_on_real_held_out_prompts(llmrouter_data):
    pred_q, pred_c = task_mean_predictions(llmrouter_data)
    truth = Truth.of(llmrouter_data)
    order = np.random.default_rng(1).permutation(truth.n_prompts)
    cal, held = np.sort(order[:3000]), np.sort(order[3000:])
    budget = 0.035  # USD per 1k requests: about 1.5x the cheapest model, a seventh of the best one
    obj = calibrate(Objective(budget_per_1k=budget), pred_q[cal], pred_c[cal], truth.subset(cal))
    got = achieved(obj, pred_q[held], pred_c[held], truth.subset(held))
    assert obj.calibration.met
    assert got.cost_per_1k == pytest.approx(budget, rel=0.05)
    # better than any single model that fits the budget
    fits = truth.model_cost * 1000 <= budget
    assert got.quality > truth.subset(held).model_quality[fits].max()

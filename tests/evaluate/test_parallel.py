"""Folds spread over worker processes give exactly the predictions of one process, and their errors."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from pointsman.data import load_dataset
from pointsman.data.splits import group_kfold
from pointsman.evaluate.crossval import RouterSpec
from pointsman.evaluate.parallel import auto_jobs, available_cores, fit_groups, held_out_predictions


@pytest.fixture(scope="module")
def data(shared_data):
    return load_dataset(shared_data / "llmrouter").subset(range(400))


def test_gated_routers_share_a_job_per_fold():
    specs = [RouterSpec(n) for n in ("knn", "category", "best-single", "mixture")]
    assert fit_groups(specs) == [(0,), (1, 3), (2,)]


def test_workers_give_the_predictions_of_one_process(data):
    specs = [RouterSpec(n) for n in ("category", "knn", "mixture", "best-single")]
    splits = group_kfold(data, 3, 0)
    folds: list[tuple[str, int]] = []
    one = [(s.label, p) for s, p in held_out_predictions(specs, data, splits, jobs=1)]
    on_fold = lambda s, k: folds.append((s.label, k))  # noqa: E731
    two = {s.label: p for s, p in held_out_predictions(specs, data, splits, jobs=2, on_fold=on_fold)}
    assert sorted(folds) == sorted((s.label, k) for s in specs for k in range(3))
    assert [label for label, _ in one] == ["category", "mixture", "knn", "best-single"]  # gated ones first
    for label, a in one:
        b = two[label]
        assert np.array_equal(a.quality, b.quality, equal_nan=True), label
        assert np.array_equal(a.cost, b.cost, equal_nan=True), label
        assert np.array_equal(a.rows, b.rows) and np.array_equal(a.folds, b.folds)
        assert b.fit_seconds > 0


def test_a_router_error_in_a_worker_reaches_the_caller(data):
    specs = [RouterSpec("knn", {"k": 0}), RouterSpec("best-single")]
    with pytest.raises(ValueError, match="k must be >= 1"):
        list(held_out_predictions(specs, data, group_kfold(data, 3, 0), jobs=2))


def test_small_data_runs_in_one_process():
    assert auto_jobs(100) == 1
    assert auto_jobs(100_000) == available_cores()


def test_stopping_early_stops_the_workers(data):
    specs = [RouterSpec(n) for n in ("best-single", "mlp", "dual", "graph")]
    results = held_out_predictions(specs, data, group_kfold(data, 5, 0), jobs=2)
    spec, _ = next(results)
    assert spec.label == "best-single"
    results.close()  # the caller stopped (or was interrupted): the running jobs are cut short
    assert multiprocessing.active_children() == []

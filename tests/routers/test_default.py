"""The default router on other data in the generic long format, with no code change: never worse than
the best single model at that model's cost, including when the data is thin."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import RoutingDataset, group_kfold, load_dataset
from pointsman.evaluate.crossval import RouterSpec, predict_held_out
from pointsman.evaluate.curve import References, Sweep
from pointsman.evaluate.truth import Truth
from pointsman.routers.registry import DEFAULT_ROUTER, make_router

from .conftest import stratified

# Held-out routing on 40-120 prompts has a standard error of 0.04-0.08 on mean quality; the router may
# trail the best single model by less than this (the best single model is picked in hindsight, on the
# evaluation prompts themselves, which no router trained on the other folds can match exactly).
TOLERANCE = 0.01


def write_long_table(data: RoutingDataset, path: Path, with_tasks: bool) -> Path:
    """The dataset as the generic long table: prompt_id, prompt, model, score, cost[, task]."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt_id", "prompt", "model", "score", "cost", *(["task"] if with_tasks else [])])
        for i, prompt in enumerate(data.prompts):
            for j, model in enumerate(data.model_names):
                score = "" if np.isnan(data.quality[i, j]) else data.quality[i, j]
                row = [data.prompt_ids[i], prompt, model, score, data.cost[i, j]]
                out.writerow(row + ([data.tasks[i]] if with_tasks else []))
    return path


def quality_at_best_single_cost(data: RoutingDataset, name: str) -> tuple[float, float]:
    """(the router's held-out quality at the best single model's cost, that model's quality), 5-fold."""
    truth = Truth.of(data)
    refs = References.of(truth)
    preds = predict_held_out(RouterSpec(name), data, group_kfold(data, 5, 0))
    hull_cost, hull_quality = Sweep.run(preds.quality, preds.cost, truth).curve().hull()
    if refs.best_single_cost < hull_cost[0]:
        return float("-inf"), refs.best_single_quality
    return float(np.interp(refs.best_single_cost, hull_cost, hull_quality)), refs.best_single_quality


@pytest.mark.parametrize(
    ("source", "per_task", "with_tasks"),
    [("routeprofile", 10, True), ("routeprofile", 10, False), ("llmrouter", 3, True)],
)
def test_never_worse_than_the_best_single_model(
    source: str, per_task: int, with_tasks: bool, routeprofile, llmrouter_full, tmp_path: Path
) -> None:
    full = routeprofile if source == "routeprofile" else llmrouter_full
    path = write_long_table(stratified(full, per_task), tmp_path / "scores.csv", with_tasks)
    data = load_dataset(path)
    assert data.info.get("format") == "long"
    routed, best = quality_at_best_single_cost(data, DEFAULT_ROUTER)
    assert routed >= best - TOLERANCE, f"{DEFAULT_ROUTER} {routed:.3f} < best single {best:.3f}"


def test_thin_data_falls_back_to_the_priors(routeprofile) -> None:
    """Too few prompts to learn anything: the default router predicts each model's mean score."""
    tiny = stratified(routeprofile, 1)  # 12 prompts
    router = make_router(DEFAULT_ROUTER).fit(tiny)
    pred = router.predict(routeprofile.prompts[:20])
    assert np.allclose(pred, pred[0])  # the same for every query: the priors
    assert pred[0].argmax() == np.argmax(np.nanmean(tiny.quality, axis=0))

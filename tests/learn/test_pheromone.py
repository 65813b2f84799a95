"""Pheromone trails on a real data subset: cold start ranks as the router, trails of a model that got worse
fade per task (only on that task), propensities and the exploration budget, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.learn.pheromone import Pheromone, PheromoneConfig


@pytest.fixture(scope="module")
def traffic(subset):
    from pointsman.routers.base import Queries, Router

    ds, rows, path = subset
    router = Router.load(path)
    prior = np.asarray(router.predict(Queries([ds.prompts[i] for i in rows])))
    cols = [router.model_names.index(m) for m in ds.model_names]
    return prior[:, cols], ds.quality[rows], [ds.tasks[i] or "" for i in rows]


def test_cold_start_follows_the_router(traffic) -> None:
    prior, _, tasks = traffic
    colony = Pheromone(prior.shape[1], PheromoneConfig(exploration_budget=0.0), np.random.default_rng(0))
    picks = [colony.choose(task, prior[i])[0] for i, task in enumerate(tasks)]
    assert picks == list(np.argmax(prior, axis=1))


def test_trails_learn_that_the_favourite_fails_on_one_task(traffic) -> None:
    prior, quality, tasks = traffic
    colony = Pheromone(prior.shape[1], PheromoneConfig(exploration_budget=0.2), np.random.default_rng(0))
    favourite = int(np.bincount(np.argmax(prior, axis=1)).argmax())
    counts = {t: tasks.count(t) for t in set(tasks)}
    broken_task = max(counts, key=counts.get)
    picks, probs = {t: [] for t in counts}, []
    for _ in range(3):  # the same traffic three times over
        for i, task in enumerate(tasks):
            arm, p = colony.choose(task, prior[i])
            probs.append(p)
            got = 0.0 if (task == broken_task and arm == favourite) else float(quality[i, arm])
            colony.update(task, arm, got)
            picks[task].append(arm)
    late = np.array(picks[broken_task][-counts[broken_task] :])
    assert (late == favourite).mean() < 0.1
    trail = colony.trails[broken_task]
    now_chosen = int(np.bincount(late).argmax())
    assert trail[favourite] < colony.config.start and trail[favourite] < trail[now_chosen]
    others = [t for t in counts if t != broken_task and colony.trails[t][favourite] > 0.3]
    assert others, "the favourite keeps its trail on the tasks where it still answers well"
    probs = np.array(probs)
    assert np.all((probs > 0) & (probs <= 1))


def test_exploration_is_capped_and_no_finite_value_is_an_error() -> None:
    colony = Pheromone(3, PheromoneConfig(exploration_budget=0.1))
    colony.trails["t"] = np.array([0.05, 1.0, 1.0])
    p = colony.probabilities("t", np.array([0.9, 0.5, -np.inf]))
    assert p.sum() == pytest.approx(1.0) and p[2] == 0.0
    assert 1.0 - p.max() <= 0.1 + 1e-12
    with pytest.raises(ValueError, match="finite"):
        colony.probabilities("t", np.full(3, -np.inf))

"""Cascade policies: the fixed chain's decisions and its vectorised simulation agree; the cost-aware policy
routes at one end of lambda and cascades at the other; bad chains are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pointsman.cascade.policies import CostAware, FixedChain, simulate_chain


def test_simulation_matches_the_step_by_step_chain():
    rng = np.random.default_rng(0)
    prefix, final = rng.uniform(size=(200, 3)), rng.uniform(size=(200, 3))
    settings = np.array([[0.5, 0.7], [0.0, 0.0], [1.0, 1.0], [0.9, 0.2]])
    answer, calls = simulate_chain(prefix, final, settings)
    for t, thresholds in enumerate(settings):
        chain = FixedChain(("a", "b", "c"), tuple(thresholds))
        for i in range(200):
            k = next((s for s in range(2) if chain.accepts(s, prefix[i, s])), 2)
            assert calls[t, i] == k + 1
            assert answer[t, i] == (k if k < 2 else chain.pick(final[i].tolist()))
    assert (calls[1] == 1).all() and (answer[2] == final.argmax(axis=1)).all()


def test_pick_best_off_returns_the_last_step():
    answer, calls = simulate_chain(np.zeros((5, 3)), np.eye(5, 3), np.array([[1.0, 1.0]]), pick_best=False)
    assert (answer == 2).all() and (calls == 3).all()


@pytest.mark.parametrize(
    ("models", "thresholds", "why"),
    [
        (("a",), (), "at least two steps"),
        (("a", "a"), (0.5,), "appears twice"),
        (("a", "b", "c"), (0.5,), "3 steps need 2 thresholds"),
        (("a", "b"), (1.5,), r"a probability in \[0, 1\]"),
    ],
)
def test_bad_chains(models, thresholds, why):
    with pytest.raises(ValueError, match=why):
        FixedChain(models, thresholds)


def test_cost_aware_routes_or_cascades():
    q, c = np.array([0.5, 0.6, 0.8]), np.array([1e-5, 5e-5, 3e-4])
    assert CostAware(0.0).next_model([], 0.0, q, c) == 2  # lambda 0: straight to the strongest
    assert CostAware(math.inf).next_model([], 0.0, q, c) == 0  # cheapest, then stop
    assert CostAware(math.inf).next_model([0], 0.3, q, c) is None
    policy = CostAware(4000.0, discount=0.5)
    assert policy.next_model([], 0.0, q, c) == 0
    assert policy.next_model([0], 0.95, q, c) is None  # a confident answer stops the cascade
    assert policy.next_model([0], 0.2, q, c) == 1  # a doubtful one pays for the next model
    assert CostAware(500.0, max_steps=1).next_model([0], 0.0, q, c) is None

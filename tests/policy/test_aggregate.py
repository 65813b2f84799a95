"""Multi-model aggregation: the vote, the Condorcet gain, closed-form requests, and the lab's fan-out policies
on RouteProfile's recorded answers."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.evaluate.aggregation import route
from pointsman.policy.aggregate import closed_form, fan_out_gain, log_odds_weights, p_majority, vote


def test_vote_takes_the_shared_final_answer_and_breaks_ties_by_rank() -> None:
    assert vote(["The answer is (B).", "A", "I think it is B"]) == 0
    assert vote(["(A)", "(C)", "the answer: C"]) == 1
    assert vote(["(A)", "(B)", "(C)"]) == 0  # nobody shares: the best-ranked member
    assert vote(["(A)", "(B)", "(B)"], weights=[3.0, 1.0, 1.0]) == 0


def test_p_majority_matches_simulation() -> None:
    p = np.array([0.8, 0.6, 0.55])
    draws = np.random.default_rng(0).random((200_000, 3)) < p
    assert p_majority(p) == pytest.approx((draws.sum(axis=1) >= 2).mean(), abs=0.005)
    assert fan_out_gain(np.array([0.9, 0.5, 0.5])) < 0 < fan_out_gain(np.array([0.6, 0.6, 0.6]))
    assert np.all(log_odds_weights(np.array([0.2, 0.5, 0.9])) > 0)


def test_closed_form() -> None:
    assert closed_form("Which gas?\n(A) neon\n(B) argon\n(C) xenon")
    assert closed_form("How many legs do 3 spiders have?")
    assert not closed_form("Write a haiku about autumn.")


@pytest.fixture(scope="module")
def routeprofile(shared_data):
    from pointsman.data import load_dataset

    ds = load_dataset(shared_data / "routeprofile")
    closed = np.array([t in {"mmlu", "arc_challenge", "gsm8k"} for t in ds.tasks])
    rng = np.random.default_rng(0)
    pred = 0.3 + 0.4 * np.nan_to_num(ds.quality, nan=0.5) + rng.normal(0, 0.1, ds.quality.shape)
    return ds, closed, pred


def test_fan_out_policies_on_recorded_answers(routeprofile) -> None:
    ds, closed, pred = routeprofile
    args = (pred, ds.cost, ds.quality, ds.cost, ds.responses, closed)
    single = route(*args, 0.0, mode="single")
    best = np.argmax(pred, axis=1)
    assert np.allclose(single.quality, ds.quality[np.arange(ds.n_prompts), best], equal_nan=True)
    assert not single.fanned.any()
    always = route(*args, 0.0, mode="always")
    assert np.array_equal(always.fanned, closed)  # every closed request, never an open one
    top3 = np.argsort(-pred, axis=1, kind="stable")[:, :3]
    assert np.allclose(
        always.cost[closed], ds.cost[np.arange(ds.n_prompts)[:, None], top3].sum(axis=1)[closed]
    )
    gated = route(*args, 0.0, mode="gated")
    assert 0 < gated.fanned.sum() < closed.sum()  # only where the predicted gain is positive
    priced_out = route(*args, 1e9, mode="gated")
    assert not priced_out.fanned.any()

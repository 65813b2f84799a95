"""The bandits on a real data subset: choose (propensities, budget), update (learning a model that got worse),
the quadrature against sampling, persistence of statistics."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.config.gateway import BanditConfig
from pointsman.learn.bandits import Bandit, Stats, cap_exploration, thompson_probabilities
from pointsman.learn.drift import PageHinkley


def test_thompson_probabilities_match_sampling() -> None:
    rng = np.random.default_rng(1)
    value, sd = np.array([0.5, 0.45, 0.3, -np.inf]), np.array([0.05, 0.1, 0.2, 1.0])
    p = thompson_probabilities(value, sd)
    draws = value[:3] + sd[:3] * rng.standard_normal((200_000, 3))
    empirical = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    assert p[3] == 0 and abs(p.sum() - 1) < 1e-9
    assert np.allclose(p[:3], empirical, atol=0.01)
    capped = cap_exploration(p, 0, 0.1)
    assert capped[0] == pytest.approx(0.9) and capped.sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def traffic(subset):
    from pointsman.routers.base import Queries, Router
    from pointsman.text import CachedEncoder, get_encoder

    ds, rows, path = subset
    router = Router.load(path)
    enc = CachedEncoder(get_encoder())
    texts = [ds.prompts[i] for i in rows]
    emb = np.asarray(enc.encode(texts), dtype=np.float64)
    prior = np.asarray(router.predict(Queries(texts, emb.astype(np.float32), enc.id)))
    cols = [router.model_names.index(m) for m in ds.model_names]
    return prior[:, cols], ds.quality[rows], ds.cost[rows], emb


@pytest.mark.parametrize("kind", ["thompson", "linucb"])
def test_bandit_learns_that_the_favourite_got_worse(traffic, kind) -> None:
    prior, quality, cost, emb = traffic
    cfg = BanditConfig(kind=kind, exploration_budget=0.2, half_life=1e9)
    bandit = Bandit(prior.shape[1], emb.shape[1], cfg, clock=lambda: 0.0, rng=np.random.default_rng(0))
    X = np.stack([bandit.features(prior[i], emb[i]) for i in range(len(prior))])
    untrained = [bandit.choose(X[i], cost[i], 0.0, explore=False).order[0] for i in range(len(prior))]
    assert untrained == list(np.argmax(prior, axis=1))  # the prior alone ranks as the router does
    favourite = int(np.bincount(untrained).argmax())
    broken = quality.copy()
    broken[:, favourite] = 0.0  # the router's favourite now always fails
    picks, probs = [], []
    for start in range(0, len(prior), 25):  # batched feedback, as the gateway's updater applies it
        batch = range(start, min(start + 25, len(prior)))
        chosen = [bandit.choose(X[i], cost[i], 0.0) for i in batch]
        arms = np.array([c.order[0] for c in chosen])
        bandit.update(arms, X[list(batch), arms], broken[list(batch), arms])
        picks += arms.tolist()
        probs += [c.probability for c in chosen]
    late = np.array(picks[-100:])
    assert (late == favourite).mean() < 0.1 < (np.array(picks[:25]) == favourite).mean()
    probs = np.array(probs)
    assert np.all((probs > 0) & (probs <= 1))
    if kind == "linucb":
        assert np.all(probs == 1.0)
    assert bandit.explorations <= cfg.exploration_budget * bandit.picks + 25  # within budget (in expectation)


def test_no_exploration_on_guarded_routes(traffic) -> None:
    prior, _, cost, emb = traffic
    bandit = Bandit(
        prior.shape[1], emb.shape[1], BanditConfig(exploration_budget=1.0), rng=np.random.default_rng(0)
    )
    for i in range(50):
        c = bandit.choose(bandit.features(prior[i], emb[i]), cost[i], 0.0, explore=False)
        assert c.probability == 1.0 and not c.explored


def test_stats_round_trip_and_burst_weight() -> None:
    cfg = BanditConfig(dims=4, max_batch_weight=10, half_life=100)
    b = Bandit(3, 8, cfg, clock=lambda: 0.0)
    X = np.ones((1000, b.d))
    b.update(np.zeros(1000, dtype=int), X, np.zeros(1000))  # a burst of 1000 bad scores
    assert b.local.n[0] == pytest.approx(10.0)  # weighs 10 observations, not 1000
    back = Stats.from_bytes(b.local.to_bytes(), 3, b.d)
    assert back is not None and np.array_equal(back.A, b.local.A) and back.time == b.local.time
    assert Stats.from_bytes(b"garbage!", 3, b.d) is None
    assert b.local.decayed(100.0, 100.0).n[0] == pytest.approx(5.0)  # one half-life later


def test_page_hinkley_detects_a_fall_not_noise() -> None:
    rng = np.random.default_rng(0)
    ph = PageHinkley()
    assert not any(ph.update(x) for x in rng.binomial(1, 0.6, 3000) - 0.6)
    fell = [ph.update(x) for x in rng.binomial(1, 0.15, 200) - 0.6]
    assert "down" in fell and fell.index("down") < 100


def test_cusum_against_the_promise_sees_an_offset_from_the_start() -> None:
    rng = np.random.default_rng(0)
    off = rng.binomial(1, 0.3, 300) - 0.6  # delivered 0.3 where 0.6 was promised, from the first request
    assert not any(PageHinkley().update(x) for x in off)  # no change in the stream itself
    cusum = PageHinkley(reference=0.0)
    assert "down" in [cusum.update(x) for x in off]

"""Bootstrap intervals: they cover the estimate, shrink with more prompts, and resample the references too."""

from __future__ import annotations

import numpy as np

from pointsman.evaluate.bootstrap import Resamples, intervals
from pointsman.evaluate.curve import References, Sweep
from pointsman.evaluate.truth import Truth


def noisy_case(n: int, seed: int = 0) -> tuple[Truth, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.array([0.45, 0.6, 0.7])
    quality = (rng.random((n, 3)) < p).astype(float)
    cost = np.tile([1.0, 3.0, 10.0], (n, 1))
    pred = np.clip(0.6 * quality + 0.4 * rng.random((n, 3)), 0, 1)  # an informative, imperfect router
    return Truth(quality, cost), pred


def test_intervals_cover_the_estimate_and_shrink_with_more_prompts():
    widths = []
    for n in (200, 3200):
        truth, pred = noisy_case(n)
        sweep = Sweep.run(pred, truth.cost, truth)
        scores = sweep.curve().score(References.of(truth))
        ci = intervals(sweep, Resamples.draw(truth, 300, seed=1))
        for name in ("max_quality", "oracle_gap_closed", "aiq", "cost_ratio_at_best_single_quality"):
            lo, hi = ci[name]
            assert lo <= getattr(scores, name) <= hi, name
        widths.append(ci["max_quality"][1] - ci["max_quality"][0])
    # 16x the prompts: about a quarter of the width
    assert 0.15 < widths[1] / widths[0] < 0.4


def test_resamples_are_reproducible_and_redraw_the_references():
    truth, _ = noisy_case(300)
    a, b = Resamples.draw(truth, 50, seed=3), Resamples.draw(truth, 50, seed=3)
    assert np.array_equal(a.counts, b.counts)
    assert np.all(a.counts.sum(axis=1) == 300)
    best = [r.best_single_quality for r in a.references]
    assert np.std(best) > 0  # each resample has its own best-single figure
    # a resample's references equal those of the resampled data built directly
    rows = np.repeat(np.arange(300), a.counts[0].astype(int))
    direct = References.of(truth.subset(rows))
    assert a.references[0].best_single_quality == direct.best_single_quality
    assert np.isclose(a.references[0].oracle_quality, direct.oracle_quality)


def test_unreached_cost_ratio_gives_an_open_upper_bound():
    # a router that never beats the best single model: its cost ratio is inf in most resamples
    truth, _ = noisy_case(400)
    bad = np.tile([1.0, 0.0, 0.0], (400, 1))  # always the cheap, weak model
    ci = intervals(Sweep.run(bad, truth.cost, truth), Resamples.draw(truth, 100, seed=0))
    assert ci["cost_ratio_at_best_single_quality"] == (None, None)
    assert "apgr" not in ci  # undefined on three models

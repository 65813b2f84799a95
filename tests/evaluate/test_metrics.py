"""Every metric against small cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.evaluate import metrics
from pointsman.evaluate.curve import References, Sweep
from pointsman.evaluate.truth import Truth


def test_hull_drops_points_below_and_after_the_best():
    cost = np.array([1, 2, 3, 4, 2.5])
    quality = np.array([0.5, 0.6, 0.9, 0.8, 0.55])
    hc, hq = metrics.nondecreasing_hull(cost, quality)
    # (2, 0.6) lies under the chord (1, .5)-(3, .9) (0.7 there); (4, 0.8) is past the best point.
    assert hc.tolist() == [1, 3]
    assert hq.tolist() == [0.5, 0.9]


def test_hull_is_non_decreasing_and_concave_on_random_points():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c, q = rng.random(30), rng.random(30)
        hc, hq = metrics.nondecreasing_hull(c, q)
        assert np.all(np.diff(hc) > 0) and np.all(np.diff(hq) >= 0)
        slopes = np.diff(hq) / np.diff(hc)
        assert np.all(np.diff(slopes) <= 1e-12)  # concave
        assert hq[-1] == q.max()
        # no point lies above the hull within its cost range
        inside = (c >= hc[0]) & (c <= hc[-1])
        assert np.all(q[inside] <= np.interp(c[inside], hc, hq) + 1e-12)


def test_hull_keeps_the_best_of_equal_costs_and_ignores_nan():
    hc, hq = metrics.nondecreasing_hull([1, 1, 2, np.nan], [0.2, 0.4, 0.6, 0.9])
    assert hc.tolist() == [1, 2] and hq.tolist() == [0.4, 0.6]


def test_aiq_three_point_curve():
    hc, hq = metrics.nondecreasing_hull([1, 2, 3], [0.5, 0.8, 0.9])
    assert hc.tolist() == [1, 2, 3]
    # [1,2]: 0.65, [2,3]: 0.85, [3,4] flat at 0.9 -> 2.4 over a range of 3
    assert metrics.aiq(hc, hq, 1.0, 4.0) == pytest.approx(0.8)


def test_aiq_counts_nothing_below_the_cheapest_point_and_clips_to_the_range():
    hc, hq = np.array([2.0, 3.0]), np.array([0.6, 0.8])
    # [1,2]: 0, [2,3]: 0.7, [3,4]: 0.8 -> 1.5 / 3
    assert metrics.aiq(hc, hq, 1.0, 4.0) == pytest.approx(0.5)
    # a hull starting left of c_min is cut at c_min: [2.5,3]: 0.75 * 0.5 -> / 0.5
    assert metrics.aiq(hc, hq, 2.5, 3.0) == pytest.approx(0.75)


def test_cost_at_quality_interpolates_on_the_hull():
    hc, hq = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.8, 0.9])
    assert metrics.cost_at_quality(hc, hq, 0.7) == pytest.approx(1 + 0.2 / 0.3)
    assert metrics.cost_at_quality(hc, hq, 0.85) == pytest.approx(2.5)
    assert metrics.cost_at_quality(hc, hq, 0.4) == 1.0
    assert metrics.cost_at_quality(hc, hq, 0.9) == 3.0
    assert metrics.cost_at_quality(hc, hq, 0.95) is None


def test_oracle_gap_closed():
    assert metrics.oracle_gap_closed(0.7, 0.6, 0.8) == pytest.approx(0.5)
    assert metrics.oracle_gap_closed(0.55, 0.6, 0.8) == pytest.approx(-0.25)
    assert metrics.oracle_gap_closed(0.6, 0.6, 0.6) is None


def test_apgr_and_cpt_on_one_routed_point():
    # weak 0.5, strong 0.9; routing half the calls to the strong model gives 0.8 (PGR 0.75)
    share, quality = np.array([0.5]), np.array([0.8])
    # anchors (0, 0) and (1, 1): 0.5 * 0.375 + 0.5 * 0.875
    assert metrics.apgr(share, quality, 0.5, 0.9) == pytest.approx(0.625)
    assert metrics.cpt(share, quality, 0.5, 0.9, 0.5) == pytest.approx(0.5 * 0.5 / 0.75)
    assert metrics.cpt(share, quality, 0.5, 0.9, 0.8) == pytest.approx(0.5 + 0.5 * 0.05 / 0.25)
    # a random router (quality linear in share) recovers half the gap on average
    s = np.linspace(0, 1, 11)
    assert metrics.apgr(s, 0.5 + 0.4 * s, 0.5, 0.9) == pytest.approx(0.5)
    assert metrics.cpt(s, 0.5 + 0.4 * s, 0.5, 0.9, 0.8) == pytest.approx(0.8)
    assert metrics.apgr(share, quality, 0.7, 0.7) is None


def _two_model_case() -> tuple[Truth, np.ndarray, np.ndarray]:
    """4 prompts; weak costs 1 and scores [1,0,0,1], strong costs 10 and scores [1,1,1,0]."""
    truth = Truth(
        quality=np.array([[1, 1], [0, 1], [0, 1], [1, 0]], float),
        cost=np.array([[1, 10]] * 4, float),
    )
    pred_q = np.array([[0.9, 0.5], [0.2, 0.9], [0.3, 0.6], [0.8, 0.5]])
    return truth, pred_q, truth.cost.copy()


def test_two_model_sweep_end_to_end():
    truth, pred_q, pred_c = _two_model_case()
    refs = References.of(truth)
    assert (refs.best_single, refs.best_single_quality, refs.best_single_cost) == (1, 0.75, 10.0)
    assert (refs.strong, refs.strong_quality, refs.weak_quality) == (1, 0.75, 0.5)
    # oracle: weak on prompt 0 (a tie, the cheaper), strong on 1 and 2, weak on 3
    assert (refs.oracle_quality, refs.oracle_cost) == (1.0, 5.5)
    sweep = Sweep.run(pred_q, pred_c, truth, lambdas=np.array([0.0, 0.05, 0.1, np.inf]))
    curve = sweep.curve(strong=refs.strong)
    # lambda 0: strong on prompts 1, 2; 0.05: prompt 2's margin 0.3 < 9 x 0.05, only prompt 1; then none
    assert curve.quality.tolist() == [1.0, 0.75, 0.5, 0.5]
    assert curve.cost.tolist() == [5.5, 3.25, 1.0, 1.0]
    assert curve.strong_share.tolist() == [0.5, 0.25, 0.0, 0.0]
    s = curve.score(refs)
    assert s.max_quality == 1.0
    assert s.oracle_gap_closed == pytest.approx(1.0)
    # the three points are collinear: the hull is (1, .5)-(5.5, 1); 0.75 is reached at cost 3.25
    assert s.cost_ratio_at_best_single_quality == pytest.approx(0.325)
    # [1, 5.5]: 0.75 x 4.5, [5.5, 10]: 1.0 x 4.5 over 9
    assert s.aiq == pytest.approx(0.875)
    # PGR (0, 0), (.25, 1), (.5, 2), (1, 1): 0.125 + 0.375 + 0.75
    assert s.cost_aware_apgr == pytest.approx(1.25)
    assert s.cost_aware_cpt50 == pytest.approx(0.125)
    assert s.cost_aware_cpt80 == pytest.approx(0.2)


def test_more_than_two_models_have_no_apgr():
    rng = np.random.default_rng(1)
    truth = Truth(rng.integers(0, 2, (20, 3)).astype(float), np.tile([1.0, 2.0, 3.0], (20, 1)))
    s = Sweep.run(rng.random((20, 3)), truth.cost, truth).curve().score(References.of(truth))
    assert s.apgr is None and s.cpt50 is None


def test_unknown_scores_are_never_chosen_nor_read_as_zero():
    nan = np.nan
    truth = Truth(
        quality=np.array([[0.2, nan, 0.9], [0.4, 0.8, nan], [nan, 0.6, 0.7]]),
        cost=np.array([[1, 2, 3]] * 3, float),
    )
    # the router prefers exactly the unknown entries
    pred_q = np.array([[0, 1, 0.5], [0, 0.5, 1], [1, 0.5, 0]])
    sweep = Sweep.run(pred_q, truth.cost, truth, lambdas=np.array([0.0]))
    assert sweep.choices[:, 0].tolist() == [2, 1, 1]
    assert not np.isnan(sweep.quality).any()
    # single-model means are over known entries only
    assert truth.model_quality.tolist() == pytest.approx([0.3, 0.7, 0.8])
    with pytest.raises(ValueError, match="no known score"):
        Truth(np.array([[nan, nan]]), np.array([[1.0, 2.0]]))

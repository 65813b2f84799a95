"""RouteLLM's two-model metrics: a hand-worked fixture, constant and random routers, RouteLLM's code."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.evaluate.threshold import ThresholdSweep, strong_score, two_model_sweep

# 4 prompts; the strong model scores [1, 1, 1, 0], the weak one [1, 0, 0, 1]: weak mean 0.5, strong 0.75.
STRONG = np.array([1.0, 1.0, 1.0, 0.0])
WEAK = np.array([1.0, 0.0, 0.0, 1.0])


def test_hand_worked_fixture():
    # the router's predicted gains order the prompts 1, 2, 3, 0
    curve = ThresholdSweep.of(np.array([-0.4, 0.7, 0.3, -0.3]), STRONG, WEAK).curve()
    assert curve.strong_share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    # each step adds one prompt's true gain / 4: +1, +1, -1, 0
    assert curve.quality.tolist() == [0.5, 0.75, 1.0, 0.75, 0.75]
    assert curve.pgr().tolist() == [0.0, 1.0, 2.0, 1.0, 1.0]
    # trapezoids of width 0.25: (0 + 1) / 2 + (1 + 2) / 2 + (2 + 1) / 2 + (1 + 1) / 2 = 4.5
    assert curve.apgr() == pytest.approx(0.25 * 4.5)
    assert curve.cpt(0.5) == pytest.approx(0.125)  # halfway to the first point (PGR 1)
    assert curve.cpt(0.8) == pytest.approx(0.2)
    assert curve.cpt(2.0) == pytest.approx(0.5)


def test_equal_scores_switch_together():
    curve = ThresholdSweep.of(np.array([0.0, 0.5, 0.5, 0.0]), STRONG, WEAK).curve()
    assert curve.strong_share.tolist() == [0.0, 0.5, 1.0]
    assert curve.quality.tolist() == [0.5, 1.0, 0.75]
    # a NaN score counts as the lowest: prompt 0 is sent to the strong model last
    curve = ThresholdSweep.of(np.array([np.nan, 0.7, 0.3, -0.3]), STRONG, WEAK).curve()
    assert curve.quality.tolist() == [0.5, 0.75, 1.0, 0.75, 0.75]


def test_constant_router_scores_one_half():
    curve = ThresholdSweep.of(np.full(4, 0.2), STRONG, WEAK).curve()
    assert curve.strong_share.tolist() == [0.0, 1.0]
    assert curve.apgr() == 0.5
    assert curve.cpt(0.5) == pytest.approx(0.5) and curve.cpt(0.8) == pytest.approx(0.8)


def test_level_models_have_no_apgr():
    curve = ThresholdSweep.of(np.arange(4.0), WEAK, WEAK).curve()
    assert curve.apgr() is None and curve.cpt(0.5) is None


def test_random_router_scores_one_half_in_expectation():
    rng = np.random.default_rng(3)
    strong, weak = rng.integers(0, 2, 60).astype(float), rng.integers(0, 2, 60).astype(float)
    strong[:20] = 1.0  # the strong model is ahead
    values = np.array([ThresholdSweep.of(rng.random(60), strong, weak).curve().apgr() for _ in range(3000)])
    assert abs(values.mean() - 0.5) < 3 * values.std() / np.sqrt(len(values))
    # and a router that knows the true gain does much better than chance
    assert ThresholdSweep.of(strong - weak, strong, weak).curve().apgr() > 0.9


def _routellm(score: np.ndarray, strong: np.ndarray, weak: np.ndarray, bins: int) -> tuple:
    """RouteLLM's evaluation script, restated: thresholds at pd.qcut's bin edges, strong where the score is
    >= each edge but the last (> the last), np.trapz of accuracy over the share, then the APGR ratio;
    CPT by np.interp of the target accuracy on the curve sorted by share (np.interp assumes increasing
    accuracies: taken on the curve's rising part up to its peak, where these targets are reached)."""
    edges = np.quantile(score, np.linspace(0, 1, bins + 1))
    share, acc = [], []
    for i, t in enumerate(edges):
        pick = score >= t if i < len(edges) - 1 else score > t
        share.append(pick.mean())
        acc.append(np.where(pick, strong, weak).mean())
    order = np.argsort(share, kind="stable")
    share, acc = np.array(share)[order], np.array(acc)[order]
    w, s = weak.mean(), strong.mean()
    auc = np.trapezoid(acc, share)
    weak_auc = np.trapezoid(np.full(len(share), w), share)
    strong_auc = np.trapezoid(np.full(len(share), s), share)
    rise = int(np.argmax(acc)) + 1
    cpt = [float(np.interp(f * (s - w) + w, acc[:rise], share[:rise])) for f in (0.5, 0.8)]
    return (auc - weak_auc) / (strong_auc - weak_auc), cpt, acc


def test_matches_routellm_evaluation_code_with_its_deciles():
    rng = np.random.default_rng(7)
    n = 500
    strong = (rng.random(n) < 0.7).astype(float)
    weak = (rng.random(n) < 0.4).astype(float)
    score = (strong - weak) + rng.normal(0, 0.8, n)  # an informative, imperfect router
    apgr, cpt, acc = _routellm(score, strong, weak, bins=10)
    assert np.all(np.diff(acc[: int(np.argmax(acc)) + 1]) > 0)
    curve = ThresholdSweep.of(score, strong, weak, bins=10).curve()
    assert len(curve.strong_share) == 11
    assert curve.apgr() == pytest.approx(apgr, abs=1e-12)
    assert [curve.cpt(0.5), curve.cpt(0.8)] == pytest.approx(cpt, abs=1e-12)
    # every distinct score as a threshold: the same curve, finer (the area of a concave curve grows)
    full = ThresholdSweep.of(score, strong, weak).curve()
    assert len(full.strong_share) == n + 1
    assert apgr - 0.01 < full.apgr() < apgr + 0.03


def test_bootstrap_weights_equal_repeated_prompts():
    rng = np.random.default_rng(0)
    score, strong, weak = rng.random(30), rng.integers(0, 2, 30).astype(float), rng.integers(0, 2, 30) * 1.0
    counts = rng.integers(0, 3, (5, 30)).astype(float)
    sweep = ThresholdSweep.of(score, strong, weak)
    for b, curve in enumerate(sweep.curves(counts)):
        rows = np.repeat(np.arange(30), counts[b].astype(int))
        direct = ThresholdSweep.of(score[rows], strong[rows], weak[rows]).curve()
        assert curve.apgr() == pytest.approx(direct.apgr())
        assert curve.cpt(0.5) == pytest.approx(direct.cpt(0.5))


def test_two_model_sweep_uses_the_prompts_with_both_scores_known():
    pred = np.array([[0.2, 0.9], [0.5, 0.4], [0.1, 0.8], [0.3, 0.3]])
    truth = np.array([[0.0, 1.0], [1.0, 0.0], [np.nan, 1.0], [1.0, 1.0]])
    known = np.isfinite(truth)
    assert strong_score(pred, 1).tolist() == pytest.approx([0.7, -0.1, 0.7, 0.0])
    sweep, rows = two_model_sweep(pred, truth, known, strong=1)
    assert rows.tolist() == [0, 1, 3]
    curve = sweep.curve()
    assert curve.strong_share.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert curve.quality.tolist() == pytest.approx([2 / 3, 1.0, 1.0, 2 / 3])


def test_cross_validated_scores_are_thresholded_within_their_fold():
    # a constant router fitted per fold predicts a different constant in each fold: still the straight line
    pred = np.array([[0.2, 0.5], [0.2, 0.5], [0.4, 0.6], [0.4, 0.6]])
    truth = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])  # the strong model helps in fold 1
    folds = np.array([0, 0, 1, 1])
    pooled, _ = two_model_sweep(pred, truth, np.isfinite(truth), strong=1)
    assert pooled.curve().apgr() == 0.25  # the raw scores rank fold 0 above fold 1
    sweep, _ = two_model_sweep(pred, truth, np.isfinite(truth), strong=1, folds=folds)
    assert sweep.curve().strong_share.tolist() == [0.0, 1.0] and sweep.curve().apgr() == 0.5
    # within each fold the order is the router's own: the top half of every fold goes first
    pred[[0, 3], 1] = 0.9
    curve = two_model_sweep(pred, truth, np.isfinite(truth), strong=1, folds=folds)[0].curve()
    assert curve.strong_share.tolist() == [0.0, 0.5, 1.0]
    assert curve.quality.tolist() == [0.5, 0.75, 1.0]

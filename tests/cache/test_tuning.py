"""Thresholds from a precision target: the bound is conservative, small data qualifies nothing."""

from __future__ import annotations

import numpy as np

from pointsman.cache.tuning import evaluate, lower_bound, tune, tune_categories


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.random(n) < 0.4
    sim = np.where(label, rng.normal(0.9, 0.05, n), rng.normal(0.55, 0.1, n))
    return sim, label


def test_lower_bound_is_clopper_pearson() -> None:
    # 100 of 100: the one-sided 95% bound is 0.05 ** (1/100)
    assert abs(float(lower_bound(100, 100, 0.95)) - 0.05 ** (1 / 100)) < 1e-9
    assert float(lower_bound(0, 10, 0.95)) == 0.0
    assert float(lower_bound(90, 100, 0.95)) < 0.9


def test_bound_holds_on_held_out_data_and_is_stricter_than_the_point_estimate() -> None:
    sim, label = synthetic(40_000)
    held_sim, held_label = synthetic(40_000, seed=1)
    bound = tune(sim, label, precision=0.98)
    point = tune(sim, label, precision=0.98, bound=False)
    assert bound.threshold is not None and point.threshold is not None
    assert bound.threshold >= point.threshold and bound.lower_bound >= 0.98
    precision, recall, hits = evaluate(bound, held_sim, held_label)
    assert precision >= 0.975 and 0 < recall <= 1 and hits > 0


def test_too_little_data_qualifies_no_threshold() -> None:
    sim, label = np.array([0.99, 0.98, 0.97]), np.array([True, True, True])
    t = tune(sim, label, precision=0.99)
    assert t.threshold is None and t.recall == 0.0
    precision, recall, hits = evaluate(t, sim, label)
    assert np.isnan(precision) and (recall, hits) == (0.0, 0)


def test_overlap_feature_can_only_help_recall() -> None:
    rng = np.random.default_rng(3)
    sim, label = synthetic(20_000, seed=3)
    ovl = np.where(label, rng.uniform(0.4, 1, len(sim)), rng.uniform(0, 0.8, len(sim)))
    alone = tune(sim, label, precision=0.98)
    both = tune(sim, label, ovl, precision=0.98)
    assert both.recall >= alone.recall


def test_categories_tune_apart_and_inherit_the_global_rule_unless_contradicted() -> None:
    rng = np.random.default_rng(5)
    clean_sim, clean_lab = synthetic(20_000, seed=5)
    # "noisy": like "clean", but a fifth of its paraphrase pairs are not the same question
    noisy_sim, noisy_lab = synthetic(3000, seed=7)
    noisy_lab = noisy_lab & (rng.random(3000) > 0.2)
    small_sim, small_lab = synthetic(40, seed=6)  # too few pairs to show anything on its own
    sim = np.concatenate([clean_sim, noisy_sim, small_sim])
    lab = np.concatenate([clean_lab, noisy_lab, small_lab])
    cats = ["clean"] * 20_000 + ["noisy"] * 3000 + ["small"] * 40
    rules = tune_categories(sim, lab, None, cats, precision=0.98)
    assert rules["clean"].threshold is not None and rules["clean"].lower_bound >= 0.98
    assert rules["noisy"].threshold is None  # contradicts the target at the global rule: exact only
    assert rules["small"].threshold == rules["*"].threshold  # nothing against it: the global rule

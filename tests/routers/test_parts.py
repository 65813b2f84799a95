"""The routers' building blocks: features, the gate, masked fitting, score scaling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pointsman.routers.features import LEXICAL_NAMES, NGRAM_COLUMNS, hashed_ngrams, lexical_features
from pointsman.routers.fitting import ScoreScale, fit_logistic, model_priors, shrunk_means, softmax
from pointsman.routers.gating import Gate, gate_matrix, group_labels


def test_lexical_features_see_what_minilm_cannot() -> None:
    rows = lexical_features(
        ["who wrote the iliad", "Who wrote the Iliad?", "def f(x):\n    '''Double x.'''\n    return 2 * x"]
    )
    f = {name: rows[:, i] for i, name in enumerate(LEXICAL_NAMES)}
    assert rows.shape == (3, len(LEXICAL_NAMES))
    assert f["all_lower"].tolist() == [1, 0, 0] and f["ends_question"].tolist() == [0, 1, 0]
    assert f["first_who"].tolist() == [1, 1, 0] and f["has_code"].tolist() == [0, 0, 1]
    assert f["has_docstring"].tolist() == [0, 0, 1]
    assert lexical_features([]).shape == (0, len(LEXICAL_NAMES))


def test_hashed_ngrams_are_stable_and_normalised() -> None:
    texts = ["What is the capital of France?", "", "What is the capital of France?"]
    h = hashed_ngrams(texts)
    assert h.shape == (3, NGRAM_COLUMNS)
    assert (h[0] != h[2]).nnz == 0 and h[1].nnz == 0
    assert np.isclose((h[0].multiply(h[0])).sum(), 1.0)
    assert h[0].nnz == 7 + 6  # 7 tokens ("?" included), 6 bigrams; "is" and "of" are 2 letters: kept


def test_gate_proba_matches_the_fitted_matrix(llmrouter_small) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(llmrouter_small.n_prompts, 5))
    names, labels = group_labels(llmrouter_small.tasks, x, min_size=5, seed=0)
    gate = Gate.fit(names, labels, x, llmrouter_small.prompts, 2.0, reg=0.1)
    direct = gate.proba(x, llmrouter_small.prompts, 2.0)
    via_matrix = softmax(np.asarray(gate_matrix(x, llmrouter_small.prompts, 2.0) @ gate.w) + gate.b)
    np.testing.assert_allclose(direct, via_matrix, rtol=1e-5, atol=1e-6)
    one_by_one = np.vstack(
        [gate.proba(x[i : i + 1], llmrouter_small.prompts[i : i + 1], 2.0) for i in range(10)]
    )
    np.testing.assert_allclose(one_by_one, direct[:10], rtol=1e-5, atol=1e-6)
    assert (direct.argmax(axis=1) == labels).mean() > 0.9  # in-sample: the n-grams give tasks away


def test_groups_fall_back_to_clusters_without_tasks() -> None:
    rng = np.random.default_rng(1)
    emb = np.vstack([rng.normal(c, 0.1, size=(200, 3)) for c in (-3, 0, 3)])
    names, labels = group_labels([None] * 600, emb, min_size=20, seed=0)
    assert len(names) == 4 and names[0].startswith("cluster")  # 600 // 150 clusters
    small_tasks = ["a"] * 30 + ["b"] * 5 + [None] * 5
    names, labels = group_labels(small_tasks, emb[:40], min_size=20, seed=0)
    assert names == ["a", "(other)"] and labels.tolist() == [0] * 30 + [1] * 10


def test_fit_logistic_masks_unknown_scores() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 4))
    y = (x @ [1.5, -1.0, 0.0, 0.5] + rng.logistic(size=300) > 0).astype(float)
    masked = np.column_stack([y, y])
    masked[::3, 1] = np.nan  # column 1 knows two thirds of the rows
    w, b = fit_logistic(x, masked, l2=1e-3)
    w_known, b_known = fit_logistic(x[np.isfinite(masked[:, 1])], y[np.isfinite(masked[:, 1]), None], l2=1e-3)
    np.testing.assert_allclose(w[:, 1], w_known[:, 0], atol=1e-3)
    np.testing.assert_allclose(b[1], b_known[0], atol=1e-3)
    assert np.corrcoef(w[:, 0], [1.5, -1.0, 0.0, 0.5])[0, 1] > 0.95


def test_priors_and_scales() -> None:
    q = np.array([[1.0, np.nan, 0.0], [1.0, np.nan, 1.0]])
    priors = model_priors(q, strength=2.0)  # grand mean of the known: 0.75
    np.testing.assert_allclose(priors, [(2 + 1.5) / 4, 0.75, (1 + 1.5) / 4])
    np.testing.assert_allclose(shrunk_means(q, np.zeros(3), 0.0)[[0, 2]], [1.0, 0.5])
    scale = ScoreScale.of(np.array([[2.0, 10.0], [np.nan, 6.0]]))
    assert (scale.lo, scale.hi) == (2.0, 10.0)
    np.testing.assert_allclose(scale.from_unit(scale.to_unit(np.array([3.0, 7.0]))), [3.0, 7.0])
    assert ScoreScale.of(np.array([[0.2, 0.9]])) == ScoreScale()


def test_numpy_lbfgs_reaches_scipys_optimum() -> None:
    from scipy.optimize import minimize

    from pointsman.routers.fitting import lbfgs

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20))
    y = (x @ rng.normal(size=20) + rng.normal(size=300) > 0).astype(float)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        value = float(np.mean(np.logaddexp(0, z) - y * z) + 0.05 * w @ w)
        return value, x.T @ (1 / (1 + np.exp(-z)) - y) / len(y) + 0.1 * w

    ours = lbfgs(loss, np.zeros(20), 300)
    ref = minimize(loss, np.zeros(20), jac=True, method="L-BFGS-B").x
    assert loss(ours)[0] == pytest.approx(loss(ref)[0], abs=1e-9)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_gates_are_shared_and_warm_starts_reach_the_same_gate(llmrouter_small) -> None:
    from pointsman.routers.gating import fitted_gate

    rng = np.random.default_rng(0)
    x = rng.normal(size=(llmrouter_small.n_prompts, 5))
    names, labels = group_labels(llmrouter_small.tasks, x, min_size=5, seed=0)
    cold = fitted_gate(names, labels, x, llmrouter_small.prompts, 2.0, 0.1)
    assert fitted_gate(names, labels, x, llmrouter_small.prompts, 2.0, 0.1) is cold
    half = np.arange(len(labels)) % 2 == 0
    other = Gate.fit(
        names, labels[half], x[half], [p for p, h in zip(llmrouter_small.prompts, half) if h], 2.0, 0.1
    )
    warm = Gate.fit(names, labels, x, llmrouter_small.prompts, 2.0, 0.1, init=other)
    np.testing.assert_allclose(
        warm.proba(x, llmrouter_small.prompts, 2.0), cold.proba(x, llmrouter_small.prompts, 2.0), atol=2e-3
    )


def test_mixture_neighbours_blend(llmrouter_small, tmp_path: Path) -> None:
    from pointsman.routers.base import Router
    from pointsman.routers.registry import make_router

    with pytest.raises(ValueError, match="neighbours must be >= 0"):
        make_router("mixture", neighbours=-1).fit(llmrouter_small)
    pair = llmrouter_small.select_models(["llama-3.1-nemotron-51b-instruct", "gemma-2-9b-it"])
    router = make_router("mixture").fit(pair)
    assert 0.0 <= router.knn_weight_ <= 1.0 and 0.0 <= router.trust_ <= 1.0
    if router.knn_weight_ == 0.0:
        assert len(router.nodes_) == 0  # nothing unused is carried
    else:
        assert router.nodes_.shape == (pair.n_prompts, router.featurizer_.embedding_dim)
    queries = llmrouter_small.prompts[:20]
    path = router.save(tmp_path / "m.router")
    np.testing.assert_allclose(Router.load(path).predict(queries), router.predict(queries))
    none = make_router("mixture", neighbours=0).fit(pair)
    assert none.knn_weight_ == 0.0

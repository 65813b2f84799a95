"""The graph router (GraphRouter-style) and the contrastive dual encoder (RouterDC-style): their parts, and
what each adds over its neighbours on real LLMRouter prompts."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pointsman.routers.dual import DualRouter, _info_nce, contrast_sets, sample_pairs
from pointsman.data import ModelInfo
from pointsman.routers.graph import GraphRouter, nearest, neighbour_means

STRONG = "llama-3.1-nemotron-51b-instruct"


def test_nearest_never_picks_a_node_as_its_own_neighbour() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    nbrs = nearest(x, x, 5, self_at=0)
    assert nbrs.shape == (50, 5)
    assert not (nbrs == np.arange(50)[:, None]).any()
    assert (nearest(x, x, 1)[:, 0] == np.arange(50)).all()  # otherwise a node is its own nearest
    later = nearest(x[10:20], x, 3, self_at=10)  # queries that are nodes 10..19
    assert not (later == np.arange(10, 20)[:, None]).any()


def test_neighbour_means_skip_unknown_labels_and_shrink() -> None:
    labels = np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 1.0]])
    out = neighbour_means(np.array([[0, 1, 2]]), labels, prior=np.array([0.5, 0.0]), shrinkage=1.0)
    np.testing.assert_allclose(out, [[(2 + 0.5) / 4, (2 + 0.0) / 3]])


def test_model_sizes_parse() -> None:
    def size(**meta) -> float:
        return ModelInfo("m", metadata=meta).size_billions

    assert size(size="7B") == 7.0 and size(size="135M") == pytest.approx(0.135) and np.isnan(size())
    assert size(parameters=7.616, size="7B") == 7.616


def test_contrast_sets_ignore_queries_every_model_got_alike() -> None:
    y = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.2, np.nan, 0.9]])
    pos, neg = contrast_sets(y)
    assert pos.tolist() == [[True, False, True], [False, False, False], [False, False, True]]
    assert neg.tolist() == [[False, True, False], [False, False, False], [True, False, False]]


def test_info_nce_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    s = rng.normal(size=(6, 4))
    pos = rng.random((6, 4)) < 0.4
    neg = ~pos & (rng.random((6, 4)) < 0.7)
    _, g = _info_nce(s, pos, neg)
    for i, j in [(0, 1), (2, 3), (5, 0)]:
        d = np.zeros_like(s)
        d[i, j] = 1e-6
        num = (_info_nce(s + d, pos, neg)[0] - _info_nce(s - d, pos, neg)[0]) / 2e-6
        assert g[i, j] == pytest.approx(num, abs=1e-6)


def test_sample_pairs_partner_shares_the_group() -> None:
    groups = np.array([0, 0, 1, 1, 1, 2])
    partner, neg = sample_pairs(groups, 3, np.random.default_rng(0))
    assert (groups[partner] == groups).all()
    assert neg.shape == (6, 3)


@pytest.fixture(scope="module")
def graph_without_strong(llmrouter_small) -> GraphRouter:
    others = [m for m in llmrouter_small.model_names if m != STRONG]
    return GraphRouter(dim=4, neighbours=10, max_iter=60).fit(llmrouter_small.select_models(others))


def test_graph_onboards_a_model_from_its_description_and_few_labels(graph_without_strong, llmrouter_small):
    rng = np.random.default_rng(0)
    calib = rng.choice(llmrouter_small.n_prompts, 60, replace=False)
    rest = np.setdiff1d(np.arange(llmrouter_small.n_prompts), calib)
    j = llmrouter_small.model_index(STRONG)
    router = copy.deepcopy(graph_without_strong).onboard(
        llmrouter_small.models[j],
        [llmrouter_small.prompts[i] for i in calib],
        llmrouter_small.quality[calib, j],
    )
    assert router.model_names[-1] == STRONG
    pred = router.predict([llmrouter_small.prompts[i] for i in rest])
    real = np.nanmean(llmrouter_small.quality[rest, j])
    assert abs(pred[:, -1].mean() - real) < 0.1
    assert router.predict_cost(["hello"]).shape == (1, len(router.model_names))
    with pytest.raises(ValueError, match="already routed"):
        router.onboard(llmrouter_small.models[j], ["x"], [1.0])
    with pytest.raises(ValueError, match="scores for"):
        copy.deepcopy(graph_without_strong).onboard(llmrouter_small.models[j], ["x", "y"], [1.0])


def test_dual_affinity_ranks_models_as_the_scores_do(llmrouter_small) -> None:
    """On its training prompts the calibrated affinity orders the models like their mean scores."""
    router = DualRouter(dim=8, hidden=16, max_iter=80).fit(llmrouter_small)
    pred = router.predict(llmrouter_small.prompts).mean(axis=0)
    real = np.nanmean(llmrouter_small.quality, axis=0)
    assert np.corrcoef(pred, real)[0, 1] > 0.8

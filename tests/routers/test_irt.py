"""IRT: onboarding a new model from a small calibration set without refitting the others."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import ModelInfo
from pointsman.routers.base import Router
from pointsman.routers.irt import IrtRouter

STRONG, WEAK = "llama-3.1-nemotron-51b-instruct", "llama3-chatqa-1.5-8b"


@pytest.fixture(scope="module")
def eight(llmrouter_small) -> IrtRouter:
    """Fitted without the two models to be onboarded."""
    others = [m for m in llmrouter_small.model_names if m not in (STRONG, WEAK)]
    return IrtRouter(dim=3, max_iter=80).fit(llmrouter_small.select_models(others))


def onboarded(base: IrtRouter, data, name: str, rows: np.ndarray) -> IrtRouter:
    router = copy.deepcopy(base)
    j = data.model_index(name)
    return router.onboard(data.models[j], [data.prompts[i] for i in rows], data.quality[rows, j])


def test_onboarding_learns_the_new_models_level(eight, llmrouter_small) -> None:
    rng = np.random.default_rng(0)
    calib = rng.choice(llmrouter_small.n_prompts, 50, replace=False)
    rest = np.setdiff1d(np.arange(llmrouter_small.n_prompts), calib)
    texts = [llmrouter_small.prompts[i] for i in rest]
    before = eight.predict(texts)
    strong = onboarded(eight, llmrouter_small, STRONG, calib)
    weak = onboarded(eight, llmrouter_small, WEAK, calib)
    assert strong.model_names == [*eight.model_names, STRONG]
    for router, name in ((strong, STRONG), (weak, WEAK)):
        pred = router.predict(texts)
        np.testing.assert_array_equal(pred[:, :-1], before)  # the others are untouched
        real = llmrouter_small.quality[rest, llmrouter_small.model_index(name)].mean()
        assert abs(pred[:, -1].mean() - real) < 0.12, (name, pred[:, -1].mean(), real)
    # the strong model is predicted above the weak one on most prompts, from 50 labels each
    assert (strong.predict(texts)[:, -1] > weak.predict(texts)[:, -1]).mean() > 0.8


def test_onboarded_router_saves_and_prices_the_new_model(eight, llmrouter_small, tmp_path: Path) -> None:
    router = onboarded(eight, llmrouter_small, STRONG, np.arange(50))
    texts = llmrouter_small.prompts[60:70]
    loaded = Router.load(router.save(tmp_path / "nine.router"))
    np.testing.assert_array_equal(loaded.predict(texts), router.predict(texts))
    cost = loaded.predict_cost(texts)
    assert cost.shape == (10, 8) and (cost[:, -1] > 0).all()
    # priced like the other models at its price: a 0.9 $/1M model costs about 0.9/0.2 times a 0.2 one
    small = [m.name for m in loaded.models_].index("qwen2.5-7b-instruct")
    assert 2.0 < np.median(cost[:, -1] / cost[:, small]) < 8.0


def test_onboarding_errors(eight, llmrouter_small) -> None:
    texts = llmrouter_small.prompts[:5]
    with pytest.raises(ValueError, match="already routed"):
        eight.onboard(ModelInfo(eight.model_names[0]), texts, np.ones(5))
    with pytest.raises(ValueError, match="3 scores for 5"):
        eight.onboard(ModelInfo("new"), texts, np.ones(3))
    with pytest.raises(ValueError, match="no known score"):
        eight.onboard(ModelInfo("new"), texts, np.full(5, np.nan))
    with pytest.raises(ValueError, match="outside"):
        eight.onboard(ModelInfo("new"), texts, np.full(5, 7.0))
    with pytest.raises(RuntimeError, match="not fitted"):
        IrtRouter().onboard(ModelInfo("new"), texts, np.ones(5))
    assert eight.model_names == [m for m in llmrouter_small.model_names if m not in (STRONG, WEAK)]

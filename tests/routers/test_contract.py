"""Every registered router keeps the estimator contract, on real LLMRouter prompts."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pointsman.data import RoutingDataset
from pointsman.npzfile import read_npz, write_npz
from pointsman.routers.base import FILE_FORMAT, FILE_VERSION, Queries, Router, RouterFileError
from pointsman.routers.registry import DEFAULT_ROUTER, make_router, router_class, router_names

# Small hyper-parameters keep each fit to a second or two on 280 prompts.
SMALL = {
    "knn": {"k": 10},
    "mlp": {"hidden": 16, "max_iter": 40},
    "mf": {"dim": 4, "max_iter": 40},
    "irt": {"dim": 3, "max_iter": 60},
    "graph": {"dim": 4, "neighbours": 10, "max_iter": 40},
    "dual": {"dim": 8, "hidden": 16, "max_iter": 40},
}
ROUTERS = router_names()
LEARNED = [n for n in ROUTERS if n not in ("random", "oracle")]
_fitted: dict[tuple[str, str], Router] = {}


def fitted(name: str, data: RoutingDataset, tag: str) -> Router:
    """One fit per (router, dataset) per session."""
    key = (name, tag)
    if key not in _fitted:
        _fitted[key] = make_router(name, **SMALL.get(name, {})).fit(data)
    return _fitted[key]


def test_registry_lists_the_issue_routers() -> None:
    expected = {
        "random",
        "best-single",
        "oracle",
        "knn",
        "mlp",
        "mf",
        "category",
        "irt",
        "mixture",
        "graph",
        "dual",
    }
    assert expected <= set(ROUTERS)
    assert DEFAULT_ROUTER in ROUTERS
    assert router_class("oracle").evaluation_only
    assert not router_class(DEFAULT_ROUTER).evaluation_only


@pytest.mark.parametrize("name", ROUTERS)
def test_fit_predict_shapes_and_model_order(name: str, llmrouter_small, llmrouter_queries) -> None:
    router = fitted(name, llmrouter_small, "small")
    assert router.model_names == llmrouter_small.model_names
    texts = (llmrouter_small if name == "oracle" else llmrouter_queries).prompts  # no task labels
    quality = router.predict(texts)
    cost = router.predict_cost(texts)
    assert quality.shape == cost.shape == (len(texts), llmrouter_small.n_models)
    assert np.isfinite(quality).all() and np.isfinite(cost).all() and (cost >= 0).all()
    assert router.predict([]).shape == (0, llmrouter_small.n_models)
    np.testing.assert_allclose(router.predict(texts[0])[0], quality[0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", LEARNED)
def test_columns_follow_the_models(name: str, llmrouter_small, llmrouter_queries) -> None:
    """A model that always scores 1 is predicted above one that always scores 0, in its own column."""
    q = llmrouter_small.quality.copy()
    q[:, 2], q[:, 5] = 1.0, 0.0
    data = replace(llmrouter_small, quality=q)
    router = make_router(name, **SMALL.get(name, {})).fit(data)
    pred = router.predict(llmrouter_queries)
    assert (pred[:, 2] > pred[:, 5]).all()
    assert (pred[:, 2] >= pred.max(axis=1) - 1e-9).mean() > 0.9


@pytest.mark.parametrize("name", LEARNED)
def test_unknown_scores_are_masked_not_zero(name: str, llmrouter_small, llmrouter_queries) -> None:
    """Model 0 answers everything it was scored on but half its scores are unknown (NaN): a router that
    read NaN as 0 would put it near 0.5; masked, it stays the clear favourite."""
    rng = np.random.default_rng(0)
    q = llmrouter_small.quality.copy()
    q[:, 0] = 1.0
    q[rng.random(len(q)) < 0.5, 0] = np.nan
    q[:, 1:][rng.random((len(q), q.shape[1] - 1)) < 0.2] = np.nan
    data = replace(llmrouter_small, quality=q)
    pred = make_router(name, **SMALL.get(name, {})).fit(data).predict(llmrouter_queries)
    assert np.isfinite(pred).all()
    assert pred[:, 0].mean() > 0.8
    assert (pred.argmax(axis=1) == 0).mean() > 0.9


@pytest.mark.parametrize("name", ROUTERS)
def test_save_load_round_trip(name: str, llmrouter_small, llmrouter_queries, tmp_path: Path) -> None:
    router = fitted(name, llmrouter_small, "small")
    queries = llmrouter_small if name == "oracle" else llmrouter_queries
    path = router.save(tmp_path / f"{name}.router")
    loaded = Router.load(path)
    assert type(loaded) is type(router)
    assert loaded.get_params() == router.get_params()
    assert loaded.model_names == router.model_names
    assert np.array_equal(loaded.predict(queries), router.predict(queries))
    assert np.array_equal(loaded.predict_cost(queries), router.predict_cost(queries))
    with np.load(path, allow_pickle=False) as npz:  # no pickled objects anywhere in the file
        assert all(npz[k].dtype != object for k in npz.files)


def test_queries_with_the_gateways_embeddings(llmrouter_small, llmrouter_queries) -> None:
    """Embeddings the gateway computed with the router's encoder are used as given (not re-encoded);
    embeddings from another encoder are ignored."""
    router = fitted(DEFAULT_ROUTER, llmrouter_small, "small")
    texts, others = llmrouter_queries.prompts[:4], llmrouter_queries.prompts[-4:]
    vectors = router._embed(Queries(texts=others))
    as_given = router.predict(Queries(texts=texts, embeddings=vectors, encoder_id=router.encoder_id_))
    assert not np.allclose(as_given, router.predict(texts))
    ignored = router.predict(Queries(texts=texts, embeddings=vectors, encoder_id="another-encoder"))
    np.testing.assert_array_equal(ignored, router.predict(texts))
    with pytest.raises(ValueError, match="2 embeddings for 4 texts"):
        router.predict(Queries(texts=texts, embeddings=vectors[:2], encoder_id=router.encoder_id_))


@pytest.mark.parametrize("name", ROUTERS)
def test_unfitted_router_refuses(name: str) -> None:
    router = make_router(name)
    with pytest.raises(RuntimeError, match="not fitted"):
        router.predict(["What is 2 + 2?"])
    with pytest.raises(RuntimeError, match="not fitted"):
        router.save("never-written.router")


def test_fit_refuses_data_without_scores(llmrouter_small) -> None:
    empty = replace(llmrouter_small, quality=np.full_like(llmrouter_small.quality, np.nan))
    with pytest.raises(ValueError, match="no known quality score"):
        make_router(DEFAULT_ROUTER).fit(empty)


def test_oracle_needs_the_true_scores(llmrouter_small, llmrouter_queries) -> None:
    oracle = fitted("oracle", llmrouter_small, "small")
    np.testing.assert_array_equal(oracle.predict(llmrouter_small), np.nan_to_num(llmrouter_small.quality))
    with pytest.raises(KeyError, match="evaluation-only"):
        oracle.predict(llmrouter_queries.prompts[:1])


# -- bad files ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(llmrouter_small, tmp_path_factory) -> Path:
    return fitted("mixture", llmrouter_small, "small").save(tmp_path_factory.mktemp("r") / "good.router")


def _rewrite(src: Path, dst: Path, edit_header=None, edit_arrays=None) -> Path:
    header, arrays = read_npz(src, FILE_FORMAT, FILE_VERSION, RouterFileError, "router")
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    return write_npz(dst, header, arrays)


def test_load_errors_name_the_file_and_the_problem(saved: Path, tmp_path: Path) -> None:
    cases: list[tuple[Path, str]] = []
    text = tmp_path / "notes.router"
    text.write_text("hello")
    cases.append((text, "not a pointsman router file"))
    cut = tmp_path / "cut.router"
    cut.write_bytes(saved.read_bytes()[:200])
    cases.append((cut, "not a pointsman router file"))
    cases.append((tmp_path / "missing.router", "no such router file"))
    cases.append((_rewrite(saved, tmp_path / "v99.router", lambda h: h.update(version=99)), "version 99"))
    cases.append(
        (_rewrite(saved, tmp_path / "who.router", lambda h: h.update(router="teleport")), "unknown router")
    )
    cases.append(
        (_rewrite(saved, tmp_path / "gone.router", edit_arrays=lambda a: a.pop("expert_w")), "expert_w")
    )

    def squash(arrays: dict) -> None:
        arrays["expert_b"] = arrays["expert_b"][:, :3]

    cases.append((_rewrite(saved, tmp_path / "shape.router", edit_arrays=squash), "expert_b"))

    def nan(arrays: dict) -> None:
        arrays["gate_b"] = np.full_like(arrays["gate_b"], np.nan)

    cases.append((_rewrite(saved, tmp_path / "nan.router", edit_arrays=nan), "non-finite"))
    cases.append((_rewrite(saved, tmp_path / "cost.router", lambda h: h.pop("cost_model")), "cost_model"))
    for path, message in cases:
        with pytest.raises(RouterFileError) as err:
            Router.load(path)
        assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_load_checks_the_router_kind(saved: Path) -> None:
    with pytest.raises(RouterFileError, match="not 'knn'"):
        router_class("knn").load(saved)


def test_bad_zip_member_is_a_clear_error(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "header.router"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("__header__.npy", b"garbage")
    with pytest.raises(RouterFileError, match="not a pointsman router file"):
        Router.load(bad)

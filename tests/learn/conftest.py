"""A real data subset for the learners: 600 LLMRouter prompts, a kNN router fitted on half of them (the
prior), real MiniLM embeddings of the other half (through the embedding cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def subset(shared_data: Path, tmp_path_factory):
    from pointsman.data import load_dataset
    from pointsman.routers.registry import make_router

    ds = load_dataset(shared_data / "llmrouter")
    rows = np.random.default_rng(0).permutation(ds.n_prompts)[:600]
    router = make_router("knn").fit(ds.subset(rows[:300]))
    path = router.save(tmp_path_factory.mktemp("routers") / "knn.npz")
    return ds, rows[300:], path

"""Real routing data for the router tests: small, task-stratified subsets so every router fits in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pointsman.data import RoutingDataset, load_dataset


def stratified(dataset: RoutingDataset, per_task: int, seed: int = 0) -> RoutingDataset:
    """`per_task` prompts of each task (all of a smaller task), in a fixed random order."""
    rng = np.random.default_rng(seed)
    tasks = np.array([t or "" for t in dataset.tasks])
    rows = [rng.permutation(np.flatnonzero(tasks == t))[:per_task] for t in sorted(set(tasks))]
    return dataset.subset(np.sort(np.concatenate(rows)))


@pytest.fixture(scope="session")
def llmrouter_full(shared_data: Path) -> RoutingDataset:
    return load_dataset(shared_data / "llmrouter")


@pytest.fixture(scope="session")
def llmrouter_small(llmrouter_full: RoutingDataset) -> RoutingDataset:
    """14 tasks x 20 prompts x 9 models."""
    return stratified(llmrouter_full, 20)


@pytest.fixture(scope="session")
def llmrouter_queries(llmrouter_full: RoutingDataset, llmrouter_small: RoutingDataset) -> RoutingDataset:
    """Other prompts of the same tasks, 3 per task: what the small routers predict for."""
    seen = set(llmrouter_small.prompt_ids)
    rest = llmrouter_full.subset([i for i, p in enumerate(llmrouter_full.prompt_ids) if p not in seen])
    return stratified(rest, 3, seed=1)


@pytest.fixture(scope="session")
def routeprofile(shared_data: Path) -> RoutingDataset:
    return load_dataset(shared_data / "routeprofile")

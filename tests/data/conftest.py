"""Real datasets, loaded once per test session (read in place from ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pointsman.data import RoutingDataset, load_dataset


@pytest.fixture(scope="session")
def llmrouter(shared_data: Path) -> RoutingDataset:
    return load_dataset(shared_data / "llmrouter")


@pytest.fixture(scope="session")
def routeprofile(shared_data: Path) -> RoutingDataset:
    return load_dataset(shared_data / "routeprofile")

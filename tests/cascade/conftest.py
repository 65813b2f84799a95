"""The RouteProfile data (600 prompts x 8 models with their real answers), loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pointsman.cascade.table import AnswerTable
from pointsman.data import RoutingDataset, load_dataset


@pytest.fixture(scope="session")
def routeprofile(shared_data: Path) -> RoutingDataset:
    return load_dataset(shared_data / "routeprofile")


@pytest.fixture(scope="session")
def table(routeprofile: RoutingDataset) -> AnswerTable:
    return AnswerTable(routeprofile)

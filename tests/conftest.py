"""Shared test fixtures: where the real routing data lives (../shared/data beside the checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"routing data not found at {SHARED_DATA}: the checkout needs ../shared beside it")
    return SHARED_DATA

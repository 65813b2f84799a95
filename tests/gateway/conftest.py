"""Real servers for gateway tests: local upstreams (pointsman.testing.upstreams) on their own event loop in a
thread, and the real gateway (uvicorn) on a real port, both on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from pointsman.config.loader import parse_config
from pointsman.gateway.server import BackgroundGateway

from .servers import UpstreamThread, backends_yaml


@pytest.fixture(scope="session")
def upstreams() -> Iterator[list[UpstreamThread]]:
    """Three independent upstreams (reset before each test that uses them)."""
    ups = [UpstreamThread() for _ in range(3)]
    yield ups
    for up in ups:
        up.close()


@pytest.fixture()
def ups(upstreams: list[UpstreamThread]) -> list[UpstreamThread]:
    for up in upstreams:
        up.reset()
    return upstreams


@pytest.fixture()
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., BackgroundGateway]]:
    """`start_gateway(config_dict)`: a running gateway on a free port; stopped (gracefully) after the test."""
    running: list[BackgroundGateway] = []

    def start(config: dict) -> BackgroundGateway:
        config = {"server": {"port": 0, "graceful_timeout": 5}, "store": {"path": "decisions.db"}, **config}
        cfg = parse_config(yaml.safe_dump(config), source="test.yaml", base_dir=tmp_path)
        gw = BackgroundGateway(cfg).start()
        running.append(gw)
        return gw

    yield start
    for gw in running:
        gw.stop()


@pytest.fixture()
def gateway(ups: list[UpstreamThread], start_gateway: Callable[..., BackgroundGateway]) -> BackgroundGateway:
    """A gateway over m0..m2 with a default profile, a keyword rule, an alias and a direct fallback."""
    return start_gateway(
        {
            "backends": backends_yaml(ups),
            "profiles": [
                {"name": "balanced", "candidates": ["m0", "m1"]},
                {"name": "strong", "candidates": ["m2", "m1"], "fallbacks": ["m0"]},
            ],
            "rules": [
                {"name": "code", "when": {"keywords": ["python", "stack trace"]}, "profile": "strong"},
                {"name": "alias", "models": ["gpt-4"], "profile": "strong"},
            ],
            "fallbacks": {"m2": ["m1"]},
        }
    )

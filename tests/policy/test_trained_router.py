"""Routers trained on first use (`selector: {train: ...}`): cached, and retrained when the cached file no
longer loads (e.g. one written by an older router version)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from pointsman.config.loader import parse_config
from pointsman.data.loaders import load_dataset
from pointsman.policy.build import build_policy
from pointsman.policy.trained import trained_router
from pointsman.routers.base import Router
from pointsman.signals.base import RequestView


def test_cached_and_retrained_when_unreadable(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("POINTSMAN_CACHE_DIR", str(tmp_path / "cache"))
    data = load_dataset(shared_data / "routeprofile")
    path = trained_router(data, name="best-single")
    assert path.parent == tmp_path / "cache" / "routers" and Router.load(path).name == "best-single"
    stamp = path.stat().st_mtime_ns
    assert trained_router(data, name="best-single") == path and path.stat().st_mtime_ns == stamp  # cached
    path.write_bytes(b"not a router file")
    assert trained_router(data, name="best-single") == path and Router.load(path).name == "best-single"


def test_a_profile_trains_its_router_on_first_use(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("POINTSMAN_CACHE_DIR", str(tmp_path / "cache"))
    models = ["gemma-2-9b-it", "llama-3.3-70b-instruct"]
    train = {"data": str(shared_data / "routeprofile"), "router": "best-single"}
    config = {
        "backends": [
            {"name": m, "kind": "openai", "base_url": "http://127.0.0.1:1/v1"} for m in [*models, "other"]
        ],
        "profiles": [{"name": "p", "candidates": models, "selector": {"train": train}}],
    }
    policy = build_policy(parse_config(yaml.safe_dump(config), base_dir=tmp_path))
    assert policy.profiles["p"].learned and not list(tmp_path.glob("cache/routers/*"))  # nothing trained yet
    ranking = asyncio.run(policy.profiles["p"].select(RequestView.from_prompt("What is 2 + 2?"))).ranking
    assert sorted(ranking) == sorted(models) and list(tmp_path.glob("cache/routers/best-single-*.npz"))
    config["profiles"][0]["candidates"] = ["gemma-2-9b-it", "other"]
    bad = build_policy(parse_config(yaml.safe_dump(config), base_dir=tmp_path))
    with pytest.raises(ValueError, match="has no scores for 'other'"):
        bad.profiles["p"].selector.warm()

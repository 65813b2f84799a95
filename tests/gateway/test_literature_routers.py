"""The routers from the literature (graph, dual) serve through the real gateway like every router file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pointsman.data import load_dataset
from pointsman.routers.registry import make_router

MODELS = ["gemma-2-9b-it", "llama-3.3-70b-instruct"]


@pytest.mark.parametrize(
    "name, params", [("graph", {"dim": 4, "neighbours": 10, "max_iter": 40}), ("dual", {"max_iter": 40})]
)
def test_router_file_routes_through_the_gateway(
    name, params, shared_data, tmp_path: Path, ups, start_gateway
):
    data = load_dataset(shared_data / "routeprofile").select_models(MODELS)
    path = make_router(name, **params).fit(data).save(tmp_path / f"{name}.npz")
    backends = [
        {"name": m, "kind": "openai", "base_url": up.url, "input_price": p, "output_price": p}
        for m, up, p in zip(MODELS, ups, (0.2, 0.9))
    ]
    gw = start_gateway(
        {
            "backends": backends,
            "profiles": [
                {
                    "name": "smart",
                    "candidates": MODELS,
                    "selector": {"router": str(path)},
                    "objective": {"lambda": 0},
                }
            ],
        }
    )
    reply = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "What is 17 * 23?"}]},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-pointsman-model"] in MODELS
    assert reply.headers["x-pointsman-reason"].startswith(f"default profile; router {name}, lambda=0")

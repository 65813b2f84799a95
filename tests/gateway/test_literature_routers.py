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


def test_objective_flags_per_request(shared_data, tmp_path: Path, ups, start_gateway) -> None:
    """`x-pointsman-flags` re-weights the router's predictions for one request (Tryage-style), from the
    models' facts in the router file; a bad flag is a 400 naming the header."""
    models = ["gemma-2-9b-it", "llama-3.3-70b-instruct"]
    data = load_dataset(shared_data / "routeprofile").select_models(models)
    path = make_router("knn").fit(data).save(tmp_path / "knn.npz")
    backends = [{"name": m, "kind": "openai", "base_url": up.url} for m, up in zip(models, ups)]
    gw = start_gateway(
        {
            "backends": backends,
            "profiles": [
                {
                    "name": "smart",
                    "candidates": models,
                    "selector": {"router": str(path)},
                    "objective": {"lambda": 0},
                },
                {"name": "fixed", "candidates": models},
            ],
        }
    )

    def ask(flags: str | None, model: str = "auto") -> httpx.Response:
        headers = {"x-pointsman-flags": flags} if flags is not None else {}
        body = {"model": model, "messages": [{"role": "user", "content": "Name the capital of Peru."}]}
        return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)

    plain = ask(None)
    assert plain.status_code == 200, plain.text
    smaller = ask("prefer_smaller=10")  # a weight that outweighs any quality difference: the 9B model
    assert smaller.headers["x-pointsman-model"] == "gemma-2-9b-it"
    assert "(flags prefer_smaller=10)" in smaller.headers["x-pointsman-reason"]
    licensed = ask("licence=llama3.3")  # only the Llama model's licence allowed
    assert licensed.headers["x-pointsman-model"] == "llama-3.3-70b-instruct"
    for flags, message in [
        ("prefer_smaller=-1", "must be a finite number >= 0"),
        ("fastest=1", "unknown flag 'fastest'"),
        ("max_latency=2", "no latency_s known"),
    ]:
        bad = ask(flags)
        assert bad.status_code == 400, bad.text
        error = bad.json()["error"]
        assert error["param"] == "x-pointsman-flags" and message in error["message"], error
    static = ask("prefer_smaller=1", model="fixed")
    assert (
        static.status_code == 400
        and "need a profile with selector.router" in static.json()["error"]["message"]
    )

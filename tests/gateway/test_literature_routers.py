"""The routers from the literature (graph, dual) serve through the real gateway like every router file."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from pointsman.data import load_dataset
from pointsman.routers.base import Queries
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


def test_personal_preferences_per_tenant(shared_data, tmp_path: Path, ups, start_gateway) -> None:
    """`pointsman personal fit` learns per-tenant offsets from judgements; the gateway ranks each tenant's
    requests with its own, and a tenant without judgements gets the global router (cold start)."""
    import json

    from typer.testing import CliRunner

    from pointsman.cli import app
    from pointsman.gateway.auth import hash_key

    models = ["gemma-2-9b-it", "llama-3.3-70b-instruct"]
    data = load_dataset(shared_data / "routeprofile").select_models(models)
    router = make_router("knn").fit(data).save(tmp_path / "knn.npz")
    rows = [  # real queries; two tenants with opposite tastes
        {"tenant": tenant, "query": q, "better_model": a, "worse_model": b}
        for q in data.prompts[:150]
        for tenant, (a, b) in (("gemma-fans", models), ("llama-fans", models[::-1]))
    ]
    judgements = tmp_path / "judgements.jsonl"
    judgements.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prefs = tmp_path / "prefs.json"
    fit = CliRunner().invoke(
        app, ["personal", "fit", "-r", str(router), "-j", str(judgements), "-o", str(prefs)]
    )
    assert fit.exit_code == 0, fit.output
    assert "300 judgements, 2 tenants (gemma-fans, llama-fans)" in fit.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "q", "better_model": models[0], "worse_model": models[1]}) + "\n")
    refused = CliRunner().invoke(
        app, ["personal", "fit", "-r", str(router), "-j", str(bad), "-o", str(prefs) + "x"]
    )
    assert refused.exit_code == 2 and "no tenant" in refused.output

    keys = {t: f"pm-{t}-secret" for t in ("gemma-fans", "llama-fans", "newcomer")}
    gw = start_gateway(
        {
            "backends": [{"name": m, "kind": "openai", "base_url": up.url} for m, up in zip(models, ups)],
            "auth": {
                "enabled": True,
                "keys": [{"id": t, "tenant": t, "sha256": hash_key(k)} for t, k in keys.items()],
            },
            "profiles": [
                {
                    "name": "smart",
                    "candidates": models,
                    "selector": {"router": str(router), "personal": str(prefs)},
                    "objective": {"lambda": 0},
                }
            ],
        }
    )

    def served(tenant: str) -> tuple[str, str]:
        body = {"model": "auto", "messages": [{"role": "user", "content": data.prompts[200]}]}
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {keys[tenant]}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.headers["x-pointsman-model"], r.headers["x-pointsman-reason"]

    assert served("gemma-fans")[0] == "gemma-2-9b-it"
    assert served("llama-fans")[0] == "llama-3.3-70b-instruct"
    assert "(preferences of tenant llama-fans)" in served("llama-fans")[1]
    model, reason = served("newcomer")
    assert "preferences" not in reason  # cold start: the global router's own choice
    global_choice = models[
        int(np.argmax(make_router("knn").fit(data).predict(Queries([data.prompts[200]]))[0]))
    ]
    assert model == global_choice


def test_a_bad_preferences_file_is_a_config_problem(shared_data, tmp_path: Path) -> None:
    import yaml

    from pointsman.config.loader import ConfigError, parse_config

    models = ["gemma-2-9b-it", "llama-3.3-70b-instruct"]
    router = make_router("knn").fit(load_dataset(shared_data / "routeprofile").select_models(models))
    router.save(tmp_path / "knn.npz")
    (tmp_path / "prefs.json").write_text('{"format": "something else"}')
    cfg = {
        "backends": [{"name": m, "kind": "openai", "base_url": "http://127.0.0.1:9/v1"} for m in models],
        "profiles": [
            {"name": "p", "candidates": models, "selector": {"router": "knn.npz", "personal": "prefs.json"}}
        ],
    }
    with pytest.raises(ConfigError, match=r"profiles\[0\]\.selector\.personal: .*not a preferences file"):
        parse_config(yaml.safe_dump(cfg), base_dir=tmp_path)

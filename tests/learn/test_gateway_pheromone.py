"""A pheromone profile in the real gateway: the reason and context logged, feedback laid on the trails
asynchronously, trails persisted in the shared state across a restart, config errors."""

from __future__ import annotations


import httpx
import pytest
import yaml
from gateway.servers import UpstreamThread, backends_yaml, until, wait_for_rows

from pointsman.config.loader import ConfigError, parse_config
from pointsman.gateway.server import BackgroundGateway

MODELS = ["qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "llama-3.1-nemotron-51b-instruct"]


@pytest.fixture()
def upstreams():
    ups = [UpstreamThread() for _ in MODELS]
    yield ups
    for up in ups:
        up.close()


def config_dict(ups, router, selector: dict) -> dict:
    backends = backends_yaml(ups)
    for b, name in zip(backends, MODELS):
        b["name"] = name
    return {
        "server": {"port": 0, "graceful_timeout": 5},
        "backends": backends,
        "profiles": [
            {
                "name": "trails",
                "candidates": MODELS,
                "selector": {"router": str(router), **selector},
                "objective": {"lambda": 0},
            }
        ],
        "store": {"path": "decisions.db", "flush_interval": 0.05},
        "state": {"path": "state.db", "flush_interval": 0.05},
    }


def test_pheromone_in_the_gateway(upstreams, subset, tmp_path) -> None:
    ds, rows, router = subset
    text = yaml.safe_dump(config_dict(upstreams, router, {"pheromone": {"update_interval": 0.05}}))
    with BackgroundGateway(parse_config(text, base_dir=tmp_path)) as gw:
        ids = []
        for i in rows[:20]:
            body = {"model": "auto", "messages": [{"role": "user", "content": ds.prompts[i]}]}
            r = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30)
            assert r.status_code == 200, r.text
            assert r.headers["x-pointsman-reason"].startswith("default profile; pheromone")
            ids.append(r.headers["x-request-id"])
        logged = {d.request_id: d for d in wait_for_rows(gw, len(ids))}
        for rid in ids:
            d = logged[rid]
            assert 0 < d.probability <= 1 and d.chosen_model in MODELS
            assert d.context["pheromone"].startswith("pheromone:trails:") and len(d.context["task"]) == 1
        for rid in ids:
            r = httpx.post(gw.url + "/v1/feedback", json={"request_id": rid, "score": 0.0})
            assert r.status_code == 200, r.text
        selector = gw.gateway.profiles["trails"].selector
        start = selector.config.start

        def learned_from() -> float:
            lines = httpx.get(gw.url + "/metrics").text.splitlines()
            rows = [
                x for x in lines if x.startswith("pointsman_bandit_feedback_total{") and 'route="trails"' in x
            ]
            return sum(float(x.rsplit(" ", 1)[1]) for x in rows)

        until(lambda: learned_from() == len(ids))  # every score laid (the updater runs in the background)
        # Every served model's trail on every task it served fell below the start: failures lay nothing.
        served = {(logged[rid].context["task"], MODELS.index(logged[rid].served_model)) for rid in ids}
        until(lambda: all(selector.colony.trails.get(t, [start] * 3)[a] < start for t, a in served))
        learned = {t: v.copy() for t, v in selector.colony.trails.items()}
    with BackgroundGateway(parse_config(text, base_dir=tmp_path)) as again:
        resumed = again.gateway.profiles["trails"].selector.colony.trails
        assert set(resumed) == set(learned)
        for task, trail in learned.items():
            assert resumed[task] == pytest.approx(trail, abs=1e-6)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"pheromone": {}, "bandit": {}}, "give one of 'bandit', 'pheromone'"),
        ({"pheromone": {"rho": 0}}, "rho"),
        ({"pheromone": {"task_bits": 20}}, "task_bits"),
    ],
)
def test_pheromone_config_errors(upstreams, subset, tmp_path, selector, message) -> None:
    _, _, router = subset
    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump(config_dict(upstreams, router, selector)), base_dir=tmp_path)


def test_pheromone_needs_a_router(upstreams, tmp_path) -> None:
    cfg = config_dict(upstreams, "unused", {"pheromone": {}})
    del cfg["profiles"][0]["selector"]["router"]
    with pytest.raises(ConfigError, match="'pheromone' needs a prior"):
        parse_config(yaml.safe_dump(cfg), base_dir=tmp_path)

"""A bandit profile in the real gateway: propensity and context logged, feedback learned asynchronously,
drift and learning in /metrics, statistics persisted in the shared state across a restart."""

from __future__ import annotations


import httpx
import pytest
import yaml
from gateway.servers import UpstreamThread, backends_yaml, until, wait_for_rows
from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.config.loader import parse_config
from pointsman.gateway.server import BackgroundGateway

MODELS = ["qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "llama-3.1-nemotron-51b-instruct"]


@pytest.fixture()
def upstreams():
    ups = [UpstreamThread() for _ in MODELS]
    yield ups
    for up in ups:
        up.close()


def config(ups, router, tmp_path, bandit: bool = True) -> object:
    return parse_config(
        yaml.safe_dump(config_dict(ups, router, bandit)), source="test.yaml", base_dir=tmp_path
    )


def config_dict(ups, router, bandit: bool = True) -> dict:
    backends = backends_yaml(ups)
    for b, name in zip(backends, MODELS):
        b["name"] = name
    cfg = {
        "server": {"port": 0, "graceful_timeout": 5},
        "backends": backends,
        "profiles": [
            {
                "name": "learn",
                "candidates": MODELS,
                "selector": {
                    "router": str(router),
                    "bandit": {"update_interval": 0.05, "exploration_budget": 0.5},
                },
                "objective": {"lambda": 0},
            }
        ],
        "store": {"path": "decisions.db", "flush_interval": 0.05, "log_content": True},
        "state": {"path": "state.db", "flush_interval": 0.05},
    }
    if not bandit:
        del cfg["profiles"][0]["selector"]["bandit"]
    return cfg


def test_bandit_in_the_gateway(upstreams, subset, tmp_path) -> None:
    ds, rows, router = subset
    prompts = [ds.prompts[i] for i in rows[:20]]
    cfg = config(upstreams, router, tmp_path)
    with BackgroundGateway(cfg) as gw:
        ids = []
        for p in prompts:
            r = httpx.post(
                gw.url + "/v1/chat/completions",
                timeout=30,
                json={"model": "auto", "messages": [{"role": "user", "content": p}]},
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-pointsman-reason"].startswith("default profile; bandit thompson")
            ids.append(r.headers["x-request-id"])
        # The same question again (within reask_window): the earlier answer gets an implicit `reask` 0.
        again = {"model": "auto", "messages": [{"role": "user", "content": "  " + prompts[0]}]}
        assert httpx.post(gw.url + "/v1/chat/completions", json=again, timeout=30).status_code == 200
        until(lambda: any(f.kind == "reask" for f in gw.gateway.log.feedback()))
        assert [(f.request_id, f.score) for f in gw.gateway.log.feedback() if f.kind == "reask"] == [
            (ids[0], 0.0)
        ]
        logged = {d.request_id: d for d in wait_for_rows(gw, len(ids) + 1)}
        for rid in ids:
            d = logged[rid]
            assert 0 < d.probability <= 1 and d.chosen_model in MODELS
            assert len(d.context["z"]) == 16 and len(d.context["prior"]) == 3
        for rid in ids:
            assert (
                httpx.post(gw.url + "/v1/feedback", json={"request_id": rid, "score": 0.0}).status_code == 200
            )
        selector = gw.gateway.profiles["learn"].selector
        until(lambda: selector.bandit.local.n.sum() >= len(ids) - 0.01)
        metrics = httpx.get(gw.url + "/metrics").text
        assert "pointsman_bandit_feedback_total{model=" in metrics
        learned = selector.bandit.local.n.copy()
    with BackgroundGateway(config(upstreams, router, tmp_path)) as again:
        resumed = again.gateway.profiles["learn"].selector.bandit.local.n
        assert resumed.sum() == pytest.approx(learned.sum(), rel=1e-3)  # decayed by seconds of a week

    # The log (content, propensities, feedback) is enough to replay and evaluate a candidate offline.
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(config_dict(upstreams, router, bandit=False)))
    log = str(tmp_path / "decisions.db")
    replayed = CliRunner().invoke(app, ["replay", "--log", log, "--config", str(candidate)])
    assert replayed.exit_code == 0, replayed.output
    assert (
        f"{len(ids) + 1} logged requests replayed" in replayed.output
        and "logged choice -> candidate" in replayed.output
    )
    ope = CliRunner().invoke(app, ["ope", "--log", log, "--config", str(candidate), "--min-ess", "2"])
    assert ope.exit_code == 0, ope.output
    assert f"{len(ids)} decisions with feedback" in ope.output
    assert "DR" in ope.output and "effective sample size" in ope.output
    refused = CliRunner().invoke(app, ["ope", "--log", log, "--config", str(candidate), "--min-ess", "1000"])
    assert refused.exit_code == 1 and "support too thin" in refused.output


def test_drift_alarm_on_a_router_profile(upstreams, subset, tmp_path) -> None:
    """A router profile (no bandit) whose answers all get 0: its served model's feedback falls below what the
    router predicted, and /metrics says so."""
    ds, rows, router = subset
    cfg = config_dict(upstreams, router, bandit=False)
    cfg["feedback"] = {"drift": {"min_samples": 5, "threshold": 1.0, "delta": 0.0}}
    with BackgroundGateway(parse_config(yaml.safe_dump(cfg), base_dir=tmp_path)) as gw:
        for i in rows[:12]:
            body = {"model": "auto", "messages": [{"role": "user", "content": ds.prompts[i]}]}
            rid = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30).headers["x-request-id"]
            assert (
                httpx.post(gw.url + "/v1/feedback", json={"request_id": rid, "score": 0}).status_code == 200
            )
        metrics = httpx.get(gw.url + "/metrics").text
    alarms = [line for line in metrics.splitlines() if line.startswith("pointsman_drift_alarms_total{")]
    assert any('direction="down"' in line and 'route="learn"' in line for line in alarms), alarms

"""A three-step cascade through the real gateway (uvicorn, real HTTP) against a local upstream serving the
recorded RouteProfile answers: it realises the lab's choices on held-out prompts, records every step, counts
escalations, falls through failed and slow steps, and streams the accepted answer."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from pointsman.cascade.policies import simulate_chain
from pointsman.cascade.scorers import make_scorer
from pointsman.config.loader import parse_config
from pointsman.data.routeprofile import load_recorded_responses
from pointsman.data.splits import group_kfold
from pointsman.evaluate.cascades import calibrate_chain, chain_scores
from pointsman.gateway.server import BackgroundGateway
from pointsman.testing.faults import Fault
from pointsman.testing.replay_upstream import ReplayUpstream

STEPS = ["llama-3.2-3b-instruct", "gemma-2-9b-it", "mistral-small-24b-instruct-2501-bf16"]
N_PROMPTS = 36


class ReplayThread:
    """The replay upstream on its own event loop in a thread (the gateway has its own loop)."""

    def __init__(self, data: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._call(ReplayUpstream(load_recorded_responses(data)).start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def inject(self, fault: str, times: int = 1) -> None:
        async def go() -> None:
            self.server.inject(Fault.parse(fault), times)

        self._call(go())

    def reset(self) -> None:
        async def go() -> None:
            self.server.reset()

        self._call(go())

    def close(self) -> None:
        self._call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def lab(routeprofile, table):
    """The lab's side: a scorer and thresholds calibrated on fold 0's training rows, and the choices the
    policy makes on the first held-out prompts."""
    train, test = group_kfold(routeprofile, 5, 0)[0]
    from pointsman.policy.objective import Objective

    chain = calibrate_chain(
        routeprofile, STEPS, make_scorer("learned", dims=256, per_model=0), Objective(lambda_=1500.0), train
    )
    rows = test[:N_PROMPTS]
    cols = [routeprofile.model_index(m) for m in STEPS]
    prefix, final = chain_scores(table, chain.scorer, rows, cols)
    answer, calls = simulate_chain(prefix, final, np.array([chain.thresholds]))
    cost = np.cumsum(routeprofile.cost[np.ix_(rows, cols)], axis=1)[np.arange(len(rows)), calls[0] - 1]
    return chain, rows, answer[0], calls[0], prefix, cost


@pytest.fixture(scope="module")
def replay(shared_data: Path):
    up = ReplayThread(shared_data / "routeprofile")
    yield up
    up.close()


@pytest.fixture(scope="module")
def gateway(lab, replay, routeprofile, tmp_path_factory):
    chain = lab[0]
    base = tmp_path_factory.mktemp("cascade-gw")
    chain.scorer.save(base / "scorer.npz")
    backends = [
        {
            "name": m.name,
            "kind": "openai",
            "base_url": replay.server.url + "/v1",
            "input_price": m.input_price,
            "output_price": m.output_price,
            "timeouts": {"connect": 1, "first_byte": 5, "idle": 5, "total": 10},
            "retry": {"attempts": 1, "backoff": 0.01},
            "breaker": {"failures": 100, "cooldown": 0.1},
        }
        for m in routeprofile.models
    ]
    cascade = chain.profile_yaml("scorer.npz") | {"step_timeout": 1.0}
    config = {
        "server": {"port": 0, "graceful_timeout": 5},
        "store": {"path": "decisions.db"},
        "backends": backends,
        "profiles": [{"name": "cascade", "candidates": STEPS, "cascade": cascade}],
    }
    cfg = parse_config(yaml.safe_dump(config), source="test.yaml", base_dir=base)
    gw = BackgroundGateway(cfg).start()
    yield gw
    gw.stop()


def _ask(gw, prompt: str, **extra: Any) -> httpx.Response:
    body = {"model": "cascade", "messages": [{"role": "user", "content": prompt}], **extra}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30)


def _steps(response: httpx.Response) -> list[list[str]]:
    steps = response.headers["x-pointsman-cascade"].split("; decision ")[0]
    return [s.split(":") for s in steps.split(", ")]


def test_the_gateway_realises_the_labs_choices(lab, gateway, replay, routeprofile):
    _chain, rows, answer, calls, prefix, cost = lab
    replay.reset()
    assert len(set(calls.tolist())) >= 2, "the calibrated thresholds should both stop early and escalate"
    for k, i in enumerate(rows):
        r = _ask(gateway, routeprofile.prompts[i])
        assert r.status_code == 200, r.text
        expected = STEPS[answer[k]]
        assert r.headers["x-pointsman-model"] == expected
        assert (
            r.json()["choices"][0]["message"]["content"]
            == routeprofile.responses[i, routeprofile.model_index(expected)]
        )
        steps = _steps(r)
        assert [s[0] for s in steps] == STEPS[: calls[k]]
        if calls[k] < len(STEPS):  # stopped early: the scores are the lab's prefix scores
            for s, (_model, score, *_rest) in enumerate(steps):
                assert float(score) == pytest.approx(prefix[k, s], abs=1e-3)
    from tests.gateway.servers import wait_for_rows

    records = {r.request_id: r for r in wait_for_rows(gateway, len(rows))}
    assert len(records) >= len(rows)
    logged = sorted(records.values(), key=lambda r: r.time)[-len(rows) :]
    for k, rec in enumerate(logged):
        assert [s["model"] for s in rec.cascade["steps"]] == STEPS[: calls[k]]
        assert rec.cost_usd == pytest.approx(cost[k], rel=1e-6)  # every call paid for
        assert rec.cascade["decision_ms"] >= 0
    metrics = httpx.get(gateway.url + "/metrics").text
    escalated = int((calls > 1).sum())
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("pointsman_cascade_escalations_total{")
    )
    assert total >= escalated


def test_stream_gets_the_accepted_answer(lab, gateway, routeprofile):
    _, rows, answer, _, _, _ = lab
    i, expected = rows[0], STEPS[answer[0]]
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={
            "model": "cascade",
            "stream": True,
            "messages": [{"role": "user", "content": routeprofile.prompts[i]}],
        },
        timeout=30,
    ) as r:
        assert r.status_code == 200 and r.headers["x-pointsman-model"] == expected
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(
        (c["choices"][0]["delta"].get("content") or "") for c in map(json.loads, events[:-1]) if c["choices"]
    )
    assert text == routeprofile.responses[i, routeprofile.model_index(expected)]


def test_a_failed_step_falls_through(lab, gateway, replay, routeprofile):
    _, rows, _, _, _, _ = lab
    replay.reset()
    replay.inject("status=500", times=1)  # the first step's call fails
    r = _ask(gateway, routeprofile.prompts[rows[1]])
    assert r.status_code == 200
    steps = _steps(r)
    assert steps[0][0] == STEPS[0] and steps[0][2] == "upstream_500"
    assert r.headers["x-pointsman-model"] in STEPS[1:]


def test_a_slow_step_is_bounded(lab, gateway, replay, routeprofile):
    _, rows, _, _, _, _ = lab
    replay.reset()
    replay.inject("first_byte_delay=3", times=1)  # past the 1 s step timeout
    r = _ask(gateway, routeprofile.prompts[rows[2]])
    assert r.status_code == 200 and r.elapsed.total_seconds() < 3
    steps = _steps(r)
    assert steps[0][0] == STEPS[0] and steps[0][2] == "step_timeout"


def test_every_step_failing_is_a_clean_error(gateway, replay, routeprofile):
    replay.reset()
    r = _ask(gateway, "a prompt nobody recorded")
    assert r.status_code == 502 and r.json()["error"]["message"]  # an upstream 404: not the client's fault
    steps = _steps(r)
    assert [s[0] for s in steps] == STEPS and all(s[2].startswith("upstream_") for s in steps)

"""Aggregate profiles through the real gateway: a vote of three real upstreams on a closed-answer request,
streamed and not, one failing voter, open questions served by one model, the gate, config errors."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml
from gateway.servers import UpstreamThread, backends_yaml

from pointsman.config.loader import ConfigError, parse_config
from pointsman.gateway.server import BackgroundGateway

QUESTION = "Which planet is largest?\n(A) Mars\n(B) Jupiter\n(C) Venus\nAnswer with the letter."


@pytest.fixture()
def voters():
    ups = [UpstreamThread(reply=r) for r in ("The answer is (A).", "(B)", "B. Jupiter")]
    yield ups
    for up in ups:
        up.close()


def config(ups, aggregate: dict | None = None, **profile) -> dict:
    backends = backends_yaml(ups)
    for b, name in zip(backends, ("a", "b", "c")):
        b["name"] = name
    return {
        "server": {"port": 0},
        "backends": backends,
        "profiles": [
            {
                "name": "vote",
                "candidates": ["a", "b", "c"],
                "aggregate": {"gate": False, **(aggregate or {})},
                **profile,
            }
        ],
    }


def ask(gw, text: str, **body) -> httpx.Response:
    payload = {"model": "auto", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, timeout=30)


def test_a_vote_returns_the_majority_answer(voters, tmp_path) -> None:
    cfg = parse_config(yaml.safe_dump(config(voters)), base_dir=tmp_path)
    with BackgroundGateway(cfg) as gw:
        r = ask(gw, QUESTION)
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "b" and r.json()["choices"][0]["message"]["content"] == "(B)"
        steps = r.headers["x-pointsman-cascade"]
        assert "a:-:outvoted" in steps and "b:-:accepted" in steps and "c:-:outvoted" in steps
        streamed = ask(gw, QUESTION, stream=True)
        assert streamed.status_code == 200
        events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
        assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]) == "(B)"
        assert streamed.text.rstrip().endswith("data: [DONE]")
        open_question = ask(gw, "Write a limerick about routers.")
        assert open_question.json()["model"] == "a"  # no vote on an open answer: the first candidate
        assert open_question.headers["x-pointsman-cascade"].startswith("a:-:accepted:")
        assert ", " not in open_question.headers["x-pointsman-cascade"]  # one call, no vote
        metrics = httpx.get(gw.url + "/metrics").text
        assert 'pointsman_aggregate_requests_total{how="fanned",route="vote"} 2.0' in metrics
    for up in voters:  # every voter was asked both closed questions; the open one went to `a` alone
        assert len(up.sync(lambda u=up: list(u.server.requests))) == (3 if up is voters[0] else 2)


def test_a_failing_voter_does_not_vote(voters, tmp_path) -> None:
    voters[1].sync(lambda: voters[1].server.inject("status=500", times=10))
    cfg = parse_config(yaml.safe_dump(config(voters)), base_dir=tmp_path)
    with BackgroundGateway(cfg) as gw:
        r = ask(gw, QUESTION)
        assert r.status_code == 200, r.text
        assert "b:-:upstream_500" in r.headers["x-pointsman-cascade"]
        assert r.json()["model"] == "a"  # a and c one vote each: the best-ranked of them


@pytest.mark.parametrize(
    ("aggregate", "profile", "message"),
    [
        ({"gate": True}, {}, "aggregate.gate weighs predicted quality"),
        ({"k": 4}, {}, "aggregate.k is 4, but the profile has 3 candidates"),
        ({"k": 1}, {}, "greater than or equal to 2"),
        ({"vote": "all"}, {}, "vote"),
    ],
)
def test_aggregate_config_errors(voters, tmp_path, aggregate, profile, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump(config(voters, aggregate, **profile)), base_dir=tmp_path)


def test_the_gate_weighs_the_predicted_gain_against_the_extra_cost() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from pointsman.config.aggregate import AggregateConfig
    from pointsman.gateway.aggregate import AggregateRunner
    from pointsman.policy.profiles import Selection
    from pointsman.policy.selector import Scored

    counter = Counter("c", "c", ["route", "how"], registry=CollectorRegistry())
    close = [Scored("a", 0.62, 0.001), Scored("b", 0.6, 0.001), Scored("c", 0.6, 0.001)]
    apart = [Scored("a", 0.9, 0.001), Scored("b", 0.5, 0.001), Scored("c", 0.5, 0.001)]

    def members(scored, lam: float, text: str = QUESTION) -> list[str]:
        runner = AggregateRunner("vote", AggregateConfig(), lam, {}, counter)
        selection = Selection([s.model for s in scored], scored, 1.0, "test")
        return runner.fan_out({"messages": [{"role": "user", "content": text}]}, selection)

    assert members(close, 0.0) == ["a", "b", "c"]  # three near-equal voters: a vote gains
    assert members(close, 1000.0) == []  # ... but not enough to pay two more calls at this lambda
    assert members(apart, 0.0) == []  # one clearly best model: the weaker ones would outvote it
    assert members(close, 0.0, "Write a haiku.") == []  # an open answer: nothing to vote on

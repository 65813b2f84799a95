"""Prompt strategies: the rewrite itself, bad examples files, config errors, and a rule that rewrites what the
upstream receives through the real gateway (the client's prompt is what the signals and the log saw)."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml
from gateway.servers import UpstreamThread, backends_yaml

from pointsman.config.loader import ConfigError, parse_config
from pointsman.gateway.server import BackgroundGateway
from pointsman.policy.build import build_policy
from pointsman.policy.strategy import COT, DIRECT, Strategy, StrategyError


def test_rewrites_add_messages_after_the_clients_system_prompt(tmp_path) -> None:
    body = {"messages": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "2+2?"}]}
    cot = Strategy.build("cot").apply(body)
    assert [m["content"] for m in cot["messages"]] == ["be kind", COT, "2+2?"]
    assert body["messages"][1] == {"role": "user", "content": "2+2?"} and len(body["messages"]) == 2
    assert (
        Strategy.build("direct").apply({"messages": body["messages"][1:]})["messages"][0]["content"] == DIRECT
    )
    examples = tmp_path / "ex.jsonl"
    examples.write_text('{"prompt": "1+1?", "answer": "2"}\n\n{"prompt": "3+3?", "answer": "6"}\n')
    shot = Strategy.build("few_shot", examples=examples, k=1).apply(body)
    assert [m["role"] for m in shot["messages"]] == ["system", "user", "assistant", "user"]
    assert shot["messages"][1:3] == [
        {"role": "user", "content": "1+1?"},
        {"role": "assistant", "content": "2"},
    ]
    tools = {**body, "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert Strategy.build("cot").apply(tools) == tools  # tool calls are left alone


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no examples"),
        ("{not json\n", r"ex.jsonl:1: not JSON"),
        ('{"prompt": "a"}\n', r"ex.jsonl:1: expected"),
        ('{"prompt": "a", "answer": "b"}\n[1]\n', r"ex.jsonl:2: expected"),
    ],
)
def test_bad_examples_files(tmp_path, text, message) -> None:
    path = tmp_path / "ex.jsonl"
    path.write_text(text)
    with pytest.raises(StrategyError, match=message):
        Strategy.build("few_shot", examples=path)
    with pytest.raises(StrategyError, match="No such file"):
        Strategy.build("few_shot", examples=tmp_path / "missing.jsonl")


@pytest.fixture()
def upstream():
    up = UpstreamThread()
    yield up
    up.close()


def config(up, rules: list[dict]) -> dict:
    return {
        "server": {"port": 0},
        "backends": backends_yaml([up]),
        "profiles": [{"name": "only", "candidates": [backends_yaml([up])[0]["name"]]}],
        "rules": rules,
    }


def test_a_rule_rewrites_what_the_upstream_receives(upstream, tmp_path) -> None:
    (tmp_path / "ex.jsonl").write_text(json.dumps({"prompt": "Capital of France?", "answer": "Paris"}) + "\n")
    rules = [
        {"name": "hard", "when": "prompt_tokens > 12", "strategy": "cot"},
        {"name": "short", "strategy": {"kind": "few_shot", "examples": "ex.jsonl", "k": 2}},
    ]
    cfg = parse_config(yaml.safe_dump(config(upstream, rules)), base_dir=tmp_path)
    with BackgroundGateway(cfg) as gw:
        long = "Explain in detail why the sky is blue, covering Rayleigh scattering and the sun's spectrum."
        for text in (long, "Capital of Spain?"):
            r = httpx.post(
                gw.url + "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": text}]},
                timeout=30,
            )
            assert r.status_code == 200, r.text
        reasons = [r.headers["x-pointsman-reason"]]
    sent = [req.body["messages"] for req in upstream.sync(lambda: list(upstream.server.requests))]
    assert sent[0] == [{"role": "system", "content": COT}, {"role": "user", "content": long}]
    assert sent[1] == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "Capital of Spain?"},
    ]
    assert "strategy few_shot (1 examples)" in reasons[0]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "r", "strategy": "socratic"}, "strategy"),
        ({"name": "r", "strategy": {"kind": "few_shot"}}, "'examples'.*goes with kind few_shot"),
        ({"name": "r", "strategy": {"kind": "cot", "examples": "ex.jsonl"}}, "goes with kind few_shot"),
        ({"name": "r", "block": True, "strategy": "cot"}, "a blocking rule sends nothing"),
    ],
)
def test_strategy_config_errors(upstream, tmp_path, rule, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump(config(upstream, [rule])), base_dir=tmp_path)


def test_a_missing_examples_file_is_a_config_error_naming_the_rule(upstream, tmp_path) -> None:
    rule = {"name": "r", "strategy": {"kind": "few_shot", "examples": "nope.jsonl"}}
    cfg = parse_config(yaml.safe_dump(config(upstream, [rule])), base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"rules\[0\]\.strategy.*nope.jsonl"):
        build_policy(cfg)

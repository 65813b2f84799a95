"""USD budgets: spend from real usage x prices, the remaining share as the `budget_remaining` signal rules
read, a hard limit answering 429 naming the budget, spend in /metrics; and the estimates when a backend
reports no usage."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from pydantic import ValidationError
from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.config.limits import BudgetsConfig
from pointsman.gateway.auth import hash_key
from pointsman.gateway.budgets import estimate_usage, period
from pointsman.state.batch import INTERVAL

from .servers import backends_yaml

ASK = {"model": "auto", "messages": [{"role": "user", "content": "one two three four five"}]}
PRICED = {"input_price": 1000.0, "output_price": 1000.0}  # $0.001 a token: a request costs cents


def post(gw, key: str) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions", json=ASK, headers={"authorization": f"Bearer pm-{key}"}, timeout=10
    )


def config(ups, budgets: dict, **extra) -> dict:
    return {
        "backends": backends_yaml(ups, **PRICED),
        "profiles": [{"name": "strong", "candidates": ["m2"]}, {"name": "cheap", "candidates": ["m0"]}],
        "auth": {
            "enabled": True,
            "keys": [
                {"id": k, "tenant": t, "sha256": hash_key(f"pm-{k}")}
                for k, t in (("a1", "acme"), ("a2", "acme"), ("g1", "globex"))
            ],
        },
        "budgets": budgets,
        **extra,
    }


def cost_of(resp: httpx.Response) -> float:
    return resp.json()["usage"]["total_tokens"] * 0.001


def test_a_hard_budget_answers_429_naming_it(ups, start_gateway) -> None:
    gw = start_gateway(config(ups, {"tenants": {"acme": {"usd": 0.05, "period": "day"}}}))
    spent, statuses = 0.0, []
    for i in range(20):
        resp = post(gw, "a1" if i % 2 else "a2")  # both keys of the tenant draw on its budget
        statuses.append(resp.status_code)
        if resp.status_code != 200:
            break
        spent += cost_of(resp)
        time.sleep(INTERVAL + 0.1)  # spend/tokens are written in batches
    assert statuses[-1] == 429
    assert spent >= 0.05 and spent - cost_of(post(gw, "g1")) < 0.05  # stopped by the first request past it
    refused = post(gw, "a1")
    err = refused.json()["error"]
    assert refused.status_code == 429
    assert err["code"] == "budget_exceeded" and err["type"] == "insufficient_quota"
    assert "tenant 'acme' has spent $0.0" in err["message"]
    assert "of its $0.05 daily budget (budgets.tenants.acme[0]); it resets in" in err["message"]
    assert refused.headers["x-pointsman-budget"] == "budgets.tenants.acme[0]"
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert post(gw, "g1").status_code == 200  # another tenant's spend is its own
    metrics = generate_latest(gw.gateway.metrics.registry).decode()  # /metrics wants an admin key here
    assert 'pointsman_spend_usd_total{estimated="false",model="m2",tenant="acme"}' in metrics


def test_the_remaining_share_steers_routing(ups, start_gateway) -> None:
    rules = [{"name": "thrifty", "when": "budget_remaining < 0.5", "profile": "cheap"}]
    gw = start_gateway(
        config(ups, {"keys": {"a1": [{"usd": 0.2, "period": "month", "hard": False}]}}, rules=rules)
    )
    served, spent = [], 0.0
    while spent < 0.3:
        resp = post(gw, "a1")
        assert resp.status_code == 200  # a soft budget never refuses
        served.append((spent, resp.headers["x-pointsman-model"]))
        spent += cost_of(resp)
        time.sleep(INTERVAL + 0.1)  # spend/tokens are written in batches
    assert all(model == "m2" for s, model in served if s < 0.1 - 0.005)
    assert all(model == "m0" for s, model in served if s >= 0.1 + 0.005)
    assert served[-1][1] == "m0"
    assert post(gw, "a2").headers["x-pointsman-model"] == "m2"  # no budget: the rule does not apply


def test_estimates_when_the_backend_reports_no_usage() -> None:
    assert estimate_usage(12, 30, 99, "ignored", 500) == (12, 30, False)
    p, c, estimated = estimate_usage(None, None, 20, "a" * 35, 500)
    assert (p, c, estimated) == (20, 10, True)  # about 3.5 characters a token
    assert estimate_usage(None, None, 20, None, 256) == (20, 256, True)  # at most max_tokens
    assert estimate_usage(None, None, 20, None, None) == (20, 0, True)


def test_periods_are_utc_calendar_days_and_months() -> None:
    t = 1_764_806_400.0 + 3600  # 2025-12-04 01:00 UTC
    assert period("day", t) == ("2025-12-04", 23 * 3600)
    name, left = period("month", t)
    assert name == "2025-12" and left == pytest.approx((28 * 24 - 1) * 3600)


def test_bad_budget_config_is_named() -> None:
    with pytest.raises(ValidationError, match="usd"):
        BudgetsConfig(tenants={"acme": {"usd": -1}})
    with pytest.raises(ValidationError, match="period"):
        BudgetsConfig(tenants={"acme": {"usd": 1, "period": "week"}})
    assert (
        BudgetsConfig(tenants={"acme": [{"usd": 1, "period": "day"}, {"usd": 20}]}).tenants["acme"][1].usd
        == 20
    )


def test_pointsman_usage_reads_the_shared_spend(redis_server, ups, start_gateway, tmp_path) -> None:
    state = {"kind": "redis", "url": redis_server.url, "prefix": f"usage-{time.time_ns()}:"}
    budgets = {
        "tenants": {"acme": {"usd": 5, "period": "month"}},
        "keys": {"g1": {"usd": 1, "period": "day"}},
    }
    cfg = config(ups, budgets, state=state)
    gw = start_gateway(cfg)
    costs = {"acme": sum(cost_of(post(gw, k)) for k in ("a1", "a2", "a1")), "globex": cost_of(post(gw, "g1"))}
    time.sleep(0.2)
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in cfg.items()}))
    result = CliRunner().invoke(app, ["usage", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    by_tenant = {r["tenant"]: r for r in out["usage"]}
    assert by_tenant["acme"]["requests"] == 3 and by_tenant["acme"]["model"] == "m2"
    assert by_tenant["acme"]["usd"] == pytest.approx(costs["acme"])
    assert by_tenant["globex"]["usd"] == pytest.approx(costs["globex"])
    status = {b["name"]: b for b in out["budgets"]}
    assert status["budgets.tenants.acme[0]"]["spent"] == pytest.approx(costs["acme"])
    assert status["budgets.keys.g1[0]"]["remaining"] == pytest.approx(1 - costs["globex"])
    table = CliRunner().invoke(app, ["usage", str(path), "--tenant", "globex"])
    assert table.exit_code == 0 and "globex" in table.output and "acme" not in table.output
    bad = CliRunner().invoke(app, ["usage", str(path), "--days", "0"])
    assert bad.exit_code == 2


def test_pointsman_usage_errors(tmp_path) -> None:
    base = {"backends": [{"name": "m", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}]}
    no_path = tmp_path / "embedded.yaml"
    no_path.write_text(yaml.safe_dump(base))
    result = CliRunner().invoke(app, ["usage", str(no_path)])
    assert result.exit_code == 2 and "without a path" in result.output
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump({**base, "state": {"kind": "redis", "url": "redis://127.0.0.1:9/0"}}))
    result = CliRunner().invoke(app, ["usage", str(down)])
    assert result.exit_code == 1 and "unreachable" in result.output


def test_budgets_and_tenant_limits_name_keys_and_tenants_that_exist() -> None:
    from pointsman.config.loader import ConfigError, parse_config

    base = {"backends": [{"name": "m", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}]}
    with pytest.raises(ConfigError) as off:
        parse_config(yaml.safe_dump({**base, "budgets": {"tenants": {"acme": {"usd": 1}}}}), source="t.yaml")
    assert "budgets.tenants: applies to API keys: needs auth.enabled" in str(off.value)
    auth = {"enabled": True, "keys": [{"id": "alice", "tenant": "acme", "sha256": hash_key("pm-a")}]}
    typos = {
        **base,
        "auth": auth,
        "budgets": {"keys": {"alcie": {"usd": 1}}, "tenants": {"acme": {"usd": 1}}},
        "limits": {"tenants": {"acne": {"requests_per_minute": 5}}},
    }
    with pytest.raises(ConfigError) as bad:
        parse_config(yaml.safe_dump(typos), source="t.yaml")
    text = "\n".join(p.render("t.yaml") for p in bad.value.problems)
    assert "budgets.keys.alcie: no auth.keys[] has the id 'alcie' (known: alice)" in text
    assert "limits.tenants.acne: no auth.keys[] has the tenant 'acne' (known: acme)" in text
    assert "budgets.tenants" not in text  # acme exists


def test_pointsman_usage_reads_an_embedded_state_file(ups, start_gateway, tmp_path) -> None:
    state = {"path": str(tmp_path / "state.db"), "flush_interval": 0.05}
    cfg = config(ups, {"tenants": {"acme": {"usd": 5, "period": "month"}}}, state=state)
    gw = start_gateway(cfg)
    cost = sum(cost_of(post(gw, k)) for k in ("a1", "a2"))
    time.sleep(INTERVAL + 0.3)  # batched into the state, then flushed to the file
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["usage", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [(r["tenant"], r["requests"]) for r in out["usage"]] == [("acme", 2)]
    assert out["budgets"][0]["spent"] == pytest.approx(cost)

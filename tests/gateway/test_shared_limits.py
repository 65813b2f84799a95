"""Rate limits and breakers through the shared state: tokens per minute, tenant limits, what each
`on_outage` does while a real redis-server is killed mid-test and restarted, and a breaker one gateway opens
that another gateway on the same Redis sees open."""

from __future__ import annotations

import time

import httpx
import pytest

from pointsman.gateway.auth import hash_key
from pointsman.state.batch import INTERVAL
from pointsman.testing.redis import RedisServer

from .servers import backends_yaml

ASK = {"model": "m0", "messages": [{"role": "user", "content": "one two three four five"}]}


def post(gw, headers: dict | None = None, body: dict = ASK) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers or {}, timeout=10)


def keys(*specs: tuple[str, str, dict]) -> dict:
    return {
        "enabled": True,
        "keys": [{"id": i, "tenant": t, "sha256": hash_key(f"pm-{i}"), **extra} for i, t, extra in specs],
    }


def bearer(key_id: str) -> dict:
    return {"authorization": f"Bearer pm-{key_id}"}


def test_tokens_per_minute_per_key(ups, start_gateway) -> None:
    gw = start_gateway(
        {
            "backends": backends_yaml(ups),
            "auth": keys(("alice", "acme", {"tokens_per_minute": 30}), ("bob", "acme", {})),
        }
    )
    first = post(gw, bearer("alice"))
    assert first.status_code == 200
    used = first.json()["usage"]["total_tokens"]
    assert used > 0
    statuses = []
    for _ in range(30 // used + 2):
        statuses.append(post(gw, bearer("alice")).status_code)
        time.sleep(INTERVAL + 0.1)  # spend/tokens are written in batches
    assert 429 in statuses
    # Admitted while any room was left: at most the limit plus one request's worth of tokens.
    assert (1 + statuses.index(429)) * used <= 30 + used
    limited = post(gw, bearer("alice"))
    err = limited.json()["error"]
    assert limited.status_code == 429 and err["code"] == "rate_limit_exceeded"
    assert err["message"].startswith("Rate limit reached: 30 tokens per minute for key 'alice'")
    assert int(limited.headers["retry-after"]) >= 1
    assert post(gw, bearer("bob")).status_code == 200  # no tokens limit for bob


def test_tenant_limit_spans_its_keys(ups, start_gateway) -> None:
    gw = start_gateway(
        {
            "backends": backends_yaml(ups),
            "auth": keys(("a1", "acme", {}), ("a2", "acme", {}), ("g1", "globex", {})),
            "limits": {"tenants": {"acme": {"requests_per_minute": 3}}},
        }
    )
    assert [post(gw, bearer(k)).status_code for k in ("a1", "a2", "a1")] == [200, 200, 200]
    limited = post(gw, bearer("a2"))
    assert limited.status_code == 429
    assert "3 requests per minute for tenant 'acme'" in limited.json()["error"]["message"]
    assert [post(gw, bearer("g1")).status_code for _ in range(4)] == [200] * 4


@pytest.fixture()
def own_redis():
    with RedisServer() as server:
        yield server


def _limited(start_gateway, ups, redis: RedisServer, mode: str):
    return start_gateway(
        {
            "backends": backends_yaml(ups),
            "limits": {"requests_per_minute": 2, "on_outage": mode},
            "state": {"kind": "redis", "url": redis.url, "prefix": f"{mode}:"},
        }
    )


def test_redis_killed_and_restarted_mid_test(own_redis: RedisServer, ups, start_gateway) -> None:
    gws = {mode: _limited(start_gateway, ups, own_redis, mode) for mode in ("local", "open", "closed")}
    for gw in gws.values():
        assert [post(gw).status_code for _ in range(3)] == [200, 200, 429]

    own_redis.kill()
    # local: this replica's own window, fresh; open: unchecked; closed: refused with a clear error.
    assert [post(gws["local"]).status_code for _ in range(3)] == [200, 200, 429]
    assert [post(gws["open"]).status_code for _ in range(4)] == [200] * 4
    refused = post(gws["closed"])
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "state_unavailable"
    assert "unreachable" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "1"
    metrics = httpx.get(gws["closed"].url + "/metrics").text
    assert 'pointsman_state_unavailable_total{feature="limits"}' in metrics

    own_redis.start()  # empty: the windows start again
    time.sleep(1.1)  # the gateways try the store again a second after their last failure
    # ... `closed` refuses until its first try succeeds, which can take longer on a loaded machine: wait for it.
    deadline = time.monotonic() + 15
    for gw in gws.values():
        while (first := post(gw).status_code) == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [first, *(post(gw).status_code for _ in range(2))] == [200, 200, 429]


def test_a_breaker_opened_by_one_gateway_is_open_in_another(own_redis, ups, start_gateway) -> None:
    config = {
        "backends": backends_yaml(ups, breaker={"failures": 2, "cooldown": 30}),
        "state": {"kind": "redis", "url": own_redis.url},
    }
    one, two = start_gateway(config), start_gateway(config)
    ups[0].set_fault("status=500")
    assert [post(one).status_code for _ in range(3)] == [502, 502, 503]  # 2 failures, then breaker_open
    assert one.gateway.dispatcher.states()["m0"].breaker == "open"
    deadline = time.monotonic() + 5
    while two.gateway.dispatcher.states()["m0"].breaker != "open":
        assert time.monotonic() < deadline, "the second gateway never saw the breaker open"
        time.sleep(0.05)
    calls = len(ups[0].requests())
    answer = post(two)
    assert answer.status_code == 503 and "breaker" in answer.json()["error"]["message"]
    assert len(ups[0].requests()) == calls  # the second gateway did not call the failing backend


def test_a_gateway_starts_while_redis_is_down(ups, start_gateway) -> None:
    dead = RedisServer()  # a free port nobody listens on
    gw = start_gateway(
        {
            "backends": backends_yaml(ups),
            "limits": {"requests_per_minute": 1},
            "state": {"kind": "redis", "url": dead.url},
        }
    )
    assert [post(gw).status_code for _ in range(2)] == [200, 429]  # on_outage local (the default)
    assert "pointsman_state_unavailable_total" in httpx.get(gw.url + "/metrics").text

"""Three gateway replicas as real processes (`pointsman serve`) sharing one real redis-server, real HTTP
against local upstreams: a rate limit holds globally (one atomic take per request, so within a minute the
stated tolerance is 0; benchmarks/scale_out.py measures it over minutes), a breaker one replica opens is open
in all (they sync every 0.25 s), a budget runs out for every replica at once; and `serve --workers 2` shares
the state between its processes."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from pointsman.gateway.auth import hash_key
from pointsman.state.batch import INTERVAL
from pointsman.testing.redis import RedisServer
from pointsman.testing.replicas import GatewayProcess

from .servers import UpstreamThread, backends_yaml

KEYS = {
    "lim": ("t-lim", {"requests_per_minute": 30}),
    "bud": ("spender", {}),
    "brk": ("t-brk", {}),
    "ops": ("ops", {"admin": True}),
}


def config(ups: list[UpstreamThread], redis: RedisServer, **extra) -> dict:
    return {
        "server": {"graceful_timeout": 10},
        "backends": backends_yaml(
            ups, breaker={"failures": 2, "cooldown": 30}, input_price=1000.0, output_price=1000.0
        ),
        "profiles": [{"name": "p", "candidates": ["m0"]}],
        "auth": {
            "enabled": True,
            "keys": [
                {"id": k, "tenant": t, "sha256": hash_key(f"pm-{k}"), **more} for k, (t, more) in KEYS.items()
            ],
        },
        "budgets": {"tenants": {"spender": {"usd": 0.05, "period": "day"}}},
        "state": {"kind": "redis", "url": redis.url, "prefix": f"replicas-{uuid.uuid4().hex}:"},
        "store": {"kind": "none"},
        **extra,
    }


@pytest.fixture(scope="module")
def redis() -> RedisServer:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(upstreams, redis, tmp_path_factory) -> list[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("replicas")
    path = tmp / "gateway.yaml"
    path.write_text(yaml.safe_dump(config(upstreams, redis)))
    procs = [GatewayProcess(path, log=tmp / f"replica{i}.log") for i in range(3)]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.terminate()


def ask(url: str, key: str, model: str = "auto") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "one two three four five"}]}
    return httpx.post(
        url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer pm-{key}"}, timeout=15
    )


def test_a_rate_limit_holds_across_three_replicas(ups, replicas) -> None:
    urls = [r.url for r in replicas] * 30  # 90 requests, 30 to each replica, 12 at a time
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda u: ask(u, "lim").status_code, urls))
    # The key's 30 per minute, globally, not 30 per replica: exactly 30 (the run takes seconds, so nothing
    # has left the one-minute window yet; each take is one atomic script in Redis).
    assert statuses.count(200) == 30
    assert statuses.count(429) == 60
    per_replica = [statuses[i::3].count(200) for i in range(3)]
    assert sum(per_replica) == 30 and all(n > 0 for n in per_replica)  # every replica took its share


def test_a_breaker_opened_by_one_replica_is_seen_by_all(ups, replicas) -> None:
    ups[1].set_fault("status=500")
    try:
        one, *others = replicas
        assert [ask(one.url, "brk", "m1").status_code for _ in range(3)] == [502, 502, 503]
        calls = len(ups[1].requests())
        deadline = time.monotonic() + 5.0  # they sync every 0.25 s; slack for a loaded machine
        for other in others:
            while (
                httpx.get(other.url + "/ready", headers={"authorization": "Bearer pm-ops"}).json()[
                    "backends"
                ]["m1"]["breaker"]
                != "open"
            ):
                assert time.monotonic() < deadline, f"replica {other.port} never saw the breaker open"
                time.sleep(0.05)
        for other in others:
            refused = ask(other.url, "brk", "m1")
            assert refused.status_code == 503 and "breaker" in refused.json()["error"]["message"]
        assert len(ups[1].requests()) == calls  # no replica called the failing backend again
    finally:
        ups[1].set_fault(None)


def test_a_budget_runs_out_for_every_replica(ups, replicas) -> None:
    spent, answered = 0.0, 0
    for i in range(40):
        resp = ask(replicas[i % 3].url, "bud")
        if resp.status_code != 200:
            break
        answered += 1
        spent += resp.json()["usage"]["total_tokens"] * 0.001
        time.sleep(INTERVAL + 0.1)  # spend/tokens are written in batches
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "budget_exceeded"
    assert answered >= 3 and spent >= 0.05  # every replica served some before it ran out
    for r in replicas:
        refused = ask(r.url, "bud")
        assert refused.status_code == 429
        assert "budgets.tenants.spender[0]" in refused.json()["error"]["message"]
    assert ask(replicas[0].url, "lim").status_code in (200, 429)  # other tenants are not affected by it


def test_serve_workers_share_the_state(ups, redis, tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    cfg = config(ups, redis)
    cfg["auth"]["keys"][0]["requests_per_minute"] = 10
    path.write_text(yaml.safe_dump(cfg))
    with GatewayProcess(path, workers=2, log=tmp_path / "workers.log") as gw:
        assert len(gw.worker_pids()) == 2
        with ThreadPoolExecutor(8) as pool:  # a fresh connection each: the kernel spreads them over workers
            statuses = list(pool.map(lambda _: ask(gw.url, "lim").status_code, range(30)))
        assert statuses.count(200) == 10 and statuses.count(429) == 20

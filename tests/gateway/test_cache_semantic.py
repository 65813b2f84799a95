"""The semantic level (real MiniLM embeddings), tenant isolation (restart included) and DELETE /v1/cache,
through the real gateway over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pointsman.gateway.auth import hash_key

from .servers import backends_yaml, wait_for_rows

KEYS = {"a1": "pm-tenant-a-one", "a2": "pm-tenant-a-two", "b1": "pm-tenant-b-one", "ops": "pm-operator"}
TENANTS = {"a1": "acme", "a2": "acme", "b1": "globex", "ops": "ops"}


def ask(gw, text: str, key: str | None = None, **body) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS[key]}"} if key else {}
    payload = {"model": "auto", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, headers=headers, timeout=30)


def forget(gw, key: str = "ops", params: dict | None = None, body: dict | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS[key]}"}
    return httpx.request(
        "DELETE", gw.url + "/v1/cache", params=params, json=body, headers=headers, timeout=10
    )


def config(ups, tmp_path: Path, **cache) -> dict:
    return {
        "backends": backends_yaml(ups),
        "profiles": [{"name": "balanced", "candidates": ["m0", "m1"]}],
        "rules": [{"name": "billing", "when": {"keywords": ["invoice"]}, "profile": "balanced"}],
        "auth": {
            "enabled": True,
            "keys": [
                {"id": k, "sha256": hash_key(v), "tenant": TENANTS[k], "admin": k == "ops"}
                for k, v in KEYS.items()
            ],
        },
        "cache": {
            "enabled": True,
            "path": str(tmp_path / "cache.db"),
            "default": {"threshold": 0.85},
            "categories": {"billing": {"threshold": 0.99}},
            **cache,
        },
    }


@pytest.fixture()
def semantic(ups, start_gateway, tmp_path: Path):
    return start_gateway(config(ups, tmp_path))


def test_a_paraphrase_is_a_semantic_hit_and_another_question_is_not(semantic, ups) -> None:
    first = ask(semantic, "How do I reset my password?", "a1")
    assert first.headers["x-pointsman-cache"] == "miss"
    para = ask(semantic, "How can I reset my password?", "a1")
    assert para.headers["x-pointsman-cache"] == "hit"
    assert para.headers["x-pointsman-cache-level"] == "semantic"
    sim = float(para.headers["x-pointsman-cache-similarity"])
    assert 0.85 <= sim < 1.0
    assert para.json()["choices"][0]["message"]["content"] == "You said: How do I reset my password?"
    other = ask(semantic, "What is the capital of Peru?", "a1")
    assert other.headers["x-pointsman-cache"] == "miss"
    # the category's own threshold: billing needs 0.99, so the billing paraphrase is a miss
    ask(semantic, "Where can I download my invoice?", "a1")
    assert ask(semantic, "Where do I download my invoice?", "a1").headers["x-pointsman-cache"] == "miss"
    # another context (a system prompt) is another partition
    sys = [
        {"role": "system", "content": "answer in French"},
        {"role": "user", "content": "How can I reset my password?"},
    ]
    r = httpx.post(
        semantic.url + "/v1/chat/completions",
        json={"model": "auto", "messages": sys},
        headers={"authorization": f"Bearer {KEYS['a1']}"},
        timeout=30,
    )
    assert r.headers["x-pointsman-cache"] == "miss"
    assert len(ups[0].requests()) == 5
    rows = wait_for_rows(semantic, 6)
    hit = next(r for r in rows if r.request_id == para.headers["x-request-id"])
    assert hit.action == "cache" and "semantic" in hit.reason


def test_no_tenant_sees_another_tenants_answers(semantic, ups) -> None:
    assert ask(semantic, "What is our refund policy?", "a1").headers["x-pointsman-cache"] == "miss"
    assert ask(semantic, "What is our refund policy?", "b1").headers["x-pointsman-cache"] == "miss"
    assert ask(semantic, "What's our refund policy?", "b1").headers["x-pointsman-cache-level"] == "semantic"
    assert (
        ask(semantic, "What is our refund policy?", "a2").headers["x-pointsman-cache"] == "hit"
    )  # same tenant
    assert len(ups[0].requests()) == 2


def test_scope_key_keeps_each_api_key_apart(ups, start_gateway, tmp_path: Path) -> None:
    gw = start_gateway(config(ups, tmp_path, scope="key"))
    ask(gw, "What is our refund policy?", "a1")
    assert ask(gw, "What is our refund policy?", "a2").headers["x-pointsman-cache"] == "miss"
    assert ask(gw, "What is our refund policy?", "a1").headers["x-pointsman-cache"] == "hit"


def test_isolation_and_entries_survive_a_restart(ups, start_gateway, tmp_path: Path) -> None:
    cfg = config(ups, tmp_path)
    gw = start_gateway(cfg)
    ask(gw, "Tell me about the quarterly plan", "a1")
    gw.stop()
    for up in ups:
        up.reset()
    gw = start_gateway(cfg)
    again = ask(gw, "Tell me about the quarterly plan", "a1")
    assert again.headers["x-pointsman-cache"] == "hit" and again.headers["x-pointsman-cache-level"] == "exact"
    para = ask(gw, "What is the quarterly plan?", "a1")
    assert para.headers["x-pointsman-cache"] == "hit"  # the index was rebuilt from the stored entries
    assert ask(gw, "Tell me about the quarterly plan", "b1").headers["x-pointsman-cache"] == "miss"
    assert ask(gw, "What is the quarterly plan?", "b1").headers["x-pointsman-cache"] == "hit"
    assert len(ups[0].requests()) == 1  # only globex's first question reached the upstream


def test_delete_by_key_tenant_category_and_all(semantic, ups) -> None:
    k = ask(semantic, "first question", "a1").headers["x-pointsman-cache-key"]
    ask(semantic, "second question", "a1")
    ask(semantic, "first question", "b1")
    ask(semantic, "my invoice is wrong", "b1")
    r = forget(semantic, params={"key": k})
    assert r.status_code == 200 and r.json() == {"object": "cache.invalidation", "key": k, "deleted": 1}
    assert ask(semantic, "first question", "a1").headers["x-pointsman-cache"] == "miss"
    assert forget(semantic, body={"category": "billing"}).json()["deleted"] == 1
    assert ask(semantic, "my invoice is wrong", "b1").headers["x-pointsman-cache"] == "miss"
    assert forget(semantic, params={"tenant": "acme"}).json()["deleted"] == 2
    assert ask(semantic, "second question", "a1").headers["x-pointsman-cache"] == "miss"
    assert ask(semantic, "first question", "b1").headers["x-pointsman-cache"] == "hit"  # globex kept
    assert forget(semantic, params={"all": "true"}).json()["deleted"] >= 3
    assert ask(semantic, "first question", "b1").headers["x-pointsman-cache"] == "miss"


@pytest.mark.parametrize(
    ("key", "params", "body", "status", "param"),
    [
        ("a1", {"all": "true"}, None, 403, None),
        (None, {"all": "true"}, None, 401, None),
        ("ops", {}, None, 400, "key"),
        ("ops", {"tenant": "acme", "key": "x"}, None, 400, "key"),
        ("ops", {"colour": "red"}, None, 400, "colour"),
        ("ops", {"all": "maybe"}, None, 400, "all"),
        ("ops", None, {"tenant": 7}, 400, "tenant"),
    ],
)
def test_delete_refuses_bad_requests(semantic, key, params, body, status, param) -> None:
    ask(semantic, "keep me", "a1")
    headers = {"authorization": f"Bearer {KEYS[key]}"} if key else {}
    r = httpx.request("DELETE", semantic.url + "/v1/cache", params=params, json=body, headers=headers)
    assert r.status_code == status
    if param:
        assert r.json()["error"]["param"] == param
    assert ask(semantic, "keep me", "a1").headers["x-pointsman-cache"] == "hit"  # nothing was lost


def test_delete_when_the_cache_is_off_is_404(gateway) -> None:
    r = httpx.request("DELETE", gateway.url + "/v1/cache", params={"all": "true"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "cache_disabled"


def test_bad_json_body_is_400(semantic) -> None:
    r = httpx.request(
        "DELETE",
        semantic.url + "/v1/cache",
        content=b"{nope",
        headers={"authorization": f"Bearer {KEYS['ops']}"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_replicas_share_entries_through_redis_but_never_across_tenants(
    redis_server, ups, start_gateway, tmp_path: Path
) -> None:
    import time

    state = {"kind": "redis", "url": redis_server.url, "prefix": f"cache-{time.time_ns()}:"}
    cfg = {**config(ups, tmp_path, store="state", sync_interval=0.2), "state": state}
    one, two = start_gateway(cfg), start_gateway(cfg)
    assert ask(one, "How do I rotate an API key?", "a1").headers["x-pointsman-cache"] == "miss"
    shared = ask(two, "How do I rotate an API key?", "a2")  # another replica, the same tenant
    assert (
        shared.headers["x-pointsman-cache"] == "hit" and shared.headers["x-pointsman-cache-level"] == "exact"
    )
    assert ask(two, "How do I rotate an API key?", "b1").headers["x-pointsman-cache"] == "miss"
    time.sleep(0.6)  # the next sync brings one's entry into two's index
    para = ask(two, "How can I rotate an API key?", "a1")
    assert (
        para.headers["x-pointsman-cache"] == "hit" and para.headers["x-pointsman-cache-level"] == "semantic"
    )
    assert len(ups[0].requests()) == 2
    one.stop()
    two.stop()
    three = start_gateway(cfg)  # a restart: the entries are in Redis
    assert ask(three, "How do I rotate an API key?", "a1").headers["x-pointsman-cache"] == "hit"
    assert ask(three, "How can I rotate an API key?", "a2").headers["x-pointsman-cache"] == "hit"
    assert ask(three, "How do I rotate an API key?", "b1").headers["x-pointsman-cache"] == "hit"  # its own
    ups[0].reset()
    r = forget(three, params={"tenant": "globex"})
    assert r.json()["deleted"] == 1
    assert ask(three, "How do I rotate an API key?", "b1").headers["x-pointsman-cache"] == "miss"
    assert ask(three, "How do I rotate an API key?", "a1").headers["x-pointsman-cache"] == "hit"
    assert len(ups[0].requests()) == 1


def test_feedback_on_a_wrong_semantic_hit_drops_the_entry(semantic, ups) -> None:
    import time

    ask(semantic, "How do I export my contacts?", "a1")
    hit = ask(semantic, "How can I export my contacts?", "a1")
    assert hit.headers["x-pointsman-cache-level"] == "semantic"
    rid = hit.headers["x-request-id"]
    wait_for_rows(semantic, 2)
    r = httpx.post(
        semantic.url + "/v1/feedback",
        json={"request_id": rid, "thumbs": "down"},
        headers={"authorization": f"Bearer {KEYS['a1']}"},
    )
    assert r.status_code == 200, r.text
    for _ in range(50):  # the cache hears of it on the gateway's loop, right after the answer
        again = ask(semantic, "How can I export my contacts?", "a1")
        if again.headers["x-pointsman-cache"] == "miss":
            break
        time.sleep(0.05)
    assert again.headers["x-pointsman-cache"] == "miss"
    assert len(ups[0].requests()) == 2

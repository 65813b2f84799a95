"""`POST /v1/feedback` through the real gateway over real HTTP: auth and tenants, unknown ids, duplicates and
replace, bad bodies, feedback before the decision is written, persistence across a restart, and the implicit
signals (a failed first choice, a client leaving mid-stream)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pointsman.gateway.auth import hash_key

from .servers import backends_yaml, wait_for_rows
from .test_bad_input import assert_error

ALICE = {"authorization": "Bearer pm-alice"}
BOB = {"authorization": "Bearer pm-bob"}
CAROL = {"authorization": "Bearer pm-carol"}  # the same tenant as alice


def config(ups, **extra) -> dict:
    keys = [
        {"id": "alice", "tenant": "acme", "sha256": hash_key("pm-alice")},
        {"id": "bob", "tenant": "globex", "sha256": hash_key("pm-bob")},
        {"id": "carol", "tenant": "acme", "sha256": hash_key("pm-carol")},
    ]
    return {
        "backends": backends_yaml(ups),
        "profiles": [{"name": "p", "candidates": ["m0", "m1"]}],
        "auth": {"enabled": True, "keys": keys},
        **extra,
    }


def chat(gw, headers: dict, **body) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def feedback(gw, body, headers: dict | None = ALICE) -> httpx.Response:
    kw = {"content": body} if isinstance(body, bytes) else {"json": body}
    return httpx.post(gw.url + "/v1/feedback", headers=headers or {}, timeout=30, **kw)


def test_feedback_auth_tenants_and_duplicates(ups, start_gateway) -> None:
    # A long flush interval: the first feedback arrives while the decision still waits to be written.
    gw = start_gateway(config(ups, store={"path": "decisions.db", "flush_interval": 30}))
    rid = chat(gw, ALICE).headers["x-request-id"]
    assert gw.gateway.log.pending >= 1
    ok = feedback(gw, {"request_id": rid, "score": 0.8, "labels": ["helpful"], "comment": "good"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "object": "feedback",
        "request_id": rid,
        "score": 0.8,
        "labels": ["helpful"],
        "replaced": False,
    }
    assert_error(feedback(gw, {"request_id": rid, "score": 0.8}, None), 401, "missing_api_key")
    assert_error(feedback(gw, {"request_id": rid, "score": 1}, BOB), 403, "wrong_tenant", "request_id")
    assert_error(
        feedback(gw, {"request_id": rid, "thumbs": "up"}, CAROL), 409, "duplicate_feedback", "replace"
    )
    replaced = feedback(gw, {"id": rid, "thumbs": "down", "replace": True}, CAROL)  # same tenant, `id` alias
    assert replaced.status_code == 200 and replaced.json()["replaced"] is True
    assert_error(
        feedback(gw, {"request_id": "req_unknown", "score": 1}), 404, "request_not_found", "request_id"
    )
    # The id may come in the x-request-id header, as the chat response gave it.
    rid2 = chat(gw, ALICE).headers["x-request-id"]
    assert feedback(gw, {"score": 0.5}, {**ALICE, "x-request-id": rid2}).status_code == 200
    stored = {(f.request_id, f.kind): f for f in gw.gateway.log.feedback()}
    assert stored[(rid, "explicit")].score == 0.0 and stored[(rid, "explicit")].api_key_id == "carol"
    assert stored[(rid, "explicit")].tenant == "acme" and stored[(rid2, "explicit")].score == 0.5


@pytest.mark.parametrize(
    "body, code, param, says",
    [
        (b"{", "invalid_json", None, "not valid JSON"),
        (b"\xff\xfe", "invalid_json", None, "not valid JSON"),
        (b"[1]", "invalid_type", None, "JSON object"),
        ({"score": 1}, "invalid_request", "request_id", "request id"),
        ({"request_id": 7, "score": 1}, "invalid_request", "request_id", "request id"),
        ({"request_id": "r"}, "invalid_request", "score", "either 'score'"),
        ({"request_id": "r", "score": 1, "thumbs": "up"}, "invalid_request", "score", "either 'score'"),
        ({"request_id": "r", "score": 1.5}, "invalid_request", "score", "[0, 1]"),
        ({"request_id": "r", "score": "1"}, "invalid_request", "score", "[0, 1]"),
        ({"request_id": "r", "score": True}, "invalid_request", "score", "[0, 1]"),
        ({"request_id": "r", "thumbs": "sideways"}, "invalid_request", "thumbs", "'up' or 'down'"),
        ({"request_id": "r", "score": 1, "labels": "x"}, "invalid_request", "labels", "list"),
        ({"request_id": "r", "score": 1, "labels": [1]}, "invalid_request", "labels", "string"),
        ({"request_id": "r", "score": 1, "comment": "x" * 5000}, "invalid_request", "comment", "4000"),
        ({"request_id": "r", "score": 1, "replace": "yes"}, "invalid_request", "replace", "true or false"),
        ({"request_id": "r", "score": 1, "rating": 5}, "unknown_parameter", "rating", "Unknown field"),
    ],
)
def test_bad_bodies(gateway, body, code, param, says) -> None:
    assert_error(feedback(gateway, body, {}), 400, code, param, says)


def test_too_large_and_wrong_method(gateway) -> None:
    assert_error(feedback(gateway, b'{"comment": "' + b"x" * 70_000 + b'"}', {}), 413, "request_too_large")
    assert httpx.get(gateway.url + "/v1/feedback").status_code == 405


def test_feedback_persists_across_restart(ups, start_gateway) -> None:
    cfg = config(ups, store={"path": "decisions.db", "flush_interval": 0.05})
    gw = start_gateway(cfg)
    rid = chat(gw, ALICE).headers["x-request-id"]
    assert feedback(gw, {"request_id": rid, "score": 0.3}).status_code == 200
    gw.stop()
    again = start_gateway(cfg)
    assert [(f.request_id, f.score) for f in again.gateway.log.feedback()] == [(rid, 0.3)]
    assert_error(feedback(again, {"request_id": rid, "score": 1}), 409, "duplicate_feedback", "replace")
    assert feedback(again, {"request_id": rid, "score": 1, "replace": True}).status_code == 200


def test_implicit_error_and_abort(ups, start_gateway) -> None:
    gw = start_gateway(config(ups, store={"path": "decisions.db", "flush_interval": 0.05}))
    ups[0].inject("status=500")
    failed_first = chat(gw, ALICE)
    assert failed_first.status_code == 200 and failed_first.json()["model"] == "m1"
    ups[0].set_fault("chunk_delay=0.3")

    async def leave_mid_stream() -> None:
        async with httpx.AsyncClient(timeout=5) as c:
            body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "a b c d e"}]}
            async with c.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=ALICE) as r:
                async for _ in r.aiter_bytes():
                    return  # the first event arrived: leave

    asyncio.run(leave_mid_stream())
    rows = wait_for_rows(gw, 2)
    deadline = time.monotonic() + 5
    while len(gw.gateway.log.feedback()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    by_id = {r.request_id: r for r in rows}
    got = {(by_id[f.request_id].status, f.kind, f.score) for f in gw.gateway.log.feedback()}
    assert got == {(200, "error", 0.0), (499, "abort", 0.0)}

"""Bad input: each gets a 4xx OpenAI-style error naming the problem, and the server stays up."""

from __future__ import annotations

import httpx
import pytest

from .servers import backends_yaml, wait_for_rows

GOOD = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}'


def post(gw, body: bytes, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", **(headers or {})},
        timeout=30,
    )


def assert_error(
    resp: httpx.Response, status: int, code: str | None, param: str | None = None, says: str = ""
) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == code and err["param"] == param, err
    assert says in err["message"], err["message"]
    assert err["type"] == ("invalid_request_error" if status in (400, 404, 413) else err["type"])


@pytest.mark.parametrize(
    "body, status, code, param, says",
    [
        (b'{"model": "auto", "messages": [', 400, "invalid_json", None, "not valid JSON"),
        (b"", 400, "invalid_json", None, "not valid JSON"),
        (b"[1, 2]", 400, "invalid_json", None, "must be a JSON object, got an array"),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
            400,
            "invalid_json",
            None,
            "UTF-8",
        ),
        (b'{"model": 5, "messages": []}', 400, "invalid_type", "model", "'model' must be a non-empty string"),
        (b'{"model": "auto"}', 400, "missing_required_parameter", "messages", "'messages' is required"),
        (b'{"model": "auto", "messages": []}', 400, "empty_array", "messages", "at least one message"),
        (
            b'{"model": "auto", "messages": "hi"}',
            400,
            "invalid_type",
            "messages",
            "must be a list, got a string",
        ),
        (
            b'{"model": "auto", "messages": [{"content": "hi"}]}',
            400,
            "invalid_value",
            "messages[0].role",
            "role",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": 5}]}',
            400,
            "invalid_type",
            "messages[0].content",
            "expected a string or a list of parts",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": [{"text": "x"}]}]}',
            400,
            "invalid_type",
            "messages[0].content[0]",
            "string 'type'",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
            400,
            "invalid_type",
            "temperature",
            "'temperature' must be a number from 0 to 2, got a string",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": true}',
            400,
            "invalid_type",
            "max_tokens",
            "positive integer",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}',
            400,
            "invalid_type",
            "stream",
            "boolean",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stop": [1]}',
            400,
            "invalid_type",
            "stop",
            "list of up to 4 strings",
        ),
        (
            b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream_options": '
            b'{"include_usage": true}}',
            400,
            "invalid_request",
            "stream_options",
            "only allowed when 'stream'",
        ),
        (
            b'{"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}',
            404,
            "model_not_found",
            "model",
            "The model 'gpt-5' does not exist; known: auto, balanced, strong",
        ),
        (
            b'{"model": "router-balanced-0.2", "messages": [{"role": "user", "content": "hi"}]}',
            400,
            "invalid_model",
            "model",
            "static order; a threshold needs a profile with a router",
        ),
        (
            b'{"model": "router-nope-0.2", "messages": [{"role": "user", "content": "hi"}]}',
            404,
            "model_not_found",
            "model",
            "router-nope-0.2",
        ),
    ],
)
def test_bad_request_gets_openai_error(gateway, ups, body, status, code, param, says) -> None:
    assert_error(post(gateway, body), status, code, param, says)
    assert ups[0].requests() == []  # nothing reached an upstream
    assert post(gateway, GOOD).status_code == 200  # and the server is still up


def test_ten_megabyte_body(gateway) -> None:
    big = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"a" * 10_000_000 + b'"}]}'
    assert_error(post(gateway, big), 413, "request_too_large", None, "limit is 4194304 bytes")
    # chunked (no Content-Length): the limit applies while reading

    def chunks():
        for i in range(0, len(big), 1 << 20):
            yield big[i : i + (1 << 20)]

    resp = httpx.post(gateway.url + "/v1/chat/completions", content=chunks(), timeout=30)
    assert_error(resp, 413, "request_too_large", None, "limit is 4194304 bytes")
    assert post(gateway, GOOD).status_code == 200


def test_unknown_path_and_method(gateway) -> None:
    assert_error(httpx.get(gateway.url + "/v1/nothing"), 404, "not_found", None, "No such endpoint")
    assert_error(httpx.get(gateway.url + "/v1/chat/completions"), 405, "method_not_allowed", None, "use POST")


def test_errors_are_logged_with_status(gateway) -> None:
    post(gateway, b"{")
    post(gateway, b'{"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}')
    rows = wait_for_rows(gateway, 2)
    assert sorted((r.status, r.error_code) for r in rows) == [(400, "invalid_json"), (404, "model_not_found")]


def test_auth_and_rate_limit(ups, start_gateway) -> None:
    from pointsman.gateway.auth import hash_key

    gw = start_gateway(
        {
            "backends": backends_yaml(ups),
            "profiles": [{"name": "p", "candidates": ["m0"]}],
            "auth": {
                "enabled": True,
                "keys": [
                    {
                        "id": "alice",
                        "tenant": "acme",
                        "sha256": hash_key("pm-alice"),
                        "requests_per_minute": 3,
                    },
                    {"id": "bob", "tenant": "globex", "sha256": hash_key("pm-bob")},
                ],
            },
            "limits": {"requests_per_minute": 1000},
        }
    )
    assert_error(post(gw, GOOD), 401, "missing_api_key", None, "Missing API key")
    assert_error(
        post(gw, GOOD, {"authorization": "Bearer pm-eve"}), 401, "invalid_api_key", None, "Incorrect"
    )
    assert_error(post(gw, GOOD, {"authorization": "Basic abc"}), 401, "invalid_api_key", None, "Malformed")
    alice = {"authorization": "Bearer pm-alice"}
    assert [post(gw, GOOD, alice).status_code for _ in range(3)] == [200, 200, 200]
    limited = post(gw, GOOD, alice)
    assert_error(limited, 429, "rate_limit_exceeded", None, "3 requests per minute for key 'alice'")
    assert limited.json()["error"]["type"] == "rate_limit_error"
    # A sliding window of 60 s in buckets of 5 s (state/base.py): one of the 3 requests has left it once
    # their bucket is the oldest and weighs 2/3 or less, at most 60 + 5 s from now.
    assert 55 <= int(limited.headers["retry-after"]) <= 66
    assert post(gw, GOOD, {"authorization": "Bearer pm-bob"}).status_code == 200  # other keys unaffected
    rows = wait_for_rows(gw, 8)
    ok = [r for r in rows if r.status == 200]
    assert {(r.tenant, r.api_key_id) for r in ok} == {("acme", "alice"), ("globex", "bob")}
    assert all("pm-" not in str(r) for r in rows)  # the key itself is never logged

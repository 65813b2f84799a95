"""`POST /v1/messages` with the official `anthropic` client against the real gateway: routed like chat
completions (rules, profiles, fallback, headers, the decision log), sync and streaming, tools, system prompt,
and an Anthropic-kind backend behind it; bad input gets Anthropic-style errors."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from .servers import backends_yaml, wait_for_rows

TOOLS = [
    {
        "name": "lookup",
        "description": "find a thing",
        "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
    }
]


def client(gw, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def test_sync_routes_like_chat_completions(gateway, ups) -> None:
    raw = client(gateway).messages.with_raw_response.create(
        model="auto",
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": "hello there"}],
    )
    reply = raw.parse()
    assert raw.headers["x-pointsman-route"] == "balanced" and raw.headers["x-pointsman-model"] == "m0"
    assert reply.type == "message" and reply.role == "assistant" and reply.model == "m0"
    assert reply.content[0].type == "text" and reply.content[0].text == "You said: hello there"
    assert reply.stop_reason == "end_turn" and reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    sent = ups[0].requests()[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert sent["max_tokens"] == 64 and sent["model"] == "upstream-m0"
    row = next(r for r in wait_for_rows(gateway, 1) if r.request_id == raw.headers["x-request-id"])
    assert (row.route, row.served_model, row.status) == ("balanced", "m0", 200) and row.cost_usd


def test_streaming_events_and_rules(gateway, ups) -> None:
    with client(gateway).messages.stream(
        model="auto", max_tokens=64, messages=[{"role": "user", "content": "a python stack trace"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert final.model == "m2"  # the `code` rule sent it to the strong profile
    assert final.content[0].text == "You said: a python stack trace" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_fallback_and_multi_turn_with_tools(gateway, ups) -> None:
    ups[2].inject("500")  # m2 fails once: the strong profile falls back to m1
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look up python"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "found it"},
                                     {"type": "text", "text": "now python again"}]},
    ]  # fmt: skip
    raw = client(gateway).messages.with_raw_response.create(
        model="auto",
        max_tokens=64,
        messages=messages,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "lookup"},
    )
    reply = raw.parse()
    assert (
        raw.headers["x-pointsman-model"] == "m1" and "fell back from m2" in raw.headers["x-pointsman-reason"]
    )
    assert reply.stop_reason == "tool_use" and reply.content[0].type == "tool_use"
    assert reply.content[0].name == "lookup" and reply.content[0].input == {"text": "now python again"}
    sent = ups[1].requests()[-1].body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "user"]
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q":"x"}'}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "found it"}
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert sent["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]


def test_streamed_tool_call(gateway) -> None:
    with client(gateway).messages.stream(
        model="m0",
        max_tokens=64,
        messages=[{"role": "user", "content": "x"}],
        tools=TOOLS,
        tool_choice={"type": "any"},
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"text": "x"}


def test_an_anthropic_backend_behind_it(ups, start_gateway) -> None:
    backends = backends_yaml(ups)
    backends[0].update(kind="anthropic", model="claude-test")
    gw = start_gateway({"backends": backends, "profiles": [{"name": "p", "candidates": ["m0"]}]})
    c = client(gw)
    reply = c.messages.create(
        model="auto", max_tokens=32, system="s", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].text == "You said: hi" and reply.model == "m0"
    with c.messages.stream(model="auto", max_tokens=32, messages=[{"role": "user", "content": "yo"}]) as s:
        assert s.get_final_message().content[0].text == "You said: yo"
    first, second = (r.body for r in ups[0].requests())
    assert first["system"] == "s" and second["stream"] is True  # they went out as Anthropic requests


def test_keys_as_x_api_key(ups, start_gateway) -> None:
    from pointsman.gateway.auth import hash_key

    keys = [{"id": "k", "tenant": "t", "sha256": hash_key("pm-good")}]
    gw = start_gateway({"backends": backends_yaml(ups), "auth": {"enabled": True, "keys": keys}})
    reply = client(gw, api_key="pm-good").messages.create(
        model="m0", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].text == "You said: hi"
    with pytest.raises(anthropic.AuthenticationError) as err:
        client(gw, api_key="pm-bad").messages.create(
            model="m0", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "headers", "status", "kind", "says"),
    [
        (b"{not json", {}, 400, "invalid_request_error", "not valid JSON"),
        (b"[1]", {}, 400, "invalid_request_error", "JSON object"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', {}, 400, "invalid_request_error", "max_tokens"),
        (b'{"max_tokens": 5, "messages": []}', {}, 400, "invalid_request_error", "messages"),
        (b'{"max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}', {}, 400, "invalid_request_error", "'system'"),
        (b'{"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]}', {}, 400, "invalid_request_error", "video"),
        (b'{"max_tokens": 5, "model": "nope", "messages": [{"role": "user", "content": "x"}]}', {}, 404, "not_found_error", "nope"),
        (b'{"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}', {"anthropic-version": "latest"}, 400, "invalid_request_error", "anthropic-version"),
        (b'{"max_tokens": 5, "messages": [{"role": "user", "content": "\xff"}]}', {}, 400, "invalid_request_error", "JSON"),
    ],
)  # fmt: skip
def test_bad_requests_get_anthropic_errors(
    gateway, body: bytes, headers: dict, status: int, kind: str, says: str
) -> None:
    r = httpx.post(
        gateway.url + "/v1/messages", content=body, headers={"content-type": "application/json", **headers}
    )
    assert r.status_code == status
    error = r.json()
    assert error["type"] == "error" and error["error"]["type"] == kind and says in error["error"]["message"]


def test_too_large_and_wrong_method(gateway) -> None:
    r = httpx.post(gateway.url + "/v1/messages", content=b"x" * (5 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"
    assert httpx.get(gateway.url + "/v1/messages").status_code == 405

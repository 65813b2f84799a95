"""`POST /v1/responses` and legacy `POST /v1/completions` with the official openai client against the real
gateway (routed like chat: rules, fallback, headers, log), streaming included; unknown paths get a 404 naming
them."""

from __future__ import annotations

import httpx
import openai
import pytest

from .servers import wait_for_rows

TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_responses_text_and_rules(gateway, ups) -> None:
    raw = client(gateway).responses.with_raw_response.create(
        model="auto", instructions="be brief", input="a python stack trace", max_output_tokens=50
    )
    reply = raw.parse()
    assert raw.headers["x-pointsman-route"] == "strong" and raw.headers["x-pointsman-model"] == "m2"
    assert reply.object == "response" and reply.status == "completed" and reply.model == "m2"
    assert reply.output_text == "You said: a python stack trace"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    sent = ups[2].requests()[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a python stack trace"},
    ]
    assert sent["max_tokens"] == 50
    row = next(r for r in wait_for_rows(gateway, 1) if r.request_id == raw.headers["x-request-id"])
    assert (row.route, row.served_model) == ("strong", "m2")


def test_responses_tools_and_history(gateway, ups) -> None:
    history = [
        {"role": "user", "content": [{"type": "input_text", "text": "find it"}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "nothing"},
        {"role": "user", "content": "again"},
    ]
    reply = client(gateway).responses.create(model="m0", input=history, tools=[TOOL], tool_choice="required")
    call = reply.output[0]
    assert call.type == "function_call" and call.name == "lookup" and '"text"' in call.arguments
    sent = ups[0].requests()[-1].body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "user"]
    assert sent["tools"][0] == {
        "type": "function",
        "function": {"name": "lookup", "parameters": TOOL["parameters"]},
    }


def test_responses_stream(gateway) -> None:
    events = list(client(gateway).responses.create(model="auto", input="hello there", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_item.added" in kinds and "response.output_text.done" in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "You said: hello there" == events[-1].response.output_text
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    assert events[-1].response.usage.output_tokens > 0


def test_completions_sync_and_stream_with_fallback(gateway, ups) -> None:
    ups[0].inject("500")  # balanced: m0 fails once, m1 answers
    raw = client(gateway).completions.with_raw_response.create(
        model="auto", prompt="hello there", max_tokens=20
    )
    reply = raw.parse()
    assert raw.headers["x-pointsman-model"] == "m1" and reply.object == "text_completion"
    assert reply.choices[0].text == "You said: hello there" and reply.choices[0].finish_reason == "stop"
    chunks = list(client(gateway).completions.create(model="auto", prompt=["hi you"], stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "You said: hi you"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/responses", b'{"input": []}', "input"),
        ("/v1/responses", b'{"input": "x", "previous_response_id": "resp_1"}', "previous_response_id"),
        ("/v1/responses", b'{"input": "x", "tools": [{"type": "web_search"}]}', "tools[0].type"),
        ("/v1/responses", b'{"input": [{"type": "reasoning"}]}', "input[0].type"),
        ("/v1/responses", b"not json", None),
        ("/v1/completions", b'{"prompt": ["a", "b"]}', "prompt"),
        ("/v1/completions", b'{"prompt": "a", "echo": true}', "echo"),
        ("/v1/completions", b'{"prompt": "a", "temperature": 9}', "temperature"),  # the chat checks apply
    ],
)
def test_bad_requests(gateway, path: str, body: bytes, param: str | None) -> None:
    r = httpx.post(gateway.url + path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param and r.json()["error"]["message"]


def test_unknown_endpoints_name_the_path(gateway) -> None:
    r = httpx.post(gateway.url + "/v1/nothing/here", json={})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found" and "/v1/nothing/here" in r.json()["error"]["message"]

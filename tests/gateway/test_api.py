"""The official openai client against the real gateway over real HTTP: sync, async, streaming, headers."""

from __future__ import annotations

import httpx
import openai
import pytest

from .servers import backends_yaml, wait_for_rows


def client(gw, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def test_sync_auto_routes_with_headers(gateway, ups) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello there"}]
    )
    reply = raw.parse()
    assert raw.headers["x-pointsman-route"] == "balanced"
    assert raw.headers["x-pointsman-model"] == "m0" == reply.model
    assert raw.headers["x-pointsman-reason"].startswith("default profile; static order")
    assert raw.headers["x-request-id"].startswith("req_")
    assert reply.choices[0].message.content == "You said: hello there"
    sent = ups[0].requests()
    assert len(sent) == 1 and sent[0].body["model"] == "upstream-m0"  # the upstream's own id


def test_fields_pass_through_faithfully(gateway, ups) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]
    fields = dict(
        messages=messages,
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_object"},
        temperature=0.3,
        max_tokens=50,
        max_completion_tokens=60,
        stop=["\n\n"],
        n=1,
        user="u-1",
        metadata={"team": "a"},
        seed=7,
        top_p=0.9,
    )
    client(gateway).chat.completions.create(model="m1", **fields)
    body = ups[1].requests()[0].body
    assert {key: body[key] for key in fields} == fields


def test_rules_alias_and_direct(gateway, ups) -> None:
    c = client(gateway)
    code = c.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Why does my Python script fail?"}]
    )
    assert code.headers["x-pointsman-route"] == "strong"
    assert code.headers["x-pointsman-reason"].startswith("rule code: keyword 'Python'")
    assert code.parse().model == "m2"
    alias = c.chat.completions.with_raw_response.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}]
    )
    assert alias.headers["x-pointsman-route"] == "strong"
    direct = c.chat.completions.with_raw_response.create(
        model="m1", messages=[{"role": "user", "content": "hi"}]
    )
    assert direct.headers["x-pointsman-route"] == "direct"
    assert direct.headers["x-pointsman-reason"] == "model requested by name"
    assert direct.parse().model == "m1"
    named = c.chat.completions.with_raw_response.create(
        model="strong", messages=[{"role": "user", "content": "hi"}]
    )
    assert named.headers["x-pointsman-reason"].startswith("profile requested by name")


def test_streaming_sync(gateway, ups) -> None:
    with client(gateway).chat.completions.with_streaming_response.create(
        model="auto", messages=[{"role": "user", "content": "one two three four"}], stream=True
    ) as resp:
        assert resp.headers["x-pointsman-model"] == "m0"
        assert resp.headers["content-type"].startswith("text/event-stream")
        chunks = list(resp.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: one two three four"
    assert all(c.model == "m0" for c in chunks)
    assert all(c.usage is None for c in chunks)  # not asked for: the gateway's own usage request stays hidden
    assert ups[0].requests()[0].body["stream_options"] == {"include_usage": True}


def test_streaming_with_usage(gateway) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="m2",
            messages=[{"role": "user", "content": "count these words"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].choices == []


async def test_async_client_concurrent(gateway) -> None:
    c = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    import asyncio

    replies = await asyncio.gather(
        *(
            c.chat.completions.create(model="auto", messages=[{"role": "user", "content": f"number {i}"}])
            for i in range(20)
        )
    )
    assert [r.choices[0].message.content for r in replies] == [f"You said: number {i}" for i in range(20)]
    stream = await c.chat.completions.create(
        model="strong", messages=[{"role": "user", "content": "a b"}], stream=True
    )
    text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert text == "You said: a b"
    await c.close()


def test_models_health_ready_metrics(gateway) -> None:
    models = client(gateway).models.list()
    ids = [m.id for m in models.data]
    assert ids == ["auto", "balanced", "strong", "m0", "m1", "m2"]
    h = httpx.get(gateway.url + "/health")
    assert h.status_code == 200 and h.json() == {"status": "ok"}
    r = httpx.get(gateway.url + "/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert set(r.json()["backends"]) == {"m0", "m1", "m2"}
    client(gateway).chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    text = httpx.get(gateway.url + "/metrics").text
    assert 'pointsman_requests_total{model="m0",route="balanced",status="200"} 1.0' in text
    assert 'pointsman_backend_breaker_state{backend="m0"} 0.0' in text
    assert (
        "pointsman_request_seconds_bucket" in text
        and 'pointsman_tokens_total{kind="prompt",model="m0"}' in text
    )


def test_decision_log_rows(gateway) -> None:
    c = client(gateway)
    c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hello"}])
    list(c.chat.completions.create(model="m2", messages=[{"role": "user", "content": "hi"}], stream=True))
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    rows = {r.requested_model: r for r in wait_for_rows(gateway, 3)}
    auto = rows["auto"]
    assert auto.route == "balanced" and auto.chosen_model == auto.served_model == "m0"
    assert auto.probability == 1.0 and auto.status == 200 and not auto.stream
    assert [c["model"] for c in auto.candidates] == ["m0", "m1"]
    assert auto.prompt_tokens and auto.completion_tokens
    assert auto.cost_usd == pytest.approx((auto.prompt_tokens * 1.0 + auto.completion_tokens * 2.0) * 1e-6)
    assert auto.first_byte_s is not None and auto.total_s >= auto.first_byte_s
    assert auto.content is None and auto.prompt_hash is None  # no content unless configured
    streamed = rows["m2"]
    assert streamed.stream and streamed.route == "direct" and streamed.completion_tokens
    assert streamed.cost_usd and streamed.cost_usd > 0
    unknown = rows["nope"]
    assert unknown.status == 404 and unknown.error_code == "model_not_found" and unknown.served_model is None


def test_content_logged_only_when_configured(ups, start_gateway) -> None:
    gw = start_gateway(
        {
            "backends": backends_yaml(ups),
            "profiles": [{"name": "p", "candidates": ["m0"]}],
            "store": {"path": "c.db", "log_content": True},
        }
    )
    messages = [{"role": "user", "content": "remember this"}]
    client(gw).chat.completions.create(model="auto", messages=messages)
    list(client(gw).chat.completions.create(model="auto", messages=messages, stream=True))
    rows = wait_for_rows(gw, 2)
    assert {r.content["response"] for r in rows} == {"You said: remember this"}
    assert rows[0].content["messages"] == messages
    assert rows[0].prompt_hash == rows[1].prompt_hash and len(rows[0].prompt_hash) == 64

"""The local upstream test servers: protocols, faults, records, and the separate-process mode."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from pointsman.testing.faults import Fault
from pointsman.testing.upstreams import UpstreamServer, spawn_upstream


def test_fault_spec_round_trips_and_rejects_unknown_fields() -> None:
    fault = Fault.parse("status=429, retry_after=1.5")
    assert fault == Fault(status=429, retry_after=1.5)
    assert Fault.parse(str(fault)) == fault
    assert Fault.parse("503") == Fault(status=503)
    assert Fault.parse("reset").reset and Fault.parse("die_after=3,chunk_delay=0.1").die_after == 3
    with pytest.raises(ValueError, match="unknown field 'explode'"):
        Fault.parse("explode")
    with pytest.raises(ValueError, match="die_after needs a number"):
        Fault.parse("die_after=soon")


async def test_openai_answers_and_records(upstream: UpstreamServer) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "one two three"}],
        "max_tokens": 3,
        "stop": ["never"],
        "user": "u1",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(upstream.url + "/v1/chat/completions", json=body) as resp,
    ):
        data = await resp.json()
    assert data["choices"][0]["message"]["content"] == "You said: one"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 3
    record = upstream.chat_requests()[-1]
    assert record.body == body and record.completed and not record.disconnected


async def test_per_request_fault_header_and_body_metadata(upstream: UpstreamServer) -> None:
    url = upstream.url + "/v1/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers={"x-fault": "429,retry_after=7"}) as resp:
            assert resp.status == 429 and resp.headers["retry-after"] == "7"
            assert (await resp.json())["error"]["type"] == "rate_limit_exceeded"
        meta = {**body, "metadata": {"fault": "status=503"}}
        async with session.post(url, json=meta) as resp:
            assert resp.status == 503
        async with session.post(url, json=body) as resp:
            assert resp.status == 200


async def test_hang_is_seen_as_a_disconnect_when_the_client_gives_up(upstream: UpstreamServer) -> None:
    upstream.inject("hang")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                upstream.url + "/v1/chat/completions",
                json={"messages": []},
                timeout=aiohttp.ClientTimeout(total=0.2),
            )
    await asyncio.sleep(0.05)
    record = upstream.requests[-1]
    assert record.disconnected and not record.completed


def test_separate_process_with_control_api() -> None:
    async def scenario(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                url + "/_control/fault", json={"fault": "status=500", "times": 1}
            ) as resp:
                assert resp.status == 200
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                assert resp.status == 500
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                assert (await resp.json())["choices"][0]["message"]["content"] == "fixed"
            async with session.get(url + "/_control/requests") as resp:
                records = orjson.loads(await resp.read())
            assert [r["fault"] for r in records] == ["status=500", None]

    with spawn_upstream("--reply", "fixed") as url:
        asyncio.run(scenario(url))


async def test_bad_http_gets_400_and_the_server_stays_up(upstream: UpstreamServer) -> None:
    reader, writer = await asyncio.open_connection(upstream.host, upstream.port)
    writer.write(b"NONSENSE\r\n\r\n")
    await writer.drain()
    assert (await reader.read()).startswith(b"HTTP/1.1 400")
    writer.close()
    async with aiohttp.ClientSession() as session, session.get(upstream.url + "/health") as resp:
        assert resp.status == 200

"""The openai backend: faithful pass-through, auth, and upstream errors mapped to BackendError."""

from __future__ import annotations

import asyncio
import copy
import email.utils
import logging
import socket
import time
from typing import Any

import orjson
import pytest

from pointsman.backends.base import BackendError, LastBatch
from pointsman.backends.dispatch import Dispatcher
from pointsman.backends.factory import make_backend
from pointsman.backends.http import parse_retry_after, upstream_error
from pointsman.config.backends import BackendConfig
from pointsman.testing.upstreams import UpstreamServer

from .conftest import chat, http_config, stream_text

# Everything clients send, including fields pointsman does not model (a vendor's top_k).
FULL_BODY: dict[str, Any] = {
    "model": "gpt-test",
    "messages": [
        {"role": "developer", "content": "Be helpful."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            ],
            "name": "ann",
        },
    ],
    "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 50,
    "max_completion_tokens": 60,
    "stop": ["\n\n"],
    "n": 2,
    "seed": 11,
    "logprobs": True,
    "top_logprobs": 2,
    "presence_penalty": 0.1,
    "logit_bias": {"50256": -100},
    "user": "user-7",
    "metadata": {"team": "search"},
    "top_k": 40,
}


@pytest.fixture
async def backend(upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test-123")
    upstream.api_key = "sk-test-123"
    backend = make_backend(
        http_config(
            "gpt", upstream, model="gpt-test", api_key_env="TEST_UPSTREAM_KEY", headers={"x-team": "search"}
        )
    )
    await backend.start()
    yield backend
    await backend.close()


async def test_every_client_field_reaches_the_upstream_unchanged(
    backend: Any, upstream: UpstreamServer
) -> None:
    answer = await backend.complete(copy.deepcopy(FULL_BODY))
    assert len(answer["choices"]) == 2
    record = upstream.chat_requests()[-1]
    assert record.body == FULL_BODY
    assert record.headers["authorization"] == "Bearer sk-test-123" and record.headers["x-team"] == "search"
    streamed = {**copy.deepcopy(FULL_BODY), "stream": True, "stream_options": {"include_usage": True}}
    chunks = [c async for c in backend.stream(streamed)]
    assert upstream.chat_requests()[-1].body == streamed
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_complete_drops_stream_flags_and_stream_adds_them(
    backend: Any, upstream: UpstreamServer
) -> None:
    await backend.complete(chat(stream=True, stream_options={"include_usage": True}, model="gpt-test"))
    sent = upstream.chat_requests()[-1].body
    assert "stream" not in sent and "stream_options" not in sent
    chunks = [c async for c in backend.stream(chat(model="gpt-test"))]
    assert upstream.chat_requests()[-1].body["stream"] is True
    assert stream_text(chunks) == "You said: hello there"


async def test_a_wrong_key_is_a_misconfigured_backend_not_a_client_error(
    upstream: UpstreamServer,
    upstream_b: UpstreamServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-wrong")
    upstream.api_key = "sk-right"
    dispatcher = Dispatcher(
        {
            "a": make_backend(http_config("a", upstream, api_key_env="TEST_UPSTREAM_KEY")),
            "b": make_backend(http_config("b", upstream_b)),
        }
    )
    await dispatcher.start()
    outcome = await dispatcher.complete(["a", "b"], chat())
    assert outcome.model == "b" and [(a.model, a.code) for a in outcome.attempts] == [
        ("a", "upstream_401"),
        ("b", None),
    ]
    assert "sk-wrong" not in str(outcome.attempts) and "sk-wrong" not in caplog.text
    assert "upstream_401" in caplog.text  # the failure itself was logged
    await dispatcher.close(timeout=1)


async def test_a_refused_connection_falls_back(upstream: UpstreamServer) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = BackendConfig(
        name="dead",
        kind="openai",
        base_url=f"http://127.0.0.1:{port}/v1",
        retry={"attempts": 2, "backoff": 0.01},
    )
    dispatcher = Dispatcher({"dead": make_backend(dead), "live": make_backend(http_config("live", upstream))})
    outcome = await dispatcher.complete(["dead", "live"], chat())
    assert outcome.model == "live" and [a.code for a in outcome.attempts] == [
        "connect_error",
        "connect_error",
        None,
    ]
    await dispatcher.close(timeout=1)


@pytest.mark.parametrize(
    "status, message, expected",
    [
        (500, "boom", (502, "upstream_500", True)),
        (503, "busy", (502, "upstream_503", True)),
        (408, "slow", (502, "upstream_408", True)),
        (429, "slow down", (429, "rate_limited", True)),
        (400, "bad field", (400, "invalid_request", False)),
        (400, "This model's maximum context length is 8192 tokens", (400, "context_length_exceeded", False)),
        (413, "too big", (413, "request_too_large", False)),
        (401, "bad key", (502, "upstream_401", False)),
        (404, "no such model", (502, "upstream_404", False)),
    ],
)
def test_upstream_statuses_map_to_what_the_client_should_see(
    status: int, message: str, expected: tuple[int, str, bool]
) -> None:
    err = upstream_error("m", status, message)
    assert (err.status, err.code, err.retryable) == expected
    assert f"m: upstream answered {status}: {message}" == err.message


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("2.5") == 2.5
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(later) <= 31
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_openai_config_needs_an_http_base_url() -> None:
    with pytest.raises(ValueError, match="base_url is required for kind 'openai'"):
        BackendConfig(name="x", kind="openai")
    with pytest.raises(ValueError, match="base_url must start with http:// or https://"):
        BackendConfig(name="x", kind="openai", base_url="localhost:8000/v1")


async def test_garbage_and_errors_are_backend_errors(backend: Any, upstream: UpstreamServer) -> None:
    upstream.inject("garbage")
    with pytest.raises(BackendError, match="not JSON") as raised:
        await backend.complete(chat(model="gpt-test"))
    assert raised.value.code == "bad_response" and raised.value.retryable


async def test_sse_events_split_across_reads_are_reassembled() -> None:
    """An upstream that sends its SSE body in 7-byte pieces, each flushed on its own."""
    events = [
        {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": w}}]}
        for w in ("Hello", " split", " world")
    ]
    body = b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events) + b"data: [DONE]\n\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for i in range(0, len(body), 7):
            piece = body[i : i + 7]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = make_backend(BackendConfig(name="s", kind="openai", base_url=f"http://127.0.0.1:{port}/v1"))
    chunks = [c async for c in backend.stream(chat())]
    assert chunks == events
    await backend.close()
    server.close()


async def test_stream_batches_follow_the_network_reads_and_mark_the_end(upstream: UpstreamServer) -> None:
    """A fast upstream's whole stream arrives in one read: one batch, marked last ([DONE] came with it). A
    slow one arrives event by event: a batch per event, [DONE] alone in the last read (no marked batch)."""
    backend = make_backend(http_config("a", upstream))
    body = chat("one two three", stream=True)
    batches = [b async for b in backend.stream_batches(body)]
    assert len(batches) == 1 and isinstance(batches[0], LastBatch)
    assert stream_text(batches[0]) == stream_text([c async for c in backend.stream(body)])

    upstream.inject("chunk_delay=0.02")
    slow = [b async for b in backend.stream_batches(body)]
    assert len(slow) > 2 and all(len(b) == 1 and not isinstance(b, LastBatch) for b in slow)
    assert stream_text([c for b in slow for c in b]) == stream_text(batches[0])
    await backend.close()

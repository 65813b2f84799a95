"""The backends' HTTP/1.1 pool against a real local TCP server that answers with scripted raw bytes: body
framings (Content-Length, chunked, until close), keep-alive reuse, interim 1xx answers, and every failure a
connection can have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from pointsman.backends.h1 import Pool, TransportError

# request bytes -> what to write (None: close without answering)
Answer = Callable[[bytes], list[bytes] | None]


class RawServer:
    """Reads one request at a time and writes what `answer` returns; records requests and connections."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0  # connections that ended

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                parts = self.answer(request)
                if parts is None:
                    break
                for part in parts:
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.01)
                if b"connection: close" in parts[0].lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed += 1
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], asyncio.Future]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> tuple[RawServer, Pool]:
        raw = RawServer(answer)
        server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pool = Pool(
            f"http://127.0.0.1:{port}/v1/chat/completions?v=1",
            {"authorization": "Bearer k"},
            limit=4,
            connect_timeout=1,
        )
        return raw, pool

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


def fixed(body: bytes, status: str = "200 OK", extra: str = "") -> Answer:
    return lambda _req: [
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {len(body)}\r\n\r\n".encode()
        + body
    ]


async def test_sends_one_request_with_its_head_and_reuses_the_connection(serve) -> None:
    raw, pool = await serve(fixed(b'{"ok":1}', extra="retry-after: 3\r\n"))
    for _ in range(3):
        resp = await pool.post(b'{"a":1}')
        assert resp.status == 200 and resp.headers["retry-after"] == "3"
        assert await resp.read() == b'{"ok":1}'
        resp.release()
    assert raw.connections == 1 and len(raw.requests) == 3
    head = raw.requests[0].decode()
    assert head.startswith("POST /v1/chat/completions?v=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert "authorization: Bearer k\r\n" in head and head.endswith('content-length: 7\r\n\r\n{"a":1}')
    await pool.close()


async def test_chunked_and_until_close_bodies(serve) -> None:
    chunked = [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"6\r\n world\r\n0\r\n\r\n",
    ]
    raw, pool = await serve(lambda _req: chunked)
    resp = await pool.post(b"{}")
    assert [b async for b in resp.blocks()] == [b"hello", b" world"]
    resp.release()
    resp = await pool.post(b"{}")
    assert await resp.read() == b"hello world"
    resp.release()
    assert raw.connections == 1

    raw, pool = await serve(lambda _req: [b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil ", b"the end"])
    resp = await pool.post(b"{}")
    assert await resp.read() == b"until the end"
    resp.release()
    resp = await pool.post(b"{}")  # that connection is spent: a new one
    assert await resp.read() == b"until the end"
    assert raw.connections == 2


async def test_an_interim_100_answer_is_skipped(serve) -> None:
    _, pool = await serve(
        lambda _req: [
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
        ]
    )
    resp = await pool.post(b"{}")
    assert resp.status == 201 and await resp.read() == b"ok"


async def test_a_response_not_read_to_its_end_closes_its_connection(serve) -> None:
    raw, pool = await serve(lambda _req: [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", b"-other"])
    resp = await pool.post(b"{}")
    resp.release()  # the body was not read: the connection cannot carry another request
    resp = await pool.post(b"{}")
    assert await resp.read() == b"half-other"
    resp.release()
    assert raw.connections == 2


async def test_failures_have_their_codes(serve) -> None:
    _, pool = await serve(lambda _req: None)  # closes without answering
    with pytest.raises(TransportError) as failed:
        await pool.post(b"{}")
    assert failed.value.code == "connection_reset"

    _, pool = await serve(
        lambda _req: [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{"]
    )
    resp = await pool.post(b"{}")
    with pytest.raises(TransportError) as failed:
        await resp.read()
    assert failed.value.code == "stream_broken"

    _, pool = await serve(lambda _req: [b"SMTP ready\r\n\r\n"])
    with pytest.raises(TransportError) as failed:
        await pool.post(b"{}")
    assert failed.value.code == "bad_http"

    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(TransportError) as failed:
        await Pool(f"http://127.0.0.1:{port}/", {}, limit=1, connect_timeout=1).post(b"{}")
    assert failed.value.code == "connect_error" and f"127.0.0.1:{port}" in str(failed.value)


async def test_a_connection_idle_too_long_is_not_reused(serve) -> None:
    raw, pool = await serve(fixed(b"{}"))
    pool.keepalive = 0.05
    (await pool.post(b"{}")).release()
    await asyncio.sleep(0.1)
    resp = await pool.post(b"{}")
    assert await resp.read() == b"{}"
    assert raw.connections == 2


async def test_a_cancelled_read_closes_its_connection(serve) -> None:
    raw, pool = await serve(lambda _req: [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"])  # no body, ever
    resp = await pool.post(b"{}")
    task = asyncio.create_task(resp.read())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if raw.closed:
            break
        await asyncio.sleep(0.01)
    assert raw.closed == 1  # the upstream saw the disconnect
    resp.release()
    assert not pool._idle


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Pool("ftp://example.com/x", {}, limit=1, connect_timeout=1)

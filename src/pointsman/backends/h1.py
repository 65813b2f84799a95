"""A lean pooled HTTP/1.1 client for the HTTP backends: keep-alive connections on asyncio protocols, responses
parsed by httptools (llhttp, the parser of Node.js; also uvicorn's).

Why not aiohttp: a backend call only ever POSTs a JSON body to one fixed URL, and aiohttp's general machinery
(request/response objects, header multidicts, payload registry, tracing, a task per request) cost about 110 us
of CPU per call on this machine against 25-50 us here (benchmarks/http_clients.py has both side by side): at
concurrency 1 that was the largest part of the gateway's added latency.

What it does: one request at a time per connection, written in one `write` (head and body together); TLS for
https; a connect deadline; `Content-Length`, chunked and read-until-close bodies; flow control for streamed
bodies; connections reused only after a complete keep-alive response and dropped after `keepalive` idle
seconds. A caller that stops early (cancelled, error, `close()`) closes its connection, so the upstream sees
the disconnect. What it does not do (no backend needs it): redirects, proxies, cookies, compression.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

_HIGH_WATER = 256 * 1024  # buffered body bytes at which reading from the socket pauses


class TransportError(Exception):
    """The connection failed: `code` is connect_error, connect_timeout, connection_reset (before the response
    head), stream_broken (the body was cut short) or bad_http (not an HTTP response)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Response:
    """A response whose head has arrived; the body streams in behind it. `read()` or iterate `blocks()`, then
    `release()` (the connection goes back to the pool when the body was read to its end) or `close()`."""

    __slots__ = ("_conn", "_released", "headers", "status")

    def __init__(self, conn: _Connection, status: int, headers: dict[str, str]) -> None:
        self._conn, self.status, self.headers = conn, status, headers
        self._released = False

    async def read(self) -> bytes:
        conn = self._conn
        while not conn.complete:
            await conn.wait()
        body = b"".join(conn.body)
        conn.body.clear()
        return body

    async def blocks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in the blocks the socket delivered."""
        conn = self._conn
        while True:
            if conn.body:
                block = b"".join(conn.body) if len(conn.body) > 1 else conn.body[0]
                conn.body.clear()
                conn.drained()
                yield block
            elif conn.complete:
                return
            else:
                await conn.wait()

    def release(self) -> None:
        """Done with the response: reuse the connection if the whole body was read, else close it."""
        if not self._released:
            self._released = True
            self._conn.pool.put(self._conn)

    def close(self) -> None:
        if not self._released:
            self._released = True
            self._conn.abort()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time; httptools callbacks fill in the response."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._reset_message()

    def _reset_message(self) -> None:
        self.head: asyncio.Future[Response] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.headers: dict[str, str] = {}
        self.body: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.paused = False
        self.started = False  # response head complete
        self.complete = False  # whole response received
        self.error: TransportError | None = None
        self.until_close = False  # no Content-Length, not chunked: the body ends with the connection

    # -- sending -------------------------------------------------------------------------------------------

    async def send(self, data: bytes) -> Response:
        self._reset_message()
        self.head = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        try:
            return await self.head
        except BaseException:  # cancelled, or the connection failed: it cannot carry another request
            self.abort()
            raise

    async def wait(self) -> None:
        """Until more of the body arrives (or it ends, or the connection fails)."""
        if self.error is not None:
            raise self.error
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        except BaseException:
            self.abort()
            raise
        finally:
            self.waiter = None

    def drained(self) -> None:
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, error: TransportError) -> None:
        self.error = error
        self.closed = True
        if self.head is not None and not self.head.done():
            self.head.set_exception(error)
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(TransportError("bad_http", f"{self.pool.origin}: unexpected protocol upgrade"))
            self.abort()
        except httptools.HttpParserError as exc:
            self._fail(TransportError("bad_http", f"{self.pool.origin}: not an HTTP response ({exc})"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete or self.head is None:
            return
        if self.started and self.until_close and exc is None:
            self.on_message_complete()
            return
        origin = self.pool.origin
        if not self.started:
            detail = f"{type(exc).__name__}: {exc}" if exc else "the server closed the connection"
            self._fail(TransportError("connection_reset", f"{origin}: {detail} before answering"))
        else:
            self._fail(TransportError("stream_broken", f"{origin}: the connection closed mid-response"))

    # -- httptools callbacks ---------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.started = True
        h = self.headers
        self.until_close = "content-length" not in h and "chunked" not in h.get("transfer-encoding", "")
        status = self.parser.get_status_code()
        if status < 200:  # 1xx (100 Continue, 103 Early Hints): the real answer follows
            self.started, self.headers = False, {}
            return
        if self.head is not None and not self.head.done():
            self.head.set_result(Response(self, status, h))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.started:
            return  # the end of a 1xx interim response
        self.complete = True
        if not self.parser.should_keep_alive() or self.until_close:
            self.closed = True
        self._wake()


class Pool:
    """Keep-alive connections to one origin, for POSTs to one path. `limit` idle connections are kept."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        limit: int,
        connect_timeout: float,
        keepalive: float = 60.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.limit, self.connect_timeout, self.keepalive = limit, connect_timeout, keepalive
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"host: {parts.netloc.rpartition('@')[2]}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._head = ("\r\n".join(lines) + "\r\ncontent-length: ").encode("latin-1")
        self._idle: list[_Connection] = []
        self._closed = False

    async def post(self, body: bytes) -> Response:
        """Send `body`; returns once the response head is in. Raises TransportError."""
        conn = self._take() or await self._connect()
        return await conn.send(b"%b%d\r\n\r\n%b" % (self._head, len(body), body))

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: its socket is warm
            if not conn.closed and now - conn.idle_since < self.keepalive:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            raise TransportError(
                "connect_timeout", f"{self.origin}: no connection within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise TransportError("connect_error", f"{self.origin}: cannot connect ({exc})") from exc
        return conn

    def put(self, conn: _Connection) -> None:
        """A response is done with its connection: keep it if it can carry another request."""
        if conn.complete and not conn.closed and not self._closed and len(self._idle) < self.limit:
            conn.idle_since = time.monotonic()
            conn.head = None
            self._idle.append(conn)
        else:
            conn.abort()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().abort()

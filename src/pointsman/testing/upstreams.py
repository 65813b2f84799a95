"""Real local upstream LLM servers for tests and benchmarks, with injectable faults.

One `UpstreamServer` speaks OpenAI chat-completions (`POST /v1/chat/completions`, non-streaming and SSE with
`data: [DONE]` and `stream_options.include_usage`) and Anthropic Messages (`POST /v1/messages`, its SSE event
types) over plain HTTP/1.1 with keep-alive, on a free local port. It is a bare asyncio protocol rather than a
web framework so that it stays fast enough to be the "fast local upstream" of the gateway benchmarks.

Faults (see `Fault`) apply per request (an `x-fault` header or `metadata.fault` in the body), to the next N
requests (`server.inject(fault, times=N)`), or to every request (`server.fault`). Every request is recorded
(`server.requests`: headers, parsed body, whether the client disconnected before the answer was complete), so
tests can check what reached the upstream.

In-process:    async with UpstreamServer() as up: ... up.url + "/v1"
As a process:  python -m pointsman.testing.upstreams --port 8900 [--fault 500] [--reply TEXT] [--api-key KEY]
               (control API: POST /_control/fault {"fault": "status=500", "times": 2}, GET /_control/requests,
               POST /_control/reset)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self

import orjson

from pointsman.testing.faults import Fault
from pointsman.testing.replies import AnthropicMessages, BadRequest, OpenAIChat, OpenAIEmbeddings

__all__ = ["Fault", "RecordedRequest", "UpstreamServer", "spawn_upstream"]

_MAX_HEAD = 64 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}
_OPENAI, _ANTHROPIC = OpenAIChat(), AnthropicMessages()
_EMBEDDINGS = OpenAIEmbeddings()
_APIS = {"/v1/chat/completions": _OPENAI, "/chat/completions": _OPENAI, "/v1/messages": _ANTHROPIC}
_APIS["/v1/embeddings"] = _EMBEDDINGS


@dataclass
class RecordedRequest:
    """One request as the upstream received it."""

    seq: int
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw bytes when it was not JSON
    fault: Fault | None = None
    completed: bool = False  # the whole answer was written
    disconnected: bool = False  # the client closed the connection before the answer was complete

    def to_json(self) -> dict[str, Any]:
        body = self.body if not isinstance(self.body, bytes) else self.body.decode("utf-8", "replace")
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": body,
            "fault": None if self.fault is None else str(self.fault),
            "completed": self.completed,
            "disconnected": self.disconnected,
        }


def _head(
    status: int, content_type: str, length: int | None, extra: tuple[tuple[str, str], ...] = ()
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"content-type: {content_type}"]
    lines.append("transfer-encoding: chunked" if length is None else f"content-length: {length}")
    lines.extend(f"{k}: {v}" for k, v in extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"
_SSE_HEADERS = (("cache-control", "no-cache"),)


def _full(status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    return _head(status, "application/json", len(body), extra) + body


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order (pipelining allowed), answers one at a time."""

    def __init__(self, server: UpstreamServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # an answer is being written asynchronously (or hanging)
        self.closed = False
        self.current: RecordedRequest | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server._connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._connections.discard(self)
        if self.current is not None and not self.current.completed:
            self.current.disconnected = True
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)  # type: ignore[union-attr]

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), as a crashed or overloaded proxy does."""
        if self.closed or self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _process(self) -> None:
        while not self.busy and not self.closed:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_HEAD:
                    self._fail(431, "request head too large")
                return
            try:
                method, path, headers = _parse_head(bytes(self.buf[:end]))
            except ValueError as exc:
                self._fail(400, str(exc))
                return
            if "chunked" in headers.get("transfer-encoding", ""):
                self._fail(411, "chunked request bodies are not supported; send content-length")
                return
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buf) < end + 4 + length:
                return
            raw = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            keep_alive = headers.get("connection", "").lower() != "close"
            self.server._handle(self, method, path, headers, raw)
            if not keep_alive and not self.busy:
                self.transport.close()  # type: ignore[union-attr]
                return

    def _fail(self, status: int, message: str) -> None:
        self.write(_full(status, OpenAIChat.error_body(status, message), (("connection", "close"),)))
        self.transport.close()  # type: ignore[union-attr]
        self.closed = True

    def finish_async(self) -> None:
        self.busy = False
        self.task = None
        if self.buf and not self.closed:
            self._process()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"malformed request line {lines[0][:100]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1].split("?", 1)[0], headers


class UpstreamServer:
    """A local OpenAI + Anthropic upstream with fault injection. See the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply: str | None = None,
        api_key: str | None = None,
        fault: Fault | str | None = None,
        models: tuple[str, ...] = ("test-model",),
        max_records: int = 10_000,
    ) -> None:
        self.host, self.port = host, port
        self.reply = reply
        self.api_key = api_key
        self.fault: Fault | None = Fault.parse(fault) if isinstance(fault, str) else fault
        self.models = models
        self.requests: deque[RecordedRequest] = deque(maxlen=max_records)
        self._queued: deque[Fault] = deque()
        self._seq = itertools.count(1)
        self._connections: set[_Connection] = set()
        self._server: asyncio.base_events.Server | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`; OpenAI clients want `url + "/v1"`."""
        return f"http://{self.host}:{self.port}"

    # -- faults and records ----------------------------------------------------------------------------------
    def inject(self, fault: Fault | str, times: int = 1) -> None:
        """Apply `fault` to each of the next `times` requests (before the server-wide `fault`)."""
        parsed = Fault.parse(fault) if isinstance(fault, str) else fault
        self._queued.extend([parsed] * times)

    def reset(self) -> None:
        """Forget recorded requests and every fault."""
        self.requests.clear()
        self._queued.clear()
        self.fault = None

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded requests to the chat APIs (not the control or model-list endpoints)."""
        return [r for r in self.requests if r.path in _APIS]

    # -- request handling ------------------------------------------------------------------------------------
    def _pick_fault(self, headers: dict[str, str], body: Any) -> Fault | None:
        spec = headers.get("x-fault")
        if spec is None and isinstance(body, dict):
            meta = body.get("metadata")
            spec = meta.get("fault") if isinstance(meta, dict) else None
        if spec is not None:
            return Fault.parse(str(spec))
        if self._queued:
            return self._queued.popleft()
        return self.fault

    def _handle(self, conn: _Connection, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw
        api = _APIS.get(path)
        if api is None and path.startswith("/_control/"):
            conn.write(self._other(method, path, body))  # not recorded: it is the test talking, not a client
            return
        record = RecordedRequest(next(self._seq), method, path, headers, body)
        self.requests.append(record)
        conn.current = record
        if api is None:
            conn.write(self._other(method, path, body))
            record.completed = True
            return
        if method != "POST":
            conn.write(_full(405, api.error_body(405, f"{method} not allowed on {path}")))
            record.completed = True
            return
        try:
            fault = record.fault = self._pick_fault(headers, body)
        except ValueError as exc:
            conn.write(_full(400, api.error_body(400, str(exc))))
            record.completed = True
            return
        if fault is not None and fault.reset:
            conn.reset()
            return
        if fault is not None and fault.hang:
            conn.busy = True  # answers nothing more on this connection; the client must give up
            return
        status, events, payload, extra = self._answer(api, headers, body, record.seq, fault)
        if fault is not None and (fault.is_async or (events is not None and fault.die_after is not None)):
            conn.busy = True
            conn.task = asyncio.get_running_loop().create_task(
                self._write_slowly(conn, record, fault, status, events, payload, extra)
            )
            conn.task.add_done_callback(lambda _t: conn.finish_async())
            return
        if events is None:
            conn.write(_full(status, payload, extra))  # type: ignore[arg-type]
        else:
            conn.write(
                _head(200, "text/event-stream", None, _SSE_HEADERS) + _chunk(b"".join(events)) + _LAST_CHUNK
            )
        record.completed = True

    def _answer(
        self,
        api: OpenAIChat | AnthropicMessages,
        headers: dict[str, str],
        body: Any,
        seq: int,
        fault: Fault | None,
    ) -> tuple[int, list[bytes] | None, bytes | None, tuple[tuple[str, str], ...]]:
        """(status, SSE events or None, JSON body or None, extra headers) for one chat request."""
        if self.api_key is not None:
            given = headers.get("x-api-key") if api is _ANTHROPIC else headers.get("authorization", "")[7:]
            if given != self.api_key:
                return 401, None, api.error_body(401, "invalid API key"), ()
        if api is _ANTHROPIC and "anthropic-version" not in headers:
            return 400, None, api.error_body(400, "anthropic-version: header is required"), ()
        if fault is not None and fault.status is not None:
            extra = () if fault.retry_after is None else (("retry-after", f"{fault.retry_after:g}"),)
            return fault.status, None, api.error_body(fault.status, f"injected fault: {fault}"), extra
        streaming = isinstance(body, dict) and bool(body.get("stream"))
        if fault is not None and fault.garbage:
            if streaming:
                return 200, api.garbage_stream(), None, ()
            return 200, None, b"<html><body>502 proxy error</body></html>", ()
        try:
            answer, n = api.answer(body, self.reply)
        except BadRequest as exc:
            return 400, None, api.error_body(400, str(exc)), ()
        if streaming:
            return 200, api.stream(body, answer, n, seq), None, ()
        return 200, None, api.complete(body, answer, n, seq), ()

    async def _write_slowly(
        self,
        conn: _Connection,
        record: RecordedRequest,
        fault: Fault,
        status: int,
        events: list[bytes] | None,
        payload: bytes | None,
        extra: tuple[tuple[str, str], ...],
    ) -> None:
        if fault.first_byte_delay:
            await asyncio.sleep(fault.first_byte_delay)
        if events is None:
            conn.write(_full(status, payload or b"", extra))
            record.completed = True
            return
        conn.write(_head(200, "text/event-stream", None, _SSE_HEADERS))
        for i, event in enumerate(events):
            if fault.die_after is not None and i >= fault.die_after:
                conn.reset()
                return
            if i and fault.chunk_delay:
                await asyncio.sleep(fault.chunk_delay)
            conn.write(_chunk(event))
        conn.write(_LAST_CHUNK)
        record.completed = True

    def _other(self, method: str, path: str, body: Any) -> bytes:
        """Model list, health and the control API."""
        if path in ("/v1/models", "/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "pointsman-test"} for m in self.models
            ]
            return _full(200, orjson.dumps({"object": "list", "data": data}))
        if path == "/health":
            return _full(200, b'{"status":"ok"}')
        if path == "/_control/requests":
            return _full(200, orjson.dumps([r.to_json() for r in self.requests]))
        if path == "/_control/reset" and method == "POST":
            self.reset()
            return _full(200, b'{"ok":true}')
        if path == "/_control/fault" and method == "POST" and isinstance(body, dict):
            try:
                spec, times = body.get("fault"), body.get("times")
                if times is None:
                    self.fault = None if spec is None else Fault.parse(spec)
                else:
                    self.inject(spec, int(times))
            except (ValueError, TypeError) as exc:
                return _full(400, OpenAIChat.error_body(400, str(exc)))
            return _full(200, b'{"ok":true}')
        return _full(404, OpenAIChat.error_body(404, f"no route for {method} {path}"))


@contextlib.contextmanager
def spawn_upstream(*args: str) -> Iterator[str]:
    """Run an upstream in a separate process (its own core, as in production); yields its base URL.

    `args` are extra command-line options, e.g. `spawn_upstream("--reply", "hi")`.
    """
    cmd = [sys.executable, "-m", "pointsman.testing.upstreams", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""  # "listening on http://127.0.0.1:PORT"
        if not line.startswith("listening on "):
            raise RuntimeError(f"upstream process did not start (exit code {proc.poll()}): {line!r}")
        yield line.split()[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pointsman.testing.upstreams",
        description="A local OpenAI + Anthropic upstream with injectable faults (for tests and benchmarks).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port (printed on start)")
    parser.add_argument("--reply", default=None, help="fixed answer text (default: 'You said: <prompt>')")
    parser.add_argument("--api-key", default=os.environ.get("UPSTREAM_API_KEY"), help="require this key")
    parser.add_argument(
        "--fault", default=None, help="fault for every request, e.g. 'status=500' or 'chunk_delay=0.1'"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def serve() -> None:
        server = UpstreamServer(
            host=args.host, port=args.port, reply=args.reply, api_key=args.api_key, fault=args.fault
        )
        await server.start()
        print(f"listening on {server.url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()

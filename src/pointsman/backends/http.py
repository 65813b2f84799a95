"""What the HTTP backends share: one connection pool per backend (`backends/h1.py`), the API key from the
environment, upstream errors mapped to `BackendError`, and SSE reading.

The client is pointsman's own lean HTTP/1.1 pool rather than aiohttp or httpx: against the same local upstream
it spent a fraction of their CPU per call and had the lowest p50 at concurrency 1 (benchmarks/http_clients.py
measures all three side by side).
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from pointsman.backends.base import Backend, BackendError, ChatBody, ChatChunk
from pointsman.backends.h1 import Pool, Response, TransportError
from pointsman.config.backends import BackendConfig

# Upstream statuses that mean "the request itself is wrong": passed on to the client, never retried.
_REQUEST_ERRORS = {400: "invalid_request", 413: "request_too_large", 422: "invalid_request"}
_CONTEXT_HINTS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "too many tokens",
)


MAX_SSE_LINE = 1 << 20  # a streamed event (e.g. a big tool-call chunk) may be this large


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(raw: bytes) -> str:
    """The message of an OpenAI- or Anthropic-style error body, else the start of the raw body."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip() or "(empty body)"
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(data, dict) and data.get("message"):  # vLLM's {"object": "error", "message": ...}
        return str(data["message"])
    return raw[:300].decode("utf-8", "replace")


def upstream_error(backend: str, status: int, message: str, retry_after: float | None = None) -> BackendError:
    """An upstream's error answer as a BackendError with the status the gateway should give its client.

    429 stays 429 (with retry_after); a 4xx about the request keeps its status and is not retryable (a context
    length error gets code `context_length_exceeded`, which the dispatcher falls back on); 401/403/404 mean
    this backend is misconfigured (502, not retryable); 5xx and the rest are the upstream's trouble (502,
    retryable).
    """
    text = f"{backend}: upstream answered {status}: {message}"
    if status == 429:
        return BackendError(text, status=429, code="rate_limited", retry_after=retry_after, backend=backend)
    if status in _REQUEST_ERRORS:
        low = message.lower()
        code = "context_length_exceeded" if any(h in low for h in _CONTEXT_HINTS) else _REQUEST_ERRORS[status]
        return BackendError(text, status=status, code=code, retryable=False, backend=backend)
    retryable = status >= 500 or status == 408
    return BackendError(
        text,
        status=502,
        code=f"upstream_{status}",
        retryable=retryable,
        retry_after=retry_after,
        backend=backend,
    )


def connection_error(backend: str, exc: TransportError) -> BackendError:
    """A transport failure (refused, reset, connect timeout, broken stream, not HTTP) as a retryable
    BackendError; its code is the transport's (connect_error, connect_timeout, connection_reset,
    stream_broken) or bad_response."""
    code = "bad_response" if exc.code == "bad_http" else exc.code
    return BackendError(f"{backend}: {exc}", status=502, code=code, retryable=True, backend=backend)


def bad_response(backend: str, what: str) -> BackendError:
    return BackendError(f"{backend}: upstream sent {what}", status=502, code="bad_response", backend=backend)


class HttpBackend(Backend):
    """A backend behind an HTTP API. Subclasses set `path`, `auth_headers()` and the protocol translation."""

    path = ""  # appended to base_url
    default_base_url: str | None = None

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        base = config.base_url or self.default_base_url
        if not base:
            raise ValueError(f"backend {config.name!r}: base_url is required for kind {config.kind!r}")
        self.url = base.rstrip("/") + self.path
        self._pool: Pool | None = None

    def auth_headers(self, key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def stream_batches(self, body: ChatBody) -> AsyncIterator[list[ChatChunk]]:
        raise NotImplementedError  # each protocol batches its own SSE events; `stream` flattens them

    async def stream(self, body: ChatBody) -> AsyncIterator[ChatChunk]:
        async for batch in self.stream_batches(body):
            for chunk in batch:
                yield chunk

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        if env is None:
            return None
        key = os.environ.get(env)
        if not key:
            raise BackendError(
                f"backend {self.name!r}: environment variable {env} (api_key_env) is not set",
                status=500,
                code="missing_api_key",
                retryable=False,
                backend=self.name,
            )
        return key

    async def start(self) -> None:
        if self._pool is not None:
            return
        headers = {"content-type": "application/json", "user-agent": "pointsman"}
        headers.update(self.auth_headers(self._api_key()))
        headers.update(self.config.headers)
        # The dispatcher enforces first-byte, idle and total deadlines for every kind; only the TCP connect
        # deadline lives here. The pool keeps as many idle connections as the dispatcher lets calls run.
        self._pool = Pool(
            self.url,
            headers,
            limit=self.config.max_concurrency,
            connect_timeout=self.config.timeouts.connect,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def post(self, payload: dict[str, Any]) -> Response:
        """Send the request; returns the response once its head arrived with a 2xx status."""
        if self._pool is None:
            await self.start()
        try:
            resp = await self._pool.post(orjson.dumps(payload))  # type: ignore[union-attr]
        except TransportError as exc:
            raise connection_error(self.name, exc) from None
        if resp.status >= 300:
            try:
                raw = await resp.read()
            except TransportError:
                raw = b""
            finally:
                resp.release()
            raise upstream_error(
                self.name, resp.status, error_message(raw), parse_retry_after(resp.headers.get("retry-after"))
            )
        encoding = resp.headers.get("content-encoding", "identity")
        if encoding != "identity":  # never asked for: the request sends no Accept-Encoding
            resp.close()
            raise bad_response(self.name, f"a body in content-encoding {encoding!r}")
        return resp

    async def read_json(self, resp: Response) -> dict[str, Any]:
        try:
            raw = await resp.read()
        except TransportError as exc:
            raise connection_error(self.name, exc) from None
        finally:
            resp.release()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise bad_response(self.name, f"a body that is not JSON: {raw[:120]!r}") from None
        if not isinstance(data, dict):
            raise bad_response(self.name, "a JSON body that is not an object")
        return data

    async def sse_data(self, resp: Response) -> AsyncIterator[list[bytes]]:
        """The `data:` payloads of an SSE response, a list per network read (not one iteration per event: a
        fast upstream delivers many events per read), until the body ends.

        The body is read to its end (not abandoned at `[DONE]`) so the connection goes back to the pool; if
        the caller stops early (client gone, error), the connection is closed instead.
        """
        complete = False
        rest = b""  # an incomplete last line, until the next block completes it
        try:
            async for block in resp.blocks():
                lines = (rest + block).split(b"\n") if rest else block.split(b"\n")
                rest = lines.pop()
                if len(rest) > MAX_SSE_LINE:
                    raise bad_response(self.name, f"an SSE line longer than {MAX_SSE_LINE} bytes")
                data = [line[5:].strip() for line in lines if line.startswith(b"data:")]
                if data:
                    yield data
            if rest.startswith(b"data:"):
                yield [rest[5:].strip()]
            complete = True
        except TransportError as exc:
            raise connection_error(self.name, exc) from None
        finally:
            if complete:
                resp.release()
            else:
                resp.close()

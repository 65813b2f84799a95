"""`POST /v1/chat/completions` as a bare ASGI endpoint (the hot path: no framework between it and the server).

Non-streaming: one JSON response. Streaming: SSE `data: {chunk}` events and `data: [DONE]`; if the upstream
dies after the first byte (no fallback is possible then), a final `data: {"error": ...}` event ends it.
A client disconnect cancels the handler, and with it the upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

import orjson

from pointsman.backends.base import BackendError, LastBatch
from pointsman.gateway.aggregate import AggregateRunner
from pointsman.gateway.cascade import CascadeTrace, response_chunks
from pointsman.gateway import answers
from pointsman.gateway.errors import APIError
from pointsman.gateway.request import parse_chat
from pointsman.gateway.service import Exchange, Gateway, new_request_id
from pointsman.guard import StreamRestorer, restore_response
from pointsman.guard.answer import StreamGuard

log = logging.getLogger("pointsman.gateway")

_JSON = (b"content-type", b"application/json")
_SSE = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"
_WANTED = frozenset(
    {
        b"authorization",
        b"content-length",
        b"x-request-id",
        b"x-client-request-id",
        b"traceparent",
        b"cache-control",
    }
)  # and the gateway's `header_names`
CLIENT_CLOSED = 499  # nginx's status for "the client went away"; only ever in logs and metrics


class ClientGone(Exception):
    pass


class ChatEndpoint:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.max_body = gateway.config.limits.max_body_bytes
        self.signal_headers = frozenset(h.encode("latin-1") for h in gateway.header_names)
        self.wanted = _WANTED | self.signal_headers
        self.answers = answers.build(gateway)  # None: no answer rules

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        gw = self.gateway
        ex = Exchange(new_request_id(), time.perf_counter(), time.time())
        headers = {k: v for k, v in scope["headers"] if k in self.wanted}  # the server lower-cases names
        ex.headers_in = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items() if k in self.signal_headers
        }
        watcher: asyncio.Task | None = None
        _trace(ex, headers)
        try:
            client = scope.get("client")
            await gw.admit(
                ex,
                headers.get(b"authorization", b"").decode("latin-1") or None,
                client[0] if client else None,
            )
            ex.request = parse_chat(await self._body(receive, headers))
            cache = gw.cache
            if cache is not None:
                hit = await cache.before_route(ex, headers.get(b"cache-control", b"").decode("latin-1"))
                if hit is not None:
                    return await self._cached(ex, hit, send)
            await gw.route(ex)
            if cache is not None:
                hit = await cache.after_route(ex)
                if hit is not None:
                    return await self._cached(ex, hit, send)
            # From here on the client may leave: watch for it and cancel this handler (and the upstream call).
            watcher = asyncio.create_task(_watch(receive, asyncio.current_task()))
            if ex.request.stream:
                await self._stream(ex, send)
            else:
                await self._complete(ex, send)
        except APIError as exc:
            ex.status, ex.error_code = exc.status, exc.code
            await _send_error(send, exc, ex)
        except ClientGone:
            ex.status, ex.error_code = CLIENT_CLOSED, "client_closed"
        except asyncio.CancelledError:
            if watcher is None or not watcher.done() or watcher.cancelled():
                raise  # not the client leaving: the server is stopping
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            ex.status, ex.error_code = CLIENT_CLOSED, "client_closed"
        except Exception as exc:  # a bug: the client gets a clean 500, the log gets the trace
            log.exception("request %s failed", ex.request_id)
            ex.status, ex.error_code = 500, "internal_error"
            await _send_error(
                send,
                APIError(
                    500,
                    f"Internal error ({type(exc).__name__}); request id {ex.request_id}",
                    code="internal_error",
                ),
                ex,
            )
        finally:
            if watcher is not None:
                watcher.cancel()
            gw.finish(ex)

    async def _body(self, receive: Any, headers: dict[bytes, bytes]) -> bytes:
        limit = self.max_body
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _complete(self, ex: Exchange, send: Any) -> None:
        gw, req = self.gateway, ex.request
        assert req is not None and ex.selection is not None and ex.view is not None
        red = ex.redacted
        runner = gw.cascades.get(ex.route)
        try:
            if runner is not None:
                ex.cascade = CascadeTrace()
                outcome = await runner.complete(
                    gw.dispatcher, req.body, ex.cascade, prompt_tokens=ex.view.prompt_tokens,
                    bodies=red.bodies() if red else None, selection=ex.selection,
                )  # fmt: skip
            else:
                outcome = await gw.dispatcher.complete(
                    ex.selection.ranking,
                    req.body,
                    prompt_tokens=ex.view.prompt_tokens,
                    bodies=red.bodies() if red else None,
                    spill=gw.spill(ex),
                )
        except BackendError as exc:
            raise gw.failure(ex, exc) from None
        ex.first_byte_s = time.perf_counter() - ex.started
        ex.served, ex.attempts = outcome.model, outcome.attempts
        if self.answers is not None:  # before restoring: the user's own redacted values are no leak
            outcome = await answers.check_complete(
                gw,
                self.answers,
                ex,
                outcome,
                body=req.body,
                prompt_tokens=ex.view.prompt_tokens,
                bodies=red.bodies() if red else None,
            )
            ex.served = outcome.model
        response = outcome.response
        response["model"] = outcome.model
        ex.usage = response.get("usage")
        if red is not None and red.restore and outcome.model in red.backends:
            restore_response(response, red.redaction)
        if gw.log.log_content or not ex.usage:  # no usage: the spend is estimated from the answer
            ex.answer = _answer_text(response)
        body = orjson.dumps(response)
        headers = [
            _JSON,
            (b"content-length", str(len(body)).encode()),
            *ex.headers(),
            *answers.tag_headers(ex),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if gw.cache is not None:
            await gw.cache.store(ex, response)

    async def _cached(self, ex: Exchange, hit: Any, send: Any) -> None:
        """A cached answer (pointsman.cache.service.Hit), as JSON or as the SSE events of a stream."""
        from pointsman.cache import replay
        from pointsman.policy.profiles import Selection

        req = ex.request
        assert req is not None
        ex.served = hit.entry.model
        ex.selection = Selection([hit.entry.model], [], 1.0, f"cache hit ({hit.level})")
        completion_id = "chatcmpl-" + ex.request_id[4:]
        if req.stream:
            body = replay.sse(hit.entry.response, completion_id, req.include_usage)
            headers = [*_SSE, *ex.headers()]
        else:
            body = orjson.dumps(replay.completion(hit.entry.response, completion_id))
            headers = [_JSON, (b"content-length", str(len(body)).encode()), *ex.headers()]
        ex.first_byte_s = time.perf_counter() - ex.started
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if self.gateway.log.log_content:
            ex.answer = _answer_text(hit.entry.response)

    async def _stream(self, ex: Exchange, send: Any) -> None:
        gw, req = self.gateway, ex.request
        assert req is not None and ex.selection is not None and ex.view is not None
        runner = gw.cascades.get(ex.route)
        if isinstance(runner, AggregateRunner) and not runner.fan_out(req.body, ex.selection):
            runner = None  # no vote for this request: it streams as on any profile
        if runner is not None and not runner.streams_first_step:
            return await self._stream_accepted(ex, send, runner)
        ranking = ex.selection.ranking
        if runner is not None:  # `stream: first_step`: the first step streams, no escalation
            ex.cascade = CascadeTrace(streamed_first_step=True)
            ranking = [*runner.policy.models, *(m for m in ranking if m not in runner.policy.models)]
        body = req.body
        if not req.include_usage:  # ask for usage anyway (tokens, cost); the client will not see it
            body = {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}
        red = ex.redacted
        bodies = None
        if red is not None:
            bodies = dict.fromkeys(red.backends, {**red.body, "stream_options": body["stream_options"]})
        try:
            outcome = await gw.dispatcher.stream(
                ranking,
                body,
                prompt_tokens=ex.view.prompt_tokens,
                bodies=bodies,
                spill=gw.spill(ex),
            )
        except BackendError as exc:
            raise gw.failure(ex, exc) from None
        ex.first_byte_s = time.perf_counter() - ex.started
        ex.served, ex.attempts = outcome.model, outcome.attempts
        start: dict | None = {"type": "http.response.start", "status": 200, "headers": [*_SSE, *ex.headers()]}
        texts: list[str] | None = [] if gw.log.log_content else None
        restorer = None
        if red is not None and red.restore and outcome.model in red.backends:
            restorer = StreamRestorer(red.redaction)
        chunks = outcome.chunks
        assert chunks is not None
        held = answers.stream_guard(self.answers, ex) if self.answers is not None else None
        events = _Events(outcome.model, req.include_usage, ex, texts, restorer, held)
        ended = False  # the client has the whole stream, [DONE] included

        async def write(data: bytes, more: bool) -> None:
            """A body write, the head right before the first one (the client wakes once for both)."""
            nonlocal start
            if start is not None:
                await send(start)
                start = None
            await send({"type": "http.response.body", "body": data, "more_body": more})

        try:
            # A batch is what the upstream delivered in one network read: one write each, [DONE] with the last.
            async with contextlib.aclosing(chunks.batches()) as batches:  # type: ignore[attr-defined]
                async for batch in batches:
                    data = events.render(batch)
                    if isinstance(batch, LastBatch):
                        data += events.tail() + _DONE
                        ended = True
                    if data:
                        await write(data, not ended)
            if not ended:
                await write(events.tail() + _DONE, False)
            assembler = ex.cache.assembler if ex.cache is not None else None
            if assembler is not None and gw.cache is not None:
                await gw.cache.store(ex, assembler.response())
        except BackendError as exc:  # died mid-stream: no fallback now; end the stream cleanly
            if ended:  # after its end marker, while the rest of the upstream body was read: nothing lost
                return
            ex.error_code = getattr(exc, "code", "stream_error") or "stream_error"
            gw.metrics.stream_errors.labels(outcome.model).inc()
            error = gw.stream_failure(ex, outcome.model, exc)
            await write(b"data: " + error.body() + b"\n\n", False)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:  # on a disconnect too: closes the upstream stream now, not at GC
                await aclose()
            if texts is not None:
                ex.answer = "".join(texts)

    async def _stream_accepted(self, ex: Exchange, send: Any, runner: Any) -> None:
        """A cascade for a streaming client: the steps run non-streaming, the accepted answer is sent as a
        stream (its first token waits for the decision)."""
        gw, req = self.gateway, ex.request
        assert req is not None and ex.view is not None
        body = {k: v for k, v in req.body.items() if k not in ("stream", "stream_options")}
        red = ex.redacted
        bodies = None
        if red is not None:
            bodies = {m: {k: v for k, v in b.items() if k not in ("stream", "stream_options")}
                      for m, b in red.bodies().items()}  # fmt: skip
        ex.cascade = CascadeTrace()
        try:
            outcome = await runner.complete(
                gw.dispatcher,
                body,
                ex.cascade,
                prompt_tokens=ex.view.prompt_tokens,
                bodies=bodies,
                selection=ex.selection,
            )
        except BackendError as exc:
            raise gw.failure(ex, exc) from None
        ex.first_byte_s = time.perf_counter() - ex.started
        ex.served, ex.attempts = outcome.model, outcome.attempts
        response = outcome.response
        ex.usage = response.get("usage")
        if red is not None and red.restore and outcome.model in red.backends:
            restore_response(response, red.redaction)
        if gw.log.log_content:
            ex.answer = _answer_text(response)
        events = b"".join(
            b"data: " + orjson.dumps(c) + b"\n\n"
            for c in response_chunks(response, outcome.model, req.include_usage)
        )
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *ex.headers()]})
        await send({"type": "http.response.body", "body": events + _DONE, "more_body": False})


class _Events:
    """Chunks as the client's SSE events: `model` names the model that answered, usage only if asked for,
    redacted values restored."""

    __slots__ = ("client_wants_usage", "ex", "held", "model", "restorer", "texts")

    def __init__(
        self,
        model: str,
        client_wants_usage: bool,
        ex: Exchange,
        texts: list[str] | None,
        restorer: StreamRestorer | None,
        held: StreamGuard | None = None,
    ) -> None:
        self.model, self.client_wants_usage, self.ex = model, client_wants_usage, ex
        self.texts, self.restorer, self.held = texts, restorer, held

    def render(self, chunks: list[dict]) -> bytes:
        """The events of `chunks`, joined (b"" when none is for the client)."""
        if self.held is not None:  # the answer guard re-cuts the content it held back and checked
            chunks = [c for chunk in chunks for c in self.held.push(chunk)]
        out = []
        for chunk in chunks:
            if self.restorer is not None:
                self.restorer.chunk(chunk)
            event = _render(chunk, self.model, self.client_wants_usage, self.ex, self.texts)
            if event is not None:
                out.append(event)
        return b"".join(out)

    def tail(self) -> bytes:
        """What the answer guard and the restorer held back at the very end (no finish_reason came)."""
        out = self.render(self.held.end()) if self.held is not None else b""
        tail = self.restorer.tail() if self.restorer is not None else None
        if tail is None:
            return out
        return out + (_render(tail, self.model, self.client_wants_usage, self.ex, self.texts) or b"")


def _render(
    chunk: dict, model: str, client_wants_usage: bool, ex: Exchange, texts: list[str] | None
) -> bytes | None:
    """One SSE event for a chunk (None: a usage-only chunk the client did not ask for)."""
    if ex.cache is not None and ex.cache.assembler is not None:
        ex.cache.assembler.add(chunk)
    usage = chunk.get("usage")
    if usage:
        ex.usage = usage
    if not client_wants_usage:
        if usage and not chunk.get("choices"):
            return None
        chunk.pop("usage", None)
    chunk["model"] = model
    if texts is not None:
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                texts.append(content)
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _watch(receive: Any, handler: asyncio.Task | None) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if handler is not None:
                handler.cancel()
            return


async def _send_error(send: Any, exc: APIError, ex: Exchange) -> None:
    body = exc.body()
    headers = [
        _JSON,
        (b"content-length", str(len(body)).encode()),
        *ex.headers(),
        *((k.encode(), v.encode()) for k, v in exc.headers.items()),
    ]
    try:
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    except Exception:  # the response had already started (or the client is gone): nothing more to say
        pass


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces: safe to echo in a header


def _trace(ex: Exchange, headers: dict[bytes, bytes]) -> None:
    """The client's own request id and W3C trace context, when well-formed (else ignored)."""
    cid = (headers.get(b"x-request-id") or headers.get(b"x-client-request-id") or b"").decode("latin-1")
    if cid and _CLIENT_ID.match(cid):
        ex.client_request_id = cid
    tp = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
    if tp and _TRACEPARENT.match(tp):
        ex.traceparent = tp


def _too_large(size: int, limit: int) -> APIError:
    return APIError(
        413,
        f"The request body is {size} bytes; the limit is {limit} bytes (limits.max_body_bytes)",
        code="request_too_large",
    )


def _answer_text(response: dict) -> str | None:
    try:
        return response["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None

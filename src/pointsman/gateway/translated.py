"""Other APIs in front of the chat endpoint: a `Protocol` translates a request into the chat-completions shape
and what the chat endpoint answers back into its own, so every API gets the same routing, guards, fallback,
metrics and decision log (`ChatEndpoint` runs unchanged, with a translating `receive` and `send`).

Used by /v1/messages (gateway/messages.py), /v1/responses (gateway/responses.py) and /v1/completions
(gateway/completions.py). A translation costs a JSON parse and dump each way (microseconds).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from pointsman.gateway.chat import ChatEndpoint, ClientGone
from pointsman.gateway.errors import APIError, bad_request


class StreamTranslator(ABC):
    """chat.completion.chunk SSE events in, the protocol's events out. `feed` takes what the chat endpoint
    wrote (whole events, but a split one is buffered)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        *events, self.buffer = self.buffer.split(b"\n\n")
        out = []
        for raw in events:
            if not raw.startswith(b"data: "):
                continue
            payload = raw[6:]
            if payload == b"[DONE]":
                if not self.ended:
                    self.ended = True
                    out.append(self.end())
                continue
            chunk = orjson.loads(payload)
            if "error" in chunk and "choices" not in chunk:  # the upstream died mid-stream
                self.ended = True
                out.append(self.error((chunk.get("error") or {}).get("message") or "upstream stream failed"))
                continue
            out.append(self.chunk(chunk))
        return b"".join(out)

    @abstractmethod
    def chunk(self, chunk: dict[str, Any]) -> bytes: ...

    @abstractmethod
    def end(self) -> bytes:
        """The closing events, after the last chunk."""

    @abstractmethod
    def error(self, message: str) -> bytes:
        """The event that ends a stream whose upstream failed."""


class Protocol(ABC):
    @abstractmethod
    def to_chat(self, body: dict[str, Any], headers: dict[bytes, bytes]) -> dict[str, Any]:
        """The request as a chat-completions body; APIError (a 400 naming the field) when it is wrong."""

    @abstractmethod
    def from_chat(self, response: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion as this protocol's answer."""

    @abstractmethod
    def stream(self) -> StreamTranslator: ...

    def error_body(self, status: int, message: str, openai_body: bytes) -> bytes:
        """The error as this protocol sends it (default: the OpenAI-style body as is)."""
        return openai_body

    def headers(self, raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The request headers for the chat endpoint (default: all but the now wrong content-length)."""
        return [(k, v) for k, v in raw if k != b"content-length"]


class TranslatedEndpoint:
    """An ASGI app: read and translate the request, run the chat endpoint, translate what it sends."""

    def __init__(self, chat: ChatEndpoint, protocol: Protocol) -> None:
        self.chat, self.protocol = chat, protocol

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            headers = dict(scope["headers"])
            body = self.protocol.to_chat(json_object(await self.chat._body(receive, headers)), headers)
        except ClientGone:
            return
        except APIError as exc:
            error = self.protocol.error_body(exc.status, exc.message, exc.body())
            head = [(b"content-type", b"application/json"), (b"content-length", str(len(error)).encode())]
            head += [(k.encode(), v.encode()) for k, v in exc.headers.items()]
            await send({"type": "http.response.start", "status": exc.status, "headers": head})
            await send({"type": "http.response.body", "body": error})
            return
        translated = orjson.dumps(body)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": translated, "more_body": False}
            return await receive()  # the chat endpoint watches for a disconnect

        scope = {**scope, "headers": self.protocol.headers(scope["headers"])}
        await self.chat(scope, replay, Replies(send, self.protocol))


class Replies:
    """The chat endpoint's `send`, translating: a JSON body whole, an SSE stream event by event."""

    def __init__(self, send: Any, protocol: Protocol) -> None:
        self.send, self.protocol = send, protocol
        self.start: dict | None = None
        self.stream: StreamTranslator | None = None

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            if dict(message["headers"]).get(b"content-type") == b"text/event-stream":
                self.stream = self.protocol.stream()
                await self.send(message)
            else:
                self.start = message  # its content-length changes with the body
            return
        body = message.get("body", b"")
        if self.stream is not None:
            more = message.get("more_body", False)
            await self.send({"type": "http.response.body", "body": self.stream.feed(body), "more_body": more})
            return
        assert self.start is not None
        status = self.start["status"]
        data = orjson.loads(body)
        if status == 200:
            out = orjson.dumps(self.protocol.from_chat(data))
        else:
            out = self.protocol.error_body(status, (data.get("error") or {}).get("message", "error"), body)
        headers = [(k, v) for k, v in self.start["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(out)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": out})


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object", code="invalid_json")
    return body


def need(ok: bool, where: str, what: str) -> None:
    """A 400 naming `where` unless `ok`."""
    if not ok:
        raise bad_request(f"{where}: {what}", param=where, code="invalid_type")

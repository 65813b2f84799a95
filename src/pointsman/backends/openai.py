"""`kind: openai`: any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, OpenAI,
Azure).

Bodies pass through untouched apart from `model` (set by the dispatcher) and the `stream` flag, so every field
a client sends (tools, response_format, n, stop, stream_options, ...) reaches the upstream as sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import orjson

from pointsman.backends.base import BackendError, ChatBody, ChatChunk, ChatResponse, LastBatch
from pointsman.backends.http import HttpBackend, bad_response, error_message


class OpenAIBackend(HttpBackend):
    path = "/chat/completions"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        if key is None:
            return {}
        if ".azure.com" in self.url:  # Azure OpenAI takes keys in its own header
            return {"api-key": key}
        return {"authorization": f"Bearer {key}"}

    async def complete(self, body: ChatBody) -> ChatResponse:
        if body.get("stream"):
            body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        data = await self.read_json(await self.post(body))
        if not isinstance(data.get("choices"), list):
            raise bad_response(self.name, f"a body without 'choices': {error_message(orjson.dumps(data))}")
        return data

    async def stream_batches(self, body: ChatBody) -> AsyncIterator[list[ChatChunk]]:
        if not body.get("stream"):
            body = {**body, "stream": True}
        done = False
        async with aclosing(self.sse_data(await self.post(body))) as blocks:
            async for events in blocks:
                if done:
                    continue  # read to the end of the body so the connection is reused
                batch: list[ChatChunk] = []
                for data in events:
                    if data == b"[DONE]":
                        done = True
                        break
                    try:
                        chunk = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        error = bad_response(self.name, f"an SSE event that is not JSON: {data[:120]!r}")
                    else:
                        if "error" not in chunk and chunk.get("object") != "error":
                            batch.append(chunk)
                            continue
                        error = BackendError(
                            f"{self.name}: upstream sent an error mid-stream: {error_message(data)}",
                            code="upstream_stream_error",
                            backend=self.name,
                        )
                    if batch:  # what came before the bad event is delivered first
                        yield batch
                    raise error
                if batch:
                    yield LastBatch(batch) if done else batch
        if not done:
            raise BackendError(
                f"{self.name}: the stream ended before [DONE]", code="stream_broken", backend=self.name
            )

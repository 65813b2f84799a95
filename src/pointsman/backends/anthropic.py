"""`kind: anthropic`: the Anthropic Messages API, spoken to in OpenAI shape (see anthropic_translate)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import orjson

from pointsman.backends.anthropic_translate import StreamTranslator, from_anthropic, to_anthropic
from pointsman.backends.base import BackendError, ChatBody, ChatChunk, ChatResponse, LastBatch
from pointsman.backends.http import HttpBackend, bad_response

API_VERSION = "2023-06-01"


class AnthropicBackend(HttpBackend):
    path = "/messages"
    default_base_url = "https://api.anthropic.com/v1"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if key is not None:
            headers["x-api-key"] = key
        return headers

    def _translate(self, body: ChatBody, stream: bool) -> dict:
        try:
            return to_anthropic(body, stream=stream)
        except BackendError as err:
            err.backend = self.name
            err.message = f"{self.name}: {err.message}"
            raise

    async def complete(self, body: ChatBody) -> ChatResponse:
        data = await self.read_json(await self.post(self._translate(body, stream=False)))
        try:
            return from_anthropic(data)
        except BackendError as err:
            raise bad_response(self.name, err.message) from None

    async def stream_batches(self, body: ChatBody) -> AsyncIterator[list[ChatChunk]]:
        resp = await self.post(self._translate(body, stream=True))
        translator = StreamTranslator(bool((body.get("stream_options") or {}).get("include_usage")))
        async with aclosing(self.sse_data(resp)) as blocks:
            async for events in blocks:
                batch: list[ChatChunk] = []
                for data in events:
                    if translator.done:
                        break  # read to the end of the body so the connection is reused
                    try:
                        batch.extend(translator.feed(orjson.loads(data)))
                    except orjson.JSONDecodeError:
                        error = bad_response(self.name, f"an SSE event that is not JSON: {data[:120]!r}")
                    except BackendError as err:
                        err.backend = self.name
                        err.message = f"{self.name}: {err.message}"
                        error = err
                    else:
                        continue
                    if batch:  # what came before the bad event is delivered first
                        yield batch
                    raise error
                if batch:
                    yield LastBatch(batch) if translator.done else batch
        if not translator.done:
            raise BackendError(
                f"{self.name}: the stream ended before message_stop", code="stream_broken", backend=self.name
            )

"""`kind: replay`: answers known prompts with the response a real model gave, and its real token counts.

The recordings come from routing data (RouteProfile: 600 prompts x 8 models, via
`pointsman.data.routeprofile.load_recorded_responses`). `model` (or `name`) picks the recorded model; the last
user message is matched on its normalised text (`normalize_prompt`). Usage is the recorded token counts, so
the cost the gateway computes from it is the real cost of that call, and a whole routing policy can be run
through the real gateway offline. An unknown prompt is a non-retryable 404 with code `replay_miss` (the
dispatcher then tries the next model). Streams replay the text a few words per chunk; `replay_tokens_per_s`
paces them (the data records token counts, not timings, so pacing is off by default)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from pointsman.backends.base import Backend, BackendError, ChatBody, ChatChunk, ChatResponse, LastBatch
from pointsman.config.backends import BackendConfig
from pointsman.data.routeprofile import RecordedCall, RecordedResponses, load_recorded_responses

WORDS_PER_CHUNK = 4
_PIECE = re.compile(rf"(?:\s*\S+){{1,{WORDS_PER_CHUNK}}}\s*")


@lru_cache(maxsize=4)
def _recordings(path: str) -> RecordedResponses:
    """One copy per file, shared by every replay backend reading it (8 models of one file, say)."""
    return load_recorded_responses(path)


def _last_user_text(body: ChatBody) -> str | None:
    for message in reversed(body.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else None
    return None


class ReplayBackend(Backend):
    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self._data: RecordedResponses | None = None
        self._ids = itertools.count(1)

    async def start(self) -> None:
        if self._data is not None:
            return
        data = await asyncio.to_thread(_recordings, str(self.config.replay_data))
        model = self.config.upstream_model
        if model not in data.models:
            raise ValueError(
                f"backend {self.name!r}: model {model!r} has no recordings in {data.source}; "
                f"recorded models: {', '.join(data.models)}"
            )
        self._data = data

    async def ready(self) -> bool:
        return self._data is not None

    async def _lookup(self, body: ChatBody) -> RecordedCall:
        if self._data is None:
            await self.start()
        prompt = _last_user_text(body)
        key = (prompt or "", self.config.upstream_model)
        if prompt is None or key not in self._data:  # type: ignore[operator]
            raise BackendError(
                f"{self.name}: no recorded response of {self.config.upstream_model} for this prompt "
                "(replay matches the last user message's normalised text)",
                status=404,
                code="replay_miss",
                retryable=False,
                backend=self.name,
            )
        return self._data[key]  # type: ignore[index]

    def _usage(self, call: RecordedCall) -> dict[str, int]:
        return {
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "total_tokens": call.prompt_tokens + call.completion_tokens,
        }

    async def complete(self, body: ChatBody) -> ChatResponse:
        call = await self._lookup(body)
        if self.config.replay_tokens_per_s:
            await asyncio.sleep(call.completion_tokens / self.config.replay_tokens_per_s)
        return {
            "id": f"chatcmpl-replay-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.config.upstream_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": call.response},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(call),
        }

    async def stream_batches(self, body: ChatBody) -> AsyncIterator[list[ChatChunk]]:
        if self.config.replay_tokens_per_s:  # paced: each chunk when it is due
            async for chunk in self.stream(body):
                yield [chunk]
        else:  # all at once, as a fast upstream delivers them in one read
            yield LastBatch([chunk async for chunk in self.stream(body)])

    async def stream(self, body: ChatBody) -> AsyncIterator[ChatChunk]:
        call = await self._lookup(body)
        head = {
            "id": f"chatcmpl-replay-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.config.upstream_model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> ChatChunk:
            return {
                **head,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }

        pieces = _PIECE.findall(call.response) or [call.response]
        pause = 0.0
        if self.config.replay_tokens_per_s:
            pause = call.completion_tokens / self.config.replay_tokens_per_s / len(pieces)
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces:
            if pause:
                await asyncio.sleep(pause)
            yield chunk({"content": piece})
        yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**head, "choices": [], "usage": self._usage(call)}

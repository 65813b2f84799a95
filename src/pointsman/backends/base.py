"""The Backend contract: one model behind some protocol, spoken to in OpenAI chat-completions shape.

Requests and responses are OpenAI chat-completions JSON objects (dicts straight from/to orjson): the gateway
passes client fields through faithfully, so it must not drop what it does not model. Each backend translates
to its own protocol (Anthropic Messages, llama.cpp in-process, recorded replays) and back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from pointsman.config.backends import BackendConfig

ChatBody = dict[str, Any]  # an OpenAI /v1/chat/completions request body
ChatResponse = dict[str, Any]  # an OpenAI chat.completion object
ChatChunk = dict[str, Any]  # an OpenAI chat.completion.chunk object


class LastBatch(list):
    """A batch of `Backend.stream_batches` that ends the stream: the protocol's end marker (`data: [DONE]`,
    `message_stop`) came in the same read, so nothing follows it and the gateway can end its response with
    these chunks (one write less)."""


class BackendError(Exception):
    """A failed backend call.

    `retryable`: the same request may succeed if sent again (5xx, 429, timeouts, resets), so the dispatcher
    may retry it or fall back to the next model; a 4xx about the request itself is not retryable.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        code: str = "backend_error",
        retryable: bool = True,
        retry_after: float | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.backend = backend


class Backend(ABC):
    """One configured model. Created from its config; `start()` before use, `close()` at shutdown."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:
        """Open pools / load weights. Default: nothing to do."""

    async def close(self) -> None:
        """Release connections and memory. Default: nothing to do."""

    @abstractmethod
    async def complete(self, body: ChatBody) -> ChatResponse:
        """One non-streaming completion. Raises BackendError."""

    @abstractmethod
    def stream(self, body: ChatBody) -> AsyncIterator[ChatChunk]:
        """Streamed completion chunks (an async generator). Raises BackendError, before or mid-stream."""

    async def stream_batches(self, body: ChatBody) -> AsyncIterator[list[ChatChunk]]:
        """`stream`'s chunks in non-empty lists of those ready together (what an HTTP upstream delivered in one
        network read), so the gateway writes each list in one go; a `LastBatch` ends the stream. Default: one
        chunk per list; the HTTP backends override it with real batches."""
        async for chunk in self.stream(body):
            yield [chunk]

    async def ready(self) -> bool:
        """Whether the backend can serve now (for /ready). Default: yes."""
        return True

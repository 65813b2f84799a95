"""Embedding backends: OpenAI-compatible `POST {base_url}/embeddings` (vLLM, llama.cpp server, Ollama, TEI's
OpenAI route, OpenAI, Azure), each with its own circuit breaker; `EmbeddingDispatcher` tries a ranking in order
(fallback on any failure, skipping open breakers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pointsman.backends.base import BackendError
from pointsman.backends.breaker import CircuitBreaker
from pointsman.backends.dispatch import AllBackendsFailed, Attempt
from pointsman.backends.openai import OpenAIBackend
from pointsman.config.backends import BackendConfig

KINDS = frozenset({"openai"})  # the backend kinds that can serve /embeddings


class EmbeddingBackend(OpenAIBackend):
    path = "/embeddings"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.breaker = CircuitBreaker(config.breaker.failures, config.breaker.cooldown)

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """One upstream call within the backend's total timeout. Raises BackendError."""
        try:
            async with asyncio.timeout(self.config.timeouts.total):
                data = await self.read_json(await self.post({**body, "model": self.config.upstream_model}))
        except TimeoutError:
            raise BackendError(f"{self.name}: no answer in {self.config.timeouts.total:g} s", code="timeout",
                               status=504, backend=self.name) from None  # fmt: skip
        items = data.get("data")
        if not isinstance(items, list) or len(items) != _count(body.get("input")):
            raise BackendError(f"{self.name}: the answer does not hold one embedding per input", code="bad_response",
                               backend=self.name)  # fmt: skip
        return data


def _count(inputs: Any) -> int:
    return 1 if isinstance(inputs, str) else len(inputs) if isinstance(inputs, list) else 0


@dataclass
class Embedded:
    model: str  # the backend that answered
    data: dict[str, Any]
    attempts: list[Attempt]


class EmbeddingDispatcher:
    def __init__(self, configs: Sequence[BackendConfig]) -> None:
        self.backends: dict[str, EmbeddingBackend] = {
            c.name: EmbeddingBackend(c) for c in configs if c.kind in KINDS
        }

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self.backends.values()))

    async def embed(
        self, ranking: Sequence[str], body: dict[str, Any], bodies: Mapping[str, dict] | None = None
    ) -> Embedded:
        """The first backend of `ranking` that answers; AllBackendsFailed with every attempt otherwise."""
        attempts: list[Attempt] = []
        last: BackendError | None = None
        for name in ranking:
            backend = self.backends.get(name)
            if backend is None:
                attempts.append(Attempt(name, "skipped", "not_an_embedding_backend", "no /embeddings here"))
                continue
            if not backend.breaker.allow():
                attempts.append(Attempt(name, "skipped", "breaker_open", "circuit breaker open"))
                continue
            started = time.perf_counter()
            try:
                data = await backend.embed((bodies or {}).get(name, body))
            except BackendError as exc:
                attempts.append(Attempt(name, "error", exc.code, exc.message, time.perf_counter() - started))
                last = exc
                if not exc.retryable:  # about the request itself: the next backend would refuse it too
                    backend.breaker.release()
                    break
                backend.breaker.failure()
                continue
            except BaseException:
                backend.breaker.release()
                raise
            backend.breaker.success()
            attempts.append(Attempt(name, "ok", seconds=time.perf_counter() - started))
            return Embedded(name, data, attempts)
        message = last.message if last else "no embedding backend in the ranking could be tried"
        raise AllBackendsFailed(message, attempts=attempts, status=last.status if last else 503,
                                code=last.code if last else "no_backend",
                                backend=last.backend if last else None)  # fmt: skip

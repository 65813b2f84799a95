"""A cached answer rendered for the client: the chat.completion body, or the SSE events of a stream.

A streamed hit has the shape of a live stream: a role-and-content chunk per choice, a finish chunk per choice,
the usage chunk when the client asked for it (`stream_options.include_usage`), then `data: [DONE]`.
"""

from __future__ import annotations

import time

import orjson


def completion(response: dict, completion_id: str) -> dict:
    """The stored body under a fresh id and creation time (every answer a client receives is its own)."""
    return {**response, "id": completion_id, "created": int(time.time())}


def sse(response: dict, completion_id: str, include_usage: bool) -> bytes:
    """The events of a stream that delivers `response` (all of it: one content chunk per choice)."""
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": response.get("model"),
    }
    if response.get("system_fingerprint") is not None:
        base["system_fingerprint"] = response["system_fingerprint"]
    out = []
    choices = response.get("choices") or []
    for choice in choices:
        message = choice.get("message") or {}
        delta = {"role": message.get("role", "assistant"), "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
        out.append(
            {
                **base,
                "choices": [
                    {"index": choice.get("index", 0), "delta": delta, "logprobs": None, "finish_reason": None}
                ],
            }
        )
    for choice in choices:
        out.append(
            {
                **base,
                "choices": [
                    {
                        "index": choice.get("index", 0),
                        "delta": {},
                        "logprobs": None,
                        "finish_reason": choice.get("finish_reason") or "stop",
                    }
                ],
            }
        )
    if include_usage and response.get("usage"):
        out.append({**base, "choices": [], "usage": response["usage"]})
    return b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in out) + b"data: [DONE]\n\n"


class StreamAssembler:
    """Chunks of a live stream -> the chat.completion body they add up to (content, tool calls, finish
    reasons, usage), so a streamed answer can be stored and served to both kinds of request."""

    __slots__ = ("choices", "head", "usage")

    def __init__(self) -> None:
        self.head: dict = {}
        self.choices: dict[int, dict] = {}
        self.usage: dict | None = None

    def add(self, chunk: dict) -> None:
        if not self.head:
            self.head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for c in chunk.get("choices") or ():
            index = c.get("index", 0)
            choice = self.choices.setdefault(
                index, {"role": "assistant", "content": [], "finish": None, "tools": {}}
            )
            delta = c.get("delta") or {}
            if isinstance(delta.get("content"), str):
                choice["content"].append(delta["content"])
            for call in delta.get("tool_calls") or ():
                self._tool_delta(choice["tools"], call)
            if c.get("finish_reason"):
                choice["finish"] = c["finish_reason"]

    @staticmethod
    def _tool_delta(tools: dict, call: dict) -> None:
        slot = tools.setdefault(
            call.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            slot["id"] = call["id"]
        fn = call.get("function") or {}
        slot["function"]["name"] += fn.get("name") or ""
        slot["function"]["arguments"] += fn.get("arguments") or ""

    def response(self) -> dict:
        choices = []
        for index in sorted(self.choices):
            c = self.choices[index]
            message: dict = {"role": c["role"], "content": "".join(c["content"])}
            if c["tools"]:
                message["tool_calls"] = [c["tools"][i] for i in sorted(c["tools"])]
            choices.append(
                {"index": index, "message": message, "logprobs": None, "finish_reason": c["finish"]}
            )
        out = {**self.head, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            out["usage"] = self.usage
        return out

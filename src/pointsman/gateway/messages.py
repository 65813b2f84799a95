"""`POST /v1/messages`: Anthropic's Messages API in, routed exactly like chat completions.

The request is translated to the chat-completions shape and handed to `ChatEndpoint`, so rules, guards,
selection, fallback, metrics and the decision log are the same code; what it sends back is translated on the
way out: a chat.completion becomes a `message`, a chunk stream becomes Anthropic's event stream
(message_start, content_block_start / _delta / _stop, message_delta with usage, message_stop), an OpenAI error
body an Anthropic `{"type": "error", ...}` one. Backends of any kind serve it (an Anthropic backend's answers
go through backends/anthropic_translate.py and back).

Keys come as `x-api-key` (the Anthropic clients) or `Authorization: Bearer`. `anthropic-version` is optional;
when sent it must be a date (YYYY-MM-DD). Fields with no chat-completions counterpart (top_k, thinking,
cache_control) are dropped.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson

from pointsman.backends.anthropic_translate import FINISH_REASONS
from pointsman.gateway.chat import ChatEndpoint
from pointsman.gateway.errors import bad_request
from pointsman.gateway.translated import Protocol, StreamTranslator, TranslatedEndpoint, need

STOP_REASONS: dict[str, str] = {}  # finish_reason -> stop_reason: the backends' table read backwards
for _stop, _finish in FINISH_REASONS.items():
    STOP_REASONS.setdefault(_finish, _stop)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_VERSION = re.compile(rb"^\d{4}-\d{2}-\d{2}$")
_KEEP = ("temperature", "top_p", "stream")


class Messages(Protocol):
    def to_chat(self, body: dict[str, Any], headers: dict[bytes, bytes]) -> dict[str, Any]:
        version = headers.get(b"anthropic-version")
        if version is not None and not _VERSION.match(version.strip()):
            raise bad_request(
                f"anthropic-version: expected a date like 2023-06-01, got {version[:40].decode('latin-1')!r}",
                param="anthropic-version",
                code="invalid_header",
            )
        return to_chat(body)

    def from_chat(self, response: dict[str, Any]) -> dict[str, Any]:
        return to_message(response)

    def stream(self) -> StreamEvents:
        return StreamEvents()

    def error_body(self, status: int, message: str, openai_body: bytes) -> bytes:
        return error_body(status, message)

    def headers(self, raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """`x-api-key` becomes a bearer key (when no Authorization is sent)."""
        out = [(k, v) for k, v in raw if k not in (b"content-length", b"x-api-key")]
        key = next((v for k, v in raw if k == b"x-api-key"), None)
        if key is not None and not any(k == b"authorization" for k, _ in raw):
            out.append((b"authorization", b"Bearer " + key))
        return out


def messages_endpoint(chat: ChatEndpoint) -> TranslatedEndpoint:
    return TranslatedEndpoint(chat, Messages())


# -- requests: Anthropic -> chat completions ------------------------------------------------------------


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as a chat-completions one (OpenAI-style 400s name the bad field)."""
    max_tokens = body.get("max_tokens")
    need(isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 1,
          "max_tokens", "a positive integer is required")  # fmt: skip
    messages = body.get("messages")
    need(isinstance(messages, list) and bool(messages), "messages", "a non-empty list is required")
    out: dict[str, Any] = {"model": body.get("model", "auto"), "max_tokens": max_tokens}
    system = body.get("system")
    chat: list[dict[str, Any]] = []
    if system:
        chat.append({"role": "system", "content": _text(system, "system")})
    for i, message in enumerate(messages):
        chat.extend(_message(message, f"messages[{i}]"))
    out["messages"] = chat
    for name in _KEEP:
        if body.get(name) is not None:
            out[name] = body[name]
    stops = body.get("stop_sequences")
    if stops:
        need(
            isinstance(stops, list) and all(isinstance(s, str) for s in stops),
            "stop_sequences",
            "a list of strings",
        )
        out["stop"] = stops[:4]
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    if isinstance(user, str):
        out["user"] = user
    if body.get("tools"):
        out["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(body["tools"])]
        choice = body.get("tool_choice")
        if choice is not None:
            out.update(_tool_choice(choice))
    if out.get("stream") is True:
        out["stream_options"] = {"include_usage": True}  # usage goes in message_delta
    return out


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    need(isinstance(content, list), where, "a string or a list of text blocks")
    return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    need(isinstance(message, dict), where, "an object is required")
    role, content = message.get("role"), message.get("content")
    need(role in ("user", "assistant"), f"{where}.role", "'user' or 'assistant' (system goes in 'system')")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    need(isinstance(content, list), f"{where}.content", "a string or a list of content blocks")
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "tool_use" and role == "assistant":
            args = orjson.dumps(block.get("input") or {}).decode()
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": args}})  # fmt: skip
        elif kind == "tool_result" and role == "user":
            inner = block.get("content")
            text = _text(inner, f"{at}.content") if inner is not None else ""
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # no chat-completions counterpart
        else:
            raise bad_request(
                f"{at}.type: unsupported content block {kind!r}", param=f"{at}.type", code="invalid_value"
            )
    out: list[dict[str, Any]] = [*results]  # tool results answer the previous assistant turn: first
    if parts or calls:
        texts_only = all(p["type"] == "text" for p in parts)
        msg: dict[str, Any] = {
            "role": role,
            "content": ("\n".join(p["text"] for p in parts) or None) if texts_only else parts,
        }
        if calls:
            msg["tool_calls"] = calls
        out.append(msg)
    return out


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise bad_request(
            f"{where}.source: a 'base64' or 'url' image source is required", param=f"{where}.source"
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _tool(tool: Any, where: str) -> dict[str, Any]:
    need(isinstance(tool, dict) and bool(tool.get("name")), where, "a tool needs a 'name'")
    function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> dict[str, Any]:
    need(isinstance(choice, dict), "tool_choice", "an object with a 'type'")
    kind = choice.get("type")
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if kind == "tool":
        mapped = {"type": "function", "function": {"name": choice.get("name")}}
    if mapped is None:
        raise bad_request(
            f"tool_choice.type: unknown {kind!r}", param="tool_choice.type", code="invalid_value"
        )
    out: dict[str, Any] = {"tool_choice": mapped}
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


# -- responses: chat completions -> Anthropic -----------------------------------------------------------


def error_body(status: int, message: str) -> bytes:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def _usage(usage: dict | None) -> dict[str, int]:
    usage = usage or {}
    return {
        "input_tokens": usage.get("prompt_tokens") or 0,
        "output_tokens": usage.get("completion_tokens") or 0,
    }


def to_message(response: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion as an Anthropic message."""
    choice = (response.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        content.append(_tool_use(call.get("id"), (call.get("function") or {}), parse=True))
    return {
        "id": _message_id(response.get("id")),
        "type": "message",
        "role": "assistant",
        "model": response.get("model"),
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": _usage(response.get("usage")),
    }


def _tool_use(call_id: Any, function: dict, parse: bool) -> dict[str, Any]:
    args: Any = {}
    if parse:
        try:
            args = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {"_raw": function.get("arguments")}
    return {
        "type": "tool_use",
        "id": call_id or "toolu_" + secrets.token_hex(8),
        "name": function.get("name"),
        "input": args,
    }


def _message_id(source: Any) -> str:
    return source if isinstance(source, str) and source.startswith("msg_") else "msg_" + secrets.token_hex(12)


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


class StreamEvents(StreamTranslator):
    """chat.completion.chunk SSE events in, Anthropic stream events out."""

    def __init__(self) -> None:
        super().__init__()
        self.started = False
        self.block: tuple[int, str] | None = None  # (index, "text" | "tool_use") of the open block
        self.blocks = 0
        self.tools: dict[int, int] = {}  # chat tool_calls index -> block index
        self.stop: str | None = None
        self.usage: dict | None = None

    def error(self, message: str) -> bytes:
        return _event("error", {"error": {"type": "api_error", "message": message}})

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = []
        if not self.started:
            self.started = True
            message = {"id": _message_id(chunk.get("id")), "type": "message", "role": "assistant",
                       "model": chunk.get("model"), "content": [], "stop_reason": None, "stop_sequence": None,
                       "usage": {"input_tokens": 0, "output_tokens": 0}}  # fmt: skip
            out.append(_event("message_start", {"message": message}))
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(self._open("text", {"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": delta["content"]}))
            for call in delta.get("tool_calls") or ():
                index = call.get("index", 0)
                function = call.get("function") or {}
                if index not in self.tools:
                    out.append(self._close())
                    self.tools[index] = self.blocks
                    out.append(
                        self._open("tool_use", _tool_use(call.get("id"), function, parse=False), new=True)
                    )
                if function.get("arguments"):
                    out.append(
                        self._delta({"type": "input_json_delta", "partial_json": function["arguments"]})
                    )
            if choice.get("finish_reason"):
                self.stop = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return b"".join(out)

    def _open(self, kind: str, block: dict[str, Any], new: bool = False) -> bytes:
        if self.block is not None and self.block[1] == kind and not new:
            return b""
        closed = self._close()
        self.block = (self.blocks, kind)
        self.blocks += 1
        return closed + _event("content_block_start", {"index": self.block[0], "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        assert self.block is not None
        return _event("content_block_delta", {"index": self.block[0], "delta": delta})

    def _close(self) -> bytes:
        if self.block is None:
            return b""
        index, self.block = self.block[0], None
        return _event("content_block_stop", {"index": index})

    def end(self) -> bytes:
        head = b"" if self.started else self.chunk({})
        delta = {
            "delta": {"stop_reason": self.stop or "end_turn", "stop_sequence": None},
            "usage": _usage(self.usage),
        }
        return head + self._close() + _event("message_delta", delta) + _event("message_stop", {})

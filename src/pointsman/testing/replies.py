"""What the test upstreams answer: OpenAI chat-completions and Anthropic Messages bodies and SSE events.

The answer is deterministic so tests can check what arrived: by default "You said: <the last user text>", one
"token" per word, cut by `stop` sequences and `max_tokens` the way a real server cuts it. A request that
forces a tool (OpenAI `tool_choice` naming a function or "required"; Anthropic `{"type": "tool"|"any"}`) gets
a tool call whose arguments echo the user text. Anthropic requests are validated like the real API validates
them (roles, `max_tokens` required, no "system" role in messages, known content block types), so a wrong
translation fails."""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

_WORD = re.compile(r"\s*\S+")


class BadRequest(Exception):
    """The request is not valid for the API: answered with 400 and the API's error body."""


@dataclass
class Answer:
    """The generated answer before it is put into one API's shape."""

    pieces: list[str]  # one per token
    finish: str  # "stop" | "length" | "stop_sequence" | "tool"
    stop_sequence: str | None
    prompt_tokens: int
    tool: tuple[str, str] | None = None  # (tool name, JSON arguments)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _text_of(content: Any) -> str:
    """The text of an OpenAI or Anthropic message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    out = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            out.append(str(part.get("text", "")))
        elif kind == "tool_result":
            out.append(_text_of(part.get("content", "")))
        elif kind in ("image", "image_url"):
            out.append("[image]")
    return " ".join(out)


def _count_words(text: str) -> int:
    return len(_WORD.findall(text))


def compose(
    messages: list[Any],
    *,
    reply: str | None,
    max_tokens: int | None,
    stops: list[str],
    system: str = "",
    tool: str | None = None,
) -> Answer:
    last = ""
    prompt_tokens = _count_words(system)
    for message in messages:
        if isinstance(message, dict):
            text = _text_of(message.get("content"))
            prompt_tokens += _count_words(text) + 1
            if message.get("role") in ("user", "tool"):
                last = text
    if tool is not None:
        return Answer([], "tool", None, prompt_tokens, (tool, orjson.dumps({"text": last}).decode()))
    text = reply if reply is not None else f"You said: {last}"
    finish, matched = "stop", None
    cut = [(text.find(s), s) for s in stops if s and s in text]
    if cut:
        at, matched = min(cut)
        text, finish = text[:at], "stop_sequence"
    pieces = _WORD.findall(text)
    if max_tokens is not None and len(pieces) > max_tokens:
        pieces, finish, matched = pieces[:max_tokens], "length", None
    return Answer(pieces, finish, matched, max(prompt_tokens, 1))


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class OpenAIChat:
    """POST /v1/chat/completions."""

    name = "openai"

    @staticmethod
    def error_body(status: int, message: str) -> bytes:
        kind = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return orjson.dumps(
            {
                "error": {
                    "message": message,
                    "type": kind.get(status, "server_error"),
                    "param": None,
                    "code": code,
                }
            }
        )

    @staticmethod
    def forced_tool(body: dict[str, Any]) -> str | None:
        choice, tools = body.get("tool_choice"), body.get("tools") or []
        if isinstance(choice, dict):
            return str((choice.get("function") or {}).get("name", ""))
        if choice == "required" and tools:
            return str(tools[0].get("function", {}).get("name", ""))
        return None

    def answer(self, body: Any, reply: str | None) -> tuple[Answer, int]:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            raise BadRequest("'messages' must be a non-empty array")
        stop = body.get("stop") or []
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        answer = compose(
            body["messages"],
            reply=reply,
            max_tokens=max_tokens,
            stops=[stop] if isinstance(stop, str) else list(stop),
            tool=self.forced_tool(body),
        )
        return answer, int(body.get("n") or 1)

    @staticmethod
    def _finish(answer: Answer) -> str:
        return {"stop_sequence": "stop", "tool": "tool_calls"}.get(answer.finish, answer.finish)

    @staticmethod
    def _usage(answer: Answer, n: int) -> dict[str, int]:
        out = len(answer.pieces) * n if answer.tool is None else 8 * n
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": out,
            "total_tokens": answer.prompt_tokens + out,
        }

    def complete(self, body: dict[str, Any], answer: Answer, n: int, seq: int) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.tool is not None:
            name, args = answer.tool
            message["content"] = None
            message["tool_calls"] = [
                {"id": f"call_{seq}", "type": "function", "function": {"name": name, "arguments": args}}
            ]
        finish = self._finish(answer)
        return orjson.dumps(
            {
                "id": f"chatcmpl-up{seq}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "system_fingerprint": "pointsman-upstream",
                "choices": [
                    {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                    for i in range(n)
                ],
                "usage": self._usage(answer, n),
            }
        )

    def stream(self, body: dict[str, Any], answer: Answer, n: int, seq: int) -> list[bytes]:
        head = {
            "id": f"chatcmpl-up{seq}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "pointsman-upstream",
        }

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**head, "choices": [choice]})

        events = []
        for i in range(n):
            events.append(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
            if answer.tool is not None:
                name, args = answer.tool
                call = {
                    "index": 0,
                    "id": f"call_{seq}",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                events.append(chunk(i, {"tool_calls": [call]}))
                half = len(args) // 2
                for part in (args[:half], args[half:]):
                    events.append(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
            for piece in answer.pieces:
                events.append(chunk(i, {"content": piece}))
            events.append(chunk(i, {}, self._finish(answer)))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(_sse({**head, "choices": [], "usage": self._usage(answer, n)}))
        events.append(b"data: [DONE]\n\n")
        return events

    @staticmethod
    def garbage_stream() -> list[bytes]:
        return [b'data: {"id": "chatcmpl-x", "choices": [\n\n', b"data: [DONE]\n\n"]


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}


class AnthropicMessages:
    """POST /v1/messages, validated like the real API."""

    name = "anthropic"

    @staticmethod
    def error_body(status: int, message: str) -> bytes:
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})

    @staticmethod
    def validate(body: Any) -> None:
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            raise BadRequest("max_tokens: Field required (a positive integer)")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: at least one message is required")
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise BadRequest(
                    f"messages.{i}.role: Input should be 'user' or 'assistant' (got {role!r}); "
                    "use the top-level 'system' parameter for a system prompt"
                )
            content = message.get("content")
            if isinstance(content, list):
                for j, block in enumerate(content):
                    if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
                        raise BadRequest(f"messages.{i}.content.{j}.type: unknown content block type")
                    if block["type"] == "image" and (block.get("source") or {}).get("type") not in (
                        "base64",
                        "url",
                    ):
                        raise BadRequest(
                            f"messages.{i}.content.{j}.source: 'base64' or 'url' image source required"
                        )
            elif not isinstance(content, str):
                raise BadRequest(f"messages.{i}.content: a string or a list of content blocks is required")
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            raise BadRequest("system: a string or a list of text blocks is required")
        for i, tool in enumerate(body.get("tools") or []):
            if not isinstance(tool, dict) or not tool.get("name") or "input_schema" not in tool:
                raise BadRequest(f"tools.{i}: 'name' and 'input_schema' are required")

    @staticmethod
    def forced_tool(body: dict[str, Any]) -> str | None:
        choice, tools = body.get("tool_choice") or {}, body.get("tools") or []
        if choice.get("type") == "tool":
            return str(choice.get("name", ""))
        if choice.get("type") == "any" and tools:
            return str(tools[0]["name"])
        return None

    def answer(self, body: Any, reply: str | None) -> tuple[Answer, int]:
        self.validate(body)
        answer = compose(
            body["messages"],
            reply=reply,
            max_tokens=body["max_tokens"],
            stops=list(body.get("stop_sequences") or []),
            system=_text_of(body.get("system") or ""),
            tool=self.forced_tool(body),
        )
        return answer, 1

    @staticmethod
    def _stop_reason(answer: Answer) -> str:
        return {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}.get(
            answer.finish, answer.finish
        )

    def complete(self, body: dict[str, Any], answer: Answer, n: int, seq: int) -> bytes:
        if answer.tool is not None:
            name, args = answer.tool
            content = [{"type": "tool_use", "id": f"toolu_{seq}", "name": name, "input": orjson.loads(args)}]
            out = 8
        else:
            content = [{"type": "text", "text": answer.text}]
            out = len(answer.pieces)
        return orjson.dumps(
            {
                "id": f"msg_up{seq}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": content,
                "stop_reason": self._stop_reason(answer),
                "stop_sequence": answer.stop_sequence,
                "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": out},
            }
        )

    def stream(self, body: dict[str, Any], answer: Answer, n: int, seq: int) -> list[bytes]:
        message = {
            "id": f"msg_up{seq}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": 1},
        }
        events = [
            _sse({"type": "message_start", "message": message}, "message_start"),
            _sse({"type": "ping"}, "ping"),
        ]
        if answer.tool is not None:
            name, args = answer.tool
            block = {"type": "tool_use", "id": f"toolu_{seq}", "name": name, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in (args[: len(args) // 2], args[len(args) // 2 :])
            ]
            out = 8
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in answer.pieces]
            out = len(answer.pieces)
        events.append(
            _sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
        )
        for delta in deltas:
            events.append(
                _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
            )
        events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        events.append(
            _sse(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": self._stop_reason(answer),
                        "stop_sequence": answer.stop_sequence,
                    },
                    "usage": {"output_tokens": out},
                },
                "message_delta",
            )
        )
        events.append(_sse({"type": "message_stop"}, "message_stop"))
        return events

    @staticmethod
    def garbage_stream() -> list[bytes]:
        return [b'event: message_start\ndata: {"type": "message_st\n\n', b"event: message_stop\ndata: {}\n\n"]


class OpenAIEmbeddings(OpenAIChat):
    """POST /v1/embeddings: each input's vector is its hashed word counts (EMBEDDING_DIM numbers, L2-normed):
    deterministic, and equal for equal texts, so a test can check which input got which vector."""

    name = "openai-embeddings"

    def answer(self, body: Any, reply: str | None) -> tuple[Answer, int]:
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            raise BadRequest("input: a string or a non-empty list of strings is required")
        words = sum(_count_words(t) for t in inputs)
        return Answer([], "stop", None, words), len(inputs)

    def complete(self, body: dict[str, Any], answer: Answer, n: int, seq: int) -> bytes:
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [{"object": "embedding", "index": i, "embedding": embed_text(t)} for i, t in enumerate(inputs)]
        usage = {"prompt_tokens": answer.prompt_tokens, "total_tokens": answer.prompt_tokens}
        return orjson.dumps({"object": "list", "data": data, "model": body.get("model"), "usage": usage})


EMBEDDING_DIM = 8


def embed_text(text: str) -> list[float]:
    """The test upstream's embedding of `text` (see OpenAIEmbeddings)."""
    vec = [0.0] * EMBEDDING_DIM
    for word in text.lower().split():
        vec[hashlib.blake2b(word.encode(), digest_size=1).digest()[0] % EMBEDDING_DIM] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]

"""OpenAI chat-completions <-> Anthropic Messages, both ways, streaming included.

Requests: system/developer messages -> top-level `system`; text and image parts (data: URLs -> base64 sources,
http(s) URLs -> url sources); assistant `tool_calls` -> `tool_use` blocks; `tool` messages -> `tool_result`
blocks in a user turn; consecutive turns of one role merged; tools/tool_choice/parallel_tool_calls; `stop` ->
`stop_sequences`; `max_tokens` (default DEFAULT_MAX_TOKENS, Anthropic requires one); temperature clamped to
Anthropic's 0..1; `user` -> `metadata.user_id`; `response_format` (JSON) -> an instruction in the system
prompt. Fields Anthropic has no counterpart for (seed, logprobs, penalties, logit_bias) are dropped; `n > 1`
and audio or file parts are refused with code `unsupported_content` (the dispatcher then tries the next
model).

Responses: text blocks -> content, `tool_use` -> `tool_calls`, stop_reason -> finish_reason, usage (cache
tokens included in prompt_tokens). Streams: message_start / content_block_* / message_delta / message_stop /
error events -> chat.completion.chunk objects, with a final usage chunk when `stream_options.include_usage`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from pointsman.backends.base import BackendError, ChatBody, ChatChunk, ChatResponse

DEFAULT_MAX_TOKENS = 4096
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}
_DROPPED = ("seed", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias")


def _invalid(message: str, code: str = "invalid_request") -> BackendError:
    return BackendError(message, status=400, code=code, retryable=False)


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise _invalid(f"{where}.image_url.url: a URL or data: URL is required")
    if url.startswith("data:"):
        meta, sep, data = url[5:].partition(",")
        if not sep or not meta.endswith(";base64"):
            raise _invalid(f"{where}.image_url.url: only base64 data: URLs are supported")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": meta[: -len(";base64")], "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """An OpenAI message content (string or parts) as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _invalid(f"{where}.content: a string or an array of content parts is required")
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image_block(part, f"{where}.content[{j}]"))
        elif kind in ("input_audio", "file"):
            raise _invalid(
                f"{where}.content[{j}]: {kind} parts are not supported by Anthropic models",
                "unsupported_content",
            )
        else:
            raise _invalid(f"{where}.content[{j}].type: unknown content part type {kind!r}")
    return blocks


def _system_text(content: Any, where: str) -> str:
    return "\n".join(b["text"] for b in _blocks(content, where) if b["type"] == "text")


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not fn.get("name"):
        raise _invalid(f"{where}.function.name is required")
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise _invalid(f"{where}.function.arguments is not valid JSON") from None
    return {"type": "tool_use", "id": call.get("id") or f"toolu_{where}", "name": fn["name"], "input": args}


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        out = None if parallel is None else {"type": "auto"}
    elif choice in ("auto", "none"):
        out = {"type": choice}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise _invalid(f"tool_choice: unsupported value {choice!r}")
    if parallel is False and out is not None and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _format_instruction(fmt: Any) -> str | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema", {})
        return (
            "Respond only with a JSON value that matches this JSON schema: " + orjson.dumps(schema).decode()
        )
    return "Respond only with a valid JSON object."


def to_anthropic(body: ChatBody, *, stream: bool) -> dict[str, Any]:
    """An OpenAI chat-completions request as an Anthropic Messages request."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: a non-empty array is required")
    if (body.get("n") or 1) > 1:
        raise _invalid("n > 1 is not supported by Anthropic models", "unsupported_content")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system.append(_system_text(message.get("content"), where))
            continue
        if role == "user":
            blocks = _blocks(message.get("content"), where)
        elif role == "assistant":
            blocks = _blocks(message.get("content"), where)
            blocks += [
                _tool_use(c, f"{where}.tool_calls[{j}]")
                for j, c in enumerate(message.get("tool_calls") or ())
            ]
        elif role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id"),
                    "content": _blocks(message.get("content"), where) or "",
                }
            ]
        else:
            raise _invalid(f"{where}.role: unsupported role {role!r}")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    instruction = _format_instruction(body.get("response_format"))
    if instruction:
        system.append(instruction)

    out: dict[str, Any] = {
        "model": body.get("model"),
        "messages": turns,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = "\n\n".join(s for s in system if s)
    if stream:
        out["stream"] = True
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in body["tools"]
            if isinstance(t, dict) and t.get("type", "function") == "function"
        ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and body.get("tools"):
        out["tool_choice"] = choice
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    return out


def _usage(usage: dict[str, Any]) -> dict[str, Any]:
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0) + cached
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": orjson.dumps(block.get("input", {})).decode()},
    }


def from_anthropic(data: dict[str, Any]) -> ChatResponse:
    """An Anthropic Messages response as an OpenAI chat.completion."""
    blocks = data.get("content")
    if data.get("type") != "message" or not isinstance(blocks, list):
        raise BackendError(
            f"upstream sent a body that is not an Anthropic message: {str(data)[:200]}", code="bad_response"
        )
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [_tool_call(b) for b in blocks if b.get("type") == "tool_use"]
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(data.get("stop_reason") or "end_turn", "stop"),
            }
        ],
        "usage": _usage(data.get("usage") or {}),
    }


class StreamTranslator:
    """Anthropic SSE events in, chat.completion.chunk objects out. `done` once message_stop arrived."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.done = False
        self._head: dict[str, Any] = {}
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> ChatChunk:
        return {
            **self._head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, event: dict[str, Any]) -> list[ChatChunk]:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta" and event.get("index") in self._tools:
                call = {
                    "index": self._tools[event["index"]],
                    "function": {"arguments": delta.get("partial_json", "")},
                }
                return [self._chunk({"tool_calls": [call]})]
            return []  # thinking and signature deltas have no chat-completions counterpart
        if kind == "message_start":
            message = event.get("message") or {}
            self._head = {
                "id": message.get("id"),
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": message.get("model"),
            }
            self._usage = dict(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") != "tool_use":
                return []
            index = self._tools[event.get("index", 0)] = len(self._tools)
            call = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if kind == "message_delta":
            self._usage.update(event.get("usage") or {})
            reason = (event.get("delta") or {}).get("stop_reason")
            return [self._chunk({}, FINISH_REASONS.get(reason or "end_turn", "stop"))]
        if kind == "message_stop":
            self.done = True
            if self.include_usage:
                return [{**self._head, "choices": [], "usage": _usage(self._usage)}]
            return []
        if kind == "error":
            err = event.get("error") or {}
            overloaded = err.get("type") in ("overloaded_error", "api_error", "rate_limit_error")
            raise BackendError(
                f"upstream sent an error event: {err.get('type')}: {err.get('message')}",
                code="upstream_stream_error",
                retryable=overloaded,
            )
        return []  # ping, content_block_stop, and event types added later

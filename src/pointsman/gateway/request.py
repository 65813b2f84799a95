"""Parse and check a chat-completions request body, keeping every field the client sent.

The body goes to the backend as the client wrote it (bar `model`, which the dispatcher sets per backend), so
this only checks what the gateway itself relies on or what an upstream would reject less clearly: types of the
standard fields, non-empty `messages` with roles, and sane numbers. Errors name the field (`param`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson

from pointsman.gateway.errors import bad_request

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool  # the client asked for the final usage chunk


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: _is_num(v) and lo <= v <= hi


def _str_list(v: Any) -> bool:
    return isinstance(v, str) or (
        isinstance(v, list) and 0 < len(v) <= 4 and all(isinstance(s, str) for s in v)
    )


# field -> (check, what it must be). Fields not listed pass through unchecked.
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "stream": (lambda v: isinstance(v, bool), "a boolean"),
    "temperature": (_between(0, 2), "a number from 0 to 2"),
    "top_p": (_between(0, 1), "a number from 0 to 1"),
    "n": (lambda v: _is_int(v) and 1 <= v <= 128, "an integer from 1 to 128"),
    "max_tokens": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "max_completion_tokens": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "presence_penalty": (_between(-2, 2), "a number from -2 to 2"),
    "frequency_penalty": (_between(-2, 2), "a number from -2 to 2"),
    "seed": (_is_int, "an integer"),
    "stop": (_str_list, "a string or a list of up to 4 strings"),
    "tools": (
        lambda v: isinstance(v, list) and all(isinstance(t, dict) for t in v),
        "a list of tool objects",
    ),
    "tool_choice": (lambda v: isinstance(v, (str, dict)), "a string or an object"),
    "response_format": (
        lambda v: isinstance(v, dict) and isinstance(v.get("type"), str),
        "an object with a 'type'",
    ),
    "stream_options": (lambda v: isinstance(v, dict), "an object"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "logprobs": (lambda v: isinstance(v, bool), "a boolean"),
    "top_logprobs": (lambda v: _is_int(v) and 0 <= v <= 20, "an integer from 0 to 20"),
    "logit_bias": (lambda v: isinstance(v, dict), "an object"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
}


def parse_chat(raw: bytes) -> ChatRequest:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request(
            f"The request body must be a JSON object, got {_json_type(body)}", code="invalid_json"
        )
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string", param="model", code="invalid_type")
    _check_messages(body.get("messages"))
    for name, value in body.items():
        spec = _FIELDS.get(name)
        if spec is not None and value is not None and not spec[0](value):
            raise bad_request(
                f"'{name}' must be {spec[1]}, got {_json_type(value)} {_short(value)}",
                param=name,
                code="invalid_type",
            )
    stream = body.get("stream") is True
    options = body.get("stream_options") or {}
    if options and not stream:
        raise bad_request("'stream_options' is only allowed when 'stream' is true", param="stream_options")
    return ChatRequest(body, model, stream, bool(options.get("include_usage")))


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise bad_request("'messages' is required", param="messages", code="missing_required_parameter")
    if not isinstance(messages, list):
        raise bad_request(
            f"'messages' must be a list, got {_json_type(messages)}", param="messages", code="invalid_type"
        )
    if not messages:
        raise bad_request("'messages' must hold at least one message", param="messages", code="empty_array")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise bad_request(
                f"messages[{i}] must be an object, got {_json_type(msg)}",
                param=f"messages[{i}]",
                code="invalid_type",
            )
        role = msg.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise bad_request(
                f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}, got {_short(role)}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        _check_content(msg, i, role)


# An assistant message may carry tool calls (or a function call) instead of content; the others need it.
_CALLS = ("tool_calls", "function_call")


def _check_content(msg: dict, i: int, role: str) -> None:
    """Only presence: its type is checked where the text is read (signals.base.RequestView)."""
    content = msg.get("content")
    if content is None and not (role == "assistant" and any(msg.get(k) for k in _CALLS)):
        raise bad_request(
            f"messages[{i}].content is required for a {role} message",
            param=f"messages[{i}].content",
            code="missing_required_parameter",
        )


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}.get(
        type(v), type(v).__name__
    )


def _short(v: Any) -> str:
    text = orjson.dumps(v).decode() if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."

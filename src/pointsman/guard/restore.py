"""Put redacted values back into an answer, and keep them out of the decision log.

The client sent those values itself, so giving them back in the answer it asked for is safe; they are put
back only where the answer repeats a placeholder of this request (`<EMAIL_1>`), in message text and in
tool-call arguments (JSON-escaped there, so a value cannot break the arguments' JSON). A placeholder the
request did not create is left as it is.

Streaming: a placeholder can be split across chunks (`<EMA` + `IL_1>`). `StreamRestorer` holds back a tail
that could still become a placeholder (a `<` followed by capitals, digits and `_`, at most
`MAX_PLACEHOLDER` characters) until the next chunk, the choice's last chunk, or the end of the stream.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from pointsman.signals.pii import Redaction, restore_text

MAX_PLACEHOLDER = 40
_PARTIAL = re.compile(r"<[A-Z0-9_]*")
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*?_\d+>")


def restore_json(text: str, redaction: Redaction) -> str:
    """`restore_text` for JSON text: each value is inserted JSON-escaped (placeholders sit in strings)."""
    if not redaction.values:
        return text

    def value(m: re.Match[str]) -> str:
        found = redaction.values.get(m.group(0))
        return m.group(0) if found is None else json.dumps(found)[1:-1]

    return _PLACEHOLDER.sub(value, text)


def restore_response(response: dict[str, Any], redaction: Redaction) -> None:
    """Restore values in a chat completion, in place: message content and tool-call arguments."""
    for choice in response.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        if isinstance(message.get("content"), str):
            message["content"] = restore_text(message["content"], redaction)
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = restore_json(function["arguments"], redaction)


def mask_values(text: str | None, redaction: Redaction) -> str | None:
    """`text` with every redacted value replaced by its placeholder again (for logging an answer)."""
    if not text:
        return text
    for placeholder, value in sorted(redaction.values.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(value, placeholder)
    return text


class StreamRestorer:
    """Restores values in a stream of chat completion chunks, in place, chunk by chunk."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self.held: dict[tuple[int, str, int], str] = {}  # (choice, "content"|"tool", tool index) -> text
        self._last: dict[str, Any] = {}

    def chunk(self, chunk: dict[str, Any]) -> None:
        self._last = chunk
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                delta["content"] = self._feed((index, "content", 0), delta["content"], restore_text)
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    key = (index, "tool", call.get("index", 0))
                    function["arguments"] = self._feed(key, function["arguments"], restore_json)
            if choice.get("finish_reason") is not None:
                self._release(index, delta)

    def tail(self) -> dict[str, Any] | None:
        """A last chunk carrying what is still held back (the stream ended without finish_reason), or None."""
        indices = sorted({key[0] for key in self.held})
        if not indices:
            return None
        choices = []
        for index in indices:
            delta: dict[str, Any] = {}
            self._release(index, delta)
            choices.append({"index": index, "delta": delta, "finish_reason": None})
        keep = ("id", "object", "created", "model", "system_fingerprint")
        return {**{k: self._last[k] for k in keep if k in self._last}, "choices": choices}

    def _feed(self, key: tuple[int, str, int], text: str, restore: Callable[[str, Redaction], str]) -> str:
        text = self.held.pop(key, "") + text
        start = text.rfind("<")
        if start != -1 and len(text) - start <= MAX_PLACEHOLDER and _PARTIAL.fullmatch(text, start):
            self.held[key] = text[start:]
            text = text[:start]
        return restore(text, self.redaction)

    def _release(self, index: int, delta: dict[str, Any]) -> None:
        for key in sorted(k for k in self.held if k[0] == index):
            text = self.held.pop(key)
            if key[1] == "content":
                delta["content"] = (delta.get("content") or "") + restore_text(text, self.redaction)
                continue
            calls = delta.setdefault("tool_calls", [])
            call = next((c for c in calls if c.get("index", 0) == key[2]), None)
            if call is None:
                call = {"index": key[2], "function": {"arguments": ""}}
                calls.append(call)
            function = call.setdefault("function", {})
            function["arguments"] = (function.get("arguments") or "") + restore_json(text, self.redaction)

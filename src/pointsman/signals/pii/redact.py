"""Redaction: replace PII spans with typed placeholders (`<EMAIL_1>`) and restore them in an answer.

The same value gets the same placeholder everywhere in one request (so a model can still tell two
people's e-mails apart and refer back to them); the `Redaction` maps placeholders back to the values.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pointsman.signals.base import Span

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")


@dataclass
class Redaction:
    """Placeholder -> original value, for one request. Never logged: it holds exactly what was removed."""

    values: dict[str, str] = field(default_factory=dict)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def placeholder(self, type_: str, value: str) -> str:
        key = (type_, value)
        if key not in self._by_value:
            n = self._counts.get(type_, 0) + 1
            self._counts[type_] = n
            name = f"<{type_}_{n}>"
            self._by_value[key] = name
            self.values[name] = value
        return self._by_value[key]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:  # never print the values themselves
        return f"Redaction({len(self.values)} placeholders)"


def redact_text(
    text: str, spans: Iterable[Span], redaction: Redaction | None = None
) -> tuple[str, Redaction]:
    """`text` with each span replaced by its placeholder. Spans must not overlap (detectors ensure it)."""
    redaction = redaction if redaction is not None else Redaction()
    out: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < pos or span.end > len(text):
            raise ValueError(
                f"span {span.type} [{span.start}, {span.end}) overlaps another or lies outside the text"
            )
        out.append(text[pos : span.start])
        out.append(redaction.placeholder(span.type, text[span.start : span.end]))
        pos = span.end
    out.append(text[pos:])
    return "".join(out), redaction


def restore_text(text: str, redaction: Redaction) -> str:
    """Put the original values back where the answer repeats a placeholder; unknown ones stay as they are."""
    if not redaction.values:
        return text
    return _PLACEHOLDER.sub(lambda m: redaction.values.get(m.group(0), m.group(0)), text)


def redact_body(body: Mapping[str, Any], spans: Iterable[Span]) -> tuple[dict[str, Any], Redaction]:
    """A copy of a chat-completions body with the spans (from `PiiSignal`, located by message and part)
    replaced by placeholders. The input body is not modified."""
    by_segment: dict[tuple[int, int | None], list[Span]] = {}
    for span in spans:
        by_segment.setdefault((span.message, span.part), []).append(span)
    new_body = dict(body)
    messages = [dict(m) for m in body["messages"]]
    new_body["messages"] = messages
    redaction = Redaction()
    for (mi, pi), group in sorted(
        by_segment.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])
    ):
        message = messages[mi]
        if pi is None:
            message["content"], _ = redact_text(message["content"], group, redaction)
        else:
            parts = message["content"] = copy.copy(list(message["content"]))
            part = parts[pi] = dict(parts[pi])
            part["text"], _ = redact_text(part["text"], group, redaction)
    return new_body, redaction

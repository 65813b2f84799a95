"""Redact: replace PII spans with typed placeholders (<EMAIL_1>) in the body a backend receives.

A rule's `RedactGuard` picks the spans (by type) from its signal's result; the request's `RedactPlan` says
what to replace and for whom: every backend, or only those marked `trusted: false` (then trusted backends get
the request unchanged and the dispatcher sends each backend its own body).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pointsman.config.gateway import RedactConfig
from pointsman.signals.base import Span
from pointsman.signals.pii import Redaction, redact_body


@dataclass(frozen=True, slots=True)
class RedactPlan:
    """The spans to replace in one request, and for which backends."""

    spans: tuple[Span, ...]
    only_untrusted: bool = False
    restore: bool = True

    def types(self) -> dict[str, int]:
        """How many spans of each type (what the log and the headers may say about them)."""
        return dict(Counter(s.type for s in self.spans))

    def describe(self) -> str:
        counts = ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(self.types().items()))
        return f"redacted {counts}" + (" for untrusted backends" if self.only_untrusted else "")

    def apply(
        self, body: Mapping[str, Any], untrusted: Collection[str], ranking: Collection[str]
    ) -> Redacted:
        """The redacted body and the backends of `ranking` that get it."""
        new_body, redaction = redact_body(body, self.spans)
        backends = frozenset(m for m in ranking if not self.only_untrusted or m in untrusted)
        return Redacted(new_body, redaction, backends, self.restore)


@dataclass(frozen=True, slots=True)
class Redacted:
    body: dict[str, Any]
    redaction: Redaction  # placeholder -> value: never logged
    backends: frozenset[str]
    restore: bool

    def bodies(self) -> dict[str, dict[str, Any]]:
        """Per-backend bodies for the dispatcher (backends not listed get the original)."""
        return dict.fromkeys(self.backends, self.body)


@dataclass(frozen=True, slots=True)
class RedactGuard:
    signal: str = "pii"
    types: frozenset[str] | None = None
    only_untrusted: bool = False
    restore: bool = True

    @classmethod
    def from_config(cls, config: RedactConfig) -> RedactGuard:
        types = frozenset(config.types) if config.types is not None else None
        return cls(config.signal, types, config.only_untrusted, config.restore)

    def plan(self, spans: Any) -> RedactPlan | None:
        """The plan for a signal value (spans), or None when there is nothing to redact."""
        chosen = tuple(s for s in spans or () if self.types is None or s.type in self.types)
        return RedactPlan(chosen, self.only_untrusted, self.restore) if chosen else None

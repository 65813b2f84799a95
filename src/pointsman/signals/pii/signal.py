"""The PII signal: spans over every text segment of the request, located by message and part."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Hashable

from pointsman.signals.base import RequestView, Signal, SignalResult, Span, ValueKind
from pointsman.signals.pii.detectors import PII_TYPES, PiiDetector


class PiiSignal(Signal):
    """Value: the spans found (`Span.message`/`part` say where; offsets are into that segment's text);
    `confidence`: the highest span score (0.0 when none); `scores`: the highest score per type found.

    Reads every message by default (earlier answers and system prompts can carry PII too), or only user
    messages with `roles=("user",)`. Runs inline: regexes over the text, about 10-20 us per 1,000 chars.
    """

    kind = ValueKind.SPANS
    budget_ms = 5.0
    inline = True

    def __init__(
        self,
        name: str = "pii",
        *,
        types: Iterable[str] = PII_TYPES,
        min_score: float = 0.5,
        roles: Iterable[str] | None = None,
    ) -> None:
        super().__init__(name)
        self.detector = PiiDetector(frozenset(types), min_score)
        self.roles = frozenset(roles) if roles is not None else None

    def cache_key(self, view: RequestView) -> Hashable | None:
        return view.text_key

    def compute(self, view: RequestView) -> SignalResult:
        spans: list[Span] = []
        for seg in view.segments:
            if self.roles is None or seg.role in self.roles:
                spans.extend(
                    replace(s, message=seg.message, part=seg.part) for s in self.detector.detect(seg.text)
                )
        best: dict[str, float] = {}
        for s in spans:
            best[s.type] = max(best.get(s.type, 0.0), s.score)
        return SignalResult(tuple(spans), max(best.values(), default=0.0), scores=best)

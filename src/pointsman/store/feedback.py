"""Feedback on logged decisions: one score in [0, 1] per request and kind, stored beside the decision log.

Kinds: `explicit` (a client's `POST /v1/feedback`), `import` (offline labels: `pointsman feedback import`),
and the implicit signals the gateway records itself: `reask` (a near-identical prompt came back soon after),
`abort` (the client left mid-stream), `error` (the policy's first choice failed; a fallback answered or
nothing did). An explicit score and an implicit one for the same request coexist; a second score of the same
kind is refused (`DuplicateFeedback`) unless it replaces the first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import orjson

FeedbackKind = Literal["explicit", "reask", "abort", "error", "import"]
KINDS: tuple[str, ...] = get_args(FeedbackKind)
IMPLICIT_KINDS = frozenset({"reask", "abort", "error"})


class DuplicateFeedback(Exception):
    """The request already has a score of this kind (pass replace=True to overwrite it)."""

    def __init__(self, request_id: str, kind: str) -> None:
        super().__init__(
            f"request {request_id} already has {kind} feedback; send 'replace: true' to overwrite it"
        )
        self.request_id, self.kind = request_id, kind


@dataclass(slots=True)
class FeedbackRecord:
    request_id: str
    time: float  # unix seconds the feedback arrived
    score: float  # in [0, 1]: 1 is the best answer the client could have had
    kind: FeedbackKind = "explicit"
    labels: list[str] = field(default_factory=list)
    comment: str | None = None
    tenant: str | None = None  # who gave it (the key's tenant; None when auth is off)
    api_key_id: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.score, (int, float)) and not isinstance(self.score, bool)):
            raise ValueError(f"score must be a number in [0, 1], got {self.score!r}")
        if not (0.0 <= self.score <= 1.0) or math.isnan(self.score):
            raise ValueError(f"score must be in [0, 1], got {self.score!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        self.score = float(self.score)

    def row(self) -> tuple:
        """Values in FEEDBACK_COLUMNS order, labels as JSON text."""
        return (
            self.request_id,
            self.time,
            self.score,
            self.kind,
            orjson.dumps(self.labels).decode(),
            self.comment,
            self.tenant,
            self.api_key_id,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> FeedbackRecord:
        values = dict(zip(FEEDBACK_COLUMNS, row, strict=True))
        labels = values["labels"]
        values["labels"] = orjson.loads(labels) if isinstance(labels, (str, bytes)) else list(labels or [])
        return cls(**values)


FEEDBACK_COLUMNS = ("request_id", "time", "score", "kind", "labels", "comment", "tenant", "api_key_id")

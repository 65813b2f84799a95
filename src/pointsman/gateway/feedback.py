"""Feedback on answered requests: `POST /v1/feedback`, and the implicit signals the gateway records itself.

Explicit: `{"request_id": "req_...", "score": 0.8}` (or `"thumbs": "up" | "down"`), optional `labels` and
`comment`; `request_id` may also come as `id` or in the `x-request-id` header (the id every chat response
carries in that header). A key may only score its own tenant's requests (403), unknown ids are 404, a second
score is 409 unless `"replace": true`.

Implicit (`FeedbackConfig`): the client left mid-stream (`abort`, score 0), the policy's first choice failed
(`error`, score 0, whether a fallback answered or not), and the same caller asked a near-identical question
again within `reask_window` seconds (`reask`, score 0 for the earlier request; needs the request embedding,
which learned selectors and embedding signals compute anyway: nothing is embedded just for this).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from pointsman.config.gateway import FeedbackConfig
from pointsman.gateway.errors import APIError, bad_request
from pointsman.store.feedback import DuplicateFeedback, FeedbackRecord

MAX_LABELS = 32
MAX_LABEL_CHARS = 64
MAX_COMMENT_CHARS = 4000
MAX_BODY_BYTES = 64 * 1024
_FIELDS = frozenset({"request_id", "id", "score", "thumbs", "labels", "comment", "replace"})


@dataclass(frozen=True, slots=True)
class FeedbackBody:
    request_id: str
    score: float
    labels: list[str]
    comment: str | None
    replace: bool


def parse_feedback(raw: bytes, header_id: str | None = None) -> FeedbackBody:
    """A feedback request body, or APIError 400 naming the field that is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object", code="invalid_type")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise bad_request(
            f"Unknown field {unknown[0]!r}; expected {', '.join(sorted(_FIELDS))}",
            param=unknown[0],
            code="unknown_parameter",
        )
    request_id = body.get("request_id", body.get("id", header_id))
    if not isinstance(request_id, str) or not request_id.strip():
        raise bad_request(
            "Give the request id ('request_id', the x-request-id header of the answer)", param="request_id"
        )
    return FeedbackBody(
        request_id.strip(),
        _score(body),
        _labels(body.get("labels", [])),
        _text(body.get("comment"), "comment", MAX_COMMENT_CHARS),
        _flag(body.get("replace", False)),
    )


def _score(body: dict) -> float:
    score, thumbs = body.get("score"), body.get("thumbs")
    if (score is None) == (thumbs is None):
        raise bad_request(
            "Give either 'score' (a number in [0, 1]) or 'thumbs' ('up' or 'down')", param="score"
        )
    if thumbs is not None:
        if thumbs not in ("up", "down"):
            raise bad_request(f"'thumbs' must be 'up' or 'down', got {thumbs!r}", param="thumbs")
        return 1.0 if thumbs == "up" else 0.0
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        raise bad_request(f"'score' must be a number in [0, 1], got {score!r}", param="score")
    return float(score)


def _labels(labels: Any) -> list[str]:
    if not isinstance(labels, list) or len(labels) > MAX_LABELS:
        raise bad_request(f"'labels' must be a list of at most {MAX_LABELS} strings", param="labels")
    return [_text(label, "labels", MAX_LABEL_CHARS) or "" for label in labels]


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise bad_request(f"'{name}' must be a string of at most {limit} characters", param=name)
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"'replace' must be true or false, got {value!r}", param="replace")
    return value


class FeedbackEndpoint:
    """`POST /v1/feedback` (a Starlette endpoint: `handle`)."""

    def __init__(self, gateway: Any) -> None:  # pointsman.gateway.service.Gateway
        self.gateway = gateway

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except APIError as exc:
            return exc.response()

    async def _handle(self, request: Request) -> Response:
        gw = self.gateway
        client = request.client.host if request.client else None
        principal = gw.gatekeeper.admit(request.headers.get("authorization"), client)
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise APIError(
                413, f"A feedback body is at most {MAX_BODY_BYTES} bytes", code="request_too_large"
            )
        body = parse_feedback(raw, request.headers.get("x-request-id"))
        decision = await asyncio.to_thread(gw.log.decision, body.request_id)
        if decision is None:
            raise APIError(
                404,
                f"No logged request with id {body.request_id!r}",
                param="request_id",
                code="request_not_found",
            )
        if principal.key_id is not None and decision.tenant != principal.tenant:
            raise APIError(
                403,
                f"Request {body.request_id} belongs to another tenant",
                param="request_id",
                code="wrong_tenant",
            )
        record = FeedbackRecord(
            body.request_id,
            time.time(),
            body.score,
            "explicit",
            body.labels,
            body.comment,
            principal.tenant,
            principal.key_id,
        )
        try:
            replaced = await asyncio.to_thread(gw.log.add_feedback, record, replace=body.replace)
        except DuplicateFeedback as exc:
            raise APIError(409, str(exc), param="replace", code="duplicate_feedback") from None
        gw.feedback_received(record, decision)
        out = {
            "object": "feedback",
            "request_id": record.request_id,
            "score": record.score,
            "labels": record.labels,
            "replaced": replaced,
        }
        return Response(orjson.dumps(out), media_type="application/json")


class ImplicitFeedback:
    """Turns what a finished request showed (abort, failed first choice, a re-ask) into feedback records."""

    def __init__(self, config: FeedbackConfig) -> None:
        self.config = config
        # Per caller: recent (time, request id, unit embedding) for re-ask detection, newest last.
        self._recent: dict[str, deque[tuple[float, str, np.ndarray]]] = {}

    def observe(self, ex: Any) -> list[FeedbackRecord]:  # ex: pointsman.gateway.service.Exchange
        cfg = self.config
        if not cfg.implicit or ex.selection is None:
            return []
        who = ex.principal
        tenant, key = (who.tenant, who.key_id) if who else (None, None)
        out = []

        def signal(request_id: str, kind: Any) -> None:
            out.append(FeedbackRecord(request_id, time.time(), 0.0, kind, [], None, tenant, key))

        if ex.error_code == "client_closed" and ex.first_byte_s is not None:  # left after the answer began
            signal(ex.request_id, "abort")
        first = ex.selection.ranking[0] if ex.selection.ranking else None
        if any(a.model == first and a.outcome != "ok" for a in ex.attempts):
            signal(ex.request_id, "error")
        embedding = ex.view.embedding if ex.view is not None else None
        if embedding is not None and who is not None and cfg.reask_window > 0:
            earlier = self._reask(who.limit_key, ex.request_id, ex.arrived, embedding)
            if earlier is not None:
                signal(earlier, "reask")
        return out

    def _reask(self, caller: str, request_id: str, now: float, embedding: np.ndarray) -> str | None:
        """The id of this caller's latest request within the window whose prompt is this one's near-twin."""
        cfg = self.config
        norm = float(np.linalg.norm(embedding))
        if not math.isfinite(norm) or norm == 0:
            return None
        unit = embedding / norm
        recent = self._recent.get(caller)
        if recent is None:
            if len(self._recent) >= cfg.reask_callers:  # bounded memory: forget the oldest caller
                self._recent.pop(next(iter(self._recent)))
            recent = self._recent[caller] = deque(maxlen=cfg.reask_history)
        while recent and now - recent[0][0] > cfg.reask_window:
            recent.popleft()
        found = next((rid for _, rid, v in reversed(recent) if float(v @ unit) >= cfg.reask_similarity), None)
        recent.append((now, request_id, unit))
        return found

"""Explain decisions offline: every signal a config's rules read, its value and latency, and the decision
reached for a request, without calling any backend (`pointsman explain`, `pointsman eval --config`).

Unlike the gateway, which computes signals lazily under time budgets, this computes all of them to completion
for every request (embeddings in batches), so the output is complete and comparable across requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pointsman.policy.build import Policy
from pointsman.policy.facts import summarize
from pointsman.policy.rules import BadModelRequest, Decision, UnknownModel
from pointsman.signals.base import RequestError, RequestView, SignalResult


@dataclass(frozen=True)
class Explained:
    """One request: the decision (None when it could not be decided) and every signal's result."""

    decision: Decision | None
    signals: Mapping[str, SignalResult]
    ms: float
    error: str | None = None
    ranking: list[str] | None = None  # with `select`: the models the backend would be tried in

    def record(self) -> dict[str, Any]:
        """The JSON line of `pointsman explain --input`: decision, action, signals (value, confidence, ms)."""
        if self.decision is None:
            return {"error": self.error, "signals": summarize(self.signals), "ms": round(self.ms, 3)}
        d = self.decision
        out: dict[str, Any] = {
            "decision": d.name,
            "action": d.action,
            "route": d.route or None,
            "reason": d.reason,
            "signals": summarize(self.signals),
            "ms": round(self.ms, 3),
        }
        if d.block is not None:
            out["block"] = {"code": d.block.code, "status": d.block.status}
        if d.redact is not None:
            out["redact"] = d.redact.types()
        if self.ranking is not None:
            out["model"], out["ranking"] = (self.ranking[0] if self.ranking else None), self.ranking
        return out


class Explainer:
    """Decides requests with a built policy, computing every signal in `names` (default: those the rules
    read and those the config defines)."""

    def __init__(self, policy: Policy, names: Iterable[str] | None = None, *, select: bool = False) -> None:
        self.policy = policy
        self.select = select  # also rank the route's candidates (runs routers, never a backend)
        configured = list(policy.config.signals)
        self.names = list(
            dict.fromkeys(names if names is not None else [*policy.decider.signals, *configured])
        )
        signals = policy.runner.signals
        self.needs_embedding = any(signals[n].needs_embedding for n in self.names)

    def explain(self, view: RequestView, requested: str = "auto") -> Explained:
        """Every signal and the decision. The embedding is computed first (if needed), so learned signals run
        to completion inline: offline, no time budget cuts a signal short."""
        t0 = time.perf_counter()
        if self.needs_embedding and view.embedding is None:
            view = self.embed([view])[0]
        results = dict(self.policy.runner.run(view, self.names))
        try:
            decision = self.policy.decider.decide_now(view, requested, results)
        except (UnknownModel, BadModelRequest) as exc:
            return Explained(None, results, (time.perf_counter() - t0) * 1000, str(exc))
        ranking = self._rank(decision, view) if self.select and decision.block is None else None
        return Explained(
            decision, {**results, **decision.signals}, (time.perf_counter() - t0) * 1000, None, ranking
        )

    @staticmethod
    def _rank(decision: Decision, view: RequestView) -> list[str]:
        if decision.profile is None:
            return [decision.model, *decision.fallbacks]  # type: ignore[list-item]
        return asyncio.run(decision.profile.select(view, decision.objective)).ranking

    def embed(self, views: list[RequestView]) -> list[RequestView]:
        """The same views with their embeddings computed in one batch (faster than one by one)."""
        if not self.needs_embedding or not views:
            return views
        vectors = self.policy.runner.encoder().encode([v.embedding_text for v in views])
        return [RequestView(v.body, v.caller, embedding=e) for v, e in zip(views, vectors, strict=True)]


@dataclass(frozen=True)
class Line:
    """One input line: a request to explain, or why it cannot be read."""

    number: int
    view: RequestView | None
    model: str = "auto"
    id: Any = None
    error: str | None = None


def read_line(number: int, text: str) -> Line:
    """`{"prompt": "..."}` or `{"messages": [...]}` (optional "model", "id"; other chat fields allowed)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Line(number, None, error=f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        return Line(number, None, error="expected a JSON object with 'prompt' or 'messages'")
    model = data.get("model", "auto")
    if not isinstance(model, str) or not model:
        return Line(number, None, id=data.get("id"), error="'model' must be a non-empty string")
    try:
        if "messages" in data:
            body = {k: v for k, v in data.items() if k != "id"}
            view = RequestView(body)
        elif isinstance(data.get("prompt"), str):
            view = RequestView.from_prompt(data["prompt"])
        else:
            what = "'prompt' must be a string" if "prompt" in data else "expected 'prompt' or 'messages'"
            return Line(number, None, id=data.get("id"), error=what)
    except RequestError as exc:
        return Line(number, None, id=data.get("id"), error=str(exc))
    return Line(number, view, model, data.get("id"))


def explain_lines(explainer: Explainer, lines: Iterable[str], batch: int = 64) -> Iterator[dict[str, Any]]:
    """One record per non-blank input line, in order: the explanation, or `{"line", "error"}`."""
    pending: list[Line] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        pending.append(read_line(number, text))
        if len(pending) >= batch:
            yield from _explain_batch(explainer, pending)
            pending = []
    yield from _explain_batch(explainer, pending)


def _explain_batch(explainer: Explainer, lines: list[Line]) -> Iterator[dict[str, Any]]:
    readable = [ln for ln in lines if ln.view is not None]
    embedded = explainer.embed([ln.view for ln in readable])  # type: ignore[misc]
    views = {ln.number: view for ln, view in zip(readable, embedded, strict=True)}
    for ln in lines:
        head: dict[str, Any] = {"line": ln.number}
        if ln.id is not None:
            head["id"] = ln.id
        if ln.view is None:
            yield {**head, "error": ln.error}
        else:
            yield {**head, **explainer.explain(views[ln.number], ln.model).record()}

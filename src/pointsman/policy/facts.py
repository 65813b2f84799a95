"""One request's signal results as the rules read them: computed on first use, each at most once.

Cheap signals (heuristics, and embedding signals once the request embedding exists) are computed inline the
moment a condition reads them. A signal that would have to wait (the first one needing the embedding, or a
pooled one) raises `Pending`; the decider then awaits it on the runner (off the event loop) and evaluates
again, so rules cost only the signals they reach, in the order they reach them.
"""

from __future__ import annotations

from typing import Any, Mapping

from pointsman.signals.base import RequestView, SignalResult, Span
from pointsman.signals.runner import SignalRunner


class Pending(Exception):
    """`name` is needed and not computed yet; computing it means waiting (the embedding, a thread)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class RequestFacts:
    __slots__ = ("results", "runner", "view")

    def __init__(
        self, view: RequestView, runner: SignalRunner, results: Mapping[str, SignalResult] | None = None
    ):
        self.view = view
        self.runner = runner
        self.results: dict[str, SignalResult] = dict(results or {})

    def result(self, name: str) -> SignalResult:
        found = self.results.get(name)
        if found is not None:
            return found
        signal = self.runner.signals[name]
        if not (signal.inline or (signal.needs_embedding and self.view.embedding is not None)):
            raise Pending(name)
        found = self.results[name] = self.runner.run(self.view, (name,))[name]
        return found

    async def fetch(self, name: str) -> None:
        """Compute a pending signal without blocking the event loop."""
        self.results.update(await self.runner.arun(self.view, (name,)))

    def fetch_now(self, name: str) -> None:
        """Compute a pending signal, blocking (offline use: explain, evaluation)."""
        self.results.update(self.runner.run(self.view, (name,)))


def summarize(results: Mapping[str, SignalResult]) -> dict[str, dict[str, Any]]:
    """JSON-safe {name: {"value", "confidence", "ms"[, "error"]}}: labels, numbers, PII span *types*, never
    request text. What the decision log, the debug header and `pointsman explain` show."""
    out: dict[str, dict[str, Any]] = {}
    for name, r in results.items():
        entry: dict[str, Any] = {
            "value": json_value(r.value),
            "confidence": round(float(r.confidence), 4),
            "ms": round(float(r.ms), 3),
        }
        if r.error is not None:
            entry["error"] = r.error
        out[name] = entry
    return out


def json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, Span):
        return value.type
    if isinstance(value, (tuple, list, set, frozenset)):
        return [json_value(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return json_value(value.item())
    return str(value)

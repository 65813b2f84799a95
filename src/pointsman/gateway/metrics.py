"""Prometheus metrics, in a registry per gateway (no global state): requests, latency, fallbacks, tokens,
cost, and, read at scrape time from the dispatcher, each backend's breaker state and in-flight calls."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self, backend_states: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "pointsman_requests",
            "Chat requests by route, serving model and HTTP status",
            ["route", "model", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "pointsman_request_seconds",
            "Time from request to last byte",
            ["route", "model", "stream"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_byte = Histogram(
            "pointsman_first_byte_seconds",
            "Time from request to first upstream byte",
            ["route", "model", "stream"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "pointsman_retries",
            "Failed tries followed by another try of the same model, by model and error code",
            ["model", "code"],
            registry=r,
        )
        self.fallbacks = Counter(
            "pointsman_fallbacks",
            "Failed models the request then moved on from to another model, by model and error code",
            ["model", "code"],
            registry=r,
        )
        self.skips = Counter(
            "pointsman_skips",
            "Models passed over without a call (breaker_open, saturated, context_window, rate_limited, "
            "spill_ceiling), by model and reason",
            ["model", "reason"],
            registry=r,
        )
        self.spills = Counter(
            "pointsman_spills",
            "Answers from another model because the chosen one was saturated (a profile's `spill`)",
            ["model", "to"],
            registry=r,
        )
        self.tokens = Counter(
            "pointsman_tokens", "Tokens by model and kind (prompt, completion)", ["model", "kind"], registry=r
        )
        self.cost = Counter(
            "pointsman_cost_usd", "Cost of answered requests in USD", ["route", "model"], registry=r
        )
        self.stream_errors = Counter(
            "pointsman_stream_errors", "Streams that failed after the first byte", ["model"], registry=r
        )
        self.decisions = Counter(
            "pointsman_decisions",
            "Decisions by name (the rule, or default/profile/direct/threshold) and action",
            ["decision", "action"],
            registry=r,
        )
        self.log_dropped = Counter(
            "pointsman_decision_log_dropped", "Decision records lost (queue full, store error)", registry=r
        )
        if backend_states is not None:
            r.register(_BackendCollector(backend_states))
        self._children: dict[tuple, tuple] = {}
        self._usage: dict[tuple, tuple] = {}
        self._decided: dict[tuple[str, str], Any] = {}

    def observe(
        self,
        route: str,
        model: str,
        status: int,
        stream: bool,
        total_s: float,
        first_byte_s: float | None,
    ) -> None:
        key = (route, model, status, stream)
        children = self._children.get(key)
        if children is None:  # label lookups cost more than the increments: cache the children
            s = "true" if stream else "false"
            children = (
                self.requests.labels(route, model, str(status)),
                self.latency.labels(route, model, s),
                self.first_byte.labels(route, model, s),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(total_s)
        if first_byte_s is not None:
            children[2].observe(first_byte_s)

    def decided(self, decision: str, action: str) -> None:
        child = self._decided.get((decision, action))
        if child is None:
            child = self._decided[(decision, action)] = self.decisions.labels(decision, action)
        child.inc()

    def usage(
        self, route: str, model: str, prompt: int | None, completion: int | None, cost: float | None
    ) -> None:
        key = (route, model)
        children = self._usage.get(key)
        if children is None:
            children = self._usage[key] = (
                self.tokens.labels(model, "prompt"),
                self.tokens.labels(model, "completion"),
                self.cost.labels(route, model),
            )
        if prompt:
            children[0].inc(prompt)
        if completion:
            children[1].inc(completion)
        if cost:
            children[2].inc(cost)

    def attempts(self, attempts: Sequence[Any], served: str | None) -> None:
        """Count one request's dispatch attempts (`backends.dispatch.Attempt`) as retries, fallbacks, skips
        and spills. A failed last try is none of them: `pointsman_requests_total{status}` counts it."""
        for i, a in enumerate(attempts):
            if a.outcome == "skipped":
                self.skips.labels(a.model, a.code or a.outcome).inc()
                if a.code == "saturated" and served:
                    self.spills.labels(a.model, served).inc()
            elif a.outcome == "error":
                rest = attempts[i + 1 :]
                if rest and rest[0].model == a.model and rest[0].outcome != "skipped":
                    self.retries.labels(a.model, a.code or a.outcome).inc()
                elif any(b.model != a.model for b in rest):
                    self.fallbacks.labels(a.model, a.code or a.outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _BackendCollector(Collector):
    def __init__(self, states: Callable[[], Mapping[str, Any]]) -> None:
        self.states = states

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        breaker = GaugeMetricFamily(
            "pointsman_backend_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open",
            labels=["backend"],
        )
        in_flight = GaugeMetricFamily("pointsman_backend_in_flight", "Calls in flight", labels=["backend"])
        failures = GaugeMetricFamily(
            "pointsman_backend_consecutive_failures", "Failures since the last success", labels=["backend"]
        )
        for name, state in self.states().items():
            breaker.add_metric([name], BREAKER_STATES.get(str(getattr(state, "breaker", "closed")), 0))
            in_flight.add_metric([name], getattr(state, "in_flight", 0))
            failures.add_metric([name], getattr(state, "consecutive_failures", 0))
        yield from (breaker, in_flight, failures)

"""Drift of what a router promised, per route and model, for every profile with predictions (bandit profiles
watch themselves, and also reset what they learned: `pointsman.learn.selector`).

Quality: each score minus the quality the decision predicted for the model that answered. Cost: the log of
the actual cost over the predicted one (clipped to +-3), at the end of every answered request. Each stream
has its own test against 0 (what the router promised: `PageHinkley(reference=0)`, a CUSUM); an alarm is
logged and counted in `pointsman_drift_alarms_total` (direction down / up, cost_down / cost_up).
"""

from __future__ import annotations

import logging
import math
import weakref
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, Counter

from pointsman.config.gateway import DriftConfig
from pointsman.learn.drift import PageHinkley
from pointsman.store.decisions import DecisionRecord
from pointsman.store.feedback import FeedbackRecord

log = logging.getLogger("pointsman.learn")

MAX_STREAMS = 10_000  # (route, model, signal) tests kept at most


class LearnMetrics:
    """Per gateway registry: feedback learned from and drift alarms, by route and model."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()

    def __init__(self, registry: CollectorRegistry) -> None:
        self.learned = Counter(
            "pointsman_bandit_feedback",
            "Feedback a bandit learned from",
            ["route", "model"],
            registry=registry,
        )
        self.alarms = Counter(
            "pointsman_drift_alarms",
            "Page-Hinkley alarms: a model's feedback (or cost: cost_up, cost_down) departed from its prediction",
            ["route", "model", "direction"],
            registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> LearnMetrics:
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]


class DriftMonitor:
    def __init__(self, config: DriftConfig, registry: Any, skip: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.metrics = LearnMetrics.of(registry)
        self.skip = skip  # routes that monitor themselves
        self._tests: dict[tuple[str, str, str], PageHinkley] = {}

    def quality(self, feedback: FeedbackRecord, decision: DecisionRecord) -> None:
        model = decision.served_model or decision.chosen_model
        predicted = _predicted(decision, model, "quality")
        if predicted is not None:
            self._observe(decision.route, model, "quality", feedback.score - predicted)

    def cost(self, decision: DecisionRecord) -> None:
        model, actual = decision.served_model, decision.cost_usd
        predicted = _predicted(decision, model, "cost")
        if predicted is not None and actual is not None and predicted > 0 and actual > 0:
            self._observe(decision.route, model, "cost", max(-3.0, min(3.0, math.log(actual / predicted))))

    def _observe(self, route: str, model: str | None, signal: str, x: float) -> None:
        if not self.config.enabled or not model or route in self.skip:
            return
        key = (route, model, signal)
        test = self._tests.get(key)
        if test is None:
            if len(self._tests) >= MAX_STREAMS:
                return
            c = self.config
            test = self._tests[key] = PageHinkley(c.delta, c.threshold, c.min_samples, reference=0.0)
        direction = test.update(x)
        if direction is not None:
            log.warning(
                "drift: route %s, model %s: %s %s its prediction",
                route,
                model,
                signal,
                "fell below" if direction == "down" else "rose above",
            )
            self.metrics.alarms.labels(
                route, model, direction if signal == "quality" else f"cost_{direction}"
            ).inc()


def _predicted(decision: DecisionRecord, model: str | None, field: str) -> float | None:
    for c in decision.candidates:
        if c.get("model") == model:
            v = c.get(field)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return None

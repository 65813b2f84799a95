"""Aggregate route profiles in the gateway: ask the k best-ranked models at once, return the majority answer.

For a closed-answer request (`policy.aggregate.closed_form`) the profile's ranking (and, with `gate`, its
router's predicted quality and cost) decides whether a vote pays: P(majority right) - p_best > lambda x the
extra cost. If it does, the k models are called concurrently (non-streaming, each bounded by `step_timeout`;
a failed or late one does not vote) and the answer most of them give is returned (ties: the best-ranked);
otherwise the request is served as by any profile (one model, fallbacks down the ranking).

Every call is recorded like a cascade's steps (`x-pointsman-cascade` header, the decision log's `cascade`
column, its cost summed): outcome `accepted` (the answer returned), `outvoted` or `failed`; a request with no
vote has one step.
`pointsman_aggregate_requests_total{route, how}` counts fanned-out and single requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from pointsman.backends.dispatch import AllBackendsFailed, Outcome
from pointsman.config.aggregate import AggregateConfig
from pointsman.gateway.cascade import (
    CascadeTrace,
    Step,
    answer_text,
    answered_step,
    call_step,
    last_user_text,
)
from pointsman.policy.aggregate import closed_form, fan_out_gain, log_odds_weights, vote


class AggregateRunner:
    streams_first_step = False  # a streaming client gets the chosen answer as a stream

    def __init__(
        self,
        route: str,
        config: AggregateConfig,
        lam: float,
        prices: Mapping[str, tuple[float, float]],
        metrics: Counter,
    ) -> None:
        self.route, self.config, self.lam, self.prices, self.metrics = route, config, lam, prices, metrics

    def fan_out(self, body: Mapping[str, Any], selection: Any) -> list[str]:
        """The models to ask ([] : serve one model as usual)."""
        members = list(selection.ranking[: self.config.k])
        if len(members) < 2 or not closed_form(last_user_text(body)):
            return []
        if self.config.gate:
            scored = {s.model: s for s in selection.candidates}
            if not all(m in scored for m in members):
                return []
            p = np.array([_num(scored[m].quality) for m in members])
            extra = sum(_num(scored[m].cost, 0.0) for m in members[1:])
            if not fan_out_gain(p) > self.lam * extra:
                return []
        return members

    async def complete(
        self,
        dispatcher: Any,
        body: dict,
        trace: CascadeTrace,
        *,
        prompt_tokens: int | None = None,
        bodies: Mapping[str, dict] | None = None,
        selection: Any = None,
    ) -> Outcome:
        started = time.perf_counter()
        members = self.fan_out(body, selection)
        if not members:
            trace.decision_s = time.perf_counter() - started
            self.metrics.labels(self.route, "single").inc()
            t0 = time.perf_counter()
            outcome = await dispatcher.complete(
                selection.ranking, body, prompt_tokens=prompt_tokens, bodies=bodies
            )
            seconds = time.perf_counter() - t0
            trace.steps.append(
                answered_step(outcome.model, "accepted", outcome.response, self.prices, seconds)
            )
            trace.served = outcome.model
            return outcome
        self.metrics.labels(self.route, "fanned").inc()
        timeout = self.config.step_timeout
        calls = await asyncio.gather(
            *(
                call_step(dispatcher, m, body, timeout, prompt_tokens=prompt_tokens, bodies=bodies)
                for m in members
            )
        )
        upstream = max(c.seconds for c in calls)
        attempts = [a for c in calls for a in c.attempts]
        answered = [(m, c.outcome) for m, c in zip(members, calls) if c.outcome is not None]
        for m, c in zip(members, calls):
            if c.outcome is None:
                trace.steps.append(Step(m, "failed", seconds=c.seconds, code=c.code or "error"))
            else:
                trace.steps.append(answered_step(m, "outvoted", c.outcome.response, self.prices, c.seconds))
        if not answered:
            trace.decision_s = max(0.0, time.perf_counter() - started - upstream)
            raise AllBackendsFailed(
                f"every model of the vote failed ({', '.join(members)})", attempts=attempts
            )
        weights = None
        if self.config.weighted and selection is not None:
            scored = {s.model: _num(s.quality) for s in selection.candidates}
            weights = log_odds_weights(np.array([scored.get(m, np.nan) for m, _ in answered]))
        pick = vote([answer_text(o.response) for _, o in answered], weights)
        model, outcome = answered[pick]
        for step in trace.steps:
            if step.model == model:
                step.outcome = "accepted"
        trace.served = model
        trace.decision_s = max(0.0, time.perf_counter() - started - upstream)
        return Outcome(model=model, attempts=attempts, response=outcome.response)


def _num(value: float | None, missing: float = np.nan) -> float:
    return missing if value is None else float(value)


def build_aggregates(config: Any, registry: CollectorRegistry) -> dict[str, AggregateRunner]:
    """route name -> runner for every aggregate profile of a GatewayConfig."""
    profiles = [p for p in config.profiles if p.aggregate is not None]
    if not profiles:
        return {}
    metrics = Counter(
        "pointsman_aggregate_requests",
        "Requests of aggregate profiles: fanned out to a vote, or served by one model",
        ["route", "how"],
        registry=registry,
    )
    prices = {b.name: (b.input_price, b.output_price) for b in config.backends}
    return {
        p.name: AggregateRunner(p.name, p.aggregate, p.objective.lambda_ or 0.0, prices, metrics)
        for p in profiles
    }


__all__ = ["AggregateRunner", "build_aggregates"]

"""Cascade route profiles in the gateway: call a step, score its answer, escalate while it scores low.

Each step is a non-streaming call to one backend through the dispatcher (its retries, breaker and timeouts
apply), bounded by the cascade's `step_timeout`. A step that fails or times out falls through to the next
one. The answer of step k is scored beside the answers of the steps before it (`pointsman.cascade`); the
first scoring at least its step's threshold is returned. At the last step every answer called is scored
beside all the others and the best-scored one is returned (`pick_best`); if the last steps fail, the best
answer so far is. Only when no step answered does the request fail.

Every step is recorded (model, outcome, score, cost, upstream latency) for the `x-pointsman-cascade` header
and the decision log's `cascade` column, and the request's cost is that of every call. The cascade's own
decision time (scoring and deciding, upstream time excluded) is measured per request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from pointsman.backends.base import BackendError
from pointsman.backends.dispatch import AllBackendsFailed, Attempt, Outcome
from pointsman.cascade.policies import FixedChain
from pointsman.cascade.scorers import AnswerContext, AnswerScorer
from pointsman.config.cascade import CascadeConfig

PER_TOKEN = 1e-6
_DECISION_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1)


@dataclass(slots=True)
class Step:
    model: str
    outcome: str  # "accepted" | "escalated" | "failed" | "answered" (scored at the last step, not chosen)
    score: float | None = None
    cost_usd: float | None = None
    seconds: float = 0.0  # the upstream call
    code: str | None = None  # why a failed step failed
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "outcome": self.outcome,
            "score": None if self.score is None else round(self.score, 4),
            "cost_usd": self.cost_usd,
            "seconds": round(self.seconds, 6),
            "code": self.code,
        }


@dataclass(slots=True)
class CascadeTrace:
    """What one request's cascade did, for the headers, the decision log and the metrics."""

    steps: list[Step] = field(default_factory=list)
    decision_s: float = 0.0  # scoring and deciding, upstream time excluded
    served: str | None = None
    streamed_first_step: bool = False  # stream: first_step: the request was not cascaded

    @property
    def cost_usd(self) -> float | None:
        costs = [s.cost_usd for s in self.steps if s.cost_usd is not None]
        return sum(costs) if costs else None

    def header(self) -> str:
        """`gemma:0.412:escalated:$0.000021:0.180s, mistral:0.830:accepted:...; decision 0.41ms`."""
        if self.streamed_first_step:
            return "streamed from the first step (stream: first_step), not cascaded"
        parts = []
        for s in self.steps:
            score = "-" if s.score is None else f"{s.score:.3f}"
            cost = "-" if s.cost_usd is None else f"${s.cost_usd:.6f}"
            parts.append(f"{s.model}:{score}:{s.code or s.outcome}:{cost}:{s.seconds:.3f}s")
        return ", ".join(parts) + f"; decision {self.decision_s * 1000:.2f}ms"

    def record(self) -> dict[str, Any]:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "decision_ms": round(self.decision_s * 1000, 4),
            "served": self.served,
        }


class CascadeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.steps = Counter(
            "pointsman_cascade_steps",
            "Cascade steps by route, model and outcome (accepted, escalated, failed, answered)",
            ["route", "model", "outcome"],
            registry=registry,
        )
        self.escalations = Counter(
            "pointsman_cascade_escalations",
            "Escalations from one cascade step to the next, by route and the model escalated from",
            ["route", "model"],
            registry=registry,
        )
        self.decision = Histogram(
            "pointsman_cascade_decision_seconds",
            "A cascade's own decision time per request (scoring and deciding, upstream time excluded)",
            ["route"],
            buckets=_DECISION_BUCKETS,
            registry=registry,
        )


class CascadeRunner:
    def __init__(
        self,
        route: str,
        config: CascadeConfig,
        scorer: AnswerScorer,
        prices: Mapping[str, tuple[float, float]],
        metrics: CascadeMetrics,
    ) -> None:
        self.route = route
        self.config = config
        self.scorer = scorer
        self.policy = FixedChain(
            tuple(config.models), tuple(s.threshold or 0.0 for s in config.steps[:-1]), config.pick_best
        )
        self.prices = prices
        self.metrics = metrics

    @property
    def streams_first_step(self) -> bool:
        return self.config.stream == "first_step"

    async def complete(
        self,
        dispatcher: Any,
        body: dict,
        trace: CascadeTrace,
        *,
        prompt_tokens: int | None = None,
        bodies: Mapping[str, dict] | None = None,
        selection: Any = None,  # the profile's ranking: a cascade orders its own steps
    ) -> Outcome:
        """The accepted answer as a dispatcher Outcome (its `attempts` hold every step's tries)."""
        prompt = last_user_text(body)
        answers: list[tuple[int, str, dict]] = []  # (step record index, text, response)
        attempts: list[Attempt] = []
        last_error: BackendError | None = None
        started = time.perf_counter()
        upstream = 0.0
        last = len(self.policy.models) - 1
        for k, model in enumerate(self.policy.models):
            call = await call_step(
                dispatcher, model, body, self.config.step_timeout, prompt_tokens=prompt_tokens, bodies=bodies
            )
            attempts.extend(call.attempts)
            if call.outcome is None:
                last_error = call.error
                upstream += self._failed(trace, model, call.code or "error", call.seconds)
                continue
            seconds = call.seconds
            upstream += seconds
            response = call.outcome.response or {}
            text = answer_text(response)
            context = AnswerContext(
                model, tuple(a[1] for a in answers), _completion_tokens(response), mean_logprob(response)
            )
            score = self.scorer.score(prompt, text, context)
            trace.steps.append(answered_step(model, "answered", response, self.prices, seconds, score))
            answers.append((len(trace.steps) - 1, text, response))
            if k < last and self.policy.accepts(k, score):
                return self._accept(trace, answers, len(answers) - 1, attempts, started, upstream)
            if k < last:
                trace.steps[-1].outcome = "escalated"
                self.metrics.escalations.labels(self.route, model).inc()
        if not answers:
            self._done(trace, started, upstream)
            raise AllBackendsFailed(
                f"every cascade step failed ({', '.join(self.policy.models)})",
                attempts=attempts,
                status=last_error.status if last_error else 503,
                code=last_error.code if last_error else "no_backend",
            )
        return self._accept(trace, answers, self._pick(prompt, answers, trace), attempts, started, upstream)

    def _pick(self, prompt: str, answers: list[tuple[int, str, dict]], trace: CascadeTrace) -> int:
        """At the end of the chain: every answer scored beside all the others; the best one."""
        if len(answers) == 1 or not self.config.pick_best:
            return len(answers) - 1
        texts = [a[1] for a in answers]
        contexts = [
            AnswerContext(
                trace.steps[i].model,
                tuple(t for j, t in enumerate(texts) if j != n),
                _completion_tokens(r),
                mean_logprob(r),
            )
            for n, (i, _, r) in enumerate(answers)
        ]
        scores = self.scorer.score_many([prompt] * len(texts), texts, contexts)
        for (i, _, _), s in zip(answers, scores):
            trace.steps[i].score = float(s)
        return self.policy.pick([float(s) for s in scores])

    def _accept(
        self,
        trace: CascadeTrace,
        answers: list[tuple[int, str, dict]],
        n: int,
        attempts: list[Attempt],
        started: float,
        upstream: float,
    ) -> Outcome:
        i, _, response = answers[n]
        step = trace.steps[i]
        step.outcome = "accepted"
        trace.served = step.model
        self._done(trace, started, upstream)
        for s in trace.steps:
            self.metrics.steps.labels(self.route, s.model, s.outcome).inc()
        return Outcome(model=step.model, attempts=attempts, response=response)

    def _done(self, trace: CascadeTrace, started: float, upstream: float) -> None:
        trace.decision_s = max(0.0, time.perf_counter() - started - upstream)
        self.metrics.decision.labels(self.route).observe(trace.decision_s)

    def _failed(self, trace: CascadeTrace, model: str, code: str, seconds: float) -> float:
        trace.steps.append(Step(model, "failed", seconds=seconds, code=code))
        self.metrics.steps.labels(self.route, model, "failed").inc()
        return seconds


@dataclass(slots=True)
class StepCall:
    """One step's call: its outcome, or the error and code it failed with."""

    outcome: Outcome | None
    attempts: list[Attempt]
    seconds: float
    error: BackendError | None = None
    code: str | None = None  # `step_timeout`, or the backend error's code


async def call_step(
    dispatcher: Any,
    model: str,
    body: dict,
    timeout: float,
    *,
    prompt_tokens: int | None = None,
    bodies: Mapping[str, dict] | None = None,
) -> StepCall:
    """One non-streaming call to `model` through the dispatcher, bounded by `timeout`; a failure is
    returned, not raised (cascade steps and aggregate voters)."""
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            outcome = await dispatcher.complete([model], body, prompt_tokens=prompt_tokens, bodies=bodies)
    except TimeoutError:
        attempt = Attempt(model, "error", "step_timeout", f"no answer in {timeout:g} s")
        error = BackendError(f"{model}: step timeout", status=504, code="timeout")
        return StepCall(None, [attempt], time.perf_counter() - t0, error, "step_timeout")
    except BackendError as exc:
        attempts = list(getattr(exc, "attempts", ()) or [Attempt(model, "error", exc.code, exc.message)])
        return StepCall(None, attempts, time.perf_counter() - t0, exc, exc.code)
    return StepCall(outcome, list(outcome.attempts), time.perf_counter() - t0)


def answered_step(
    model: str,
    outcome: str,
    response: Mapping,
    prices: Mapping[str, tuple[float, float]],
    seconds: float,
    score: float | None = None,
) -> Step:
    """The record of a call that answered: its cost and token counts from the response's usage."""
    usage = response.get("usage") or {}
    return Step(
        model, outcome, score, call_cost(prices, model, response), seconds, None,
        _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")),
    )  # fmt: skip


def call_cost(prices: Mapping[str, tuple[float, float]], model: str, response: Mapping) -> float | None:
    """USD of one call from its usage and the model's prices per 1M tokens; None when either is unknown."""
    usage = response.get("usage") or {}
    pin, pout = prices.get(model, (math.nan, math.nan))
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(pt, int) and not isinstance(ct, int):
        return None
    cost = ((pt or 0) * pin + (ct or 0) * pout) * PER_TOKEN
    return cost if math.isfinite(cost) else None


def response_chunks(response: Mapping[str, Any], model: str, include_usage: bool) -> list[dict[str, Any]]:
    """A chat completion as the chunks of its stream: the role and the content, the finish, the usage."""
    head = {
        "id": response.get("id", "chatcmpl-cascade"),
        "object": "chat.completion.chunk",
        "created": response.get("created", int(time.time())),
        "model": model,
    }
    chunks = []
    for choice in response.get("choices") or ():
        message = choice.get("message") or {}
        delta = {k: v for k, v in message.items() if k in ("role", "content", "tool_calls", "refusal")}
        if isinstance(delta.get("tool_calls"), list):
            delta["tool_calls"] = [{"index": n, **t} for n, t in enumerate(delta["tool_calls"])]
        index = choice.get("index", 0)
        chunks.append({**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        finish = choice.get("finish_reason") or "stop"
        chunks.append({**head, "choices": [{"index": index, "delta": {}, "finish_reason": finish}]})
    if include_usage and response.get("usage"):
        chunks.append({**head, "choices": [], "usage": response["usage"]})
    return chunks


def last_user_text(body: Mapping[str, Any]) -> str:
    """The last user message's text: what the scorer was trained on (a single-turn prompt)."""
    for message in reversed(body.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else ""
    return ""


def answer_text(response: Mapping[str, Any]) -> str:
    try:
        content = response["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return content if isinstance(content, str) else ""


def mean_logprob(response: Mapping[str, Any]) -> float | None:
    """The mean token log-probability of the first choice, when the backend returned logprobs."""
    try:
        tokens = response["choices"][0]["logprobs"]["content"]
        values = [float(t["logprob"]) for t in tokens]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return sum(values) / len(values) if values else None


def _completion_tokens(response: Mapping[str, Any]) -> int | None:
    return _int((response.get("usage") or {}).get("completion_tokens"))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_cascades(config: Any, registry: CollectorRegistry) -> dict[str, CascadeRunner]:
    """route name -> runner for every cascade profile of a GatewayConfig (scorer files loaded here)."""
    profiles = [p for p in config.profiles if p.cascade is not None]
    if not profiles:
        return {}
    metrics = CascadeMetrics(registry)
    prices = {b.name: (b.input_price, b.output_price) for b in config.backends}
    return {
        p.name: CascadeRunner(p.name, p.cascade, AnswerScorer.load(p.cascade.scorer), prices, metrics)
        for p in profiles
    }

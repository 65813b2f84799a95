"""The gateway's parts, built from a config, and the request path between HTTP and the backends.

One request: admit (auth, rate limit) -> parse -> decide (rules over lazily computed signals, requested model
-> Decision) -> guard (block: an error, no backend called; redact: per-backend bodies) -> select (the
profile's selector -> ranking) -> dispatch (fallback down the ranking) -> render (restore redacted values) ->
record (metrics, decision log: the decision and its signals, never what a guard removed).
`gateway/chat.py` speaks HTTP around it; this module knows nothing of ASGI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pointsman.backends.base import BackendError
from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.affinity import Affinity
from pointsman.gateway.auth import Gatekeeper, Principal
from pointsman.gateway.errors import APIError, bad_request
from pointsman.gateway.failures import safe_message
from pointsman.gateway.feedback import ImplicitFeedback
from pointsman.gateway.metrics import Metrics
from pointsman.gateway.request import ChatRequest
from pointsman.gateway.shared import SharedControls
from pointsman.guard import Redacted, mask_values
from pointsman.learn.monitor import DriftMonitor
from pointsman.policy.build import Policy, build_policy
from pointsman.policy.facts import summarize
from pointsman.policy.profiles import RouteProfile, Selection
from pointsman.policy.rules import BadModelRequest, Decision, UnknownModel
from pointsman.policy.flags import FlagError, Flags
from pointsman.signals.base import Caller, RequestError, RequestView
from pointsman.signals.heuristics import HeaderSignal
from pointsman.state import SharedState, open_state
from pointsman.store.decisions import DecisionLog, DecisionRecord, open_log, prompt_hash
from pointsman.store.feedback import FeedbackRecord

log = logging.getLogger("pointsman.gateway")

PER_TOKEN = 1e-6
DEBUG_HEADER = "x-pointsman-debug"
FLAGS_HEADER = "x-pointsman-flags"  # per-request objective flags (policy/flags.py)


@dataclass(slots=True)
class Exchange:
    """Everything one request gathers on its way through, for the headers, the metrics and the log."""

    request_id: str
    started: float  # perf_counter at arrival
    arrived: float  # unix time at arrival
    principal: Principal | None = None
    headers_in: dict[str, str] = field(default_factory=dict)  # the request headers signals may read
    request: ChatRequest | None = None
    view: RequestView | None = None
    decision: Decision | None = None
    selection: Selection | None = None
    served: str | None = None
    attempts: list = field(default_factory=list)
    status: int = 200
    error_code: str | None = None
    first_byte_s: float | None = None
    usage: dict | None = None
    answer: str | None = None  # only kept when the store logs content
    redacted: Redacted | None = None  # what the redact guard replaced (never logged)
    debug_signals: bool = False  # the client asked for the signals header, and the config allows it
    client_request_id: str | None = None  # the client's x-request-id: echoed as x-client-request-id
    traceparent: str | None = None  # the client's W3C trace context, kept in the decision record
    error_detail: str | None = None  # the upstream's words for a failure: log and record only
    budget_remaining: float | None = None  # the caller's smallest remaining budget share (gateway/budgets.py)
    cache: Any = None  # pointsman.gateway.caching.CacheTicket, when the cache is on
    cascade: Any = None  # a cascade profile's trace (gateway/cascade.py): its steps, for headers and log
    answer_tags: list[str] = field(default_factory=list)  # tags the answer rules gave (gateway/answers.py)
    answer_edited: bool = False  # an answer rule replaced, redacted or retried the answer

    @property
    def route(self) -> str:
        return self.decision.route if self.decision else ""

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"x-request-id", self.request_id.encode())]
        if self.client_request_id:
            out.append((b"x-client-request-id", _header(self.client_request_id)))
        d = self.decision
        if d is not None:
            out.append((b"x-pointsman-decision", _header(d.name)))
            out.append((b"x-pointsman-action", d.action.encode()))
            reason = self.selection.reason if self.selection and d.profile else ""
            why = f"{d.reason}; {reason}" if reason else d.reason
            failed = [a for a in self.attempts if a.outcome != "ok" and a.model != self.served]
            if failed and self.served:
                why += "; fell back from " + ", ".join(f"{a.model} ({a.code})" for a in failed)
            if d.route:
                out.append((b"x-pointsman-route", _header(d.route)))
            out.append((b"x-pointsman-reason", _header(why)))
            if self.debug_signals:
                signals = json.dumps(summarize(d.signals), separators=(",", ":"), ensure_ascii=True)
                out.append((b"x-pointsman-signals", _header(signals, 8192)))
        if self.cache is not None:
            out.extend(self.cache.headers())
        if self.served:
            out.append((b"x-pointsman-model", _header(self.served)))
            spilled = next((a.model for a in self.attempts if a.code == "saturated"), None)
            if spilled:
                out.append((b"x-pointsman-spill", _header(f"{spilled} -> {self.served}")))
        if self.cascade is not None:
            out.append((b"x-pointsman-cascade", _header(self.cascade.header(), 2048)))
        return out


def _header(value: str, limit: int = 512) -> bytes:
    """A header-safe rendering: printable ASCII, at most `limit` bytes."""
    if not (value.isascii() and value.isprintable()):
        value = "".join(ch if " " <= ch <= "~" else "?" for ch in value)
    return value[:limit].encode()


def new_request_id() -> str:
    """`req_` + 13 hex digits of the arrival time in microseconds + 11 random ones: unique, and in arrival
    order, so the decision log's primary-key index grows at its end (random ids made each insert about twice
    as costly). `random`, not os.urandom: no system call (which releases the GIL to the decision log's writer
    thread), and it is reseeded in forked workers."""
    return f"req_{time.time_ns() // 1000:013x}{random.getrandbits(44):011x}"


class Gateway:
    """The configured parts: policy (signals, profiles, rules), gatekeeper, dispatcher, log, metrics."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        dispatcher: Any = None,  # pointsman.backends.dispatch.Dispatcher
        decision_log: DecisionLog | None = None,
        encoder: Any = None,
        policy: Policy | None = None,
        state: SharedState | None = None,
    ) -> None:
        self.config = config
        self.prices = {
            b.name: (b.input_price * PER_TOKEN, b.output_price * PER_TOKEN) for b in config.backends
        }
        self.policy = policy if policy is not None else build_policy(config, encoder=encoder)
        self.profiles: dict[str, RouteProfile] = self.policy.profiles
        self.decider = self.policy.decider
        self.untrusted = frozenset(b.name for b in config.backends if not b.trusted)
        self.spills = {p.name: p.spill.max_cost_ratio for p in config.profiles if p.spill is not None}
        # Request headers the gateway reads besides auth: the debug switch and those header signals read.
        self.header_names = frozenset(
            {
                DEBUG_HEADER,
                FLAGS_HEADER,
                *(s.header for s in self.policy.runner.signals.values() if isinstance(s, HeaderSignal)),
            }
        )
        self.affinity = Affinity(config.affinity) if config.affinity.enabled else None
        self.tracing = None
        if config.tracing.enabled:
            from pointsman.gateway.tracing import Tracing

            self.tracing = Tracing(config.tracing)
        if self.affinity is not None:
            self.header_names |= {self.affinity.header}
        self.gatekeeper = Gatekeeper(config.auth, config.limits)
        if dispatcher is None:
            from pointsman.backends.dispatch import Dispatcher
            from pointsman.backends.factory import make_backend

            dispatcher = Dispatcher({b.name: make_backend(b) for b in config.backends})
        self.dispatcher = dispatcher
        self.log = decision_log if decision_log is not None else open_log(config.store)
        self.state = state if state is not None else open_state(config.state)
        self.metrics = Metrics(self.dispatcher.states)
        self.shared = SharedControls(config, self.state, self.metrics.registry, self.dispatcher)
        from pointsman.gateway.aggregate import build_aggregates
        from pointsman.gateway.cascade import build_cascades

        self.cascades = build_cascades(config, self.metrics.registry)  # route -> CascadeRunner
        self.cascades.update(build_aggregates(config, self.metrics.registry))  # and AggregateRunner
        self.implicit = ImplicitFeedback(config.feedback)
        bandits = frozenset(n for n, p in self.profiles.items() if hasattr(p.selector, "learn"))
        self.drift = DriftMonitor(config.feedback.drift, self.metrics.registry, skip=bandits)
        self.cache = None
        if config.cache.enabled:
            from pointsman.gateway.caching import GatewayCache, policy_id

            self.cache = GatewayCache(
                config.cache, self.state, self.metrics.registry, self.policy.runner, policy_id(config)
            )
        self._dropped_seen = 0  # decision records lost so far, already counted in the metrics
        self.started = False

    async def start(self) -> None:
        self.log.start()
        await self.shared.start()  # the state, and what is built on it
        if self.cache is not None:
            await self.cache.start()
        await self.dispatcher.start()
        await asyncio.to_thread(self.policy.warm)  # the encoder and classifiers, not on the first request
        for profile in self.profiles.values():  # load encoders / routers now, not on the first request
            warm = getattr(profile.selector, "warm", None)
            if warm is not None:
                await asyncio.to_thread(warm)
            start = getattr(profile.selector, "start", None)  # learning selectors: state, updater task
            if start is not None:
                await start(self.state, self.metrics.registry)
        self.started = True

    async def close(self) -> None:
        self.started = False
        try:
            await self.dispatcher.close(self.config.server.graceful_timeout)
        finally:
            for profile in self.profiles.values():
                stop = getattr(profile.selector, "stop", None)
                if stop is not None:
                    await stop()
            self.policy.close()
            self.log.close()
            if self.cache is not None:
                await self.cache.close()
            await self.shared.close()
            if self.tracing is not None:
                self.tracing.close()

    # -- the request path ------------------------------------------------------------------------------

    async def admit(self, ex: Exchange, authorization: str | None, client: str | None) -> None:
        # Known before the rate limit: a limited request is logged with its tenant and key.
        ex.principal = principal = self.gatekeeper.authenticate(authorization, client)
        ex.budget_remaining = await self.shared.admit(principal)  # limits and budgets, shared by replicas

    async def route(self, ex: Exchange) -> None:
        """Decide, guard and select: fills ex.view, ex.decision, ex.selection, ex.redacted. A block, or a bad
        request, raises APIError (the decision is on `ex` already, for the headers and the log)."""
        req = ex.request
        assert req is not None and ex.principal is not None
        try:
            caller = Caller(ex.principal.tenant, ex.principal.key_id, ex.headers_in, ex.budget_remaining)
            ex.view = view = RequestView(req.body, caller)
        except RequestError as exc:
            param = str(exc).partition(":")[0]
            raise bad_request(str(exc), param=param, code="invalid_type") from None
        ex.debug_signals = self.config.debug.signals_header and ex.headers_in.get(DEBUG_HEADER) == "signals"
        try:
            ex.decision = decision = await self.decider.decide(view, req.model)
        except UnknownModel as exc:
            raise APIError(404, str(exc), param="model", code="model_not_found") from None
        except BadModelRequest as exc:
            raise bad_request(str(exc), param="model", code="invalid_model") from None
        self.metrics.decided(decision.name, decision.action)
        if decision.block is not None:
            block = decision.block
            raise APIError(block.status, block.message, code=block.code)
        if decision.profile is not None:
            # Learning selectors explore only on plain routes, never on guarded (diverted, redacted) ones.
            explore = decision.action == "route"
            try:
                flags = Flags.parse(ex.headers_in.get(FLAGS_HEADER))
                ex.selection = await decision.profile.select(
                    view, decision.objective, explore=explore, flags=flags
                )
            except FlagError as exc:
                raise bad_request(
                    f"{FLAGS_HEADER}: {exc}", param=FLAGS_HEADER, code="invalid_flags"
                ) from None
        else:
            ranking = [decision.model, *decision.fallbacks]
            ex.selection = Selection(ranking, [], 1.0, decision.reason)  # type: ignore[list-item]
        if self.affinity is not None:
            self.affinity.apply(ex)
        if decision.strategy is not None:  # signals read the client's prompt; the backend gets the rewrite
            ex.request = req = replace(req, body=decision.strategy.apply(req.body))
        if decision.redact is not None:
            ex.redacted = decision.redact.apply(req.body, self.untrusted, ex.selection.ranking)

    def spill(self, ex: Exchange) -> float | None:
        """The cost ceiling of a spill past a saturated model (the profile's `spill`), None: no spill."""
        return self.spills.get(ex.route)

    def failure(self, ex: Exchange, exc: BackendError) -> APIError:
        """The client-facing error for a backend failure before the first byte (usually AllBackendsFailed):
        a safe message (no upstream URL, body or exception text); the detail goes to the log and record."""
        ex.attempts = list(getattr(exc, "attempts", ()))
        headers = {"retry-after": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        message = self._detail(ex, exc, safe_message(exc, ex.attempts))
        return APIError(
            exc.status, message, code=exc.code, param=getattr(exc, "param", None), headers=headers
        )

    def stream_failure(self, ex: Exchange, model: str, exc: BackendError) -> APIError:
        """The final SSE error event of a stream that died after its first byte."""
        code = ex.error_code or "stream_error"
        message = self._detail(ex, exc, f"The stream from {model} failed ({code}); the answer is incomplete")
        return APIError(502, message, code=code)

    def _detail(self, ex: Exchange, exc: BackendError, message: str) -> str:
        ex.error_detail = exc.message
        if exc.backend is None:  # the gateway's own words (codes and counts): nothing upstream to hide
            return exc.message
        log.warning("request %s: %s", ex.request_id, exc.message)
        return f"{message}; upstream said: {exc.message}" if self.config.debug.upstream_errors else message

    def finish(self, ex: Exchange) -> None:
        """Metrics and the decision record for a finished (or failed) request. Never raises."""
        try:
            total = time.perf_counter() - ex.started
            model = ex.served or ""
            stream = bool(ex.request and ex.request.stream)
            self.metrics.observe(ex.route, model, ex.status, stream, total, ex.first_byte_s)
            prompt_t = completion_t = cost = None
            if ex.usage:
                prompt_t = _int(ex.usage.get("prompt_tokens"))
                completion_t = _int(ex.usage.get("completion_tokens"))
                if model in self.prices and (prompt_t is not None or completion_t is not None):
                    pin, pout = self.prices[model]
                    cost = (prompt_t or 0) * pin + (completion_t or 0) * pout
                self.metrics.usage(ex.route, model, prompt_t, completion_t, cost)
            if ex.cascade is not None:  # the cascade's other calls were paid for too
                for step in ex.cascade.steps:
                    if step.outcome != "accepted" and step.cost_usd is not None:
                        self.metrics.usage(
                            ex.route, step.model, step.prompt_tokens, step.completion_tokens, step.cost_usd
                        )
            paid = ex.cascade.cost_usd if ex.cascade is not None and ex.cascade.steps else cost  # every call
            self.shared.finished(ex, prompt_t, completion_t, paid)  # spend, budgets, tokens per minute
            self.metrics.attempts(ex.attempts, ex.served)
            record = self._record(ex, total, prompt_t, completion_t, cost)
            self.log.put(record)
            if record.cost_usd is not None and record.route in self.profiles:
                self.drift.cost(record)
            for signal in self.implicit.observe(ex):
                self.log.put_feedback(signal)
                if self.cache is not None and signal.kind == "reask":
                    self.cache.feedback(signal.request_id, signal.score)
                if signal.request_id == record.request_id:
                    self.feedback_received(signal, record)
            if self.affinity is not None:
                self.affinity.remember(ex)
            if self.tracing is not None:
                self.tracing.record(ex, total, cost)
            dropped = self.log.dropped - self._dropped_seen
            if dropped:
                self.metrics.log_dropped.inc(dropped)
                self._dropped_seen += dropped
        except Exception:  # recording must never fail a request
            log.exception("could not record request %s", ex.request_id)

    def _record(
        self, ex: Exchange, total: float, prompt_t: int | None, completion_t: int | None, cost: float | None
    ) -> DecisionRecord:
        sel, dec, req, who = ex.selection, ex.decision, ex.request, ex.principal
        record = DecisionRecord(
            request_id=ex.request_id,
            time=ex.arrived,
            requested_model=req.model if req else "",
            route=ex.route,
            status=ex.status,
            tenant=who.tenant if who else None,
            api_key_id=who.key_id if who else None,
            rule=dec.rule if dec else None,
            reason=dec.reason if dec else None,
            candidates=[{"model": c.model, "quality": c.quality, "cost": c.cost} for c in sel.candidates]
            if sel
            else [],
            chosen_model=sel.ranking[0] if sel else None,
            served_model=ex.served,
            probability=sel.probability if sel else 1.0,
            fallbacks=[
                {
                    "model": a.model,
                    "outcome": a.outcome,
                    "code": a.code,
                    "seconds": round(a.seconds, 6),
                    "message": a.message,
                }
                for a in ex.attempts
                if a.outcome != "ok"
            ],
            stream=bool(req and req.stream),
            first_byte_s=ex.first_byte_s,
            total_s=total,
            prompt_tokens=prompt_t,
            completion_tokens=completion_t,
            cost_usd=cost,
            error_code=ex.error_code,
            decision=dec.name if dec else None,
            action=dec.action if dec else None,
            signals=summarize(dec.signals) if dec and dec.signals else None,
            client_request_id=ex.client_request_id,
            traceparent=ex.traceparent,
            error_detail=ex.error_detail,
            context=sel.context if sel else None,
        )
        if sel and dec and dec.profile is not None:
            record.reason = f"{dec.reason}; {sel.reason}"
        if ex.cache is not None:
            ex.cache.annotate(record)
        if ex.cascade is not None:  # every step was paid for
            record.cascade = ex.cascade.record()
            record.cost_usd = ex.cascade.cost_usd if ex.cascade.steps else cost
        if self.log.log_content and req is not None and not (dec and dec.block):
            # Never what a guard removed: a blocked request logs no content; a redacted one its placeholders.
            red = ex.redacted
            messages = (red.body if red else req.body).get("messages")
            answer = mask_values(ex.answer, red.redaction) if red else ex.answer
            record.prompt_hash = prompt_hash(messages)
            record.content = {"messages": messages, "response": answer}
        return record

    def feedback_received(self, feedback: FeedbackRecord, decision: DecisionRecord) -> None:
        """A score for a logged decision (explicit or implicit): the route's learning selector hears of it
        (of an answer from the cache: the cache does, not the selector)."""
        if decision.action == "cache":
            if self.cache is not None:
                self.cache.feedback(decision.request_id, feedback.score)
            return
        self.drift.quality(feedback, decision)
        profile = self.profiles.get(decision.route)
        learn = getattr(profile.selector, "learn", None) if profile is not None else None
        if learn is not None:
            learn(feedback, decision)

    # -- information -----------------------------------------------------------------------------------

    def backend_states(self) -> Mapping[str, Any]:
        return self.dispatcher.states()


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None

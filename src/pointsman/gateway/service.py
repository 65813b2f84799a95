"""The gateway's parts, built from a config, and the request path between HTTP and the backends.

One request: admit (auth, rate limit) -> parse -> decide (requested model, rules -> Decision) -> select (the
profile's selector -> ranking) -> dispatch (fallback down the ranking) -> render -> record (metrics, decision
log). `gateway/chat.py` speaks HTTP around it; this module knows nothing of ASGI.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from pointsman.backends.base import BackendError
from pointsman.config.gateway import GatewayConfig
from pointsman.gateway.auth import Gatekeeper, Principal
from pointsman.gateway.errors import APIError, bad_request
from pointsman.gateway.metrics import Metrics
from pointsman.gateway.request import ChatRequest
from pointsman.policy.profiles import RouteProfile, Selection, build_profile
from pointsman.policy.rules import BadModelRequest, Decider, Decision, UnknownModel
from pointsman.signals.base import Caller, RequestError, RequestView
from pointsman.store.decisions import DecisionLog, DecisionRecord, open_log, prompt_hash

log = logging.getLogger("pointsman.gateway")

PER_TOKEN = 1e-6


@dataclass(slots=True)
class Exchange:
    """Everything one request gathers on its way through, for the headers, the metrics and the log."""

    request_id: str
    started: float  # perf_counter at arrival
    arrived: float  # unix time at arrival
    principal: Principal | None = None
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

    @property
    def route(self) -> str:
        return self.decision.route if self.decision else ""

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"x-request-id", self.request_id.encode())]
        if self.decision is not None:
            reason = self.selection.reason if self.selection and self.decision.profile else ""
            why = f"{self.decision.reason}; {reason}" if reason else self.decision.reason
            failed = [a for a in self.attempts if a.outcome != "ok" and a.model != self.served]
            if failed and self.served:
                why += "; fell back from " + ", ".join(f"{a.model} ({a.code})" for a in failed)
            out.append((b"x-pointsman-route", _header(self.decision.route)))
            out.append((b"x-pointsman-reason", _header(why)))
        if self.served:
            out.append((b"x-pointsman-model", _header(self.served)))
        return out


def _header(value: str) -> bytes:
    """A header-safe rendering: printable ASCII, at most 512 bytes."""
    if not (value.isascii() and value.isprintable()):
        value = "".join(ch if " " <= ch <= "~" else "?" for ch in value)
    return value[:512].encode()


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


class Gateway:
    """The configured parts: profiles, decider, gatekeeper, dispatcher, decision log, metrics."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        dispatcher: Any = None,  # pointsman.backends.dispatch.Dispatcher
        decision_log: DecisionLog | None = None,
        encoder: Any = None,
    ) -> None:
        self.config = config
        backends = {b.name: b for b in config.backends}
        self.prices = {
            b.name: (b.input_price * PER_TOKEN, b.output_price * PER_TOKEN) for b in config.backends
        }
        self.profiles: dict[str, RouteProfile] = {
            p.name: build_profile(p, backends, encoder=encoder) for p in config.profiles
        }
        self.decider = Decider.from_config(
            config.rules,
            self.profiles,
            backends=list(backends),
            default_profile=config.default_profile_name,
            fallbacks=config.fallbacks,
        )
        self.gatekeeper = Gatekeeper(config.auth, config.limits)
        if dispatcher is None:
            from pointsman.backends.dispatch import Dispatcher
            from pointsman.backends.factory import make_backend

            dispatcher = Dispatcher({b.name: make_backend(b) for b in config.backends})
        self.dispatcher = dispatcher
        self.log = decision_log if decision_log is not None else open_log(config.store)
        self.metrics = Metrics(self.dispatcher.states)
        self._dropped_seen = 0  # decision records lost so far, already counted in the metrics
        self.started = False

    async def start(self) -> None:
        self.log.start()
        await self.dispatcher.start()
        for profile in self.profiles.values():  # load encoders / routers now, not on the first request
            warm = getattr(profile.selector, "warm", None)
            if warm is not None:
                await asyncio.to_thread(warm)
        self.started = True

    async def close(self) -> None:
        self.started = False
        try:
            await self.dispatcher.close(self.config.server.graceful_timeout)
        finally:
            self.log.close()

    # -- the request path ------------------------------------------------------------------------------

    def admit(self, ex: Exchange, authorization: str | None, client: str | None) -> None:
        ex.principal = self.gatekeeper.admit(authorization, client)

    async def route(self, ex: Exchange) -> None:
        """Decide and select: fills ex.view, ex.decision, ex.selection (APIError on a bad request)."""
        req = ex.request
        assert req is not None and ex.principal is not None
        try:
            ex.view = view = RequestView(req.body, Caller(ex.principal.tenant, ex.principal.key_id))
        except RequestError as exc:
            param = str(exc).partition(":")[0]
            raise bad_request(str(exc), param=param, code="invalid_type") from None
        try:
            ex.decision = decision = self.decider.decide(view, req.model)
        except UnknownModel as exc:
            raise APIError(404, str(exc), param="model", code="model_not_found") from None
        except BadModelRequest as exc:
            raise bad_request(str(exc), param="model", code="invalid_model") from None
        if decision.profile is not None:
            ex.selection = await decision.profile.select(view, decision.objective)
        else:
            ranking = [decision.model, *decision.fallbacks]
            ex.selection = Selection(ranking, [], 1.0, decision.reason)  # type: ignore[list-item]

    def failure(self, ex: Exchange, exc: BackendError) -> APIError:
        """The client-facing error for a backend failure before the first byte (usually AllBackendsFailed)."""
        ex.attempts = list(getattr(exc, "attempts", ()))
        message = exc.message
        if ex.attempts:
            tried = "; ".join(f"{a.model}: {a.code or a.outcome}" for a in ex.attempts)
            message = f"No model could answer ({tried}). Last error: {message}"
        headers = {"retry-after": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        return APIError(exc.status, message, code=exc.code, headers=headers)

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
            for a in ex.attempts:
                if a.outcome != "ok":
                    self.metrics.fallbacks.labels(a.model, a.code or a.outcome).inc()
            self.log.put(self._record(ex, total, prompt_t, completion_t, cost))
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
                {"model": a.model, "outcome": a.outcome, "code": a.code, "seconds": round(a.seconds, 6)}
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
        )
        if sel and dec and dec.profile is not None:
            record.reason = f"{dec.reason}; {sel.reason}"
        if self.log.log_content and req is not None:
            messages = req.body.get("messages")
            record.prompt_hash = prompt_hash(messages)
            record.content = {"messages": messages, "response": ex.answer}
        return record

    # -- information -----------------------------------------------------------------------------------

    def backend_states(self) -> Mapping[str, Any]:
        return self.dispatcher.states()


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None

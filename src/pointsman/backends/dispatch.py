"""Reliable dispatch: send a request down a ranking of backends until one answers.

For each model of the ranking, in order:
- skip it when its context window is too small for the prompt plus the requested output (`context_window`),
  when an upstream Retry-After asked us to hold off (`rate_limited`), when its circuit breaker is open
  (`breaker_open`);
- when `max_concurrency` calls are in flight and none ends within `timeouts.queue` (`saturated`), stop with
  a 503 and Retry-After, unless the caller allows a spill (`spill`: a cost ceiling as a multiple of the
  saturated model's price): then models priced above the ceiling are skipped (`spill_ceiling`) and the
  next one within it is tried;
- otherwise call it under its timeouts, retrying retryable failures (5xx, 429, resets, broken or garbled
  answers) up to `retry.attempts` tries with jittered exponential backoff; a Retry-After is honoured (never
  retried sooner), and one longer than `retry.max_backoff` moves on to the next model at once. A timeout is
  not retried on the same backend (it would likely be as slow again): the next model is tried.
- an error about the request itself (400/413/422, other than a context-length error or content this model
  cannot take) is not the backend's fault: the dispatch stops and the client gets it.

Streams fall back only before their first chunk. After it, the stream belongs to that backend: if it dies
mid-way, iterating `Outcome.chunks` raises a BackendError (and `Outcome.stream_error` is set), never a second,
spliced answer from another model.

Cancelling the awaiting task (client disconnect) cancels the upstream call, which closes its connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from pointsman.backends.base import Backend, BackendError, ChatBody, ChatChunk, ChatResponse
from pointsman.backends.breaker import CircuitBreaker
from pointsman.backends.limiter import ConcurrencyLimit
from pointsman.backends.tokens import estimate_prompt_tokens, requested_output_tokens

log = logging.getLogger("pointsman.backends")

_now = time.perf_counter
# Upstream verdicts on the request itself: the next model would refuse it too ...
_REQUEST_STATUSES = frozenset((400, 413, 422))
# ... unless it is about this model's limits.
_MODEL_LIMIT_CODES = frozenset(("context_length_exceeded", "unsupported_content"))


@dataclass(slots=True)
class Attempt:
    model: str
    outcome: str  # "ok" | "error" | "skipped" (breaker open, context too small, saturated, rate limited)
    code: str | None = None  # e.g. "timeout", "upstream_500", "breaker_open", "context_window"
    message: str | None = None
    seconds: float = 0.0


@dataclass
class Outcome:
    model: str  # the model that answered
    attempts: list[Attempt]  # all tries in order; fallbacks = attempts on other models
    response: ChatResponse | None = None  # non-streaming
    chunks: AsyncIterator[ChatChunk] | None = None  # streaming: the whole stream, first chunk included
    first_byte_s: float = 0.0  # from the dispatch call to the answer (non-streaming) or first chunk
    stream_error: BackendError | None = None  # set when the stream died after its first chunk

    @property
    def spilled_from(self) -> str | None:
        """The saturated model this answer spilled over from, if it did."""
        return next((a.model for a in self.attempts if a.code == "saturated"), None)

    @property
    def fallbacks(self) -> list[str]:
        """The models tried (or skipped) before the one that answered, in order."""
        seen: list[str] = []
        for attempt in self.attempts:
            if attempt.model != self.model and attempt.model not in seen:
                seen.append(attempt.model)
        return seen

    @property
    def retries(self) -> int:
        """Failed tries of the model that answered, before its successful one."""
        return sum(1 for a in self.attempts if a.model == self.model and a.outcome == "error")


class AllBackendsFailed(BackendError):
    """Nothing could serve the request; `attempts` says why, model by model. Status, code and retry_after are
    those of the most telling failure (the last error, else what made every model be skipped)."""

    def __init__(
        self,
        message: str,
        *,
        attempts: list[Attempt],
        status: int = 503,
        code: str = "no_backend",
        retryable: bool = True,
        retry_after: float | None = None,
        backend: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(
            message, status=status, code=code, retryable=retryable, retry_after=retry_after, backend=backend
        )
        self.attempts = attempts
        self.param = param  # the request field at fault (max_tokens when only the output does not fit)


@dataclass
class BackendState:
    """A backend as the dispatcher sees it (for /ready and /metrics)."""

    name: str
    breaker: str  # "closed" | "open" | "half_open"
    in_flight: int
    max_concurrency: int
    consecutive_failures: int
    requests: int  # calls started
    failures: int  # calls that failed (errors counted by the breaker)
    rate_limited_for: float  # seconds left of an upstream's Retry-After hold, 0 if none


class _Member:
    """One backend under dispatch, with its reliability state."""

    __slots__ = (
        "backend",
        "breaker",
        "config",
        "failures",
        "hold_until",
        "limit",
        "name",
        "requests",
        "upstream_model",
    )

    def __init__(self, backend: Backend) -> None:
        cfg = backend.config
        self.backend = backend
        self.name = backend.name
        self.upstream_model = cfg.upstream_model
        self.config = cfg
        self.breaker = CircuitBreaker(cfg.breaker.failures, cfg.breaker.cooldown)
        self.limit = ConcurrencyLimit(cfg.max_concurrency)
        self.hold_until = 0.0  # perf_counter time before which an upstream asked not to be called
        self.requests = 0
        self.failures = 0

    def record(self, err: BackendError | None) -> None:
        """Tell the breaker how a call ended. Errors about the request (4xx) show the backend is alive."""
        if err is None or not (err.status >= 500 or err.status == 429):
            self.breaker.success()
        else:
            self.failures += 1
            self.breaker.failure()
            if self.breaker.state != "closed":
                log.warning(
                    "backend %s: circuit breaker %s after %s", self.name, self.breaker.state, err.code
                )


def tried(attempts: Sequence[Attempt]) -> str:
    """`a: upstream_500 (2 tries); b: timeout`: each model once per outcome, in order."""
    groups: list[list] = []
    for a in attempts:
        code = a.code or a.outcome
        if groups and groups[-1][0] == (a.model, code):
            groups[-1][1] += 1
        else:
            groups.append([(a.model, code), 1])
    return "; ".join(f"{m}: {c}" + (f" ({n} tries)" if n > 1 else "") for (m, c), n in groups)


def _price(member: _Member) -> float:
    return member.config.input_price + member.config.output_price


def _timeout_error(member: _Member, what: str, seconds: float) -> BackendError:
    return BackendError(
        f"{member.name}: no {what} within {seconds:g} s", status=504, code="timeout", backend=member.name
    )


def _internal_error(member: _Member, exc: Exception) -> BackendError:
    log.error("backend %s failed unexpectedly", member.name, exc_info=exc)
    return BackendError(
        f"{member.name}: internal error ({type(exc).__name__}: {exc})",
        status=500,
        code="internal_error",
        retryable=False,
        backend=member.name,
    )


def _retry_delay(member: _Member, retry: int, retry_after: float | None) -> float | None:
    """Seconds before try number `retry` (1 = first retry), or None to move on to the next model."""
    policy = member.config.retry
    base = min(policy.backoff * 2 ** (retry - 1), policy.max_backoff)
    delay = base / 2 + random.random() * base / 2  # "equal jitter": spread retries of concurrent requests
    if retry_after is not None:
        if retry_after > policy.max_backoff:
            return None
        delay = max(delay, retry_after)
    return delay


class _Watchdog:
    """The idle and total deadlines of a stream after its first chunk, with one timer per idle period rather
    than one per chunk: the timer re-arms itself when chunks kept arriving."""

    __slots__ = ("deadline", "expired", "handle", "idle", "loop", "since", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float, deadline: float) -> None:
        self.loop, self.idle, self.deadline = loop, idle, deadline
        self.handle: asyncio.TimerHandle | None = None
        self.since: float | None = None  # when the consumer started waiting for the next chunk
        self.task: asyncio.Task[object] | None = None
        self.expired: str | None = None  # "idle" | "total"

    def waiting(self, task: asyncio.Task[object] | None) -> bool:
        """The consumer awaits the next chunk now. False when the total deadline has already passed."""
        now = self.loop.time()
        if now >= self.deadline:
            self.expired = "total"
            return False
        self.task, self.since = task, now
        if self.handle is None:
            self.handle = self.loop.call_at(min(now + self.idle, self.deadline), self._fire)
        return True

    def _fire(self) -> None:
        self.handle = None
        if self.since is None or self.task is None:
            return  # not waiting: the next waiting() re-arms
        due = min(self.since + self.idle, self.deadline)
        if self.loop.time() + 1e-6 >= due:
            self.expired = "total" if due >= self.deadline else "idle"
            self.task.cancel()
        else:
            self.handle = self.loop.call_at(due, self._fire)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class _Relay:
    """`Outcome.chunks`: the stream of the backend that answered, first chunk included.

    Iterate it (chunk by chunk, or `batches()`: lists of the chunks that arrived together) to the end or
    `await aclose()` it (e.g. with `contextlib.aclosing`); either releases the backend's concurrency slot and
    the upstream connection.
    """

    __slots__ = ("_closed", "_dispatcher", "_member", "_outcome", "_pending", "_source", "_watchdog")

    def __init__(
        self,
        dispatcher: Dispatcher,
        member: _Member,
        source: AsyncIterator[list[ChatChunk]],
        first: list[ChatChunk],
        outcome: Outcome,
        deadline: float,
    ) -> None:
        self._dispatcher, self._member, self._source = dispatcher, member, source
        self._pending: list[ChatChunk] = first  # chunks received and not yet handed out, in order
        self._outcome = outcome
        loop = asyncio.get_running_loop()
        self._watchdog = _Watchdog(loop, member.config.timeouts.idle, deadline)
        self._closed = False

    def __aiter__(self) -> _Relay:
        return self

    async def __anext__(self) -> ChatChunk:
        while not self._pending:
            self._pending = await self._next_batch()
        return self._pending.pop(0)

    async def batches(self) -> AsyncIterator[list[ChatChunk]]:
        """The rest of the stream in non-empty lists of chunks that arrived together."""
        while True:
            if self._pending:
                batch, self._pending = self._pending, []
            else:
                try:
                    batch = await self._next_batch()
                except StopAsyncIteration:
                    return
            yield batch

    async def _next_batch(self) -> list[ChatChunk]:
        if self._closed:
            raise StopAsyncIteration
        watchdog = self._watchdog
        task = asyncio.current_task()
        if not watchdog.waiting(task):
            await self._fail(
                _timeout_error(self._member, "end of stream", self._member.config.timeouts.total)
            )
        try:
            batch = await self._source.__anext__()
        except StopAsyncIteration:
            await self._finish()
            raise
        except asyncio.CancelledError:
            if watchdog.expired is not None and task is not None and task.uncancel() == 0:
                t = self._member.config.timeouts
                what, limit = ("chunk", t.idle) if watchdog.expired == "idle" else ("end of stream", t.total)
                await self._fail(_timeout_error(self._member, what, limit))
            await self._finish()
            raise
        except BackendError as err:
            await self._fail(err)
        except Exception as exc:  # noqa: BLE001 - a backend bug must still end the stream cleanly
            await self._fail(_internal_error(self._member, exc))
        watchdog.since = None
        return batch

    async def _fail(self, err: BackendError) -> None:
        """End the stream with `err`: it died after its first chunk, so there is no fallback."""
        self._outcome.stream_error = err
        self._member.record(err)
        log.warning("backend %s: stream died mid-way: %s", self._member.name, err.code)
        await self._finish()
        raise err

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watchdog.stop()
        self._member.limit.release()
        self._dispatcher._active -= 1
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()

    async def aclose(self) -> None:
        self._pending = []
        await self._finish()

    def __del__(self) -> None:
        if not self._closed:  # abandoned without aclose(): free the slot at least
            self._closed = True
            self._watchdog.stop()
            self._member.limit.release()
            self._dispatcher._active -= 1


class Dispatcher:
    """Calls backends by name, reliably. See the module docstring for the rules."""

    def __init__(self, backends: Mapping[str, Backend]) -> None:
        self._members = {name: _Member(backend) for name, backend in backends.items()}
        self._active = 0  # dispatches and streams in flight
        self._closing = False

    @property
    def backends(self) -> dict[str, Backend]:
        return {name: m.backend for name, m in self._members.items()}

    async def start(self) -> None:
        await asyncio.gather(*(m.backend.start() for m in self._members.values()))

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new requests, let in-flight calls and streams finish (up to `timeout` s), close backends."""
        self._closing = True
        deadline = _now() + timeout
        while self._active > 0 and _now() < deadline:
            await asyncio.sleep(0.02)
        if self._active > 0:
            log.warning("closing with %d calls still in flight after %g s", self._active, timeout)
        await asyncio.gather(*(m.backend.close() for m in self._members.values()), return_exceptions=True)

    def breakers(self) -> dict[str, CircuitBreaker]:
        """Each backend's circuit breaker (shared between replicas by gateway/breakers.py)."""
        return {name: m.breaker for name, m in self._members.items()}

    def states(self) -> dict[str, BackendState]:
        now = _now()
        return {
            name: BackendState(
                name=name,
                breaker=m.breaker.view(),
                in_flight=m.limit.active,
                max_concurrency=m.limit.limit,
                consecutive_failures=m.breaker.consecutive_failures,
                requests=m.requests,
                failures=m.failures,
                rate_limited_for=max(0.0, m.hold_until - now),
            )
            for name, m in self._members.items()
        }

    async def complete(
        self,
        ranking: Sequence[str],
        body: ChatBody,
        *,
        prompt_tokens: int | None = None,
        bodies: Mapping[str, ChatBody] | None = None,
        spill: float | None = None,
    ) -> Outcome:
        """A non-streaming answer from the first model of `ranking` that can give one. `bodies`: what some
        backends get instead of `body` (the redact guard's version for untrusted ones); `spill`: see the
        module docstring (None: a saturated model ends the dispatch)."""
        return await self._dispatch(ranking, body, prompt_tokens, streaming=False, bodies=bodies, spill=spill)

    async def stream(
        self,
        ranking: Sequence[str],
        body: ChatBody,
        *,
        prompt_tokens: int | None = None,
        bodies: Mapping[str, ChatBody] | None = None,
        spill: float | None = None,
    ) -> Outcome:
        """A streamed answer; returns once its first chunk has arrived (fallback happens only before that)."""
        return await self._dispatch(ranking, body, prompt_tokens, streaming=True, bodies=bodies, spill=spill)

    # -- the dispatch loop -----------------------------------------------------------------------------------
    async def _dispatch(
        self,
        ranking: Sequence[str],
        body: ChatBody,
        prompt_tokens: int | None,
        streaming: bool,
        bodies: Mapping[str, ChatBody] | None = None,
        spill: float | None = None,
    ) -> Outcome:
        if self._closing:
            raise AllBackendsFailed(
                "the gateway is shutting down", attempts=[], status=503, code="shutting_down"
            )
        start = _now()
        attempts: list[Attempt] = []
        last_error: BackendError | None = None
        needed: int | None = None
        output_bound = False  # some model would fit the prompt, just not the requested output too
        ceiling: float | None = None  # after a saturated model: the highest price a spill may go to
        hold: float | None = None  # shortest Retry-After hold among skipped models
        self._active += 1
        try:
            for name in ranking:
                member = self._members.get(name)
                if member is None:
                    attempts.append(Attempt(name, "skipped", "unknown_backend", f"no backend named {name!r}"))
                    continue
                window = member.config.context_window
                if window is not None:
                    if needed is None:
                        base = prompt_tokens if prompt_tokens is not None else estimate_prompt_tokens(body)
                        needed = base + requested_output_tokens(body)
                    if needed > window:
                        output_bound = output_bound or needed - requested_output_tokens(body) <= window
                        attempts.append(
                            Attempt(
                                name,
                                "skipped",
                                "context_window",
                                f"needs about {needed} tokens; the context window is {window}",
                            )
                        )
                        continue
                if member.hold_until and member.hold_until > _now():
                    wait = member.hold_until - _now()
                    hold = wait if hold is None else min(hold, wait)
                    attempts.append(
                        Attempt(
                            name, "skipped", "rate_limited", f"upstream asked to retry after {wait:.2f} s"
                        )
                    )
                    continue
                if ceiling is not None and _price(member) > ceiling:
                    attempts.append(
                        Attempt(
                            name, "skipped", "spill_ceiling", f"priced above the spill ceiling {ceiling:g}"
                        )
                    )
                    continue
                if not member.breaker.allow():
                    attempts.append(Attempt(name, "skipped", "breaker_open", "circuit breaker open"))
                    continue
                if not member.limit.try_acquire():
                    try:
                        acquired = await member.limit.acquire(member.config.timeouts.queue)
                    except asyncio.CancelledError:
                        member.breaker.release()
                        raise
                    if not acquired:
                        member.breaker.release()
                        attempts.append(
                            Attempt(name, "skipped", "saturated", f"{member.limit.limit} calls in flight")
                        )
                        if spill is None:
                            raise self._saturated(member, attempts)
                        if ceiling is None:
                            ceiling = spill * _price(member)
                        continue
                payload = bodies.get(name, body) if bodies else body
                outcome, last_error = await self._call(member, payload, streaming, attempts, start)
                if outcome is not None:
                    return outcome
            param = None
            if output_bound:
                param = "max_completion_tokens" if body.get("max_completion_tokens") else "max_tokens"
            raise self._give_up(attempts, last_error, hold, param)
        finally:
            self._active -= 1

    @staticmethod
    def _saturated(member: _Member, attempts: list[Attempt]) -> AllBackendsFailed:
        wait = max(1, round(member.config.timeouts.queue * 2))
        return AllBackendsFailed(
            f"{member.name} is at capacity ({member.limit.limit} calls in flight); retry in {wait} s "
            f"(tried {tried(attempts)})",
            attempts=attempts,
            status=503,
            code="saturated",
            retry_after=wait,
        )

    async def _call(
        self, member: _Member, body: ChatBody, streaming: bool, attempts: list[Attempt], start: float
    ) -> tuple[Outcome | None, BackendError | None]:
        """Try one backend (with retries). Holds one of its slots, which a returned stream keeps."""
        payload = (
            body if body.get("model") == member.upstream_model else {**body, "model": member.upstream_model}
        )
        timeouts = member.config.timeouts
        first_byte = min(timeouts.first_byte, timeouts.total)
        err: BackendError | None = None
        keep_slot = False
        try:
            for retry in range(member.config.retry.attempts):
                if retry:
                    delay = _retry_delay(member, retry, err.retry_after if err else None)
                    if delay is None:
                        break
                    await asyncio.sleep(delay)
                    if not member.breaker.allow():
                        attempts.append(
                            Attempt(member.name, "skipped", "breaker_open", "circuit breaker open")
                        )
                        break
                member.requests += 1
                t0 = _now()
                try:
                    if streaming:
                        source = member.backend.stream_batches(payload)
                        async with asyncio.timeout(first_byte):
                            first = await source.__anext__()
                    else:
                        async with asyncio.timeout(first_byte):
                            response = await member.backend.complete(payload)
                except TimeoutError:
                    err = _timeout_error(member, "first chunk" if streaming else "answer", first_byte)
                except StopAsyncIteration:
                    err = BackendError(
                        f"{member.name}: the stream ended before its first chunk",
                        code="empty_stream",
                        backend=member.name,
                    )
                except BackendError as exc:
                    err = exc
                except asyncio.CancelledError:
                    member.breaker.release()
                    raise
                except Exception as exc:  # noqa: BLE001 - a backend bug: fall back, and log it
                    err = _internal_error(member, exc)
                else:
                    seconds = _now() - t0
                    member.record(None)
                    attempts.append(Attempt(member.name, "ok", None, None, seconds))
                    outcome = Outcome(member.name, attempts, first_byte_s=_now() - start)
                    if streaming:
                        deadline = asyncio.get_running_loop().time() + timeouts.total - seconds
                        outcome.chunks = _Relay(self, member, source, first, outcome, deadline)
                        self._active += 1
                        keep_slot = True
                    else:
                        outcome.response = response
                    return outcome, None
                attempts.append(Attempt(member.name, "error", err.code, err.message, _now() - t0))
                member.record(err)
                if err.retry_after is not None:
                    member.hold_until = max(member.hold_until, _now() + err.retry_after)
                if err.status in _REQUEST_STATUSES and err.code not in _MODEL_LIMIT_CODES:
                    raise self._give_up(attempts, err)  # the request's own fault: no model would take it
                again = err.retryable and err.code != "timeout"  # a timeout would likely be as slow again
                log.info("backend %s failed: %s%s", member.name, err.code, " (retryable)" if again else "")
                if not again:
                    break
            return None, err
        finally:
            if not keep_slot:
                member.limit.release()

    @staticmethod
    def _give_up(
        attempts: list[Attempt], err: BackendError | None, hold: float | None = None, param: str | None = None
    ) -> AllBackendsFailed:
        """`param`: the output-length field, when the prompt alone fits some model but not with that output."""
        names = tried(attempts) or "no candidate models"
        if err is not None:
            return AllBackendsFailed(
                f"{err.message} (tried {names})",
                attempts=attempts,
                status=err.status,
                code=err.code,
                retryable=err.retryable,
                retry_after=err.retry_after,
                backend=err.backend,
            )
        codes = {a.code for a in attempts}
        message = f"no backend could take the request ({names})"
        if codes == {"context_window"}:
            what = "the prompt is too long for every candidate model"
            if param:
                what = f"{param} exceeds what every candidate model can produce for this prompt"
            return AllBackendsFailed(
                f"{what} ({'; '.join(a.message or '' for a in attempts[:1])}; tried {names})",
                attempts=attempts,
                status=400,
                code="context_length_exceeded",
                retryable=False,
                param=param,
            )
        if "rate_limited" in codes:
            return AllBackendsFailed(
                message, attempts=attempts, status=429, code="rate_limited", retry_after=hold
            )
        code = attempts[-1].code if attempts else "no_backend"
        return AllBackendsFailed(message, attempts=attempts, status=503, code=code or "no_backend")

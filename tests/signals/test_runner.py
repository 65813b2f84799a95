from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind
from pointsman.signals.config import build_signals
from pointsman.signals.routes import Route, RouteSignal
from pointsman.signals.runner import SignalRunner, UnknownSignalError


class Slow(Signal):
    """A pooled signal that takes `seconds` and counts its runs."""

    kind = ValueKind.NUMBER
    budget_ms = 30.0

    def __init__(self, name: str, seconds: float, budget_ms: float = 30.0) -> None:
        super().__init__(name)
        self.seconds = seconds
        self.budget_ms = budget_ms
        self.runs = 0
        self.threads: set[str] = set()

    def compute(self, view: RequestView) -> SignalResult:
        self.runs += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        return SignalResult(len(view.last_user_text), 0.9)


class Broken(Signal):
    kind = ValueKind.BOOL
    inline = True

    def compute(self, view: RequestView) -> SignalResult:
        raise ZeroDivisionError("boom")


def _routes(encoder) -> RouteSignal:
    return RouteSignal(
        "intent",
        [Route("greet", ("hello there", "hi friend")), Route("bye", ("goodbye", "see you"))],
        encoder,
    )


@pytest.fixture
def runner(trigram):
    signals = build_signals(
        {"topics": {"type": "keywords", "sets": {"greeting": ["hello"]}}}, encoder=trigram
    )
    signals["intent"] = _routes(trigram)
    signals["intent2"] = RouteSignal("intent2", [Route("x", ("hello",))], trigram)
    r = SignalRunner(signals, encoder=trigram)
    yield r
    r.close()


def test_runs_only_the_named_signals_and_no_embedding_when_none_needs_it(runner, trigram):
    calls_at_build = trigram.calls
    results = runner.run(RequestView.from_prompt("hello world"), ["topics", "turns"])
    assert set(results) == {"topics", "turns"}
    assert results["topics"].value == ("greeting",) and results["turns"].value == 1
    assert trigram.calls == calls_at_build and not results.embedded


def test_embedding_computed_once_for_all_signals_that_need_it(runner, trigram):
    calls_at_build = trigram.calls
    view = RequestView.from_prompt("hello there")
    results = runner.run(view, ["intent", "intent2", "language"])
    assert trigram.calls == calls_at_build + 1 and trigram.texts[-1] == "hello there"
    assert results["intent"].value == "greet" and results["intent2"].value == "x"
    assert results.embedded and view.embedding is not None
    runner.run(view, ["intent"])  # same view: the embedding is reused
    assert trigram.calls == calls_at_build + 1


def test_cache_makes_repeated_prompts_free(runner):
    slow = Slow("slow", 0.01)
    runner.signals["slow"] = slow
    first = runner.run(RequestView.from_prompt("same prompt"), ["slow", "pii"])
    second = runner.run(RequestView.from_prompt("same prompt"), ["slow", "pii"])
    assert slow.runs == 1 and not first["slow"].cached
    assert second["slow"].cached and second["slow"].value == first["slow"].value and second["slow"].ms == 0.0
    assert second["pii"].cached
    runner.run(RequestView.from_prompt("another prompt"), ["slow"])
    assert slow.runs == 2


def test_signal_over_budget_yields_an_error_and_does_not_block(runner):
    runner.signals["slow"] = Slow("slow", 0.3)
    t0 = time.perf_counter()
    results = runner.run(RequestView.from_prompt("hi"), ["slow", "turns"])
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.2
    assert not results["slow"].ok and "over its budget" in results["slow"].error
    assert results["slow"].value is None and results["turns"].value == 1
    time.sleep(0.4)  # it finishes late: the result still fills the cache
    assert runner.run(RequestView.from_prompt("hi"), ["slow"])["slow"].cached


def test_pooled_signals_run_concurrently(runner):
    a, b = Slow("a", 0.15, budget_ms=1000), Slow("b", 0.15, budget_ms=1000)
    runner.signals.update(a=a, b=b)
    t0 = time.perf_counter()
    results = runner.run(RequestView.from_prompt("x"), ["a", "b"])
    assert time.perf_counter() - t0 < 0.28  # both slept 0.15 s at the same time
    assert results["a"].ok and results["b"].ok
    assert all(name.startswith("pointsman-signal") for name in a.threads | b.threads)


def test_failing_signal_becomes_an_error_result(runner):
    runner.signals["broken"] = Broken("broken")
    results = runner.run(RequestView.from_prompt("x"), ["broken", "turns"])
    assert results["broken"].error == "broken: ZeroDivisionError: boom" and results["turns"].ok
    assert results.value("broken", default=False) is False


def test_unknown_signal_names_the_known_ones(runner):
    with pytest.raises(UnknownSignalError, match="unknown signal 'nope'; configured signals: .*topics"):
        runner.run(RequestView.from_prompt("x"), ["nope"])


def test_encoder_failure_is_reported_per_signal(trigram):
    def no_encoder():
        raise RuntimeError("model file missing")

    r = SignalRunner({"intent": _routes(trigram)}, encoder=no_encoder)
    result = r.run(RequestView.from_prompt("hello"), ["intent"])["intent"]
    assert not result.ok and "cannot embed the request: model file missing" in result.error
    r.close()


def test_slow_embedding_counts_against_the_budget(trigram):
    slow = type(trigram)(delay_s=0.3)
    r = SignalRunner({"intent": _routes(trigram)}, encoder=slow, embedding_budget_ms=20)
    t0 = time.perf_counter()
    result = r.run(RequestView.from_prompt("hello"), ["intent"])["intent"]
    assert time.perf_counter() - t0 < 0.2 and "over its budget" in result.error
    r.close()


class WaitsForTheLoop(Signal):
    """A pooled signal that finishes only once a coroutine on the event loop has run (or after 5 s)."""

    kind = ValueKind.BOOL
    budget_ms = 10_000.0

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.loop_ran = threading.Event()

    def compute(self, view: RequestView) -> SignalResult:
        return SignalResult(self.loop_ran.wait(timeout=5), 1.0)


async def test_arun_does_not_block_the_event_loop(runner):
    waiter = runner.signals["waiter"] = WaitsForTheLoop("waiter")

    async def set_when_the_loop_runs():
        await asyncio.sleep(0)
        waiter.loop_ran.set()

    task = asyncio.create_task(set_when_the_loop_runs())
    results = await runner.arun(RequestView.from_prompt("hello there"), ["waiter", "intent", "topics"])
    await task
    assert results["waiter"].value is True and results["intent"].value == "greet"


def test_duplicate_names_rejected(trigram):
    with pytest.raises(ValueError, match="two signals are named 'a'"):
        SignalRunner([Slow("a", 0), Slow("a", 0)])

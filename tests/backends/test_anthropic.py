"""The anthropic backend against the local Anthropic Messages server (which validates requests like the real
API).

The round-trip tests send the same OpenAI request to the upstream's OpenAI API directly and through the
Anthropic translation: the upstream answers both from the same logic, so the OpenAI-shaped results must agree.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pointsman.backends.anthropic_translate import StreamTranslator, from_anthropic, to_anthropic
from pointsman.backends.base import BackendError
from pointsman.backends.dispatch import Dispatcher
from pointsman.backends.factory import make_backend
from pointsman.testing.upstreams import UpstreamServer

from .conftest import http_config

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
PNG = "data:image/png;base64,iVBORw0KGgo="

REQUESTS: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "Hello there, model"}]},
    "system_and_stop": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "one two STOP three"},
        ],
        "stop": ["STOP"],
    },
    "max_tokens": {"messages": [{"role": "user", "content": "a b c d e f"}], "max_tokens": 4},
    "forced_tool": {
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
    "tool_result_turn": {
        "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        ],
        "tools": TOOLS,
    },
    "multi_part": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                    {"type": "text", "text": "this picture?"},
                ],
            }
        ]
    },
}


@pytest.fixture
async def backends(upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    upstream.api_key = "sk-ant-test"
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-ant-test")
    claude = make_backend(
        http_config(
            "claude", upstream, kind="anthropic", model="claude-test", api_key_env="TEST_ANTHROPIC_KEY"
        )
    )
    direct = make_backend(http_config("direct", upstream, model="claude-test", api_key_env="TEST_OPENAI_KEY"))
    await claude.start()
    await direct.start()
    yield claude, direct
    await claude.close()
    await direct.close()


def _essence(choice: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    message = choice["message"]
    calls = [
        (c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or []
    ]
    return {
        "content": message.get("content"),
        "tool_calls": calls,
        "finish_reason": choice["finish_reason"],
        "completion_tokens": usage["completion_tokens"],
    }


def _assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A streamed answer put back together as a non-streamed one."""
    content, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"function": {"name": "", "arguments": ""}})
                slot["function"]["name"] += call.get("function", {}).get("name") or ""
                slot["function"]["arguments"] += call.get("function", {}).get("arguments") or ""
            finish = choice["finish_reason"] or finish
    message = {"content": content if content or not calls else None, "tool_calls": list(calls.values())}
    return _essence({"message": message, "finish_reason": finish}, usage)


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_translation_round_trips_match_the_direct_openai_answer(backends: Any, name: str) -> None:
    claude, direct = backends
    body = {"model": "claude-test", **copy.deepcopy(REQUESTS[name])}
    sent = copy.deepcopy(body)
    expected = await direct.complete(body)
    got = await claude.complete(body)
    assert body == sent  # the caller's body is not modified
    assert _essence(got["choices"][0], got["usage"]) == _essence(expected["choices"][0], expected["usage"])
    streamed = [
        c async for c in claude.stream({**body, "stream": True, "stream_options": {"include_usage": True}})
    ]
    assert _assemble(streamed) == _essence(expected["choices"][0], expected["usage"])
    assert {c["id"] for c in streamed} == {streamed[0]["id"]}


async def test_the_request_reaches_anthropic_in_its_own_shape(
    backends: Any, upstream: UpstreamServer
) -> None:
    claude, _ = backends
    body = {
        "model": "claude-test",
        "temperature": 1.7,
        "top_p": 0.9,
        "user": "u-42",
        "seed": 7,
        "response_format": {"type": "json_object"},
        **copy.deepcopy(REQUESTS["tool_result_turn"]),
    }
    body["messages"].insert(0, {"role": "system", "content": "You are terse."})
    body["messages"].append(
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}
    )
    await claude.complete(body)
    record = upstream.chat_requests()[-1]
    assert record.path == "/v1/messages"
    assert (
        record.headers["x-api-key"] == "sk-ant-test" and record.headers["anthropic-version"] == "2023-06-01"
    )
    sent = record.body
    assert sent["system"] == "You are terse.\n\nRespond only with a valid JSON object."
    assert sent["max_tokens"] == 4096 and sent["temperature"] == 1.0 and sent["top_p"] == 0.9
    assert sent["metadata"] == {"user_id": "u-42"} and "seed" not in sent
    assert [t["role"] for t in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert sent["messages"][2]["content"] == [  # the tool result and the next user turn, merged
        {
            "type": "tool_result",
            "tool_use_id": "call_1",
            "content": [{"type": "text", "text": "sunny, 21 C"}],
        },
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
    ]
    assert sent["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}


def test_tool_choice_and_images_translate() -> None:
    out = to_anthropic(
        {
            "model": "c",
            "tools": TOOLS,
            "tool_choice": "required",
            "parallel_tool_calls": False,
            **REQUESTS["multi_part"],
        },
        stream=False,
    )
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert to_anthropic(
        {"model": "c", "tools": TOOLS, "tool_choice": "none", **REQUESTS["plain"]}, stream=True
    )["tool_choice"] == {"type": "none"}


@pytest.mark.parametrize(
    "body, match",
    [
        ({"messages": []}, "messages: a non-empty array"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n > 1"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "input_audio parts",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{nope"}}]}
                ]
            },
            r"messages\[0\].tool_calls\[0\].function.arguments is not valid JSON",
        ),
        (
            {"messages": [{"role": "wizard", "content": "x"}]},
            "messages\\[0\\].role: unsupported role 'wizard'",
        ),
    ],
)
def test_untranslatable_requests_say_where(body: dict[str, Any], match: str) -> None:
    with pytest.raises(BackendError, match=match) as raised:
        to_anthropic(body, stream=False)
    assert raised.value.status == 400 and not raised.value.retryable


def test_responses_map_usage_with_cache_and_stop_reasons() -> None:
    data = {
        "type": "message",
        "id": "msg_1",
        "model": "claude",
        "stop_reason": "refusal",
        "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "No."}],
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 90,
            "cache_creation_input_tokens": 5,
            "output_tokens": 3,
        },
    }
    out = from_anthropic(data)
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "No."}
    assert out["choices"][0]["finish_reason"] == "content_filter"
    assert out["usage"] == {
        "prompt_tokens": 105,
        "completion_tokens": 3,
        "total_tokens": 108,
        "prompt_tokens_details": {"cached_tokens": 90},
    }


async def test_anthropic_faults_map_to_retry_and_fallback(
    upstream: UpstreamServer, upstream_b: UpstreamServer
) -> None:
    dispatcher = Dispatcher(
        {
            "claude": make_backend(http_config("claude", upstream, kind="anthropic")),
            "other": make_backend(http_config("other", upstream_b)),
        }
    )
    upstream.inject("529")
    outcome = await dispatcher.complete(
        ["claude", "other"], {"messages": [{"role": "user", "content": "hi"}]}
    )
    assert outcome.model == "claude" and [a.code for a in outcome.attempts] == ["upstream_529", None]
    upstream.inject("die_after=4")
    outcome = await dispatcher.stream(
        ["claude", "other"], {"messages": [{"role": "user", "content": "a b c d"}]}
    )
    with pytest.raises(BackendError) as raised:
        [c async for c in outcome.chunks]
    assert raised.value.code == "stream_broken"
    # n > 1 is something this model cannot do: the next model takes it
    outcome = await dispatcher.complete(
        ["claude", "other"], {"n": 2, "messages": [{"role": "user", "content": "x"}]}
    )
    assert outcome.model == "other" and outcome.attempts[0].code == "unsupported_content"
    assert len(outcome.response["choices"]) == 2
    await dispatcher.close(timeout=1)


async def test_a_missing_api_key_variable_is_named(upstream: UpstreamServer) -> None:
    backend = make_backend(
        http_config("claude", upstream, kind="anthropic", api_key_env="POINTSMAN_NO_SUCH_KEY")
    )
    with pytest.raises(
        BackendError, match="environment variable POINTSMAN_NO_SUCH_KEY \\(api_key_env\\) is not set"
    ):
        await backend.start()


def test_an_error_event_mid_stream_ends_it_with_a_backend_error() -> None:
    translator = StreamTranslator(include_usage=True)
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 3}}}
    assert translator.feed(start)[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert translator.feed({"type": "ping"}) == []
    with pytest.raises(BackendError, match="overloaded_error: Overloaded") as raised:
        translator.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert raised.value.code == "upstream_stream_error" and raised.value.retryable
    assert not translator.done

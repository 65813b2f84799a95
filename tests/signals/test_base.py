from __future__ import annotations

import re

import pytest

from pointsman.signals.base import Caller, RequestError, RequestView, estimate_tokens, text_key


def _chat(*messages, **body):
    return RequestView({"messages": list(messages), **body})


def test_single_prompt_facts():
    view = RequestView.from_prompt("What is 2 + 2?", model="gpt-x")
    assert view.last_user_text == "What is 2 + 2?"
    assert view.all_text == "What is 2 + 2?"
    assert view.turn_count == 1
    assert view.message_count == 1
    assert view.requested_model == "gpt-x"
    assert not view.has_tools and not view.has_images and not view.has_audio
    assert view.prompt_tokens == estimate_tokens("What is 2 + 2?") + 4


def test_multi_part_content_and_modalities():
    view = _chat(
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look at this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                {"type": "text", "text": "and this"},
            ],
        },
    )
    assert view.last_user_text == "look at this\nand this"
    assert view.user_text == "first question\nlook at this\nand this"
    assert view.system_text == "Be brief."
    assert view.turn_count == 2
    assert view.image_parts == 1 and view.audio_parts == 1
    assert [(s.message, s.part) for s in view.segments] == [(0, None), (1, None), (2, None), (3, 0), (3, 3)]


def test_tools_in_body_or_conversation():
    assert _chat({"role": "user", "content": "hi"}, tools=[{"type": "function"}]).has_tools
    assert _chat(
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
    ).has_tools


def test_empty_and_no_user_message():
    view = _chat({"role": "system", "content": ""})
    assert view.last_user_text == "" and view.turn_count == 0 and view.prompt_tokens == 4
    assert RequestView({"messages": []}).all_text == ""


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [["user", "hi"]]}, "messages[0]"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0]"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
            "messages[0].content[0].text",
        ),
    ],
)
def test_malformed_bodies_name_the_field(body, where):
    with pytest.raises(RequestError, match="^" + re.escape(where) + ":"):
        RequestView(body)


def test_token_estimate_ascii_and_cjk():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefg" * 100) == 200  # 3.5 characters per token
    assert estimate_tokens("東京の天気") == 5  # about one token per CJK character
    assert estimate_tokens("naïve café") == 5  # 8 ASCII chars -> 3, plus 2 non-ASCII


def test_cache_keys_distinguish_roles_and_compact_long_text():
    a = _chat({"role": "user", "content": "x"})
    b = _chat({"role": "system", "content": "x"})
    assert a.text_key != b.text_key
    long = "word " * 10_000
    key = text_key(long)
    assert key == text_key(long) and key != text_key(long + "!") and not isinstance(key, str)


def test_embedding_is_computed_once(trigram):
    view = RequestView.from_prompt("hello there")
    first = view.ensure_embedding(trigram)
    assert view.ensure_embedding(trigram) is first and view.embedding is first
    assert trigram.calls == 1 and trigram.texts == ["hello there"]


def test_caller_headers_are_case_insensitive():
    caller = Caller(tenant="acme", api_key_id="k1", headers={"x-team": "search"})
    view = RequestView.from_prompt("hi", caller)
    assert view.caller.header("X-Team") == "search" and view.caller.tenant == "acme"

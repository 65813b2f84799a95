"""Conversation affinity over real HTTP: a conversation stays on the model that answered it, a rule still
wins, conversations (header or `user`) are kept apart, and it is off unless configured."""

from __future__ import annotations

import openai

from .servers import backends_yaml


def config(ups, enabled: bool = True) -> dict:
    return {
        "backends": backends_yaml(ups),
        "profiles": [
            {"name": "balanced", "candidates": ["m0", "m1"]},
            {"name": "strong", "candidates": ["m2"]},
        ],
        "rules": [{"name": "code", "when": {"keywords": ["python"]}, "profile": "strong"}],
        "affinity": {"enabled": enabled},
    }


def ask(gw, text: str, session: str | None = None, **kw) -> dict:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    headers = {"x-session-id": session} if session else {}
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], extra_headers=headers, **kw
    )
    return raw.headers


def test_a_conversation_stays_on_its_model(ups, start_gateway) -> None:
    gw = start_gateway(config(ups))
    ups[0].inject("500")  # the first turn falls back to m1 ...
    assert ask(gw, "hello", "conv-1")["x-pointsman-model"] == "m1"
    second = ask(gw, "and then?", "conv-1")  # ... and the conversation stays there, m0 healthy again
    assert (
        second["x-pointsman-model"] == "m1"
        and "kept on m1 for this conversation" in second["x-pointsman-reason"]
    )
    assert ask(gw, "hello", "conv-2")["x-pointsman-model"] == "m0"  # another conversation
    assert ask(gw, "hello")["x-pointsman-model"] == "m0"  # none named
    assert ask(gw, "some python please", "conv-1")["x-pointsman-model"] == "m2"  # a rule says otherwise
    assert ask(gw, "plain again", "conv-1")["x-pointsman-model"] == "m0"  # the pin moved with the route


def test_the_user_field_names_a_conversation(ups, start_gateway) -> None:
    gw = start_gateway(config(ups))
    ups[0].inject("500")
    assert ask(gw, "hi", user="alice")["x-pointsman-model"] == "m1"
    assert ask(gw, "hi again", user="alice")["x-pointsman-model"] == "m1"
    assert ask(gw, "hi", user="bob")["x-pointsman-model"] == "m0"


def test_off_by_default(ups, start_gateway) -> None:
    gw = start_gateway(config(ups, enabled=False))
    ups[0].inject("500")
    assert ask(gw, "hello", "conv-1")["x-pointsman-model"] == "m1"
    assert ask(gw, "and then?", "conv-1")["x-pointsman-model"] == "m0"

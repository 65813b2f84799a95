"""Answer-side guards end to end: the real gateway over real HTTP in front of real local upstreams. The
answer is checked before the client gets it, JSON and streamed: replaced with a refusal, redacted, tagged, or
retried on the next model; what fired is in the decision log."""

from __future__ import annotations

import pytest

from .servers import UpstreamThread, backends_yaml, wait_for_rows
from .test_api import client

CONTEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It was designed by the "
    "engineering company of Gustave Eiffel and built from 1887 to 1889 as the centrepiece of the 1889 World's "
    "Fair. The tower is 330 metres tall, about the same height as an 81-storey building, and it was the "
    "tallest man-made structure in the world until the Chrysler Building was finished in New York in 1930."
)
GROUNDED = (
    "The Eiffel Tower is 330 metres tall. It was built from 1887 to 1889 for the World's Fair in Paris."
)
UNGROUNDED = "The tower is 500 metres tall. Napoleon painted the whole structure gold in 1750 after a war."
ANSWER = {
    "hold_back_chars": 40,
    "check_every_chars": 8,
    "signals": {
        "refusal": {"type": "refusal"},
        "leak": {"type": "answer_pii"},
        "grounded": {"type": "groundedness"},
    },
    "rules": [
        {
            "name": "heist-compliance",
            "when": {"all": ["topics contains heist", "refusal == complied"]},
            "action": "replace",
            "message": "No heists here.",
        },
        {"name": "leaks", "when": "leak", "action": "redact"},
        {"name": "refusals", "when": "refusal == refused", "action": "tag", "tag": "refused"},
        {"name": "ungrounded", "when": "grounded < 0.5", "action": "retry", "message": "Not in the sources."},
    ],
}
SIGNALS = {"topics": {"type": "keywords", "sets": {"heist": ["heist"]}}}


@pytest.fixture(scope="module")
def fixed():
    """Two upstreams with fixed answers: one not supported by CONTEXT, one supported."""
    ups = [UpstreamThread(reply=UNGROUNDED), UpstreamThread(reply=GROUNDED)]
    yield ups
    for up in ups:
        up.close()


@pytest.fixture()
def checked(ups, fixed, start_gateway):
    backends = backends_yaml(ups) + [
        {**backends_yaml(fixed)[0], "name": "wrong"},
        {**backends_yaml(fixed)[1], "name": "right"},
    ]
    backends[3]["base_url"], backends[4]["base_url"] = fixed[0].url, fixed[1].url
    return start_gateway(
        {
            "backends": backends,
            "profiles": [
                {"name": "echo", "candidates": ["m0", "m1"]},
                {"name": "rag", "candidates": ["wrong", "right"]},
                {"name": "rag-wrong", "candidates": ["wrong"]},
            ],
            "signals": SIGNALS,
            "answer": ANSWER,
            "store": {"path": "decisions.db", "flush_interval": 0.05},
        }
    )


def _ask(gw, text: str, model: str = "echo", stream: bool = False, system: str | None = None):
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    c = client(gw)
    if not stream:
        raw = c.chat.completions.with_raw_response.create(model=model, messages=messages)
        reply = raw.parse()
        return reply.choices[0].message.content, reply.choices[0].finish_reason, raw.headers
    chunks = list(c.chat.completions.create(model=model, messages=messages, stream=True))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    return text, finish[-1] if finish else None, None


@pytest.mark.parametrize("stream", [False, True])
def test_a_complying_answer_to_a_flagged_request_is_replaced(checked, stream) -> None:
    text, finish, _ = _ask(checked, "plan a heist on the museum for me", stream=stream)
    assert text == "No heists here." and finish == "content_filter"
    refused, finish, headers = _ask(checked, "I'm sorry, but I can't help with a heist.")
    assert refused.startswith("You said: I'm sorry") and finish == "stop"  # refused: passes, tagged
    assert headers["x-pointsman-answer-tags"] == "refused"
    rows = wait_for_rows(checked, 2)
    replaced = next(r for r in rows if "heist-compliance" in (r.reason or ""))
    assert "answer rule heist-compliance: replace" in replaced.reason
    assert replaced.signals["answer.refusal"]["value"] == "complied"


@pytest.mark.parametrize("stream", [False, True])
def test_pii_in_the_answer_is_redacted(checked, stream) -> None:
    prompt = (
        "Please forward the invoice to jane.doe@example.com before Friday, and also tell the whole team "
        "that the meeting moved to the large room on the third floor."
    )
    text, finish, _ = _ask(checked, prompt, stream=stream)
    assert "jane.doe@example.com" not in text and "[redacted email]" in text
    assert text == "You said: " + prompt.replace("jane.doe@example.com", "[redacted email]")
    assert finish == "stop"


def test_an_ungrounded_answer_is_retried_on_the_next_model(checked) -> None:
    text, finish, headers = _ask(checked, "How tall is the tower?", model="rag", system=CONTEXT)
    assert text == GROUNDED and headers["x-pointsman-model"] == "right"
    text, finish, headers = _ask(checked, "How tall is the tower?", model="rag-wrong", system=CONTEXT)
    assert text == "Not in the sources." and finish == "content_filter"  # no other model: replaced
    # without enough context the check does not apply (unknown: the rule is skipped)
    text, _, headers = _ask(checked, "How tall is the tower?", model="rag-wrong")
    assert text == UNGROUNDED


def test_an_ungrounded_stream_is_replaced(checked) -> None:
    text, finish, _ = _ask(checked, "How tall is the tower?", model="rag-wrong", stream=True, system=CONTEXT)
    assert finish == "content_filter" and text.endswith("Not in the sources.")


def test_plain_answers_pass_untouched(checked) -> None:
    for stream in (False, True):
        text, finish, _ = _ask(checked, "hello there, how are you today?", stream=stream)
        assert text == "You said: hello there, how are you today?" and finish == "stop"


def test_bad_answer_config_names_the_key(ups, start_gateway) -> None:
    from pointsman.config.problems import ConfigError

    bad = {**ANSWER, "rules": [{"name": "x", "when": "nosuch == 1", "action": "tag"}]}
    with pytest.raises((ConfigError, RuntimeError), match="nosuch"):
        start_gateway({"backends": backends_yaml(ups), "signals": SIGNALS, "answer": bad})
    no_pii = {
        "signals": {"refusal": {"type": "refusal"}},
        "rules": [{"name": "r", "when": "refusal", "action": "redact"}],
    }
    with pytest.raises((ConfigError, RuntimeError), match="answer_pii"):
        start_gateway({"backends": backends_yaml(ups), "answer": no_pii})

"""Guards end to end: the real gateway over real HTTP in front of real local upstreams that record what they
receive. Blocked requests never reach an upstream; redacted values never do; answers come back restored
(JSON and streamed, tool arguments split across chunks included); the decision log never holds what a guard
removed, but does hold the decision and the signal values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import openai
import pytest

from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind
from pointsman.signals.config import SpecBase, register_signal_type

from .servers import backends_yaml, wait_for_rows
from .test_api import client

EMAIL, PHONE, IBAN = "jane.doe@example.com", "+44 20 7946 0958", "DE89 3704 0044 0532 0130 00"
SECRET_WORD = "zeppelin-heist"  # the blocked request's text, to look for in the log


class BrokenSpec(SpecBase):
    type: Literal["test_broken"]


class BrokenSignal(Signal):
    kind = ValueKind.LABEL
    inline = True

    def compute(self, view: RequestView) -> SignalResult:
        raise RuntimeError("unavailable")


register_signal_type("test_broken", BrokenSpec, lambda name, spec, ctx: BrokenSignal(name))

SIGNALS = {
    "topics": {"type": "keywords", "sets": {"heist": ["heist", "zeppelin"], "refund": ["refund"]}},
    "broken": {"type": "test_broken"},
}
RULES = [
    {
        "name": "no-heists",
        "priority": 100,
        "when": "topics contains heist",
        "block": {"code": "content_blocked"},
    },
    {"name": "broken-check", "priority": 90, "when": "broken == bad", "models": ["guarded"], "block": True},
    {"name": "refunds", "priority": 50, "when": "topics contains refund", "divert": "refusal"},
    {"name": "private", "priority": 10, "when": "pii", "redact": {"only_untrusted": True}},
]


@pytest.fixture()
def guarded(ups, start_gateway):
    backends = backends_yaml(ups)
    backends[1]["trusted"] = False  # m1 stands for a hosted model
    return start_gateway(
        {
            "backends": backends,
            "profiles": [
                {"name": "hosted-first", "candidates": ["m1", "m0"]},
                {"name": "refusal", "candidates": ["m2"]},
                {"name": "guarded", "candidates": ["m0"]},
            ],
            "signals": SIGNALS,
            "rules": RULES,
            "store": {"path": "decisions.db", "log_content": True, "flush_interval": 0.05},
            "debug": {"signals_header": True},
        }
    )


def every_request(ups) -> list:
    return [r for up in ups for r in up.requests()]


def log_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("decisions.db*"))


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_requests_never_reach_an_upstream(guarded, ups, tmp_path: Path, stream: bool) -> None:
    c = client(guarded)
    for model in ("auto", "m0", "refusal"):  # a guard applies to every requested name, direct ones too
        with pytest.raises(openai.BadRequestError) as info:
            c.chat.completions.create(
                model=model,
                stream=stream,
                messages=[{"role": "user", "content": f"plan a {SECRET_WORD} for me"}],
            )
        err = info.value
        assert err.status_code == 400 and err.code == "content_blocked"
        assert err.body["message"] == "This request was blocked by the gateway's content policy."
        assert err.response.headers["x-pointsman-decision"] == "no-heists"
        assert err.response.headers["x-pointsman-action"] == "block"
        assert "x-pointsman-model" not in err.response.headers
    assert every_request(ups) == []
    rows = wait_for_rows(guarded, 3)
    assert {(r.decision, r.action, r.status, r.error_code) for r in rows} == {
        ("no-heists", "block", 400, "content_blocked")
    }
    assert all(r.content is None and r.prompt_hash is None for r in rows)  # even with log_content on
    assert rows[0].signals["topics"] == {
        "value": ["heist"],
        "confidence": 1.0,
        "ms": rows[0].signals["topics"]["ms"],
    }
    guarded.stop()
    assert SECRET_WORD.encode() not in log_bytes(tmp_path)


def test_a_guard_that_cannot_run_fails_closed(guarded, ups) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client(guarded).chat.completions.create(
            model="guarded", messages=[{"role": "user", "content": "hello"}]
        )
    assert info.value.status_code == 503 and info.value.code == "guard_unavailable"
    assert every_request(ups) == []
    # the broken signal is read only by a rule for model "guarded": other requests never compute it
    reply = client(guarded).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.headers["x-pointsman-decision"] == "default" and reply.headers["x-pointsman-model"] == "m1"


def test_redacted_values_never_reach_an_untrusted_upstream(guarded, ups, tmp_path: Path) -> None:
    prompt = f"I am {EMAIL}, call {PHONE}. Refund to IBAN {IBAN}? No: keep it. Mail {EMAIL}."
    prompt = prompt.replace("Refund", "Pay")  # not the divert rule
    raw = client(guarded).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": prompt}]
    )
    reply = raw.parse()
    sent = ups[1].requests()
    assert len(sent) == 1
    seen = json.dumps(sent[0].body)
    assert EMAIL not in seen and PHONE not in seen and IBAN not in seen
    assert sent[0].body["messages"][0]["content"] == (
        "I am <EMAIL_1>, call <PHONE_1>. Pay to IBAN <IBAN_1>? No: keep it. Mail <EMAIL_1>."
    )
    assert reply.choices[0].message.content == f"You said: {prompt}"  # restored for the client
    assert raw.headers["x-pointsman-action"] == "redact" and raw.headers["x-pointsman-model"] == "m1"
    assert "redacted EMAIL x2, IBAN, PHONE for untrusted backends" in raw.headers["x-pointsman-reason"]
    row = wait_for_rows(guarded, 1)[0]
    assert (row.decision, row.action) == ("private", "redact")
    assert row.signals["pii"]["value"] == ["EMAIL", "PHONE", "IBAN", "EMAIL"]
    assert "<EMAIL_1>" in row.content["messages"][0]["content"] and "<EMAIL_1>" in row.content["response"]
    guarded.stop()
    data = log_bytes(tmp_path)
    for value in (EMAIL, PHONE, IBAN, EMAIL.split("@")[0]):
        assert value.encode() not in data


def test_streams_are_restored_even_when_a_placeholder_is_split(guarded, ups) -> None:
    prompt = (
        f"{EMAIL} xx"  # echoed as tool arguments '{"text":"<EMAIL_1> xx"}', cut in half: '{"text":"<E' ...
    )
    tools = [{"type": "function", "function": {"name": "note", "parameters": {"type": "object"}}}]
    stream = client(guarded).chat.completions.create(
        model="auto",
        stream=True,
        messages=[{"role": "user", "content": prompt}],
        tools=tools,
        tool_choice="required",
    )
    args = [
        c.choices[0].delta.tool_calls[0].function.arguments
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert "".join(a or "" for a in args) == json.dumps({"text": prompt}, separators=(",", ":"))
    assert [a for a in args if a][0] == '{"text":"'  # '<E' was held back until the placeholder was whole
    assert EMAIL not in json.dumps(ups[1].requests()[0].body)
    stream = client(guarded).chat.completions.create(
        model="auto", stream=True, messages=[{"role": "user", "content": f"write to {EMAIL} now"}]
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == f"You said: write to {EMAIL} now"


def test_trusted_backends_get_the_request_as_sent(guarded, ups) -> None:
    ups[1].inject("status=500", times=5)  # the untrusted first choice fails: the trusted fallback answers
    raw = client(guarded).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
    )
    assert (
        raw.headers["x-pointsman-model"] == "m0"
        and raw.parse().choices[0].message.content == f"You said: mail {EMAIL}"
    )
    assert ups[1].requests()[0].body["messages"][0]["content"] == "mail <EMAIL_1>"
    assert ups[0].requests()[0].body["messages"][0]["content"] == f"mail {EMAIL}"


def test_divert_and_the_debug_header(guarded, ups) -> None:
    raw = client(guarded).chat.completions.with_raw_response.create(
        model="m0",
        messages=[{"role": "user", "content": f"I want a refund, I am {EMAIL}"}],
        extra_headers={"x-pointsman-debug": "signals"},
    )
    assert raw.headers["x-pointsman-route"] == "refusal" and raw.headers["x-pointsman-model"] == "m2"
    assert raw.headers["x-pointsman-action"] == "divert" and raw.headers["x-pointsman-decision"] == "refunds"
    signals = json.loads(raw.headers["x-pointsman-signals"])
    assert signals["topics"]["value"] == ["refund"] and set(signals["topics"]) == {
        "value",
        "confidence",
        "ms",
    }
    assert EMAIL not in raw.headers["x-pointsman-signals"]
    plain = client(guarded).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert "x-pointsman-signals" not in plain.headers  # only when asked


def test_the_debug_header_needs_the_config_to_allow_it(ups, start_gateway) -> None:
    gw = start_gateway({"backends": backends_yaml(ups), "profiles": [{"name": "p", "candidates": ["m0"]}],
                        "rules": [{"name": "r", "when": "pii", "redact": {}}]})  # fmt: skip
    raw = client(gw).chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": f"hi {EMAIL}"}],
        extra_headers={"x-pointsman-debug": "signals"},
    )
    assert "x-pointsman-signals" not in raw.headers and raw.headers["x-pointsman-action"] == "redact"
    assert raw.parse().choices[0].message.content == f"You said: hi {EMAIL}"
    assert (
        ups[0].requests()[0].body["messages"][0]["content"] == "hi <EMAIL_1>"
    )  # redact: {} means every backend

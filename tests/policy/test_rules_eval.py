"""Rule evaluation: comparisons on value / confidence / scores, priority, which requests a rule applies to,
lazy signals (only those reached, the embedding at most once), three-valued logic when a signal fails."""

from __future__ import annotations

import asyncio

import pytest

from pointsman.policy.explain import Explainer
from pointsman.policy.rules import UnknownModel
from pointsman.signals.base import RequestView

from .conftest import ProbeSignal, WordEncoder

SIGNALS = {
    "topics": {
        "type": "keywords",
        "sets": {"code": ["python", "stack trace"], "legal": ["contract", "lawsuit"]},
    },
    "intent": {
        "type": "routes",
        "threshold": 0.5,
        "routes": {
            "billing": {"utterances": ["I was charged twice on my card", "refund my payment"]},
            "weather": {"utterances": ["will it rain tomorrow"]},
        },
    },
    "probe": {"type": "test_probe", "value": 0.7},
    "broken": {"type": "test_probe", "fail": True},
}


def ask(policy, text: str, model: str = "auto", **body):
    return policy.decider.decide_now(
        RequestView({"messages": [{"role": "user", "content": text}], **body}), model
    )


@pytest.mark.parametrize(
    "when, text, holds",
    [
        ("language == en", "Where is the nearest train station?", True),
        ("language != en", "Where is the nearest train station?", False),
        ("language in [de, fr]", "Wo ist der nächste Bahnhof, bitte?", True),
        ("language not in [de, fr]", "Wo ist der nächste Bahnhof, bitte?", False),
        ("language.confidence >= 0.5", "Where is the nearest train station?", True),
        ("prompt_tokens > 50", "short", False),
        ("prompt_tokens <= 50", "short", True),
        ("prompt_tokens in [6]", "short", True),
        ("has_code", "def f(x):\n    return x + 1\n\nprint(f(2))", True),
        ("not has_code", "just words", True),
        ("has_code == false", "just words", True),
        ("topics contains code", "My python script fails", True),
        ("topics contains [legal, code]", "the contract is void", True),
        ("topics not contains legal", "the contract is void", False),
        ("topics", "nothing relevant", False),
        ("intent == billing", "I was charged twice on my card", True),
        ("intent == null", "the sky is green", True),
        ("intent.scores.billing > 0.9", "I was charged twice on my card", True),
        ("intent.scores.weather > 0.9", "I was charged twice on my card", False),  # not scored high
        ("pii", "mail me at jane.doe@example.com", True),
        ("pii contains EMAIL", "mail me at jane.doe@example.com", True),
        ("pii contains [PHONE, IBAN]", "mail me at jane.doe@example.com", False),
        ("probe >= 0.7", "anything", True),
        ("probe.confidence > 0.95", "anything", False),
        ({"all": ["probe > 0.5", "topics contains code"]}, "python", True),
        ({"any": ["topics contains legal", {"not": "probe > 0.5"}]}, "python", False),
        ({"keywords": ["python"], "not": "has_tools"}, "python please", True),
    ],
)
def test_comparisons(make_policy, when, text: str, holds: bool) -> None:
    policy = make_policy([{"name": "r", "when": when, "profile": "strong"}], SIGNALS)
    assert (ask(policy, text).name == "r") is holds


def test_reason_names_the_parts_that_held_and_their_values(make_policy) -> None:
    policy = make_policy(
        [
            {
                "name": "r",
                "when": {"all": ["topics contains code", {"any": ["probe > 0.9", "pii"]}]},
                "profile": "strong",
            }
        ],
        SIGNALS,
    )
    d = ask(policy, "my python code mails jane.doe@example.com")
    assert d.reason == "rule r: topics contains code [code] and pii [EMAIL]"
    assert "jane" not in d.reason  # span types, never their text


def test_priority_then_file_order(make_policy) -> None:
    rules = [
        {"name": "low", "priority": 1, "when": "topics contains code", "profile": "general"},
        {"name": "first-of-equals", "priority": 5, "when": "topics contains code", "profile": "strong"},
        {"name": "second-of-equals", "priority": 5, "when": "topics contains code", "profile": "refusal"},
    ]
    policy = make_policy(rules, SIGNALS)
    assert [r.name for r in policy.decider.rules] == ["first-of-equals", "second-of-equals", "low"]
    assert ask(policy, "python").name == "first-of-equals"


def test_actions_and_which_requests_a_rule_applies_to(make_policy) -> None:
    rules = [
        {"name": "no-lawsuits", "priority": 9, "when": "topics contains legal", "block": "content_blocked"},
        {"name": "refuse", "priority": 8, "when": "topics contains code", "divert": "refusal"},
        {"name": "private", "priority": 7, "when": "pii", "redact": {"types": ["EMAIL"]}},
        {"name": "weather", "when": "intent == weather", "profile": "strong"},
    ]
    policy = make_policy(rules, SIGNALS)
    blocked = ask(policy, "draft a lawsuit", model="m1")  # a guard applies to direct requests too
    assert (blocked.action, blocked.block.code, blocked.block.status, blocked.route) == (
        "block",
        "content_blocked",
        400,
        "",
    )
    diverted = ask(policy, "python", model="strong")
    assert (diverted.action, diverted.route, diverted.name) == ("divert", "refusal", "refuse")
    redacted = ask(policy, "write to jane.doe@example.com or +44 20 7946 0958", model="m2")
    assert (redacted.action, redacted.route, redacted.model) == ("redact", "direct", "m2")
    assert redacted.redact.types() == {"EMAIL": 1} and "redacted EMAIL" in redacted.reason
    no_pii_found = ask(policy, "call +44 20 7946 0958")  # matched, but no EMAIL to redact
    assert (no_pii_found.name, no_pii_found.action, no_pii_found.route) == ("private", "route", "general")
    # a rule that only routes applies to `auto` alone: asking for a profile by name skips it
    assert ask(policy, "will it rain tomorrow").route == "strong"
    assert ask(policy, "will it rain tomorrow", model="general").name == "profile"
    with pytest.raises(UnknownModel):
        ask(policy, "nothing", model="gpt-9")


def test_signals_are_lazy_and_the_embedding_is_computed_once(make_policy) -> None:
    encoder = WordEncoder()
    rules = [
        {"name": "code", "priority": 3, "when": "topics contains code", "profile": "strong"},
        {
            "name": "probe",
            "priority": 2,
            "when": {"all": ["intent == billing", "probe > 0.5"]},
            "profile": "strong",
        },
        {"name": "weather", "priority": 1, "when": "intent.scores.weather > 0.8", "profile": "general"},
    ]
    policy = make_policy(rules, SIGNALS, encoder=encoder)
    calls = encoder.calls  # the route utterances, embedded when the config was built
    ProbeSignal.computed = 0
    d = ask(policy, "python question")
    assert d.name == "code" and set(d.signals) == {"topics"}  # nothing else was computed
    assert encoder.calls == calls and ProbeSignal.computed == 0
    d = ask(policy, "will it rain tomorrow")  # intent (not billing) short-cuts the `all`: no probe
    assert d.name == "weather" and set(d.signals) == {"topics", "intent"} and ProbeSignal.computed == 0
    assert encoder.calls == calls + 1  # one embedding for both reads of `intent`


def test_pending_signals_are_awaited_in_the_gateway_path(make_policy) -> None:
    policy = make_policy([{"name": "weather", "when": "intent == weather", "profile": "strong"}], SIGNALS)
    view = RequestView.from_prompt("will it rain tomorrow")
    decision = asyncio.run(policy.decider.decide(view, "auto"))
    assert decision.name == "weather" and view.embedding is not None
    assert decision.signals["intent"].value == "weather"


@pytest.mark.parametrize(
    "rule, name, action, code",
    [
        (
            {"when": "broken > 0.5", "block": "content_blocked"},
            "r",
            "block",
            "guard_unavailable",
        ),  # fails closed
        (
            {"when": "broken > 0.5", "block": "content_blocked", "on_signal_error": "skip"},
            "default",
            "route",
            None,
        ),
        ({"when": "broken > 0.5", "profile": "strong"}, "default", "route", None),  # routing rules skip
        ({"when": "broken > 0.5", "profile": "strong", "on_signal_error": "match"}, "r", "route", None),
        (
            {"when": {"any": ["broken > 0.5", "probe > 0.5"]}, "block": "content_blocked"},
            "r",
            "block",
            "content_blocked",
        ),
        (
            {"when": {"all": ["broken > 0.5", "probe > 0.9"]}, "block": "content_blocked"},
            "default",
            "route",
            None,
        ),
        ({"when": {"not": "broken > 0.5"}, "block": "content_blocked"}, "r", "block", "guard_unavailable"),
    ],
)
def test_a_failed_signal_is_unknown(
    make_policy, rule: dict, name: str, action: str, code: str | None
) -> None:
    policy = make_policy([{"name": "r", **rule}], SIGNALS)
    d = ask(policy, "anything")
    assert (d.name, d.action, d.block.code if d.block else None) == (name, action, code)
    assert d.signals["broken"].error == "broken: RuntimeError: probe failed"


def test_a_redact_guard_fails_closed_when_its_signal_fails(make_policy) -> None:
    signals = {**SIGNALS, "spans": {"type": "test_probe", "spans": True, "fail": True}}
    policy = make_policy([{"name": "r", "redact": {"signal": "spans"}}], signals)
    d = ask(policy, "mail jane.doe@example.com")
    assert (d.action, d.block.code, d.block.status) == ("block", "guard_unavailable", 503)
    assert "spans failed, so no redaction was possible" in d.reason


def test_explain_computes_every_signal_the_rules_read(make_policy) -> None:
    rules = [
        {"name": "code", "priority": 2, "when": "topics contains code", "profile": "strong"},
        {"name": "weather", "when": "intent == weather", "profile": "general"},
    ]
    policy = make_policy(rules, SIGNALS)
    explained = Explainer(policy).explain(RequestView.from_prompt("python"))
    assert explained.decision.name == "code"
    assert {"topics", "intent", "probe", "broken"} <= set(explained.signals)  # configured ones too
    record = explained.record()
    assert record["decision"] == "code" and record["action"] == "route" and record["route"] == "strong"
    assert set(record["signals"]["topics"]) == {"value", "confidence", "ms"} and record["signals"]["topics"][
        "value"
    ] == ["code"]

"""Rule configs: every kind of mistake is reported with file, line and key path, and says what would fit."""

from __future__ import annotations

import pytest

from pointsman.config.loader import ConfigError, parse_config
from pointsman.policy.build import build_policy

from .conftest import WordEncoder, config_text

SIGNALS = {
    "topics": {"type": "keywords", "sets": {"code": ["python", "stack trace"], "legal": ["contract"]}},
    "intent": {
        "type": "routes",
        "routes": {"billing": {"utterances": ["I was charged twice"]}, "weather": {"utterances": ["rain?"]}},
    },
}


def problems(rules: list[dict], signals: dict | None = SIGNALS, **extra) -> str:
    with pytest.raises(ConfigError) as info:
        cfg = parse_config(config_text(rules, signals, **extra), source="rules.yaml")
        build_policy(cfg, encoder=WordEncoder()).close()
    return str(info.value)


def rule(when=None, **kw) -> dict:
    return {"name": "r", **({"when": when} if when is not None else {}), **({"profile": "strong"} | kw)}


@pytest.mark.parametrize(
    "when, expected",
    [
        # unknown signals, with a suggestion
        (
            "langauge == en",
            "rules[0].when: 'langauge == en': unknown signal 'langauge'; did you mean 'language'?",
        ),
        (
            {"any": ["has_code", "topic contains code"]},
            "rules[0].when.any[1]: 'topic contains code': unknown signal",
        ),
        # operators a signal's kind does not have
        ("language < en", "'<' does not apply to language, which is a label (use: bare, ==, !=, in, not in)"),
        ("has_code contains x", "'contains' does not apply to has_code, which is a bool (use: bare, ==, !=)"),
        ("prompt_tokens", "a bare reference does not apply to prompt_tokens, which is a number"),
        (
            "topics == code",
            "'==' does not apply to topics, which is a set of labels (use: bare, contains, not contains)",
        ),
        ("pii > 2", "'>' does not apply to pii, which is spans"),
        ("intent.confidence contains x", "'contains' does not apply to intent.confidence, which is a number"),
        # literals of the wrong type
        ("prompt_tokens > many", "prompt_tokens is a number; 'many' is not one"),
        ("prompt_tokens > '5'", "prompt_tokens is a number; '5' is not one"),
        ("has_tools == yes", "has_tools is a bool; compare it with true or false, not 'yes'"),
        ("intent.scores.billing >= high", "intent.scores.billing is a number; 'high' is not one"),
        # labels a signal never gives
        ("topics contains cooking", "topics never gives 'cooking' (it gives: code, legal)"),
        ("intent in [billing, refunds]", "intent never gives 'refunds' (it gives: billing, weather)"),
        ("pii contains EMIAL", "pii never gives 'EMIAL'"),
        # syntax
        ("language ==", "'language ==': a value is missing after '=='"),
        ("language ~= en", "cannot read 'language ~= en'"),
        ("language.conf > 0.5", "'conf' is not a part of a signal; use .value, .confidence or .scores.LABEL"),
        ("prompt_tokens > [1, 2]", "a list only goes with in, not in, contains"),
        ({"any": []}, "rules[0].when.any: expected a non-empty list of conditions"),
        ({"colour": "red"}, "rules[0].when.colour: unknown key; a condition mapping has all, any, not"),
        ({}, "rules[0].when: empty condition"),
        (3, 'rules[0].when: a condition is a string like "language == en" or a mapping'),
        ({"regex": "("}, "rules[0].when.regex: bad regular expression"),
        ({"prompt_tokens": {}}, "rules[0].when.prompt_tokens: give at least one of gt, ge, lt, le"),
        ({"any": [{"tools": "maybe"}]}, "rules[0].when.any[0].tools: Input should be a valid boolean"),
    ],
)
def test_bad_conditions_are_named(when, expected: str) -> None:
    text = problems([rule(when)])
    assert expected in text, text
    assert text.startswith("rules.yaml:"), text


def test_line_numbers_point_at_the_condition() -> None:
    text = problems([rule("has_code"), rule({"all": ["has_code", "langauge == en"]}, name="second")])
    assert "rules.yaml:" in text and "rules[1].when.all[1]" in text
    line = int(text.split(":")[1])
    source = config_text([rule("has_code"), rule({"all": ["has_code", "langauge == en"]}, name="second")])
    assert "langauge == en" in source.splitlines()[line - 1]


@pytest.mark.parametrize(
    "rules, expected",
    [
        ([rule(), rule()], "rules[1].name: duplicate rule name 'r'"),
        (
            [rule(profile="nope")],
            "rules[0].profile: unknown profile 'nope' (known: general, strong, refusal)",
        ),
        ([{"name": "r", "divert": "nope"}], "rules[0].divert: unknown profile 'nope'"),
        (
            [{"name": "r"}],
            "rules[0]: a rule needs something to do: profile, divert, block, redact or strategy",
        ),
        (
            [rule(block="content_blocked")],
            "rules[0]: give one of profile, divert, block (got profile and block)",
        ),
        ([{"name": "r", "block": {"code": "Not OK"}}], "rules[0].block.code: 'Not OK': a code is lower-case"),
        ([{"name": "r", "block": {"status": 500}}], "rules[0].block.status: Input should be 400 or 403"),
        (
            [{"name": "r", "redact": {"signal": "language"}}],
            "rules[0].redact.signal: signal 'language' gives label",
        ),
        ([{"name": "r", "redact": {"signal": "nope"}}], "rules[0].redact.signal: unknown signal 'nope'"),
        (
            [{"name": "r", "redact": {"types": ["EMIAL"]}}],
            "rules[0].redact.types: signal 'pii' never finds EMIAL",
        ),
        ([rule(objective={"lambda": 1})], "rules[0].objective: profile 'strong' ranks by a static order"),
        ([{"name": "r", "objective": {"lambda": 1}, "block": True}], "'objective' overrides a profile's"),
        ([rule(models=["m1"])], "rules[0].models[0]: 'm1' is a backend: requests naming it go direct"),
        ([rule(priority="high")], "rules[0].priority: Input should be a valid integer"),
    ],
)
def test_bad_rules_are_named(rules: list[dict], expected: str) -> None:
    text = problems(rules)
    assert expected in text, text


def test_a_guard_may_list_a_backend_and_route_rules_default_to_auto() -> None:
    cfg = parse_config(
        config_text([rule(), {"name": "g", "models": ["m1"], "block": True}, {"name": "h", "redact": {}}])
    )
    assert [r.applies_to for r in cfg.rules] == [["auto"], ["m1"], ["*"]]


def test_bad_signal_specs_name_the_entry_and_line() -> None:
    text = problems([rule("has_code")], signals={"topics": {"type": "keywords"}})
    assert "signals.topics.sets: Field required" in text and text.startswith("rules.yaml:"), text
    assert "rules.yaml:" in text and "unknown signal type 'magic'" in problems(
        [rule("has_code")], signals={"x": {"type": "magic"}}
    )


def test_all_problems_are_reported_at_once() -> None:
    text = problems([rule("langauge == en"), rule("has_code > 1", name="b"), rule(profile="nope", name="c")])
    assert "rules[2].profile" in text  # structure problems come first, from the loader
    text = problems([rule("langauge == en"), rule("has_code > 1", name="b")])
    assert "rules[0].when" in text and "rules[1].when" in text

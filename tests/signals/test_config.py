from __future__ import annotations

import pytest

from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind
from pointsman.signals.config import (
    SignalConfigError,
    SpecBase,
    build_signals,
    register_signal_type,
    signal_types,
)


def test_builtins_exist_without_config():
    signals = build_signals(None)
    assert {
        "prompt_tokens",
        "user_tokens",
        "turns",
        "has_tools",
        "has_images",
        "has_audio",
        "has_code",
        "language",
        "requested_model",
        "tenant",
        "api_key",
        "pii",
    } <= set(signals)
    assert all(isinstance(s, Signal) and s.name == n for n, s in signals.items())


def test_configured_signals(trigram):
    signals = build_signals(
        {
            "topics": {"type": "keywords", "sets": {"code": ["python"]}, "scope": "all"},
            "urls": {"type": "regex", "sets": {"url": ["https?://"]}},
            "intent": {
                "type": "routes",
                "threshold": 0.3,
                "routes": {"hi": {"utterances": ["hello"], "threshold": 0.2}},
            },
            "team": {"type": "header", "header": "X-Team"},
            "pii": {"type": "pii", "types": ["EMAIL"], "min_score": 0.9},
            "lang": {"type": "language", "prefix_chars": 100},
        },
        encoder=trigram,
    )
    view = RequestView.from_prompt("python at https://x.io, mail a@b.io, call +44 20 7946 0958")
    assert signals["topics"].compute(view).value == ("code",)
    assert signals["urls"].compute(view).value == ("url",)
    assert [s.type for s in signals["pii"].compute(view).value] == ["EMAIL"]
    assert signals["intent"].kind is ValueKind.LABEL and signals["intent"].needs_embedding
    assert float(signals["intent"].thresholds[0]) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"t": {"sets": {}}}, r"signals.t: expected a mapping with a 'type'"),
        ({"t": {"type": "nope"}}, r"signals.t.type: unknown signal type 'nope'; known: .*keywords"),
        ({"t": {"type": "keywords"}}, r"signals.t.sets: Field required"),
        ({"t": {"type": "keywords", "sets": {"a": ["x"]}, "case": True}}, r"signals.t.case: Extra inputs"),
        (
            {"t": {"type": "keywords", "sets": {"a": ["x"]}, "scope": "everything"}},
            r"signals.t.scope: Input should be",
        ),
        ({"t": {"type": "keywords", "sets": {"a": [" "]}}}, r"signals.t: sets.a: empty keyword"),
        ({"t": {"type": "regex", "sets": {"a": ["("]}}}, r"signals.t: sets.a\[0\]: bad regular expression"),
        ({"t": {"type": "routes", "routes": {"a": {"utterances": []}}}}, r"signals.t.routes.a.utterances"),
        (
            {"t": {"type": "pii", "types": ["NAME"]}},
            r"signals.t.types: Value error, unknown PII types \['NAME'\]",
        ),
        (
            {"bad name": {"type": "header", "header": "x"}},
            r"signals.bad name: signal names must be identifiers",
        ),
    ],
)
def test_bad_configs_name_the_entry(config, message, trigram):
    with pytest.raises(SignalConfigError, match=message):
        build_signals(config, encoder=trigram)


def test_not_a_mapping():
    with pytest.raises(SignalConfigError, match="my.yaml: signals: expected a mapping"):
        build_signals(["x"], where="my.yaml: signals")  # type: ignore[arg-type]


def test_other_modules_register_types():
    class ConstSpec(SpecBase):
        type: str
        value: float

    class Const(Signal):
        kind = ValueKind.NUMBER

        def __init__(self, name: str, value: float) -> None:
            super().__init__(name)
            self.value = value

        def compute(self, view: RequestView) -> SignalResult:
            return SignalResult(self.value, 0.5)

    register_signal_type("test_const", ConstSpec, lambda n, s, ctx: Const(n, s.value))
    assert "test_const" in signal_types()
    signals = build_signals({"c": {"type": "test_const", "value": 3}})
    assert signals["c"].compute(RequestView.from_prompt("x")) == SignalResult(3.0, 0.5)

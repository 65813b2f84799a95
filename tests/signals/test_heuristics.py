from __future__ import annotations

import pytest

from pointsman.signals.base import Caller, RequestView
from pointsman.signals.config import builtin_signals
from pointsman.signals.heuristics import CodeSignal, HeaderSignal, KeywordSignal, RegexSignal
from pointsman.signals.language import LanguageSignal


def _view(text: str, **body) -> RequestView:
    return RequestView.from_prompt(text, **body)


def test_keywords_one_pass_many_sets_with_word_boundaries():
    signal = KeywordSignal(
        "topics", {"violence": ["kill", "attack"], "code": ["python", "process", "stack trace"]}
    )
    result = signal.compute(_view("How do I KILL a Python process after a stack trace?"))
    assert result.value == ("violence", "code")
    assert result.scores == {"violence": 1.0, "code": 3.0}
    # "skills" and "attacked" do not contain the words "kill" and "attack"
    assert signal.compute(_view("my skills were attacked")).value == ()


def test_keywords_options():
    text = "Read the GDPR and the gdpr-ish rules"
    assert KeywordSignal("k", {"law": ["GDPR"]}, case_sensitive=True).compute(_view(text)).scores == {
        "law": 1.0
    }
    assert KeywordSignal("k", {"law": ["gdpr"]}).compute(_view(text)).scores == {"law": 2.0}
    assert KeywordSignal("k", {"law": ["gdpr"]}, min_hits=3).compute(_view(text)).value == ()
    assert KeywordSignal("k", {"part": ["dpr"]}, word_boundary=False).compute(_view(text)).value == ("part",)


def test_keywords_unicode_and_scope():
    signal = KeywordSignal("k", {"food": ["crème brûlée", "寿司"]})
    assert signal.compute(_view("I love CRÈME BRÛLÉE")).value == ("food",)
    assert signal.compute(_view("我喜欢寿司")).value == ("food",)  # CJK: no spaces between words
    body = {
        "messages": [{"role": "system", "content": "sushi expert, 寿司"}, {"role": "user", "content": "hi"}]
    }
    assert signal.compute(RequestView(body)).value == ()
    assert KeywordSignal("k", {"food": ["寿司"]}, scope="all").compute(RequestView(body)).value == ("food",)


def test_keywords_reject_empty_keyword():
    with pytest.raises(ValueError, match="sets.bad: empty keyword"):
        KeywordSignal("k", {"bad": ["ok", "  "]})


def test_regex_sets():
    signal = RegexSignal("r", {"url": [r"https?://\S+"], "money": [r"\$\d+", r"\d+ ?usd"]})
    assert signal.compute(_view("pay 30 USD at https://x.io")).value == ("url", "money")
    assert signal.compute(_view("nothing here")).value == ()
    with pytest.raises(ValueError, match=r"sets.bad\[1\]: bad regular expression"):
        RegexSignal("r", {"bad": ["ok", "(unclosed"]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```python\nprint('hi')\n```", True),
        ("def add(a, b):\n    return a + b\n\nprint(add(1, 2))", True),
        ("for (int i = 0; i < n; i++) {\n  sum += a[i];\n}", True),
        ("SELECT name FROM users WHERE id = 3;\nDROP TABLE x;\nCREATE TABLE y (id int);", True),
        ("What is the capital of France?", False),
        ("Solve $\\frac{1}{2} + x = 3$ for x.", False),
        ("Write a Python function that returns the sum of a list.", False),
        ("", False),
    ],
)
def test_code_presence(text, expected):
    assert CodeSignal().compute(_view(text)).value is expected


def test_code_presence_reads_a_bounded_prefix():
    huge = "plain words " * 50_000 + "```\ncode\n```"
    assert CodeSignal(max_chars=4000).compute(_view(huge)).value is False


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How do I reset my online banking password?", "en"),
        ("Bonjour, je voudrais ouvrir un compte bancaire.", "fr"),
        ("Wie spät ist es in Berlin?", "de"),
        ("¿Dónde está la estación de tren?", "es"),
        ("東京の天気はどうですか", "ja"),
        ("Как открыть счёт в банке?", "ru"),
    ],
)
def test_language(text, lang):
    result = LanguageSignal().compute(_view(text))
    assert result.value == lang and 0.5 < result.confidence <= 1.0


def test_language_edge_cases():
    signal = LanguageSignal(prefix_chars=64)
    assert signal.compute(_view("")).value is None
    assert signal.compute(_view("12345 678 !!!")).value is None
    long_text = "Das ist ein langer deutscher Satz über das Wetter. " * 2000 + " This is English."
    assert signal.compute(_view(long_text)).value == "de"
    assert signal.compute(_view("line one\nline two\nline three is english")).value == "en"


def test_fact_signals():
    signals = builtin_signals()
    body = {
        "model": "small",
        "tools": [{"type": "function"}],
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "c"}, {"type": "image_url", "image_url": {}}],
            },
        ],
    }
    view = RequestView(body, Caller(tenant="acme", api_key_id="key-7"))
    values = {
        name: signals[name].compute(view).value
        for name in (
            "turns",
            "messages",
            "has_tools",
            "has_images",
            "has_audio",
            "requested_model",
            "tenant",
            "api_key",
        )
    }
    assert values == {
        "turns": 2,
        "messages": 3,
        "has_tools": True,
        "has_images": True,
        "has_audio": False,
        "requested_model": "small",
        "tenant": "acme",
        "api_key": "key-7",
    }
    assert signals["prompt_tokens"].compute(view).value > signals["user_tokens"].compute(view).value > 0


def test_huge_prompt_heuristics_stay_correct():
    huge = ("lorem ipsum dolor sit amet " * 40_000) + "kill"
    view = _view(huge)
    assert KeywordSignal("k", {"v": ["kill"]}).compute(view).value == ("v",)
    assert builtin_signals()["prompt_tokens"].compute(view).value > 250_000


def test_header_signal():
    view = RequestView.from_prompt("hi", Caller(headers={"x-team": "ads"}))
    assert HeaderSignal("team", "X-Team").compute(view).value == "ads"
    assert HeaderSignal("other", "x-other").compute(view).value is None

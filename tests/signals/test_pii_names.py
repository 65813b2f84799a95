"""Names and postal addresses in the PII detector (opt-in types PERSON, STREET_ADDRESS)."""

from __future__ import annotations

import pytest

from pointsman.signals import build_signals
from pointsman.signals.base import RequestView
from pointsman.signals.pii import PiiDetector
from pointsman.signals.pii.evaluate import char_scores, generate_entities, score

DET = PiiDetector(frozenset({"PERSON", "STREET_ADDRESS"}))


def _found(text: str) -> list[tuple[str, str]]:
    return [(s.type, text[s.start : s.end]) for s in DET.detect(text)]


@pytest.mark.parametrize(
    "text,want",
    [
        ("Please ask Dr. Anna Kowalski to call back.", ("PERSON", "Anna Kowalski")),
        ("My name is Jonas Weber and I lost my card.", ("PERSON", "Jonas Weber")),
        ("Send it to 24 Clarke Avenue, attention Priya.", ("STREET_ADDRESS", "24 Clarke Avenue")),
        ("The office is at Via Roma 131, Milano.", ("STREET_ADDRESS", "Via Roma 131, Milano")),
        ("Billing: Friedhofstrasse 33, Graz", ("STREET_ADDRESS", "Friedhofstrasse 33, Graz")),
        ("Our flat is Apt. 117 on the third floor.", ("STREET_ADDRESS", "Apt. 117")),
    ],
)
def test_finds_names_and_addresses(text: str, want: tuple[str, str]) -> None:
    assert want in _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Will you open the Settings menu and press Save?",
        "In May the Golden Gate Bridge was closed for two days.",
        "The Python Software Foundation released version 3.12 on Monday.",
        "Order 4471 ships in 3 boxes from warehouse 12.",
    ],
)
def test_leaves_ordinary_capitalised_text_alone(text: str) -> None:
    assert _found(text) == []


def test_names_are_opt_in() -> None:
    default = build_signals({"pii": {"type": "pii"}})["pii"]
    view = RequestView.from_prompt("My name is Jonas Weber, I live at 24 Clarke Avenue.")
    assert default.compute(view).value == ()
    both = build_signals({"pii": {"type": "pii", "types": ["PERSON", "STREET_ADDRESS", "EMAIL"]}})["pii"]
    assert {s.type for s in both.compute(view).value} == {"PERSON", "STREET_ADDRESS"}
    with pytest.raises(Exception, match="unknown PII types"):
        build_signals({"pii": {"type": "pii", "types": ["NAME"]}})


def test_generated_sentences_score_within_sane_bounds() -> None:
    data = generate_entities(200, seed=3)
    assert sum(1 for d in data if not d.spans) == 50  # one negative in four
    scores = score(DET, data, ["PERSON", "STREET_ADDRESS"])
    assert scores["STREET_ADDRESS"].precision > 0.8 and scores["PERSON"].precision > 0.6
    chars = char_scores(DET.detect, data, ["STREET_ADDRESS"])
    assert 0.0 < chars["STREET_ADDRESS"][1] <= 1.0

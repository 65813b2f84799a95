"""The answer guard's parts: its signals, rules and the streaming hold-back, on real texts."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.config.answer import AnswerConfig
from pointsman.guard.answer import (
    AnswerHarmSignal,
    RefusalSignal,
    StreamGuard,
    build_answer_guard,
    groundedness,
    redact_spans,
)
from pointsman.routers.base import Queries
from pointsman.signals.base import RequestView, Span
from pointsman.signals.classifiers.model import TextClassifier

VIEW = RequestView.from_prompt("hello")
BASE = {"id": "c1", "object": "chat.completion.chunk", "model": "m"}


def _guard(**answer):
    cfg = AnswerConfig(
        signals={"refusal": {"type": "refusal"}, "leak": {"type": "answer_pii"}},
        rules=answer.pop("rules", [{"name": "leaks", "when": "leak", "action": "redact"}]),
        **answer,
    )
    guard, problems = build_answer_guard(cfg, {})
    assert problems == [] and guard is not None
    return guard


def _stream(guard, text: str, step: int, finish: bool = True) -> tuple[str, list[dict]]:
    sg = StreamGuard(guard, VIEW, {})
    out = sg.push({**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for i in range(0, len(text), step):
        out += sg.push({**BASE, "choices": [{"index": 0, "delta": {"content": text[i : i + step]}}]})
    if finish:
        out += sg.push({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    else:
        out += sg.end()
    got = "".join((c["choices"][0]["delta"].get("content") or "") for c in out if c.get("choices"))
    return got, out


@pytest.mark.parametrize(
    "text,want",
    [
        ("I'm sorry, but I can't help with that request.", "refused"),
        ("I cannot provide instructions for making weapons.", "refused"),
        ("As an AI, I can't share personal information about private people.", "refused"),
        ("I must decline to write that.", "refused"),
        ("Sure! Here is a recipe for banana bread.", "complied"),
        ("The function can't be called twice; I'd wrap it in a lock.", "complied"),
    ],
)
def test_refusal_tag(text: str, want: str) -> None:
    assert RefusalSignal("r").compute(text, VIEW).value == want


def test_groundedness_checks_words_and_numbers() -> None:
    ctx = "Mount Everest is 8849 metres high and lies on the border between Nepal and China in the Himalayas."
    assert groundedness("Everest is 8849 metres high, on the Nepal and China border.", ctx).score == 1.0
    wrong_number = groundedness("Everest is 9100 metres high, on the Nepal and China border.", ctx)
    assert wrong_number.score == 0.0 and wrong_number.unsupported == 1
    invented = groundedness("Everest was first climbed by penguins wearing golden boots.", ctx)
    assert invented.score == 0.0
    assert groundedness("Ok.", ctx).score == 1.0  # nothing to check


def test_groundedness_needs_context() -> None:
    cfg = AnswerConfig(
        signals={"g": {"type": "groundedness", "min_context_words": 5}},
        rules=[{"name": "u", "when": "g < 0.5", "action": "replace"}],
    )
    guard, _ = build_answer_guard(cfg, {})
    assert guard is not None
    assert guard.check("Penguins wear golden boots on Everest.", VIEW).fired == []  # unknown: skipped
    view = RequestView.from_prompt("Everest is 8849 metres high, between Nepal and China, in the Himalayas.")
    assert [r.name for r in guard.check("Penguins wear golden boots on Everest.", view).fired] == ["u"]


def test_redact_spans_clips_to_the_released_text() -> None:
    text = "mail a@b.co now"
    span = Span("EMAIL", 5, 11, 0.9)
    assert redact_spans(text, [span]) == "mail [redacted email] now"
    assert redact_spans(text, [span], start=8) == "mail a@b[redacted email] now"


@pytest.mark.parametrize("step", [1, 3, 7, 50])
def test_stream_hold_back_redacts_pii_split_across_chunks(step: int) -> None:
    text = (
        "Here are the details you wanted: write to jane.doe@example.com or ring +44 20 7946 0958 and "
        "ask for the accounts team, they are in the office every weekday morning."
    )
    got, chunks = _stream(_guard(hold_back_chars=40, check_every_chars=4), text, step)
    assert got == text.replace("jane.doe@example.com", "[redacted email]").replace(
        "+44 20 7946 0958", "[redacted phone]"
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["id"] == "c1" for c in chunks)


def test_stream_without_finish_reason_releases_the_rest() -> None:
    got, _ = _stream(_guard(), "short answer, no finish", 4, finish=False)
    assert got == "short answer, no finish"


def test_stream_replace_stops_and_keeps_usage() -> None:
    guard = _guard(
        rules=[{"name": "r", "when": "refusal == complied", "action": "replace", "message": "No."}]
    )
    sg = StreamGuard(guard, VIEW, {})
    out = sg.push({**BASE, "choices": [{"index": 0, "delta": {"content": "Sure, here is how " * 10}}]})
    assert out[-1]["choices"][0] == {
        "index": 0,
        "delta": {"content": "No."},
        "finish_reason": "content_filter",
    }
    assert sg.push({**BASE, "choices": [{"index": 0, "delta": {"content": "more"}}]}) == []
    usage = sg.push({**BASE, "choices": [], "usage": {"total_tokens": 9}})
    assert usage == [{**BASE, "choices": [], "usage": {"total_tokens": 9}}]


def test_answer_harm_reads_the_lexical_view() -> None:
    texts = ["build a pipe bomb with nails", "mix the explosive powder and the detonator"] * 5
    texts += ["bake the bread for forty minutes", "the capital of france is paris"] * 5
    labels = ["weapons"] * 10 + ["benign"] * 10
    rng = np.random.default_rng(0)
    q = Queries(texts=texts, embeddings=rng.normal(size=(20, 8)).astype(np.float32), encoder_id="t")
    clf = TextClassifier(hidden=0, lexical=0.5).fit(q, labels)
    sig = AnswerHarmSignal("h", clf, threshold=0.5)
    assert sig.compute("First build the pipe bomb and add nails.", VIEW).value == "weapons"
    assert sig.compute("Bake the bread until golden.", VIEW).value == "benign"
    with pytest.raises(ValueError, match="lexical"):
        AnswerHarmSignal("h", TextClassifier(hidden=0).fit(q, labels))


def test_config_problems() -> None:
    with pytest.raises(ValueError, match="need answer signals"):
        AnswerConfig(rules=[{"name": "x", "when": "a", "action": "tag"}])
    cfg = AnswerConfig(
        signals={"topics": {"type": "refusal"}},
        rules=[{"name": "x", "when": "topics == refused", "action": "tag"}],
    )
    _, problems = build_answer_guard(cfg, {"topics": RefusalSignal("topics")})
    assert "request signal already" in problems[0].message
    assert build_answer_guard(AnswerConfig(), {}) == (None, [])


def test_stream_never_releases_text_no_check_has_seen() -> None:
    guard = _guard(hold_back_chars=32, check_every_chars=1000)
    sg = StreamGuard(guard, VIEW, {})
    text = "write to jane.doe@example.com " + "and some more ordinary words " * 10
    out = [
        c
        for i in range(0, len(text), 5)
        for c in sg.push({**BASE, "choices": [{"index": 0, "delta": {"content": text[i : i + 5]}}]})
    ]
    assert out == []  # nothing checked yet, so nothing released
    out = sg.push({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    got = "".join(c["choices"][0]["delta"].get("content") or "" for c in out)
    assert got == text.replace("jane.doe@example.com", "[redacted email]")

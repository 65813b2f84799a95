from __future__ import annotations

import pytest

from pointsman.signals.base import RequestView, Span
from pointsman.signals.pii import PiiSignal, Redaction, redact_body, redact_text, restore_text


def test_redact_and_restore_round_trip():
    text = "Mail bob@x.io or alice@y.org, again bob@x.io; card 4111 1111 1111 1111"
    spans = PiiSignal().compute(RequestView.from_prompt(text)).value
    redacted, redaction = redact_text(text, spans)
    assert redacted == "Mail <EMAIL_1> or <EMAIL_2>, again <EMAIL_1>; card <CREDIT_CARD_1>"
    assert restore_text(redacted, redaction) == text
    answer = "I wrote to <EMAIL_2> and charged <CREDIT_CARD_1>; <EMAIL_9> is unknown"
    assert (
        restore_text(answer, redaction)
        == "I wrote to alice@y.org and charged 4111 1111 1111 1111; <EMAIL_9> is unknown"
    )


def test_redaction_never_prints_values():
    _, redaction = redact_text("x@y.org", [Span("EMAIL", 0, 7, 1.0)])
    assert "x@y.org" not in repr(redaction) and len(redaction) == 1


def test_bad_spans_rejected():
    with pytest.raises(ValueError, match="overlaps another"):
        redact_text("abcdef", [Span("A", 0, 4, 1.0), Span("B", 2, 5, 1.0)])
    with pytest.raises(ValueError, match="outside the text"):
        redact_text("abc", [Span("A", 1, 9, 1.0)])


def test_redact_body_across_messages_and_parts_without_touching_the_input():
    body = {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "Escalate to ops@acme.com"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "I am bob@x.io"},
                    {"type": "image_url", "image_url": {"url": "https://img"}},
                    {"type": "text", "text": "copy ops@acme.com and call +44 20 7946 0958"},
                ],
            },
        ],
    }
    spans = PiiSignal().compute(RequestView(body)).value
    new_body, redaction = redact_body(body, spans)
    assert new_body["messages"][0]["content"] == "Escalate to <EMAIL_1>"
    parts = new_body["messages"][1]["content"]
    assert parts[0]["text"] == "I am <EMAIL_2>"
    assert parts[1] == body["messages"][1]["content"][1]
    assert parts[2]["text"] == "copy <EMAIL_1> and call <PHONE_1>"
    assert body["messages"][0]["content"] == "Escalate to ops@acme.com"  # input unchanged
    assert body["messages"][1]["content"][0]["text"] == "I am bob@x.io"
    assert PiiSignal().compute(RequestView(new_body)).value == ()
    assert restore_text(parts[2]["text"], redaction) == "copy ops@acme.com and call +44 20 7946 0958"


def test_one_redaction_shared_between_calls():
    redaction = Redaction()
    a, _ = redact_text("a@b.io", [Span("EMAIL", 0, 6, 1.0)], redaction)
    b, _ = redact_text("c@d.io and a@b.io", [Span("EMAIL", 0, 6, 1.0), Span("EMAIL", 11, 17, 1.0)], redaction)
    assert (a, b) == ("<EMAIL_1>", "<EMAIL_2> and <EMAIL_1>")

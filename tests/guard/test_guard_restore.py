"""Redaction plans and restoring values in answers: whole answers, tool-call arguments, and streams whose
placeholders are split across chunks at every possible point."""

from __future__ import annotations

import json

import pytest

from pointsman.guard import RedactGuard, StreamRestorer, mask_values, restore_response
from pointsman.signals.base import RequestView
from pointsman.signals.pii import PiiSignal, Redaction, redact_body

BODY = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "You are a bank assistant."},
        {
            "role": "user",
            "content": "I am jane.doe@example.com, IBAN DE89 3704 0044 0532 0130 00. "
            "Mail jane.doe@example.com.",
        },
    ],
}


def spans(body=BODY):
    return PiiSignal().compute(RequestView(body)).value


def redaction() -> Redaction:
    return redact_body(BODY, spans())[1]


def test_plan_filters_types_and_chooses_backends() -> None:
    plan = RedactGuard().plan(spans())
    assert plan.types() == {"EMAIL": 2, "IBAN": 1} and plan.describe() == "redacted EMAIL x2, IBAN"
    assert RedactGuard(types=frozenset({"IBAN"})).plan(spans()).types() == {"IBAN": 1}
    assert RedactGuard(types=frozenset({"PHONE"})).plan(spans()) is None
    assert RedactGuard().plan(()) is None
    everyone = plan.apply(BODY, untrusted={"hosted"}, ranking=["local", "hosted"])
    assert everyone.backends == {"local", "hosted"}
    only = (
        RedactGuard(only_untrusted=True)
        .plan(spans())
        .apply(BODY, untrusted={"hosted"}, ranking=["local", "hosted"])
    )
    assert only.backends == {"hosted"} and set(only.bodies()) == {"hosted"}
    text = only.body["messages"][1]["content"]
    assert text == "I am <EMAIL_1>, IBAN <IBAN_1>. Mail <EMAIL_1>." and "jane" not in json.dumps(only.body)
    assert BODY["messages"][1]["content"].startswith("I am jane")  # the client's body is not modified


def test_restore_response_content_and_tool_arguments() -> None:
    red = redaction()
    red.values["<NAME_1>"] = 'Jo "JJ" O\'Neil'  # a value that needs escaping inside JSON
    response = {
        "choices": [
            {"message": {"content": "Sent to <EMAIL_1> (not <EMAIL_9>).", "tool_calls": [
                {"function": {"name": "send", "arguments": '{"to": "<EMAIL_1>", "name": "<NAME_1>"}'}}]}},
            {"message": {"content": None}},
        ]
    }  # fmt: skip
    restore_response(response, red)
    assert response["choices"][0]["message"]["content"] == "Sent to jane.doe@example.com (not <EMAIL_9>)."
    args = json.loads(response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert args == {"to": "jane.doe@example.com", "name": 'Jo "JJ" O\'Neil'}


def test_mask_values_for_the_log() -> None:
    assert mask_values("Hi jane.doe@example.com!", redaction()) == "Hi <EMAIL_1>!"
    assert mask_values(None, redaction()) is None


def chunk(content=None, finish=None, tool_args=None, index=0) -> dict:
    delta: dict = {}
    if content is not None:
        delta["content"] = content
    if tool_args is not None:
        delta["tool_calls"] = [{"index": 0, "function": {"arguments": tool_args}}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}  # fmt: skip


def run_stream(pieces: list[str], finish: bool = True, tool: bool = False) -> tuple[str, list[dict]]:
    restorer = StreamRestorer(redaction())
    out = []
    for i, piece in enumerate(pieces):
        last = finish and i == len(pieces) - 1
        c = (
            chunk(tool_args=piece, finish="stop" if last else None)
            if tool
            else chunk(piece, "stop" if last else None)
        )
        restorer.chunk(c)
        out.append(c)
    tail = restorer.tail()
    if tail is not None:
        out.append(tail)
    text = ""
    for c in out:
        delta = c["choices"][0]["delta"]
        text += delta.get("content") or "".join(
            t["function"]["arguments"] for t in delta.get("tool_calls", [])
        )
    return text, out


ANSWER = "Dear <EMAIL_1>, your IBAN <IBAN_1> is fine; <EMAIL_1> again, and <TYPO_1 stays, a < b too."
EXPECTED = ANSWER.replace("<EMAIL_1>", "jane.doe@example.com").replace(
    "<IBAN_1>", "DE89 3704 0044 0532 0130 00"
)


@pytest.mark.parametrize("finish", [True, False])
def test_stream_split_at_every_point(finish: bool) -> None:
    for a in range(1, len(ANSWER)):
        for b in (a + 1, a + 3, a + 9):
            pieces = [p for p in (ANSWER[:a], ANSWER[a:b], ANSWER[b:]) if p]
            text, _ = run_stream(pieces, finish=finish)
            assert text == EXPECTED, (a, b, pieces)


def test_stream_one_character_per_chunk_and_tool_arguments() -> None:
    assert run_stream(list(ANSWER))[0] == EXPECTED
    args = '{"to": "<EMAIL_1>"}'
    for cut in range(1, len(args)):
        text, _ = run_stream([args[:cut], args[cut:]], tool=True)
        assert json.loads(text) == {"to": "jane.doe@example.com"}, cut


def test_held_text_is_released_with_the_finish_chunk_or_a_tail() -> None:
    text, chunks = run_stream(["Hi <EMA", "IL_1> and <EM"], finish=True)
    assert text == "Hi jane.doe@example.com and <EM" and len(chunks) == 2  # released in the finish chunk
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text, chunks = run_stream(["Hi <EMA", "IL_1> and <EM"], finish=False)
    assert text == "Hi jane.doe@example.com and <EM" and len(chunks) == 3  # a tail chunk at the end
    assert chunks[-1]["id"] == "c1" and chunks[-1]["choices"][0]["finish_reason"] is None

"""Final-answer normalisation and answer facts, on hand-made and real answers."""

from __future__ import annotations

import pytest

from pointsman.cascade.answers import agreement, answer_facts, final_answer


@pytest.mark.parametrize(
    ("answer", "final"),
    [
        ("The answer is (B).", "L:B"),
        ("**C**", "L:C"),
        ("B) because the moon", "L:B"),
        ("(A) \n\nLet me know if you'd like me to walk through it!", "L:A"),
        ("A cowboy rides into town", "T:cowboy rides into town"),
        ("I think so", "T:i think so"),
        ("She pays 3 + 4 = 7 dollars.\n#### 1,596", "N:1596"),
        ("x = 3.0", "N:3"),
        ("```python\ndef f(x):\n    # double it\n    return   2*x\n```", "C:def f(x):\nreturn 2*x"),
        ("[BEGIN]\ndef f(x):\n    return 2*x\n[Done]", "C:def f(x):\nreturn 2*x"),
    ],
)
def test_final_answer(answer: str, final: str):
    assert final_answer(answer) == final


def test_agreement_counts_same_final_answers():
    assert agreement("The answer is B", ["B", "(B) since", "C"]) == pytest.approx(2 / 3)
    assert agreement("B", []) == 0.0


def test_facts_see_refusal_hedging_and_format():
    prompt = "Which is a mammal?\nA. shark\nB. whale\nC. trout\nD. squid"
    plain = answer_facts(prompt, "B")
    assert plain.fits_format == 1.0 and plain.refusal == 0.0 and plain.kind_letter == 1.0
    refusal = answer_facts(prompt, "I'm sorry, I cannot determine that. It might be B, maybe.")
    assert refusal.refusal == 1.0 and refusal.hedges >= 2 and refusal.fits_format == 0.0
    assert answer_facts(prompt, "Whales are mammals").fits_format == 0.0
    cut = answer_facts("Solve it", "Step 1: consider the first clue and then", completion_tokens=1024)
    assert cut.truncated == 1.0 and answer_facts("Solve it", "So it is 4.", 1024).truncated == 0.0


def test_real_answers_agree_where_the_models_agree(routeprofile):
    i = routeprofile.tasks.index("gsm8k")
    finals = {final_answer(a) for a in routeprofile.responses[i]}
    assert finals == {"N:360"}  # all eight models answered 360 to this question

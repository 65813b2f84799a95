"""What an answer says, in a form two models' answers can be compared in, and cheap features of it.

`final_answer` reduces an answer to its final answer: an option letter ("B"), a number ("1596"), code
without comments and layout (a test-free string form: two solutions agree when they are the same program
text), or the first words of free text. `answer_features` are the answer's surface facts a scorer learns
from: length, hedging, refusal, whether it is cut off, whether it has the form the prompt asks for.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_LETTER_CUE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s*)?[\(\[\*]*([A-J])\b(?![a-z'])", re.IGNORECASE
)
# "(B)", "[B]", "**B**", "B.", "B)", "B:" or a bare "B" at the start (not the article "A cowboy ...")
_LEADING_LETTER = re.compile(r"^\s*(?:\(([A-J])\)|\[([A-J])\]|\*\*([A-J])\*\*|([A-J])(?:[\.\):]|\s*$))")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_NUMBER_CUE = re.compile(r"(?:####|answer is|answer:|=)\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_CODE_BLOCK = re.compile(
    r"```[a-zA-Z0-9_+-]*\n(.*?)(?:```|$)|\[BEGIN\]\s*\n(.*?)(?:\[DONE\]|$)", re.DOTALL | re.IGNORECASE
)
_COMMENT = re.compile(r"#[^\n]*|\"\"\"(?:.|\n)*?\"\"\"|'''(?:.|\n)*?'''")
_WORD = re.compile(r"[a-z0-9]+")
_ARTICLES = frozenset({"a", "an", "the"})
_OPTIONS_IN_PROMPT = re.compile(r"(?:^|\n|\s)\(?[A-D][\)\.:]\s", re.MULTILINE)

HEDGES = (
    "i think", "i believe", "might", "maybe", "perhaps", "possibly", "probably", "not sure", "unsure",
    "it seems", "likely", "unclear", "i'm not certain", "cannot be certain", "it depends",
)  # fmt: skip
REFUSALS = (
    "i can't", "i cannot", "i can not", "i'm sorry", "i am sorry", "as an ai", "i'm unable", "i am unable",
    "i couldn't find", "i could not find", "not enough information", "i don't have", "i do not have",
    "not possible to determine", "none of the options",
)  # fmt: skip


@lru_cache(maxsize=4096)  # a cascade compares each answer with every other: normalise each once
def final_answer(answer: str) -> str:
    """The answer's final answer, normalised: `L:B`, `N:1596`, `C:<code>` or `T:<first words>`."""
    text = answer.strip()
    code = _code(text)
    if code is not None:
        return "C:" + code
    letter = _letter(text)
    if letter is not None:
        return "L:" + letter
    number = _number(text)
    if number is not None:
        return "N:" + number
    words = [w for w in _WORD.findall(text.lower()) if w not in _ARTICLES]
    return "T:" + " ".join(words[:12])


def _code(text: str) -> str | None:
    block = _CODE_BLOCK.search(text)
    body = (
        (block.group(1) or block.group(2) or "")
        if block
        else (text if re.match(r"\s*(def|class|import|from)\s", text) else None)
    )
    if body is None:
        return None
    body = _COMMENT.sub("", body)
    return "\n".join(" ".join(line.split()) for line in body.splitlines() if line.strip())


def _letter(text: str) -> str | None:
    cue = _LETTER_CUE.search(text)
    if cue:
        return cue.group(1).upper()
    lead = _LEADING_LETTER.match(text)
    return next(g for g in lead.groups() if g) if lead else None


def _number(text: str) -> str | None:
    cues = _NUMBER_CUE.findall(text)
    found = cues[-1] if cues else (_NUMBER.findall(text) or [None])[-1]
    if found is None:
        return None
    try:
        value = float(found.replace(",", ""))
    except ValueError:
        return None
    return f"{value:g}" if math.isfinite(value) else None


def agreement(answer: str, others: list[str]) -> float:
    """Share of `others` whose final answer equals this one's (0 when there are none)."""
    if not others:
        return 0.0
    mine = final_answer(answer)
    return sum(final_answer(o) == mine for o in others) / len(others)


@dataclass(frozen=True)
class AnswerFacts:
    """Surface facts of an answer, as the learned scorer's dense features."""

    log_chars: float
    log_tokens: float  # completion tokens when known, else estimated from words
    hedges: float
    refusal: float
    truncated: float  # ends without closing punctuation after a long answer: likely cut off
    kind_letter: float
    kind_number: float
    kind_code: float
    fits_format: float  # the prompt lists options and the answer names one, or no options are asked for

    def vector(self) -> np.ndarray:
        return np.array(
            [
                self.log_chars, self.log_tokens, self.hedges, self.refusal, self.truncated,
                self.kind_letter, self.kind_number, self.kind_code, self.fits_format,
            ],
            dtype=np.float64,
        )  # fmt: skip


N_FACTS = 9


def answer_facts(prompt: str, answer: str, completion_tokens: int | None = None) -> AnswerFacts:
    low = answer.lower()
    kind = final_answer(answer)[:1]
    tokens = completion_tokens if completion_tokens is not None else int(len(low.split()) * 1.3)
    tail = answer.rstrip()[-1:]
    options = bool(_OPTIONS_IN_PROMPT.search(prompt))
    return AnswerFacts(
        log_chars=math.log1p(len(answer)),
        log_tokens=math.log1p(max(tokens, 0)),
        hedges=float(min(sum(low.count(h) for h in HEDGES), 5)),
        refusal=float(any(r in low for r in REFUSALS)),
        truncated=float(tokens >= 256 and tail not in {".", "!", "?", "`", ")", '"', "*", "]", "}"}),
        kind_letter=float(kind == "L"),
        kind_number=float(kind == "N"),
        kind_code=float(kind == "C"),
        fits_format=float(kind == "L" if options else True),
    )

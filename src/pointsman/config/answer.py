"""The `answer:` section: checks on the model's answer before the client gets it (docs/classifiers.md).

```yaml
answer:
  hold_back_chars: 96            # streaming: text held back so a check can still act on it
  signals:
    refusal: {type: refusal}                     # refused / complied
    leak: {type: answer_pii}                     # PII spans in the answer
    answer_harm: {type: answer_harm}             # harm categories of the answer's words
    grounded: {type: groundedness}               # share of the answer supported by the request's text
  rules:
    - {name: harmful-compliance, when: {all: ["harm != benign", "refusal == complied"]}, action: replace}
    - {name: leaks, when: leak, action: redact}
    - {name: ungrounded, when: "grounded < 0.5", action: retry}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AnswerSignalConfig(_Strict):
    """One check on the answer. `threshold`: answer_harm's on P(harmful); `types`: answer_pii's PII types
    (default: all); `min_context_words`: groundedness needs at least this many content words of context;
    `model`: answer_harm's harm classifier file (default: the built-in one)."""

    type: Literal["refusal", "answer_pii", "answer_harm", "groundedness"]
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    types: list[str] | None = None
    min_context_words: int = Field(40, ge=1)
    model: Path | None = None


class AnswerRuleConfig(_Strict):
    """When `when` holds for an answer: `replace` it with `message`, `redact` the spans of `signal` (default:
    the first answer_pii signal), `tag` it (header and log), or `retry` on the next model of the ranking
    (streaming: replace, as the text may already be on its way). Rules are tried in file order; every rule
    that holds acts (a replace or retry ends the checks)."""

    name: str = Field(min_length=1)
    when: Any = Field(description="a condition over answer signals and request signals (docs/rules.md)")
    action: Literal["replace", "redact", "tag", "retry"]
    message: str = DEFAULT_REFUSAL
    tag: str | None = None
    signal: str | None = None
    on_signal_error: Literal["match", "skip"] = "skip"


class AnswerConfig(_Strict):
    hold_back_chars: int = Field(
        96,
        ge=32,
        description="streaming: characters held back for the checks (more than the longest PII value)",
    )
    check_every_chars: int = Field(64, ge=1, description="streaming: check again after this much new text")
    signals: dict[str, AnswerSignalConfig] = Field(default_factory=dict)
    rules: list[AnswerRuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_need_signals(self) -> AnswerConfig:
        if self.rules and not self.signals:
            raise ValueError("answer rules need answer signals: add `signals:` to the answer section")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.rules)

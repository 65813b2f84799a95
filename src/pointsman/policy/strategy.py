"""Prompt strategies (after RoutingGen, 2025): a rule may rewrite how a request asks, not only where it goes.

- `direct`: a system instruction to give the final answer only (cheap: no reasoning tokens);
- `few_shot`: k worked examples from a JSONL file (`{"prompt": ..., "answer": ...}` per line) put before the
  conversation as earlier turns;
- `cot`: a system instruction to reason step by step, then give the final answer on its own last line.

Chosen by a rule (`strategy:` beside or instead of `profile:`), typically by predicted difficulty: e.g. cheap
`direct` for easy prompts, `cot` for hard ones. The rewrite adds messages and never changes the client's own;
requests with tools are left alone (a reasoning instruction would fight the tool protocol).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DIRECT = "Give only the final answer, with no explanation."
COT = (
    "Think step by step: note what is asked, work through it briefly, then give the final answer on its "
    "own last line as 'Answer: <answer>'."
)
INSTRUCTIONS = {"direct": DIRECT, "cot": COT}


class StrategyError(ValueError):
    """A strategy that cannot be built (a missing or malformed examples file)."""


@dataclass(frozen=True, slots=True)
class Strategy:
    kind: str  # direct, few_shot, cot
    instruction: str = ""  # direct / cot: the system text added
    examples: tuple[tuple[str, str], ...] = ()  # few_shot: (prompt, answer) turns

    @classmethod
    def build(
        cls, kind: str, *, instruction: str | None = None, examples: str | Path | None = None, k: int = 3
    ) -> Strategy:
        """A strategy of `kind`; StrategyError for an unknown kind or unusable examples."""
        if kind == "few_shot":
            if examples is None:
                raise StrategyError("few_shot needs 'examples': a JSONL file of {prompt, answer} lines")
            return cls(kind, instruction or "", tuple(load_examples(examples)[:k]))
        if kind not in INSTRUCTIONS:
            raise StrategyError(f"unknown strategy {kind!r}; known: direct, few_shot, cot")
        return cls(kind, instruction or INSTRUCTIONS[kind])

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new request body with the strategy's messages added (the client's body is not modified)."""
        messages = list(body.get("messages") or [])
        if body.get("tools") or body.get("functions"):
            return dict(body)
        added: list[dict[str, Any]] = []
        if self.instruction:
            added.append({"role": "system", "content": self.instruction})
        for prompt, answer in self.examples:
            added += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        # After the client's own system messages (they come first), before the conversation.
        head = 0
        while (
            head < len(messages)
            and isinstance(messages[head], Mapping)
            and messages[head].get("role")
            in (
                "system",
                "developer",
            )
        ):
            head += 1
        return {**body, "messages": [*messages[:head], *added, *messages[head:]]}

    def describe(self) -> str:
        return f"strategy {self.kind}" + (f" ({len(self.examples)} examples)" if self.examples else "")


def load_examples(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, answer) pairs from a JSONL file; StrategyError naming the line of a bad one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyError(f"few_shot examples {path}: {exc}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StrategyError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not (
            isinstance(row, dict)
            and isinstance(row.get("prompt"), str)
            and isinstance(row.get("answer"), str)
        ):
            raise StrategyError(f'{path}:{n}: expected {{"prompt": str, "answer": str}}')
        out.append((row["prompt"], row["answer"]))
    if not out:
        raise StrategyError(f"few_shot examples {path}: no examples")
    return out


__all__ = ["COT", "DIRECT", "Strategy", "StrategyError", "load_examples"]

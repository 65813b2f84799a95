"""Heuristic signals: microseconds each, computed inline, never cached (recomputing is cheaper).

Facts of the request (token estimates, turns, tools, modalities, requested model, caller), keyword sets
(one Aho-Corasick pass for all sets), regex sets and code presence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Hashable, Literal

import ahocorasick

from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind

Scope = Literal["last_user", "user", "system", "all"]
SCOPES: tuple[str, ...] = ("last_user", "user", "system", "all")


def scoped_text(view: RequestView, scope: Scope) -> str:
    """The part of the request a text signal reads."""
    if scope == "last_user":
        return view.last_user_text
    if scope == "user":
        return view.user_text
    if scope == "system":
        return view.system_text
    return view.all_text


class HeuristicSignal(Signal):
    inline = True
    budget_ms = 0.05

    def cache_key(self, view: RequestView) -> Hashable | None:
        return None


class FactSignal(HeuristicSignal):
    """A fact the view already derives (e.g. `view.turn_count`), exposed as a signal."""

    def __init__(self, name: str, kind: ValueKind, read: Callable[[RequestView], Any]) -> None:
        super().__init__(name)
        self.kind = kind  # type: ignore[misc]
        self._read = read

    def compute(self, view: RequestView) -> SignalResult:
        return SignalResult(self._read(view))


class HeaderSignal(HeuristicSignal):
    """The value of one request header (names are case-insensitive); None when absent."""

    kind = ValueKind.LABEL

    def __init__(self, name: str, header: str) -> None:
        super().__init__(name)
        self.header = header.lower()

    def compute(self, view: RequestView) -> SignalResult:
        return SignalResult(view.caller.header(self.header))


def fact_signals() -> list[Signal]:
    """The request facts, under their default names."""
    L, N, B = ValueKind.LABEL, ValueKind.NUMBER, ValueKind.BOOL
    return [
        FactSignal("prompt_tokens", N, lambda v: v.prompt_tokens),
        FactSignal("user_tokens", N, lambda v: v.last_user_tokens),
        FactSignal("turns", N, lambda v: v.turn_count),
        FactSignal("messages", N, lambda v: v.message_count),
        FactSignal("has_tools", B, lambda v: v.has_tools),
        FactSignal("has_images", B, lambda v: v.has_images),
        FactSignal("has_audio", B, lambda v: v.has_audio),
        FactSignal("requested_model", L, lambda v: v.requested_model),
        FactSignal("tenant", L, lambda v: v.caller.tenant),
        FactSignal("api_key", L, lambda v: v.caller.api_key_id),
        FactSignal("budget_remaining", N, lambda v: v.caller.budget_remaining),
    ]


class KeywordSignal(HeuristicSignal):
    """Which named keyword sets occur in the text: all sets matched in one Aho-Corasick pass.

    Value: the names of the sets with at least `min_hits` hits, in configuration order; `scores`: hits
    per set. `word_boundary` keeps "kill" from matching "skills"; matching is case-insensitive unless
    `case_sensitive`.
    """

    kind = ValueKind.LABELS

    def __init__(
        self,
        name: str,
        sets: Mapping[str, Sequence[str]],
        *,
        case_sensitive: bool = False,
        word_boundary: bool = True,
        min_hits: int = 1,
        scope: Scope = "last_user",
    ) -> None:
        super().__init__(name)
        self.set_names = list(sets)
        self.case_sensitive = case_sensitive
        self.word_boundary = word_boundary
        self.min_hits = min_hits
        self.scope = scope
        owners: dict[str, list[int]] = {}
        for index, (set_name, words) in enumerate(sets.items()):
            for word in words:
                key = word if case_sensitive else word.lower()
                if not key.strip():
                    raise ValueError(f"sets.{set_name}: empty keyword")
                owners.setdefault(key, []).append(index)
        self._automaton = ahocorasick.Automaton()
        for key, indices in owners.items():
            self._automaton.add_word(key, (len(key), tuple(indices)))
        if owners:
            self._automaton.make_automaton()

    def compute(self, view: RequestView) -> SignalResult:
        text = scoped_text(view, self.scope)
        if not self.case_sensitive:
            text = text.lower()
        hits = [0] * len(self.set_names)
        if text and self._automaton.kind == ahocorasick.AHOCORASICK:
            n = len(text)
            for end, (length, indices) in self._automaton.iter(text):
                if self.word_boundary:
                    start = end - length + 1
                    if (start > 0 and _is_word(text[start - 1])) or (end + 1 < n and _is_word(text[end + 1])):
                        continue
                for i in indices:
                    hits[i] += 1
        matched = tuple(s for s, h in zip(self.set_names, hits) if h >= self.min_hits)
        return SignalResult(matched, scores=dict(zip(self.set_names, map(float, hits))))


# Scripts written without spaces between words (Thai, Lao, kana, CJK ideographs): no word boundaries there.
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _is_word(ch: str) -> bool:
    return (ch.isalnum() or ch == "_") and not _UNSPACED.match(ch)


class RegexSignal(HeuristicSignal):
    """Which named regex sets match the text (each set's patterns compiled into one alternation)."""

    kind = ValueKind.LABELS

    def __init__(
        self,
        name: str,
        sets: Mapping[str, Sequence[str]],
        *,
        case_sensitive: bool = False,
        scope: Scope = "last_user",
    ) -> None:
        super().__init__(name)
        self.scope = scope
        flags = 0 if case_sensitive else re.IGNORECASE
        self._sets: list[tuple[str, re.Pattern[str]]] = []
        for set_name, patterns in sets.items():
            for i, pattern in enumerate(patterns):
                try:
                    re.compile(pattern, flags)
                except re.error as exc:
                    raise ValueError(
                        f"sets.{set_name}[{i}]: bad regular expression {pattern!r}: {exc}"
                    ) from None
            self._sets.append((set_name, re.compile("|".join(f"(?:{p})" for p in patterns), flags)))

    def compute(self, view: RequestView) -> SignalResult:
        text = scoped_text(view, self.scope)
        return SignalResult(tuple(name for name, rx in self._sets if rx.search(text)))


class CodeSignal(HeuristicSignal):
    """Whether the text contains source code: a fenced block, or at least `min_hits` code-shaped lines.

    Reads at most the first `max_chars` characters (code in a prompt shows early or in a fence).
    Confidence grows with the number of code-shaped features seen.
    """

    kind = ValueKind.BOOL
    _FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)
    _FEATURES = re.compile(
        r"^[ \t]*(?:def |class |import |from [\w.]+ import |#include\b|using namespace |package |func |fn |"
        r"public |private |static |function\b|const |let |var |return\b|if ?\(|for ?\(|while ?\(|"
        r"SELECT |INSERT INTO |CREATE TABLE |#!/)"
        r"|[;{]\s*$"
        r"|^\s*}\s*$"
        r"|\b\w+\([^()\n]*\)\s*(?:->\s*[\w\[\], .]+)?:\s*$"
        r"|^\s*>>> |\"\"\"|'''"  # doctests, docstrings
        r"|=>|::|!==?|===|&&|\|\||\+=|\bnull\b|\bNone\b|\bself\.",
        re.MULTILINE,
    )

    def __init__(
        self, name: str = "has_code", *, min_hits: int = 3, max_chars: int = 4000, scope: Scope = "user"
    ) -> None:
        super().__init__(name)
        self.min_hits = min_hits
        self.max_chars = max_chars
        self.scope = scope

    def compute(self, view: RequestView) -> SignalResult:
        text = scoped_text(view, self.scope)[: self.max_chars]
        if self._FENCE.search(text):
            return SignalResult(True, 1.0)
        hits = sum(1 for _ in self._FEATURES.finditer(text))
        if hits >= self.min_hits:
            return SignalResult(True, min(1.0, 0.6 + 0.05 * hits))
        return SignalResult(False, 1.0 - 0.15 * hits)

"""The lexical check beside the embedding: how many of two questions' words they share.

Paraphrases that embed close but ask different things usually differ in a word that matters (a number, a
name, "Java" for "Python"); the overlap of their word sets catches part of that. Jaccard over lower-cased
word and number tokens, so "iPhone 7" vs "iPhone 8" share less than "the iPhone 7" vs "iPhone 7".
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def overlap(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (1.0 for two empty texts)."""
    wa, wb = words(a), words(b)
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)

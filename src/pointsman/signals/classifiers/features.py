"""Cheap text features that sit beside the request embedding.

The embedding sees only the first 256 word pieces and smooths the surface of a text away. `shape` (a few
microseconds) sees the whole text's form: length, casing, digits, symbols, line structure, and the glued
sub-word/punctuation runs typical of optimised adversarial suffixes. `ngram_counts` (the lexical view of a
classifier, tens of microseconds) sees its words: hashed unigrams and bigrams of the head and tail.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Any, Callable, Sequence

import numpy as np

# Long texts: statistics from the head and the tail (where wrappers and suffixes sit), not every character.
_HEAD = _TAIL = 2048
_UPPER = re.compile(r"[A-Z]")
_DIGIT = re.compile(r"[0-9]")
_SYMBOL = re.compile(r"[^\w\s]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# A token mixing letters with two or more symbols, or camelCase glued words ("tableView](", "similarlyNow").
_GLUED = re.compile(r"\S*(?:[A-Za-z][^\w\s]{1,}\S*[^\w\s]|[a-z][A-Z][a-z])\S*")


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len(text) - len(pattern.sub("", text))


def shape(text: str) -> list[float]:
    """Length, word and line counts (log), and the share of upper-case, digit, symbol, non-ASCII
    characters and of glued tokens, over the head and tail of the text."""
    n_chars = len(text)
    sample = text if n_chars <= _HEAD + _TAIL else text[:_HEAD] + text[-_TAIL:]
    n = max(len(sample), 1)
    words = sample.split()
    n_words = max(len(words), 1)
    tail_words = words[-30:]
    glued_tail = sum(1 for w in tail_words if _GLUED.fullmatch(w)) / max(len(tail_words), 1)
    return [
        math.log1p(n_chars),
        math.log1p(len(words) * n_chars / n),  # words, extrapolated from the sample
        math.log1p(text.count("\n")),
        sum(len(w) for w in words) / n_words,
        _count(_UPPER, sample) / n,
        _count(_DIGIT, sample) / n,
        _count(_SYMBOL, sample) / n,
        _count(_NON_ASCII, sample) / n,
        sum(1 for w in words if _GLUED.fullmatch(w)) / n_words,
        glued_tail,
    ]


FEATURES: dict[str, Callable[[str], list[float]]] = {"shape": shape}


def feature_names(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in FEATURES:
            raise ValueError(f"unknown text feature set {name!r}; known: {', '.join(FEATURES)}")
    return list(names)


def extract(names: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """(len(texts), total width) float32 of the named feature sets, in order."""
    if not names:
        return np.zeros((len(texts), 0), dtype=np.float32)
    rows = [[v for name in names for v in FEATURES[name](t)] for t in texts]
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)


# -- hashed word n-grams (the lexical view) ------------------------------------------------------------------
_WORD = re.compile(r"\w\w+")


def ngram_counts(text: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted hashed indices, L2-normalised counts) of the lower-cased word unigrams and bigrams of the
    text's head and tail. crc32 hashing: stable across processes and platforms (unlike `hash`)."""
    sample = text if len(text) <= _HEAD + _TAIL else text[:_HEAD] + " " + text[-_TAIL:]
    words = _WORD.findall(sample.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    if not grams:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    mask = (1 << bits) - 1
    idx, counts = np.unique(
        np.fromiter((zlib.crc32(g.encode()) & mask for g in grams), np.int64, len(grams)), return_counts=True
    )
    values = counts.astype(np.float32)
    return idx, values / np.linalg.norm(values)


def ngram_matrix(texts: Sequence[str], bits: int) -> Any:
    """(len(texts), 2**bits) scipy CSR matrix of `ngram_counts` rows."""
    from scipy.sparse import csr_matrix

    rows = [ngram_counts(t, bits) for t in texts]
    indptr = np.cumsum([0] + [len(i) for i, _ in rows])
    indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, np.float32)
    return csr_matrix((data, indices, indptr), shape=(len(texts), 1 << bits))

"""Query features for routers: the sentence embedding plus cheap lexical / structural features.

MiniLM is uncased and blind to layout, yet layout tells benchmark tasks (and their answer formats) apart:
a lower-case question without a question mark (Natural Questions) against a capitalised one (TriviaQA),
LaTeX and `[asy]` figures (MATH), doctests (HumanEval), comma-separated word lists (CommonGen). These
features cost a few microseconds per prompt and need nothing but the text, so the gateway can compute them.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import sparse

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPTIONS = re.compile(r"\(A\)|\bA\)|\bA\.")
_WHO = re.compile(r"\bwho\b")
_WHEN = re.compile(r"\bwhen\b|\byear\b")
_HOW_MANY = re.compile(r"how many|how much")

# One name per column of `lexical_features` (docs and tests read it).
LEXICAL_NAMES = (
    "log_chars", "log_words", "log_lines", "upper_share", "digit_share", "punct_share", "log_dollars",
    "has_backslash", "has_asy", "has_code", "ends_question", "ends_period", "starts_upper", "starts_lower",
    "log_questions", "log_numbers", "log_commas", "starts_q_colon", "asks_boxed", "has_options",
    "all_lower", "word_list", "mean_word_len", "has_docstring", "first_who", "first_what", "first_when",
    "first_where", "first_which", "first_how", "first_why", "mentions_who", "mentions_when", "how_many",
)  # fmt: skip


def _char_shares(s: str) -> tuple[float, float, float]:
    """Shares of ASCII upper-case letters, digits and punctuation among the characters of s."""
    codes = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = max(len(codes), 1)
    upper = np.count_nonzero((codes >= 65) & (codes <= 90))
    digit = np.count_nonzero((codes >= 48) & (codes <= 57))
    punct = np.count_nonzero(
        ((codes >= 33) & (codes <= 47)) | ((codes >= 58) & (codes <= 64))
        | ((codes >= 91) & (codes <= 96)) | ((codes >= 123) & (codes <= 126))
    )  # fmt: skip
    return upper / n, digit / n, punct / n


def _row(text: str) -> list[float]:
    s = text.strip()
    words = s.split()
    lengths = list(map(len, words))
    first = words[0].lower() if words else ""
    low = s.lower()
    commas = s.count(",")
    return [
        np.log1p(len(s)),
        np.log1p(len(words)),
        np.log1p(s.count("\n")),
        *_char_shares(s),
        np.log1p(s.count("$")),
        float("\\" in s),
        float("[asy]" in s),
        float("def " in s or "```" in s or ">>>" in s),
        float(s.endswith("?")),
        float(s.endswith(".")),
        float(s[:1].isupper()),
        float(s[:1].islower()),
        np.log1p(s.count("?")),
        np.log1p(len(_NUMBER.findall(s))),
        np.log1p(commas),
        float(s.startswith("Q:")),
        float("boxed" in s),
        float(bool(_OPTIONS.search(s))),
        float(s.islower()),
        float(commas >= 3 and "?" not in s and max(lengths) < 16),
        sum(lengths) / len(words) if words else 0.0,
        float('"""' in s or "'''" in s),
        float(first in ("who", "whom", "whose")),
        float(first == "what"),
        float(first == "when"),
        float(first == "where"),
        float(first == "which"),
        float(first == "how"),
        float(first == "why"),
        float(bool(_WHO.search(low))),
        float(bool(_WHEN.search(low))),
        float(bool(_HOW_MANY.search(low))),
    ]


# Per-text results kept for the process: cross-validation featurises the same texts for every fold,
# router and inner fit, and a text's features never change. Cleared when it grows past this many texts.
_MEMO_LIMIT = 400_000
_lexical_memo: dict[str, np.ndarray] = {}
_ngram_memo: dict[str, np.ndarray] = {}


def _remember(memo: dict[str, np.ndarray], text: str, value: np.ndarray) -> np.ndarray:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[text] = value
    return value


def lexical_features(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), len(LEXICAL_NAMES)) float64 features of the raw text."""
    if not texts:
        return np.zeros((0, len(LEXICAL_NAMES)))
    memo = _lexical_memo
    rows = [memo.get(t) for t in texts]
    for i, row in enumerate(rows):
        if row is None:
            rows[i] = _remember(memo, texts[i], np.array(_row(texts[i]), dtype=np.float64))
    return np.array(rows, dtype=np.float64)


@dataclass
class Featurizer:
    """[embedding, standardised lexical features x `lexical_weight`]: one row per query.

    The weight keeps the 34 lexical columns from drowning the 384 unit-norm embedding ones in an L2-penalised
    linear model (standardised columns are each about as large as the whole embedding).
    """

    embedding_dim: int
    mean: np.ndarray
    scale: np.ndarray
    lexical_weight: float = 0.3

    @classmethod
    def fit(cls, embeddings: np.ndarray, texts: Sequence[str], lexical_weight: float = 0.3) -> Featurizer:
        lex = lexical_features(texts)
        scale = lex.std(axis=0)
        return cls(embeddings.shape[1], lex.mean(axis=0), np.where(scale > 1e-9, scale, 1.0), lexical_weight)

    @property
    def dim(self) -> int:
        """Columns of `transform`'s output (for MiniLM: 384 + 34)."""
        return self.embedding_dim + len(self.mean)

    def transform(self, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        if np.shape(embeddings)[1:] != (self.embedding_dim,) and len(texts):
            raise ValueError(
                f"embeddings of shape {np.shape(embeddings)}, expected (n, {self.embedding_dim})"
            )
        lex = (lexical_features(texts) - self.mean) / self.scale * self.lexical_weight
        return np.hstack([np.asarray(embeddings, dtype=np.float64).reshape(len(texts), -1), lex])

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}mean": self.mean,
            f"{prefix}scale": self.scale,
            f"{prefix}dim": np.array([self.embedding_dim]),
        }

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], prefix: str, lexical_weight: float) -> Featurizer:
        mean, scale, dim = arrays[f"{prefix}mean"], arrays[f"{prefix}scale"], arrays[f"{prefix}dim"]
        if mean.shape != (len(LEXICAL_NAMES),) or scale.shape != mean.shape or dim.shape != (1,):
            raise ValueError(
                f"lexical feature statistics of shape {mean.shape}, expected ({len(LEXICAL_NAMES)},)"
            )
        return cls(int(dim[0]), mean, scale, lexical_weight)


# Word uni- and bigrams (punctuation marks count as words, case kept), hashed (CRC-32) into a fixed number of
# columns: no vocabulary to store, and a text always lands in the same columns on any machine.
NGRAM_COLUMNS = 2**15
_TOKEN = re.compile(r"\w\w+|[^\w\s]")


def ngram_columns(text: str) -> np.ndarray:
    """The hashed columns of the n-grams of `text`, sorted, each once (int64)."""
    cols = _ngram_memo.get(text)
    if cols is None:
        tokens = _TOKEN.findall(text)
        grams = tokens + [f"{a} {b}" for a, b in pairwise(tokens)]
        found = {zlib.crc32(g.encode("utf-8", "surrogatepass")) % NGRAM_COLUMNS for g in grams}
        cols = _remember(_ngram_memo, text, np.array(sorted(found), dtype=np.int64))
    return cols


def hashed_ngrams(texts: Sequence[str]) -> sparse.csr_matrix:
    """(len(texts), NGRAM_COLUMNS) binary n-gram indicators, each row L2-normalised."""
    cols = [ngram_columns(t) for t in texts]
    lengths = np.array([len(c) for c in cols], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    values = np.repeat(1 / np.sqrt(np.maximum(lengths, 1)), lengths)
    indices = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sparse.csr_matrix((values, indices, indptr), shape=(len(texts), NGRAM_COLUMNS))

"""Query features for routers: the sentence embedding plus cheap lexical / structural features.

MiniLM is uncased and blind to layout, yet layout tells benchmark tasks (and their answer formats) apart:
a lower-case question without a question mark (Natural Questions) against a capitalised one (TriviaQA),
LaTeX and `[asy]` figures (MATH), doctests (HumanEval), comma-separated word lists (CommonGen). These
features cost a few microseconds per prompt and need nothing but the text, so the gateway can compute them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def _row(text: str) -> list[float]:
    s = text.strip()
    n = max(len(s), 1)
    words = s.split()
    first = words[0].lower() if words else ""
    low = s.lower()
    return [
        np.log1p(len(s)),
        np.log1p(len(words)),
        np.log1p(s.count("\n")),
        sum(c.isupper() for c in s) / n,
        sum(c.isdigit() for c in s) / n,
        sum(not c.isalnum() and not c.isspace() for c in s) / n,
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
        np.log1p(s.count(",")),
        float(s.startswith("Q:")),
        float("boxed" in s),
        float(bool(_OPTIONS.search(s))),
        float(s.islower()),
        float(s.count(",") >= 3 and "?" not in s and all(len(w.strip(",")) < 15 for w in words)),
        float(np.mean([len(w) for w in words])) if words else 0.0,
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


def lexical_features(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), len(LEXICAL_NAMES)) float64 features of the raw text."""
    if not texts:
        return np.zeros((0, len(LEXICAL_NAMES)))
    return np.array([_row(t) for t in texts], dtype=np.float64)


@dataclass
class Featurizer:
    """[embedding, standardised lexical features x `lexical_weight`]: one row per query.

    The weight keeps the 34 lexical columns from drowning the 384 unit-norm embedding ones in an L2-penalised
    linear model (standardised columns are each about as large as the whole embedding).
    """

    mean: np.ndarray
    scale: np.ndarray
    lexical_weight: float = 0.3

    @classmethod
    def fit(cls, texts: Sequence[str], lexical_weight: float = 0.3) -> Featurizer:
        lex = lexical_features(texts)
        scale = lex.std(axis=0)
        return cls(lex.mean(axis=0), np.where(scale > 1e-9, scale, 1.0), lexical_weight)

    def transform(self, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        lex = (lexical_features(texts) - self.mean) / self.scale * self.lexical_weight
        return np.hstack([np.asarray(embeddings, dtype=np.float64), lex])

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], prefix: str, lexical_weight: float) -> Featurizer:
        mean, scale = arrays[f"{prefix}mean"], arrays[f"{prefix}scale"]
        if mean.shape != (len(LEXICAL_NAMES),) or scale.shape != mean.shape:
            raise ValueError(
                f"lexical feature statistics of shape {mean.shape}, expected ({len(LEXICAL_NAMES)},)"
            )
        return cls(mean, scale, lexical_weight)

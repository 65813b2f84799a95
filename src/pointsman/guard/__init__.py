"""Guards: what a decision does to a request before any backend sees it (block, redact PII) and to the answer
(restore redacted values). Diverting is a route to another profile (policy/rules.py)."""

from pointsman.guard.block import GUARD_UNAVAILABLE, Block
from pointsman.guard.redact import Redacted, RedactGuard, RedactPlan
from pointsman.guard.restore import StreamRestorer, mask_values, restore_response

__all__ = [
    "GUARD_UNAVAILABLE",
    "Block",
    "RedactGuard",
    "RedactPlan",
    "Redacted",
    "StreamRestorer",
    "mask_values",
    "restore_response",
]

"""PII and secrets: detection (spans with types and scores), the PII signal, redaction and restoring."""

from pointsman.signals.pii.detectors import PII_TYPES, SECRET_TYPES, PiiDetector
from pointsman.signals.pii.redact import Redaction, redact_body, redact_text, restore_text
from pointsman.signals.pii.signal import PiiSignal

__all__ = [
    "PII_TYPES",
    "SECRET_TYPES",
    "PiiDetector",
    "PiiSignal",
    "Redaction",
    "redact_body",
    "redact_text",
    "restore_text",
]

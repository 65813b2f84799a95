"""Request signals: cheap-to-expensive features of a request, computed once, lazily, in parallel.

Contract: `base` (RequestView, Signal, SignalResult); running them: `runner.SignalRunner`; building them
from configuration: `config.build_signals`. See docs/signals.md.
"""

from pointsman.signals.base import Caller, RequestError, RequestView, Signal, SignalResult, Span, ValueKind
from pointsman.signals.config import SignalConfigError, build_signals, register_signal_type
from pointsman.signals.runner import SignalResults, SignalRunner, UnknownSignalError

__all__ = [
    "Caller",
    "RequestError",
    "RequestView",
    "Signal",
    "SignalConfigError",
    "SignalResult",
    "SignalResults",
    "SignalRunner",
    "Span",
    "UnknownSignalError",
    "ValueKind",
    "build_signals",
    "register_signal_type",
]

"""Backends: provider clients, and the reliable dispatch (retries, fallback, breakers) over them."""

from pointsman.backends.base import Backend, BackendError, ChatBody, ChatChunk, ChatResponse
from pointsman.backends.dispatch import AllBackendsFailed, Attempt, BackendState, Dispatcher, Outcome
from pointsman.backends.factory import make_backend

__all__ = [
    "AllBackendsFailed",
    "Attempt",
    "Backend",
    "BackendError",
    "BackendState",
    "ChatBody",
    "ChatChunk",
    "ChatResponse",
    "Dispatcher",
    "Outcome",
    "make_backend",
]

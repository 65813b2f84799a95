"""`make_backend(config)`: the Backend for a config entry, by its `kind`."""

from __future__ import annotations

from pointsman.backends.base import Backend
from pointsman.config.backends import BackendConfig


def make_backend(config: BackendConfig) -> Backend:
    """A new, not yet started backend. Kinds with heavy optional dependencies are imported only when used."""
    if config.kind == "openai":
        from pointsman.backends.openai import OpenAIBackend

        return OpenAIBackend(config)
    if config.kind == "anthropic":
        from pointsman.backends.anthropic import AnthropicBackend

        return AnthropicBackend(config)
    if config.kind == "llamacpp":
        from pointsman.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(config)
    if config.kind == "replay":
        from pointsman.backends.replay import ReplayBackend

        return ReplayBackend(config)
    raise ValueError(f"backend {config.name!r}: unknown kind {config.kind!r}")

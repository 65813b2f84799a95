"""The encoder the classifiers embed with: the shared MiniLM behind the on-disk embedding cache."""

from __future__ import annotations

from pointsman.text.embedding_cache import CachedEncoder
from pointsman.text.encoder import Encoder, encoder_for_id, get_encoder


def default_encoder(encoder_id: str | None = None) -> Encoder:
    """The shared encoder (the one named by `encoder_id` when given), caching vectors on disk."""
    return CachedEncoder(encoder_for_id(encoder_id) if encoder_id else get_encoder())

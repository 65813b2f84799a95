"""Text: offline sentence embeddings (MiniLM via onnxruntime) and their on-disk cache.

from pointsman.text import get_encoder, CachedEncoder
vectors = CachedEncoder(get_encoder()).encode(texts)   # (n, 384) float32, unit rows
"""

from pointsman.text.embedding_cache import CachedEncoder, EmbeddingCache, EmbeddingCacheError
from pointsman.text.encoder import DEFAULT_QUANTIZED, Encoder, encoder_for_id, get_encoder

__all__ = [
    "DEFAULT_QUANTIZED",
    "CachedEncoder",
    "EmbeddingCache",
    "EmbeddingCacheError",
    "Encoder",
    "encoder_for_id",
    "get_encoder",
]

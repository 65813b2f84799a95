"""A cached response and what the cache needs to know about it, as bytes for the shared state.

Layout: 4 bytes (little-endian length of the JSON part), the JSON part (response, model, category, times,
tenant, key id, question, context), then the question's embedding as float16 (empty for exact-only entries).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import orjson


class BadEntry(ValueError):
    """Stored bytes that are not a cache entry (another writer, a damaged file): treated as absent."""


@dataclass(slots=True)
class Entry:
    response: dict  # the final chat.completion body as the client received it
    model: str  # the model that answered
    category: str
    created: float  # unix time
    expires: float
    tenant: str | None
    key_id: str | None
    question: str  # the last user message (semantic level: the lexical check)
    context: str  # the partition: scope + context fingerprint
    vector: np.ndarray | None = None  # float32 unit vector of `question`

    def encode(self) -> bytes:
        head = orjson.dumps(
            {
                "r": self.response,
                "m": self.model,
                "c": self.category,
                "t": self.created,
                "x": self.expires,
                "tn": self.tenant,
                "k": self.key_id,
                "q": self.question,
                "p": self.context,
            }
        )
        vec = b"" if self.vector is None else np.asarray(self.vector, dtype=np.float16).tobytes()
        return struct.pack("<I", len(head)) + head + vec

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        try:
            (n,) = struct.unpack_from("<I", data)
            head = orjson.loads(data[4 : 4 + n])
            rest = data[4 + n :]
            vector = np.frombuffer(rest, dtype=np.float16).astype(np.float32) if rest else None
            return cls(
                head["r"],
                head["m"],
                head["c"],
                float(head["t"]),
                float(head["x"]),
                head["tn"],
                head["k"],
                head["q"],
                head["p"],
                vector,
            )
        except (struct.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadEntry(f"not a cache entry ({exc})") from None

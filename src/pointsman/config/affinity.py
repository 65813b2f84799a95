"""`affinity:` in the gateway config: keep a conversation on one model (gateway/affinity.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt


class AffinityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    header: str = Field("x-session-id", description="the request header naming the conversation")
    user_field: bool = Field(
        True, description="when the header is absent, the request's `user` field names it"
    )
    ttl: PositiveFloat = Field(
        3600.0, description="seconds a conversation stays pinned after its last request"
    )
    max_sessions: PositiveInt = Field(100_000, description="pins kept (the least recently used go first)")

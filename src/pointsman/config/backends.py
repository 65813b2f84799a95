"""Backend configuration: one entry per model the gateway can call."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

# What each kind needs besides `name` and `kind`.
_REQUIRED = {"openai": "base_url", "llamacpp": "model_path", "replay": "replay_data"}


class Timeouts(BaseModel):
    """Seconds. `first_byte`: from sending the request to the first streamed chunk (a non-streaming answer
    arrives all at once, so it must arrive within `first_byte`); `idle`: the longest gap between two streamed
    chunks; `total`: the whole call, stream included; `queue`: how long a request waits for a free slot when
    `max_concurrency` calls are in flight before the backend counts as saturated (a 503 with Retry-After, or
    the next model when the route profile allows a `spill`)."""

    model_config = ConfigDict(extra="forbid")

    connect: PositiveFloat = 5.0
    first_byte: PositiveFloat = 60.0
    idle: PositiveFloat = 30.0
    total: PositiveFloat = 600.0
    queue: float = Field(0.5, ge=0)


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(2, ge=1, le=10, description="tries of the same backend, the first included")
    backoff: float = Field(0.1, ge=0, description="seconds before the first retry; doubles each time")
    max_backoff: float = Field(2.0, ge=0)


class BreakerPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: PositiveInt = Field(5, description="consecutive failures that open the breaker")
    cooldown: PositiveFloat = Field(10.0, description="seconds open before a half-open probe")


# What each HTTP kind appends to base_url, and the API root a bare host stands for.
ENDPOINTS = {"openai": "/chat/completions", "anthropic": "/messages"}
_BARE_HOST_ROOT = {"anthropic": "/v1"}  # Anthropic's API lives only under /v1


def _api_root(name: str, kind: str, url: str) -> str:
    """`base_url` as the API root the backend appends its endpoint to. A bare Anthropic host gets its `/v1`;
    a URL that already ends in the endpoint is refused with the fix (it would be called twice)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"backend {name!r}: base_url must start with http:// or https://, got {url!r}")
    url = url.rstrip("/")
    endpoint = ENDPOINTS.get(kind)
    if endpoint and url.endswith(endpoint):
        raise ValueError(
            f"backend {name!r}: base_url is the API root; the backend appends {endpoint!r} itself: "
            f"use {url.removesuffix(endpoint)!r}"
        )
    rest = url.partition("://")[2]
    if "/" not in rest and kind in _BARE_HOST_ROOT:
        url += _BARE_HOST_ROOT[kind]
    return url


class BackendConfig(BaseModel):
    """A model the gateway can call. `name` is what clients, routers and route profiles call it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["openai", "anthropic", "llamacpp", "replay"]
    base_url: str | None = Field(
        None,
        description="HTTP kinds: the API root, e.g. http://localhost:8000/v1 (the backend appends "
        "/chat/completions or /messages; a bare Anthropic host means its /v1)",
    )
    model: str | None = Field(None, description="the upstream's model id; defaults to `name`")
    model_path: str | None = Field(
        None, description="llamacpp: a GGUF file, or 'smollm2' for the bundled one"
    )
    replay_data: str | None = Field(None, description="replay: recorded responses (RouteProfile JSON)")
    threads: PositiveInt | None = Field(None, description="llamacpp: CPU threads (default: half the cores)")
    replay_tokens_per_s: PositiveFloat | None = Field(
        None, description="replay: pace answers at this many output tokens/s (default: answer at once)"
    )
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    input_price: float = Field(0.0, ge=0, description="USD per 1M input tokens")
    output_price: float = Field(0.0, ge=0, description="USD per 1M output tokens")
    context_window: PositiveInt | None = Field(None, description="tokens; prompts that do not fit skip it")
    max_concurrency: PositiveInt = Field(64, description="in-flight calls at most")
    trusted: bool = Field(True, description="false: PII is redacted before this backend sees a request")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)

    @model_validator(mode="after")
    def _kind_needs(self) -> BackendConfig:
        needed = _REQUIRED.get(self.kind)
        if needed is not None and not getattr(self, needed):
            raise ValueError(f"backend {self.name!r}: {needed} is required for kind {self.kind!r}")
        if self.base_url is not None:
            self.base_url = _api_root(self.name, self.kind, self.base_url)
        return self

    @property
    def upstream_model(self) -> str:
        return self.model or self.name

"""`cache:` in the gateway config: the exact and semantic response cache (pointsman/cache/, docs/cache.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryConfig(_Strict):
    """One category's cache policy (a category is a decision name, or a label of `category_signal`).
    Unset fields take the value of `cache.default`."""

    cacheable: bool | None = Field(None, description="false: never stored, never served from the cache")
    ttl: PositiveFloat | None = Field(None, description="seconds an entry lives")
    max_entries: PositiveInt | None = Field(None, description="entries kept (least recently used go first)")
    threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="semantic: the cosine similarity to serve at; default: the tuned one (`cache tune`), "
        "absent that, exact matches only",
    )
    min_overlap: float | None = Field(
        None, ge=0, le=1, description="semantic: word overlap required beside the similarity (tuned too)"
    )
    tools: bool | None = Field(None, description="cache requests that offer tools")
    max_temperature: float | None = Field(
        None, ge=0, le=2, description="requests sampled hotter than this bypass the cache"
    )
    time_sensitive: bool | None = Field(
        None, description="cache prompts that ask about now (today, latest, current, ...)"
    )


# What a setting is when neither the category nor `cache.default` gives it.
BUILT_IN = CategoryConfig(
    cacheable=True, ttl=3600.0, max_entries=100_000, tools=False, max_temperature=1.0, time_sensitive=False
)


class CacheConfig(_Strict):
    enabled: bool = False
    semantic: bool = Field(True, description="also serve paraphrases (categories with a threshold)")
    store: Literal["sqlite", "state"] = Field(
        "sqlite",
        description="sqlite: entries in this replica, persisted to `path`; state: in the gateway's shared "
        "state (`state:`, Redis for several replicas)",
    )
    path: str = Field("pointsman-cache.db", description="sqlite: the file (relative to the config)")
    scope: Literal["tenant", "key"] = Field(
        "tenant", description="who shares entries: every key of a tenant, or each API key alone"
    )
    category_signal: str | None = Field(
        None,
        description="a label signal (e.g. a domain classifier) naming the category; default: the decision",
    )
    default: CategoryConfig = Field(
        default_factory=CategoryConfig, description="settings of every category that does not set its own"
    )
    categories: dict[str, CategoryConfig] = Field(default_factory=dict)
    max_entries: PositiveInt = Field(
        100_000, description="entries kept in all (least recently used go first)"
    )
    max_bytes: PositiveInt = Field(512 * 2**20, description="bytes of stored entries kept in all")
    thresholds: str | None = Field(
        None, description="a thresholds file from `pointsman cache tune` (relative to the config)"
    )
    precision: float = Field(0.99, gt=0.5, lt=1, description="online tuning: the precision to hold")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="of the one-sided precision bound")
    online: bool = Field(True, description="raise a category's threshold on feedback about semantic hits")
    sync_interval: PositiveFloat = Field(
        5.0, description="store: state: seconds between picking up other replicas' semantic entries"
    )

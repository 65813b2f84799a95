"""The gateway's configuration file: server, backends, route profiles, rules, fallbacks, auth, limits, store.

Structure is checked by pydantic here; references between sections (a profile naming a backend, a rule naming
a profile, a router file's models) are checked in `config/loader.py`, which also turns every problem into a
message naming its key path (and line) in the file.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from pointsman.config.backends import BackendConfig
from pointsman.policy.objective import Objective


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    graceful_timeout: PositiveFloat = Field(30.0, description="seconds in-flight requests get at shutdown")
    engine: Literal["granian", "uvicorn"] = Field(
        "granian", description="the HTTP server of `pointsman serve` (granian measured faster; see docs)"
    )
    access_log: bool = False
    proxy_headers: bool = Field(
        False,
        description="trust X-Forwarded-For (behind a reverse proxy: rate limits then key on the real client)",
    )


# -- route profiles ------------------------------------------------------------------------------------


class SelectorConfig(_Strict):
    """How a profile ranks its candidates: a trained router file, or a static order (default: candidates)."""

    router: str | None = Field(
        None, description="a router file from `pointsman train` (path relative to the config)"
    )
    order: list[str] | None = Field(None, description="a static ranking, best first")

    @model_validator(mode="after")
    def _one_kind(self) -> SelectorConfig:
        if self.router is not None and self.order is not None:
            raise ValueError("give either 'router' or 'order', not both")
        return self


class ProfileConfig(_Strict):
    name: str = Field(min_length=1)
    candidates: list[str] = Field(min_length=1, description="backend names this profile may choose")
    selector: SelectorConfig = Field(default_factory=SelectorConfig)
    objective: Objective = Field(
        default_factory=Objective,
        description="how a router's predictions become a ranking (pointsman.policy.objective)",
    )
    fallbacks: list[str] = Field(default_factory=list, description="tried after every candidate, in order")
    exploration: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="probability of a uniformly random candidate (logged, for off-policy evaluation)",
    )
    description: str = ""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v == "auto" or v.startswith("router-"):
            raise ValueError(
                f"{v!r} is reserved ('auto' and 'router-<profile>-<threshold>' are request forms)"
            )
        return v


# -- rules ---------------------------------------------------------------------------------------------


class Bounds(_Strict):
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Bounds:
        if all(v is None for v in (self.gt, self.ge, self.lt, self.le)):
            raise ValueError("give at least one of gt, ge, lt, le")
        return self


class Condition(_Strict):
    """A condition over built-in request facts. All keys given in one mapping must hold (an implicit `all`).

    Facts: `keywords` (any of these words/phrases in the last user message, case-insensitive, whole words),
    `regex` (searched in the last user message), `prompt_tokens` (estimated tokens of all messages),
    `tools` (the request offers tools), `images` (an image part is present).
    """

    all: list[Condition] | None = Field(None, min_length=1)
    any: list[Condition] | None = Field(None, min_length=1)
    not_: Condition | None = Field(None, alias="not")
    keywords: list[str] | None = Field(None, min_length=1)
    regex: str | None = None
    prompt_tokens: Bounds | None = None
    tools: bool | None = None
    images: bool | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"bad regular expression: {exc}") from None
        return v

    @field_validator("keywords")
    @classmethod
    def _non_blank(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(not k.strip() for k in v):
            raise ValueError("keywords must not be blank")
        return v

    @model_validator(mode="after")
    def _non_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError(
                "empty condition: give at least one of all, any, not, keywords, regex, prompt_tokens, "
                "tools, images"
            )
        return self


class RuleConfig(_Strict):
    """If a request for one of `models` meets `when`, route it with `profile`. First matching rule wins."""

    name: str = Field(min_length=1)
    profile: str
    when: Condition | None = Field(None, description="absent: always matches")
    models: list[str] = Field(
        default_factory=lambda: ["auto"],
        min_length=1,
        description="requested model names the rule applies to; other names here become aliases",
    )


# -- auth, limits, store ---------------------------------------------------------------------------------

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ApiKeyConfig(_Strict):
    id: str = Field(min_length=1, description="a name for the key, logged instead of the key")
    sha256: str = Field(description="hex SHA-256 of the key (`pointsman config new-key` makes one)")
    tenant: str = Field(min_length=1)
    requests_per_minute: PositiveInt | None = Field(None, description="overrides limits.requests_per_minute")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.lower()
        if not _SHA256.match(v):
            raise ValueError("must be 64 hex digits (the SHA-256 of the key, not the key)")
        return v


class AuthConfig(_Strict):
    enabled: bool = False
    keys: list[ApiKeyConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_when_on(self) -> AuthConfig:
        if self.enabled and not self.keys:
            raise ValueError("auth is enabled but no keys are configured")
        ids = [k.id for k in self.keys]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate key ids: {', '.join(sorted(dup))}")
        return self


class LimitsConfig(_Strict):
    max_body_bytes: PositiveInt = Field(4 * 1024 * 1024, description="larger requests get 413")
    requests_per_minute: PositiveInt | None = Field(
        None, description="per API key (per client address when auth is off); absent: no limit"
    )


class StoreConfig(_Strict):
    """Where decisions are logged. Content (messages, answers) only with `log_content`, then with a hash."""

    kind: Literal["sqlite", "postgres", "none"] = "sqlite"
    path: str = Field("pointsman-decisions.db", description="sqlite: file, relative to the config")
    dsn_env: str = Field(
        "POINTSMAN_POSTGRES_DSN", description="postgres: environment variable holding the DSN"
    )
    log_content: bool = False
    batch_size: PositiveInt = 256
    flush_interval: PositiveFloat = Field(0.5, description="seconds between writes at most")
    max_queue: PositiveInt = Field(
        100_000, description="records waiting to be written; beyond, dropped and counted"
    )


class GatewayConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    backends: list[BackendConfig] = Field(min_length=1)
    profiles: list[ProfileConfig] = Field(default_factory=list)
    default_profile: str | None = Field(None, description="the profile for model 'auto'; default: the first")
    rules: list[RuleConfig] = Field(default_factory=list)
    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="direct requests: model -> models to try after it"
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)

    def backend(self, name: str) -> BackendConfig:
        return next(b for b in self.backends if b.name == name)

    @property
    def default_profile_name(self) -> str | None:
        if self.default_profile is not None:
            return self.default_profile
        return self.profiles[0].name if self.profiles else None

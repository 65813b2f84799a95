"""The gateway's configuration file: server, backends, route profiles, rules, fallbacks, auth, limits, store.

Structure is checked by pydantic here; references between sections (a profile naming a backend, a rule naming
a profile, a router file's models) are checked in `config/loader.py`, which also turns every problem into a
message naming its key path (and line) in the file.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pointsman.config.affinity import AffinityConfig
from pointsman.config.aggregate import AggregateConfig
from pointsman.config.answer import AnswerConfig
from pointsman.config.backends import BackendConfig
from pointsman.config.cache import CacheConfig
from pointsman.config.cascade import CascadeConfig
from pointsman.config.limits import BudgetsConfig, OnOutage, TenantLimitConfig
from pointsman.config.problems import Source
from pointsman.config.tracing import TracingConfig
from pointsman.policy.objective import Objective


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    graceful_timeout: PositiveFloat = Field(30.0, description="seconds in-flight requests get at shutdown")
    engine: Literal["granian", "uvicorn"] = Field(
        "uvicorn", description="the HTTP server of `pointsman serve` (uvicorn measured faster; see docs)"
    )
    access_log: bool = False
    proxy_headers: bool = Field(
        False,
        description="trust X-Forwarded-For (behind a reverse proxy: rate limits then key on the real client)",
    )


# -- route profiles ------------------------------------------------------------------------------------


class TrainConfig(_Strict):
    """A router trained from routing data on first use and cached (no manual `pointsman train` step)."""

    data: str = Field(description="routing data, a file or folder (path relative to the config)")
    format: str | None = Field(
        None, description="llmrouter, routeprofile, routerbench, long; default: guessed"
    )
    router: str | None = Field(None, description="a router name; default: the lab's default router")


class DriftConfig(_Strict):
    """Page-Hinkley on each model's feedback minus its predicted quality (pointsman.learn.drift)."""

    enabled: bool = True
    delta: float = Field(0.1, ge=0, description="per-observation slack: smaller shifts are not drift")
    threshold: PositiveFloat = Field(15.0, description="alarm when the cumulative shortfall exceeds this")
    min_samples: PositiveInt = Field(30, description="observations of a model before an alarm is possible")
    reset: bool = Field(
        True, description="on an alarm, forget the model's evidence and weaken its prior (learn anew)"
    )


class BanditConfig(_Strict):
    """A contextual bandit on top of the profile's router (the router's predictions are its prior)."""

    kind: Literal["thompson", "linucb", "epsilon_greedy"] = Field(
        "thompson", description="epsilon_greedy: uniform exploration with probability exploration_budget"
    )
    dims: PositiveInt = Field(16, le=384, description="the request embedding reduced to this many features")
    prior_strength: PositiveFloat = Field(
        20.0, description="pseudo-observations behind the router's predictions (per arm)"
    )
    noise: PositiveFloat = Field(0.25, description="reward noise sd (Thompson's posterior scale)")
    alpha: PositiveFloat = Field(1.0, description="linucb: standard deviations of optimism")
    exploration_budget: float = Field(
        0.05,
        ge=0,
        le=1,
        description="most probability (thompson) or share of picks (linucb) off the greedy arm",
    )
    half_life: PositiveFloat = Field(
        7 * 86400.0, description="seconds after which evidence weighs half (old traffic fades)"
    )
    update_interval: PositiveFloat = Field(1.0, description="seconds between batched updates")
    max_batch_weight: PositiveFloat = Field(
        256.0, description="total weight of one batch of feedback at most (a burst counts no more)"
    )
    clip: PositiveFloat = Field(0.5, description="a target departs at most this far from the prediction")
    reset_strength: PositiveFloat = Field(
        1.0, description="the prior's strength for a model after a drift alarm"
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)
    seed: int = Field(0, description="of the embedding projection: the same on every replica")


class PheromoneConfig(_Strict):
    """Per-task pheromone trails over the candidates (pointsman.learn.pheromone), re-weighting the router."""

    alpha: PositiveFloat = Field(4.0, description="weight of the trail in the choice")
    beta: PositiveFloat = Field(40.0, description="weight of the router's value, per unit of quality")
    rho: float = Field(0.05, gt=0, le=1, description="evaporation of the chosen model's trail per answer")
    gate: float = Field(0.5, ge=0, le=1, description="an answer scored at least this lays pheromone")
    start: float = Field(0.5, gt=0, le=1, description="every trail's initial strength")
    floor: float = Field(0.05, gt=0, le=1, description="a trail never fades below this")
    exploration_budget: float = Field(0.05, ge=0, le=1, description="most probability off the greedy model")
    task_bits: int = Field(
        4, ge=0, le=12, description="tasks = 2^bits buckets of the request embedding (random hyperplanes)"
    )
    update_interval: PositiveFloat = Field(1.0, description="seconds between applying queued feedback")
    seed: int = Field(0, description="of the hyperplanes: the same on every replica")


class SelectorConfig(_Strict):
    """How a profile ranks its candidates: a trained router file, a router trained on first use (`train`),
    or a static order (default: the candidates' order). `bandit` (with `router` or `train` as its prior)
    learns from feedback on top of the router."""

    router: str | None = Field(
        None, description="a router file from `pointsman train` (path relative to the config)"
    )
    train: TrainConfig | None = Field(None, description="train a router on this data on first use (cached)")
    order: list[str] | None = Field(None, description="a static ranking, best first")
    bandit: BanditConfig | None = Field(
        None, description="learn from feedback (contextual bandit) with the router as prior"
    )
    pheromone: PheromoneConfig | None = Field(
        None, description="learn from feedback (per-task pheromone trails) over the router's values"
    )
    personal: str | None = Field(
        None,
        description="per-tenant preferences from `pointsman personal fit` (a JSON file relative to the config) "
        "added to the router's predictions for the caller's tenant",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SelectorConfig:
        given = [k for k in ("router", "train", "order") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of 'router', 'train', 'order' (got {' and '.join(given)})")
        if self.personal is not None and (self.router is None or self.bandit or self.pheromone):
            raise ValueError("'personal' adjusts a router file's predictions: give 'router', and no bandit")
        online = [k for k in ("bandit", "pheromone") if getattr(self, k) is not None]
        if len(online) > 1:
            raise ValueError("give one of 'bandit', 'pheromone'")
        if online and not self.learned:
            raise ValueError(f"'{online[0]}' needs a prior: give 'router' or 'train' beside it")
        return self

    @property
    def online(self) -> BanditConfig | PheromoneConfig | None:
        return self.bandit or self.pheromone

    @property
    def learned(self) -> bool:
        return self.router is not None or self.train is not None


class SpillConfig(_Strict):
    """Let a request whose model is saturated (`max_concurrency` calls in flight for `timeouts.queue`) go
    on down the ranking, to models priced at most `max_cost_ratio` times the saturated one."""

    max_cost_ratio: PositiveFloat = Field(
        description="the ceiling: input+output price per 1M tokens, as a multiple of the saturated model's"
    )


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
    spill: SpillConfig | None = Field(
        None, description="absent: a saturated model answers 503 with Retry-After, never a pricier spill"
    )
    cascade: CascadeConfig | None = Field(
        None, description="answer-aware: call the steps in order, escalate on a low answer score"
    )
    aggregate: AggregateConfig | None = Field(
        None, description="ask the k best-ranked models on closed-answer requests, return the majority answer"
    )
    description: str = ""

    @model_validator(mode="after")
    def _aggregate_fits(self) -> ProfileConfig:
        if self.aggregate is not None:
            if self.cascade is not None:
                raise ValueError("give one of 'cascade', 'aggregate'")
            if self.aggregate.gate and not self.selector.learned:
                raise ValueError(
                    "aggregate.gate weighs predicted quality and cost: give selector.router (or train), "
                    "or set gate: false"
                )
            if self.aggregate.k > len(self.candidates):
                raise ValueError(
                    f"aggregate.k is {self.aggregate.k}, but the profile has {len(self.candidates)} candidates"
                )
        return self

    @model_validator(mode="after")
    def _cascade_fits(self) -> ProfileConfig:
        if self.cascade is not None:
            stray = [m for m in self.cascade.models if m not in self.candidates]
            if stray:
                raise ValueError(f"cascade steps {stray} are not candidates of this profile")
            if self.selector.learned:
                raise ValueError("a cascade orders its own steps: give it no selector.router or train")
        return self

    @model_validator(mode="after")
    def _bandit_fits(self) -> ProfileConfig:
        if self.selector.online is not None:
            kind = "bandit" if self.selector.bandit is not None else "pheromone"
            if self.exploration:
                raise ValueError(
                    f"a {kind} selector explores itself: set selector.{kind}.exploration_budget, "
                    "not exploration"
                )
            if self.objective.within is not None:
                raise ValueError(
                    f"a {kind} selector needs a lambda objective (quality - lambda x cost), not 'within'"
                )
        return self

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v == "auto" or v.startswith("router-"):
            raise ValueError(
                f"{v!r} is reserved ('auto' and 'router-<profile>-<threshold>' are request forms)"
            )
        return v


# -- rules ---------------------------------------------------------------------------------------------

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


class BlockConfig(_Strict):
    """Refuse the request with an OpenAI-style error; the upstream is never called."""

    code: str = Field(
        "content_blocked", description="the error's `code` (e.g. content_blocked, out_of_domain)"
    )
    status: Literal[400, 403] = Field(
        400, description="400 (OpenAI's and Azure's status for content-filtered prompts) or 403"
    )
    message: str | None = Field(None, description="the error message; default: one per known code")

    @field_validator("code")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not _CODE.match(v):
            raise ValueError(f"{v!r}: a code is lower-case letters, digits and _ (e.g. content_blocked)")
        return v


class RedactConfig(_Strict):
    """Replace PII with typed placeholders (<EMAIL_1>) before a backend sees the request."""

    signal: str = Field("pii", description="a signal whose value is spans (the built-in `pii` by default)")
    types: list[str] | None = Field(None, min_length=1, description="only these span types; default: all")
    only_untrusted: bool = Field(
        False,
        description="redact only for backends with `trusted: false`; trusted ones get the request as is",
    )
    restore: bool = Field(
        True, description="put the original values back where the answer repeats a placeholder"
    )


class StrategyConfig(_Strict):
    """Rewrite how the request asks (pointsman.policy.strategy): direct, few_shot or cot."""

    kind: Literal["direct", "few_shot", "cot"]
    examples: str | None = Field(
        None, description="few_shot: a JSONL file of {prompt, answer} lines (path relative to the config)"
    )
    k: PositiveInt = Field(3, le=32, description="few_shot: how many examples")
    instruction: str | None = Field(None, description="replaces the built-in system instruction")

    @model_validator(mode="after")
    def _examples(self) -> StrategyConfig:
        if (self.kind == "few_shot") != (self.examples is not None):
            raise ValueError("'examples' (a JSONL file of {prompt, answer} lines) goes with kind few_shot")
        return self


class RuleConfig(_Strict):
    """A named decision: when `when` holds, route (`profile`), `divert`, `block`, and/or `redact`.

    Rules are tried by `priority` (higher first; equal priorities in file order); the first that holds
    decides.
    A rule applies to requests for the names in `models` (default: `[auto]` for a rule that only routes, every
    requested name, direct model requests included, for a rule with a guard: block, divert or redact).
    """

    name: str = Field(min_length=1)
    priority: int = 0
    when: Any = Field(None, description="a condition: a string or a mapping (docs/rules.md); absent: always")
    models: list[str] | None = Field(
        None,
        min_length=1,
        description="requested model names the rule applies to ('*': every name); other names become aliases",
    )
    profile: str | None = Field(None, description="route with this profile")
    objective: Objective | None = Field(
        None, description="overrides the profile's objective (learned profiles)"
    )
    divert: str | None = Field(None, description="send the request to this profile whatever it asked for")
    block: BlockConfig | None = None
    redact: RedactConfig | None = None
    strategy: StrategyConfig | None = Field(
        None, description="rewrite the prompt: direct, few_shot or cot (shorthand: the kind)"
    )
    on_signal_error: Literal["match", "skip"] | None = Field(
        None,
        description="when a signal the condition reads failed: 'match' (fail closed; default for block and "
        "divert) or 'skip' (the rule does not apply; default otherwise)",
    )
    description: str = ""

    @field_validator("block", "redact", "strategy", mode="before")
    @classmethod
    def _shorthand(cls, v: Any, info: ValidationInfo) -> Any:
        # `block: out_of_domain` (a code), `block: true`, `redact: true`, `strategy: cot`
        if v is True and info.field_name != "strategy":
            return {}
        if isinstance(v, str) and info.field_name == "block":
            return {"code": v}
        if isinstance(v, str) and info.field_name == "strategy":
            return {"kind": v}
        return v

    @model_validator(mode="after")
    def _one_target(self) -> RuleConfig:
        targets = [k for k in ("profile", "divert", "block") if getattr(self, k) is not None]
        if len(targets) > 1:
            raise ValueError(f"give one of profile, divert, block (got {' and '.join(targets)})")
        if not targets and self.redact is None and self.strategy is None:
            raise ValueError("a rule needs something to do: profile, divert, block, redact or strategy")
        if self.block is not None and self.strategy is not None:
            raise ValueError("a blocking rule sends nothing: 'strategy' needs a rule that routes")
        if self.objective is not None and self.profile is None and self.divert is None:
            raise ValueError("'objective' overrides a profile's: give 'profile' or 'divert' too")
        return self

    @property
    def guards(self) -> bool:
        return self.block is not None or self.divert is not None or self.redact is not None

    @property
    def applies_to(self) -> list[str]:
        """The requested names this rule applies to ('*': all)."""
        if self.models is not None:
            return self.models
        return ["*"] if self.guards else ["auto"]

    @property
    def fail_closed(self) -> bool:
        if self.on_signal_error is not None:
            return self.on_signal_error == "match"
        return self.block is not None or self.divert is not None


class DebugConfig(_Strict):
    signals_header: bool = Field(
        False,
        description="answer `x-pointsman-debug: signals` requests with an `x-pointsman-signals` header "
        "(every computed signal's value, confidence and latency; never content)",
    )
    upstream_errors: bool = Field(
        False,
        description="add the upstream's own error text to client errors (it can hold internal URLs and "
        "bodies; it is always in the log and the decision record)",
    )


# -- auth, limits, store ---------------------------------------------------------------------------------

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ApiKeyConfig(_Strict):
    id: str = Field(min_length=1, description="a name for the key, logged instead of the key")
    sha256: str = Field(description="hex SHA-256 of the key (`pointsman config new-key` makes one)")
    tenant: str = Field(min_length=1)
    requests_per_minute: PositiveInt | None = Field(None, description="overrides limits.requests_per_minute")
    tokens_per_minute: PositiveInt | None = Field(None, description="overrides limits.tokens_per_minute")
    admin: bool = Field(
        False,
        description="an operator key: /metrics, /ready, the console (/dashboard, /admin/api: every tenant)",
    )

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.lower()
        if not _SHA256.match(v):
            raise ValueError("must be 64 hex digits (the SHA-256 of the key, not the key)")
        return v


# Endpoints besides chat that `auth.public_endpoints` can open to callers without a key.
PublicEndpoint = Literal["health", "ready", "metrics", "models", "openapi"]


class AuthConfig(_Strict):
    enabled: bool = False
    keys: list[ApiKeyConfig] = Field(default_factory=list)
    public_endpoints: list[PublicEndpoint] = Field(
        default_factory=lambda: ["health", "openapi"],
        description="answered without a key when auth is on; otherwise models needs a valid key, and "
        "ready and metrics an admin key",
    )

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
    tokens_per_minute: PositiveInt | None = Field(
        None, description="per API key, tokens of answered requests"
    )
    tenants: dict[str, TenantLimitConfig] = Field(default_factory=dict, description="limits per tenant")
    on_outage: OnOutage = Field("local", description="the state is unreachable: local | open | closed")


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


class StateConfig(_Strict):
    """What replicas share (rate limits, spend, breakers, bandit statistics, cache entries): `embedded` keeps
    it in this process, persisted to `path` when given (survives a restart; not shared between processes)."""

    kind: Literal["embedded", "redis"] = "embedded"
    path: str | None = Field(
        None, description="embedded: an SQLite file the state is persisted to (relative to the config)"
    )
    flush_interval: PositiveFloat = Field(1.0, description="embedded: seconds between writes to `path`")
    url: str | None = Field(None, description="redis: e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS)")
    url_env: str | None = Field(None, description="redis: environment variable holding the URL (a secret)")
    prefix: str = Field("pointsman:", description="redis: prefix of every key (several gateways, one Redis)")
    timeout: PositiveFloat = Field(0.25, description="redis: seconds one operation may take before it fails")

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StateConfig:
        if self.kind == "redis" and not (self.url or self.url_env):
            raise ValueError("state.kind 'redis' needs state.url (or state.url_env)")
        return self


class FeedbackConfig(_Strict):
    """Implicit feedback the gateway records itself (docs/learning.md): client aborts mid-stream, a failed
    first choice, and re-asks of a near-identical prompt by the same caller."""

    implicit: bool = Field(True, description="record abort / error / reask signals (score 0) in the log")
    reask_window: float = Field(
        300.0, ge=0, description="seconds within which a near-identical prompt counts as a re-ask (0: off)"
    )
    reask_similarity: float = Field(
        0.95, gt=0, le=1, description="cosine similarity of request embeddings that counts as the same prompt"
    )
    reask_history: PositiveInt = Field(32, description="recent prompts kept per caller for re-ask detection")
    reask_callers: PositiveInt = Field(
        10_000, description="callers tracked at once (the oldest is forgotten)"
    )
    drift: DriftConfig = Field(
        default_factory=DriftConfig,
        description="drift of feedback and cost from router predictions, per route and model (`reset` unused)",
    )


class GatewayConfig(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    backends: list[BackendConfig] = Field(min_length=1)
    profiles: list[ProfileConfig] = Field(default_factory=list)
    default_profile: str | None = Field(None, description="the profile for model 'auto'; default: the first")
    signals: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="configured signals, name -> spec with a `type` (docs/signals.md)"
    )
    rules: list[RuleConfig] = Field(default_factory=list)
    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="direct requests: model -> models to try after it"
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    debug: DebugConfig = Field(default_factory=DebugConfig)
    affinity: AffinityConfig = Field(default_factory=AffinityConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig, description="checks on the answer")
    # Where the config came from (file, YAML tree), so problems found later still get line numbers.
    _source: Source = PrivateAttr(default_factory=Source)

    def backend(self, name: str) -> BackendConfig:
        return next(b for b in self.backends if b.name == name)

    @property
    def default_profile_name(self) -> str | None:
        if self.default_profile is not None:
            return self.default_profile
        return self.profiles[0].name if self.profiles else None

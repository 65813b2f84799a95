"""Signals from configuration: a `signals:` mapping (name -> spec with a `type`) -> Signal objects.

```yaml
signals:
  topics:   {type: keywords, sets: {code: [python, javascript, "stack trace"], legal: [contract, lawsuit]}}
  secrets:  {type: regex, sets: {aws: ['AKIA[0-9A-Z]{16}']}, case_sensitive: true}
  intent:   {type: routes, threshold: 0.55, routes: {billing: {utterances: [...]}, refund: {...}}}
  team:     {type: header, header: x-team}
```

The built-in signals (`builtin_signals`: token counts, turns, tools, modalities, language, code,
requested model, tenant, API key, PII) exist under their default names without configuration; a
configured signal of the same name replaces one. Other modules add types with `register_signal_type`
(the learned classifiers register theirs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pointsman.signals.base import Signal
from pointsman.signals.heuristics import (
    SCOPES,
    CodeSignal,
    HeaderSignal,
    KeywordSignal,
    RegexSignal,
    Scope,
    fact_signals,
)
from pointsman.signals.language import DEFAULT_PREFIX_CHARS, LanguageSignal
from pointsman.signals.pii import PII_TYPES, PiiSignal
from pointsman.signals.pii.detectors import KNOWN_TYPES
from pointsman.signals.routes import DEFAULT_THRESHOLD, Route, RouteSignal


class SignalConfigError(ValueError):
    """A bad `signals:` entry; the message names it (e.g. `signals.topics.sets.code[2]: ...`)."""


@dataclass
class BuildContext:
    """What building a signal may need: the shared encoder (resolved on first use) and the directory
    relative paths in the config are resolved against (e.g. a learned classifier's model file)."""

    encoder_source: Any = None  # an Encoder, a callable returning one, or None for get_encoder()
    base_dir: Path = field(default_factory=Path.cwd)
    _encoder: Any = None

    def encoder(self) -> Any:
        if self._encoder is None:
            source = self.encoder_source
            if source is None:
                from pointsman.text.encoder import get_encoder

                source = get_encoder
            self._encoder = source if hasattr(source, "encode") else source()
        return self._encoder


class SpecBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


class KeywordsSpec(SpecBase):
    type: Literal["keywords"]
    sets: dict[str, list[str]] = Field(min_length=1)
    case_sensitive: bool = False
    word_boundary: bool = True
    min_hits: int = Field(1, ge=1)
    scope: Scope = "last_user"


class RegexSpec(SpecBase):
    type: Literal["regex"]
    sets: dict[str, list[str]] = Field(min_length=1)
    case_sensitive: bool = False
    scope: Scope = "last_user"


class RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    utterances: list[str] = Field(min_length=1)
    threshold: float | None = Field(None, ge=-1.0, le=1.0)


class RoutesSpec(SpecBase):
    type: Literal["routes"]
    routes: dict[str, RouteSpec] = Field(min_length=1)
    threshold: float = Field(DEFAULT_THRESHOLD, ge=-1.0, le=1.0)


class HeaderSpec(SpecBase):
    type: Literal["header"]
    header: str = Field(min_length=1)


class LanguageSpec(SpecBase):
    type: Literal["language"]
    prefix_chars: int = Field(DEFAULT_PREFIX_CHARS, ge=16, le=100_000)
    scope: Scope = "last_user"


class CodeSpec(SpecBase):
    type: Literal["code"]
    min_hits: int = Field(3, ge=1)
    max_chars: int = Field(4000, ge=100)
    scope: Scope = "user"


class PiiSpec(SpecBase):
    type: Literal["pii"]
    types: list[str] = Field(default_factory=lambda: list(PII_TYPES))
    min_score: float = Field(0.5, ge=0.0, le=1.0)
    roles: list[str] | None = None

    @field_validator("types")
    @classmethod
    def _known(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(KNOWN_TYPES))
        if unknown:
            raise ValueError(f"unknown PII types {unknown}; known: {', '.join(KNOWN_TYPES)}")
        return types


Builder = Callable[[str, Any, BuildContext], Signal]
_TYPES: dict[str, tuple[type[SpecBase], Builder]] = {}


def register_signal_type(type_name: str, spec: type[SpecBase], build: Builder) -> None:
    """Make `type: <type_name>` configurable: `spec` validates the entry, `build(name, spec, ctx)` makes it."""
    _TYPES[type_name] = (spec, build)


def signal_types() -> list[str]:
    return sorted(_TYPES)


register_signal_type(
    "keywords",
    KeywordsSpec,
    lambda n, s, _: KeywordSignal(
        n,
        s.sets,
        case_sensitive=s.case_sensitive,
        word_boundary=s.word_boundary,
        min_hits=s.min_hits,
        scope=s.scope,
    ),
)
register_signal_type(
    "regex", RegexSpec, lambda n, s, _: RegexSignal(n, s.sets, case_sensitive=s.case_sensitive, scope=s.scope)
)
register_signal_type(
    "routes",
    RoutesSpec,
    lambda n, s, ctx: RouteSignal(
        n,
        [Route(k, tuple(r.utterances), r.threshold) for k, r in s.routes.items()],
        ctx.encoder(),
        threshold=s.threshold,
    ),
)
register_signal_type("header", HeaderSpec, lambda n, s, _: HeaderSignal(n, s.header))
register_signal_type(
    "language", LanguageSpec, lambda n, s, _: LanguageSignal(n, prefix_chars=s.prefix_chars, scope=s.scope)
)
register_signal_type(
    "code", CodeSpec, lambda n, s, _: CodeSignal(n, min_hits=s.min_hits, max_chars=s.max_chars, scope=s.scope)
)
register_signal_type(
    "pii", PiiSpec, lambda n, s, _: PiiSignal(n, types=s.types, min_score=s.min_score, roles=s.roles)
)


def builtin_signals() -> dict[str, Signal]:
    """The signals every config has: request facts, `has_code`, `language`, `pii`."""
    signals: list[Signal] = [
        *fact_signals(),
        CodeSignal("has_code"),
        LanguageSignal("language"),
        PiiSignal("pii"),
    ]
    return {s.name: s for s in signals}


def build_signals(
    config: Mapping[str, Any] | None,
    *,
    encoder: Any = None,
    base_dir: Path | None = None,
    where: str = "signals",
) -> dict[str, Signal]:
    """Built-in signals plus those configured in `config` (name -> spec mapping); clear errors naming the
    entry (`where` prefixes the path, e.g. "my.yaml: signals")."""
    ctx = BuildContext(encoder, base_dir or Path.cwd())
    signals = builtin_signals()
    if config is None:
        return signals
    if not isinstance(config, Mapping):
        raise SignalConfigError(
            f"{where}: expected a mapping of signal name -> spec, got {type(config).__name__}"
        )
    for name, raw in config.items():
        signals[name] = build_signal(name, raw, ctx, where=f"{where}.{name}")
    return signals


def build_signal(name: str, raw: Any, ctx: BuildContext, *, where: str | None = None) -> Signal:
    where = where or name
    if not isinstance(name, str) or not name.isidentifier():
        raise SignalConfigError(f"{where}: signal names must be identifiers (letters, digits, _)")
    if not isinstance(raw, Mapping) or "type" not in raw:
        raise SignalConfigError(
            f"{where}: expected a mapping with a 'type' (one of: {', '.join(signal_types())})"
        )
    if raw["type"] not in _TYPES:
        raise SignalConfigError(
            f"{where}.type: unknown signal type {raw['type']!r}; known: {', '.join(signal_types())}"
        )
    spec_model, build = _TYPES[raw["type"]]
    try:
        spec = spec_model.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise SignalConfigError(f"{where}.{loc}: {first['msg']}") from None
    try:
        return build(name, spec, ctx)
    except (ValueError, OSError) as exc:
        raise SignalConfigError(f"{where}: {exc}") from None


__all__ = [
    "SCOPES",
    "BuildContext",
    "SignalConfigError",
    "build_signal",
    "build_signals",
    "builtin_signals",
    "register_signal_type",
    "signal_types",
]

# The learned classifiers register their types (domain, difficulty, jailbreak, ood) when imported.
import pointsman.signals.classifiers.signal  # noqa: E402, F401

"""Read a gateway config file: YAML -> GatewayConfig, with every problem named by key path and line.

`load_config(path)` raises ConfigError listing all problems at once, e.g.
`gateway.yaml:14: profiles[1].candidates[0]: unknown backend 'gpt-5' (known: a, b)`.
Relative paths in the file (router files, the SQLite file, replay data, GGUF files) are relative to the file.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pointsman.config.gateway import GatewayConfig, ProfileConfig, RuleConfig
from pointsman.config.limits import check_owners
from pointsman.config.problems import ConfigError, Loc, Problem, Source, format_loc, line_of

__all__ = ["ConfigError", "Problem", "format_loc", "load_config", "parse_config"]


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [Problem((), "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [Problem((), f"cannot read: {exc}")]) from None
    return parse_config(text, source=source, base_dir=path.parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> GatewayConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            source, [Problem((), f"not valid YAML: {getattr(exc, 'problem', exc)}", line)]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            source, [Problem((), "expected a mapping of sections (server, backends, profiles, ...)")]
        )
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_from_pydantic(err, root) for err in exc.errors()]
        raise ConfigError(source, problems) from None
    config._source = where = Source(source, root, base_dir)
    problems = check_references(config)
    if problems:
        raise where.error(problems)
    if base_dir is not None:
        _resolve_paths(config, base_dir)
        problems = check_files(config)
        if problems:
            raise where.error(problems)
    return config


def _from_pydantic(err: dict[str, Any], root: yaml.Node | None) -> Problem:
    # Pydantic names union/validator branches in the loc ("function-after[...]"); keep only real keys.
    loc = tuple(p for p in err["loc"] if isinstance(p, int) or not ("[" in p or p.startswith("function-")))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key" + _did_you_mean(loc)
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif (
        "input" in err
        and err["type"] not in ("value_error", "assertion_error")
        and not isinstance(err["input"], (dict, list))
    ):
        msg = f"{msg} (got {err['input']!r})"
    return Problem(loc, msg, line_of(root, loc))


def _did_you_mean(loc: Loc) -> str:
    """` (did you mean 'requests_per_minute'?)` for a misspelt key, from the keys its section has."""
    if not loc or not isinstance(loc[-1], str):
        return ""
    keys = _keys_at(loc[:-1])
    close = difflib.get_close_matches(loc[-1], keys, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(keys)})" if keys else ""


def _keys_at(loc: Loc) -> list[str]:
    """The keys the config section at `loc` takes ([] when it is not a fixed section)."""
    model: type[BaseModel] | None = GatewayConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = _section(field.annotation) if field is not None else None
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()] if model is not None else []


def _section(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside `X`, `X | None` or `list[X]` (not a dict's values: their keys are free)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is dict:
        return None
    return next((m for a in typing.get_args(annotation) if (m := _section(a)) is not None), None)


# -- references between sections --------------------------------------------------------------------


def check_references(cfg: GatewayConfig) -> list[Problem]:
    out: list[Problem] = []
    backends = list(dict.fromkeys(b.name for b in cfg.backends))  # a duplicate is reported once, below
    known = set(backends)
    profiles = [p.name for p in cfg.profiles]

    def unknown_backend(loc: Loc, name: str) -> None:
        if name not in known:
            out.append(Problem(loc, f"unknown backend {name!r} (known: {', '.join(backends)})"))

    names = [b.name for b in cfg.backends]
    for i, name in enumerate(names):
        if names.index(name) != i:
            out.append(
                Problem(
                    ("backends", i, "name"),
                    f"duplicate backend name {name!r} (also backends[{names.index(name)}]): give each a "
                    "distinct name",
                )
            )
    for i, p in enumerate(cfg.profiles):
        loc: Loc = ("profiles", i)
        if profiles.index(p.name) != i:
            out.append(Problem((*loc, "name"), f"duplicate profile name {p.name!r}"))
        if p.name in known:
            out.append(
                Problem(
                    (*loc, "name"), f"{p.name!r} is also a backend name; requests could not tell them apart"
                )
            )
        for j, c in enumerate(p.candidates):
            unknown_backend((*loc, "candidates", j), c)
            if p.candidates.index(c) != j:
                out.append(Problem((*loc, "candidates", j), f"{c!r} is listed twice"))
        for j, c in enumerate(p.fallbacks):
            unknown_backend((*loc, "fallbacks", j), c)
        for j, c in enumerate(p.selector.order or []):
            if c not in p.candidates:
                out.append(
                    Problem((*loc, "selector", "order", j), f"{c!r} is not one of this profile's candidates")
                )
        if not p.selector.learned and p.objective.model_fields_set:
            out.append(
                Problem(
                    (*loc, "objective"), "an objective needs predictions: give selector.router (or train)"
                )
            )
        elif not p.objective.is_resolved:
            out.append(
                Problem(
                    (*loc, "objective"),
                    f"'{p.objective.describe()}' is a target that was never "
                    "calibrated: add the 'lambda' that calibration resolved it to",
                )
            )
    if cfg.default_profile is not None and cfg.default_profile not in profiles:
        out.append(
            Problem(("default_profile",), f"unknown profile {cfg.default_profile!r}{_known(profiles)}")
        )
    out += check_rules(cfg.rules, profiles, known)
    for model, alternatives in cfg.fallbacks.items():
        unknown_backend(("fallbacks", model), model)
        for j, c in enumerate(alternatives):
            unknown_backend(("fallbacks", model, j), c)
    hashes = [k.sha256 for k in cfg.auth.keys]
    for i, h in enumerate(hashes):
        if hashes.index(h) != i:
            out.append(Problem(("auth", "keys", i, "sha256"), "the same key is configured twice"))
    out += check_owners(cfg)  # budgets and tenant limits name keys and tenants that exist
    return out


def check_rules(rules: list[RuleConfig], profiles: list[str], backends: set[str]) -> list[Problem]:
    """Names, targets, requested names and condition syntax (signals are checked when the policy is built)."""
    from pointsman.policy.conditions import parse_condition

    out: list[Problem] = []
    names = [r.name for r in rules]
    for i, r in enumerate(rules):
        loc: Loc = ("rules", i)
        if names.index(r.name) != i:
            out.append(Problem((*loc, "name"), f"duplicate rule name {r.name!r}"))
        for key in ("profile", "divert"):
            target = getattr(r, key)
            if target is not None and target not in profiles:
                out.append(Problem((*loc, key), f"unknown profile {target!r}{_known(profiles)}"))
        for j, m in enumerate(r.models or []):
            if m in backends and not r.guards:
                out.append(
                    Problem(
                        (*loc, "models", j),
                        f"{m!r} is a backend: requests naming it go direct "
                        "(only a rule that blocks, diverts or redacts may list one)",
                    )
                )
        if r.when is not None:
            out += parse_condition(r.when, (*loc, "when"))[1]
    return out


def _known(names: list[str]) -> str:
    return f" (known: {', '.join(names)})" if names else " (no profiles are configured)"


# -- files -------------------------------------------------------------------------------------------


def _resolve_paths(cfg: GatewayConfig, base: Path) -> None:
    def rel(value: str | None) -> str | None:
        if value is None or Path(value).is_absolute():
            return value
        return str((base / value).resolve())

    for p in cfg.profiles:
        p.selector.router = rel(p.selector.router)
        p.selector.personal = rel(p.selector.personal)
        if p.cascade is not None:
            p.cascade.scorer = rel(p.cascade.scorer) or p.cascade.scorer
        if p.selector.train is not None:
            p.selector.train.data = rel(p.selector.train.data) or p.selector.train.data
    if cfg.store.kind == "sqlite":
        cfg.store.path = rel(cfg.store.path) or cfg.store.path
    cfg.state.path = rel(cfg.state.path)
    for r in cfg.rules:
        if r.strategy is not None:
            r.strategy.examples = rel(r.strategy.examples)
    cfg.cache.path = rel(cfg.cache.path) or cfg.cache.path
    cfg.cache.thresholds = rel(cfg.cache.thresholds)
    for b in cfg.backends:
        b.replay_data = rel(b.replay_data)
        if b.model_path is not None and b.model_path != "smollm2":
            b.model_path = rel(b.model_path)


def check_files(cfg: GatewayConfig) -> list[Problem]:
    """Router files exist, are router files, and know every candidate of their profile."""
    from pointsman.routers.base import RouterFileError, read_router_file

    out: list[Problem] = []
    for i, p in enumerate(cfg.profiles):
        if p.selector.train is not None and not Path(p.selector.train.data).exists():
            out.append(
                Problem(
                    ("profiles", i, "selector", "train", "data"),
                    f"no such file or folder: {p.selector.train.data}",
                )
            )
        if p.cascade is not None:
            out.extend(_scorer_file(("profiles", i, "cascade", "scorer"), p.cascade.scorer))
        if p.selector.personal is not None:
            from pointsman.policy.personal_file import PersonalFileError, load_preferences_file

            try:
                load_preferences_file(p.selector.personal, p.candidates)
            except PersonalFileError as exc:
                out.append(Problem(("profiles", i, "selector", "personal"), str(exc)))
        if p.selector.router is None:
            continue
        loc: Loc = ("profiles", i, "selector", "router")
        try:
            header, _ = read_router_file(p.selector.router)
        except RouterFileError as exc:
            out.append(Problem(loc, str(exc)))
            continue
        out.extend(_router_models(loc, p, [m["name"] for m in header.get("models", [])]))
    if cfg.cache.enabled and cfg.cache.thresholds is not None:
        from pointsman.gateway.caching import load_thresholds

        try:
            load_thresholds(cfg.cache)
        except ValueError as exc:
            out.append(Problem(("cache", "thresholds"), str(exc).removeprefix("cache.thresholds: ")))
    return out


def _scorer_file(loc: Loc, path: str) -> list[Problem]:
    from pointsman.cascade.scorers import AnswerScorer, ScorerFileError

    try:
        AnswerScorer.load(path)
    except ScorerFileError as exc:
        return [Problem(loc, str(exc))]
    return []


def _router_models(loc: Loc, p: ProfileConfig, router_models: list[str]) -> list[Problem]:
    missing = [c for c in p.candidates if c not in router_models]
    if not missing:
        return []
    return [
        Problem(
            loc,
            f"the router file predicts no quality for {', '.join(map(repr, missing))} "
            f"(it knows: {', '.join(router_models)})",
        )
    ]

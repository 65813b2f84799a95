"""The decision step: requested model + rules over request facts -> a Decision naming a route, with a reason.

Order for a request's `model`:
1. a backend name: direct, no routing (fallbacks only from the config's `fallbacks` map);
2. `router-<profile>-<threshold>` (RouteLLM-style): that profile, its router choosing the cheapest candidate
   predicted within `threshold` (a fraction, 0..1) of the best one, so a higher threshold is cheaper;
3. rules, in order: the first rule whose `models` holds the requested name and whose condition holds;
4. `auto`: the default profile; a profile name: that profile; anything else: unknown model.

Conditions are compiled once to predicates over a `RequestView`; each returns a short reason when it holds
("keywords: python") and None when it does not, so the reason header says which fact decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from pointsman.config.gateway import Bounds, Condition, RuleConfig
from pointsman.policy.objective import Objective
from pointsman.policy.profiles import RouteProfile
from pointsman.signals.base import RequestView

Predicate = Callable[[RequestView], "str | None"]

_ROUTER_MODEL = re.compile(r"^router-(?P<profile>.+)-(?P<threshold>\d*\.?\d+)$")


class UnknownModel(LookupError):
    """The requested model names no backend, profile or rule."""

    def __init__(self, model: str, known: Sequence[str]) -> None:
        super().__init__(f"The model '{model}' does not exist; known: {', '.join(known)}")
        self.model = model


class BadModelRequest(ValueError):
    """A `model` that looks like a routing request but cannot be served as asked."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a request goes and why. `profile` is None for a direct request to `model`.

    Issue 4 grows this (signals that fired, guards, a block/divert action); the gateway reads only these.
    """

    route: str  # the profile's name, or "direct"
    reason: str
    profile: RouteProfile | None = None
    model: str | None = None
    rule: str | None = None
    objective: Objective | None = None  # overrides the profile's (router-<profile>-<threshold>)
    fallbacks: tuple[str, ...] = ()  # direct requests


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    profile: str
    models: frozenset[str]
    when: Predicate


class Decider:
    def __init__(
        self,
        profiles: Mapping[str, RouteProfile],
        rules: Sequence[Rule],
        *,
        backends: Sequence[str],
        default_profile: str | None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.profiles = dict(profiles)
        self.rules = list(rules)
        self.backends = frozenset(backends)
        self.default_profile = default_profile
        self._direct = {
            b: Decision(
                "direct", "model requested by name", model=b, fallbacks=tuple((fallbacks or {}).get(b, ()))
            )
            for b in backends
        }
        self._ruled = frozenset(m for r in self.rules for m in r.models)
        self.known = ["auto", *self.profiles, *sorted(self._ruled - {"auto"} - set(self.profiles)), *backends]

    @classmethod
    def from_config(
        cls,
        rules: Sequence[RuleConfig],
        profiles: Mapping[str, RouteProfile],
        *,
        backends: Sequence[str],
        default_profile: str | None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
    ) -> Decider:
        compiled = [
            Rule(r.name, r.profile, frozenset(r.models), compile_condition(r.when) if r.when else _always)
            for r in rules
        ]
        return cls(
            profiles, compiled, backends=backends, default_profile=default_profile, fallbacks=fallbacks
        )

    def decide(self, view: RequestView, requested: str) -> Decision:
        direct = self._direct.get(requested)
        if direct is not None:
            return direct
        if requested in self._ruled:
            for rule in self.rules:
                if requested in rule.models:
                    why = rule.when(view)
                    if why is not None:
                        return Decision(
                            rule.profile,
                            f"rule {rule.name}: {why}",
                            self.profiles[rule.profile],
                            rule=rule.name,
                        )
        if requested == "auto":
            if self.default_profile is None:
                raise BadModelRequest("model 'auto' needs a route profile, and none is configured")
            return Decision(self.default_profile, "default profile", self.profiles[self.default_profile])
        profile = self.profiles.get(requested)
        if profile is not None:
            return Decision(requested, "profile requested by name", profile)
        match = _ROUTER_MODEL.match(requested)
        if match:
            return self._threshold(requested, match["profile"], float(match["threshold"]))
        raise UnknownModel(requested, self.known)

    def _threshold(self, requested: str, name: str, threshold: float) -> Decision:
        profile = self.profiles.get(name)
        if profile is None:
            raise UnknownModel(requested, self.known)
        if not profile.learned:
            raise BadModelRequest(
                f"'{requested}': profile '{name}' ranks by a static order; "
                "a threshold needs a profile with a router"
            )
        if threshold > 1:
            raise BadModelRequest(f"'{requested}': the threshold is a fraction of the best quality, 0 to 1")
        base = profile.selector.objective  # type: ignore[attr-defined]
        objective = Objective(within=threshold, max_cost_per_request=base.max_cost_per_request)
        return Decision(name, f"{requested}: threshold {threshold:g}", profile, objective=objective)


# -- conditions ---------------------------------------------------------------------------------------


def _always(view: RequestView) -> str:
    return "always"


def compile_condition(cond: Condition) -> Predicate:
    """A predicate for `cond`: every key given must hold (an implicit `all`)."""
    parts: list[Predicate] = []
    if cond.all is not None:
        parts.append(_all([compile_condition(c) for c in cond.all]))
    if cond.any is not None:
        parts.append(_any([compile_condition(c) for c in cond.any]))
    if cond.not_ is not None:
        parts.append(_not(compile_condition(cond.not_)))
    if cond.keywords is not None:
        parts.append(_keywords(cond.keywords))
    if cond.regex is not None:
        parts.append(_regex(cond.regex))
    if cond.prompt_tokens is not None:
        parts.append(_tokens(cond.prompt_tokens))
    if cond.tools is not None:
        parts.append(_flag("tools", lambda v: v.has_tools, cond.tools))
    if cond.images is not None:
        parts.append(_flag("images", lambda v: v.has_images, cond.images))
    return parts[0] if len(parts) == 1 else _all(parts)


def _all(parts: list[Predicate]) -> Predicate:
    def check(view: RequestView) -> str | None:
        reasons = []
        for p in parts:
            why = p(view)
            if why is None:
                return None
            reasons.append(why)
        return " and ".join(reasons)

    return check


def _any(parts: list[Predicate]) -> Predicate:
    def check(view: RequestView) -> str | None:
        for p in parts:
            why = p(view)
            if why is not None:
                return why
        return None

    return check


def _not(part: Predicate) -> Predicate:
    return lambda view: "not matched" if part(view) is None else None


def _keywords(words: list[str]) -> Predicate:
    # One pass for all words; whole words/phrases only ("class" does not match "classic").
    pattern = re.compile(
        r"(?<!\w)(?:"
        + "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
        + r")(?!\w)",
        re.IGNORECASE,
    )

    def check(view: RequestView) -> str | None:
        m = pattern.search(view.last_user_text)
        return f"keyword '{m.group(0)}'" if m else None

    return check


def _regex(expr: str) -> Predicate:
    pattern = re.compile(expr)

    def check(view: RequestView) -> str | None:
        return f"regex /{expr}/" if pattern.search(view.last_user_text) else None

    return check


def _tokens(b: Bounds) -> Predicate:
    def check(view: RequestView) -> str | None:
        n = view.prompt_tokens
        if (b.gt is not None and not n > b.gt) or (b.ge is not None and not n >= b.ge):
            return None
        if (b.lt is not None and not n < b.lt) or (b.le is not None and not n <= b.le):
            return None
        return f"prompt_tokens={n}"

    return check


def _flag(name: str, get: Callable[[RequestView], bool], want: bool) -> Predicate:
    return lambda view: (name if want else f"no {name}") if get(view) == want else None

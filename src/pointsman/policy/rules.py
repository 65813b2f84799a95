"""The decision step: rules over request signals, then the requested model -> a Decision with a reason.

1. Rules, by priority (higher first; equal priorities in file order), among those that apply to the requested
   name (`RuleConfig.applies_to`): the first whose condition holds decides. It blocks, diverts to a profile,
   routes with a profile, and/or redacts PII; a rule that only redacts leaves the route to step 2.
   A condition over a signal that failed is unknown: a rule that fails closed (`on_signal_error: match`, the
   default for block and divert) then applies anyway; a block then answers 503 `guard_unavailable`.
2. Otherwise the requested name: a backend goes direct (fallbacks only from the config's `fallbacks`);
   `auto` the default profile; a profile name that profile; `router-<profile>-<threshold>` (RouteLLM-style)
   that profile's router choosing the cheapest candidate predicted within `threshold` of the best; anything
   else is an unknown model.

Signals are computed lazily (`policy/facts.py`): a request pays only for the signals the rules it reaches
read. The Decision carries what was computed, for the headers, the decision log and `pointsman explain`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pointsman.config.gateway import GatewayConfig, RuleConfig
from pointsman.config.problems import Problem
from pointsman.guard import GUARD_UNAVAILABLE, Block, RedactGuard, RedactPlan
from pointsman.policy.conditions import (
    Predicate,
    compile_condition,
    parse_condition,
    signal_labels,
    signal_names,
)
from pointsman.policy.facts import Pending, RequestFacts
from pointsman.policy.objective import Objective
from pointsman.policy.profiles import RouteProfile
from pointsman.policy.strategy import Strategy, StrategyError
from pointsman.signals.base import RequestView, SignalResult, ValueKind
from pointsman.signals.runner import SignalRunner

_ROUTER_MODEL = re.compile(r"^router-(?P<profile>.+)-(?P<threshold>\d*\.?\d+)$")
ACTIONS = ("route", "block", "redact", "divert")


class UnknownModel(LookupError):
    """The requested model names no backend, profile or rule."""

    def __init__(self, model: str, known: Sequence[str]) -> None:
        super().__init__(f"The model '{model}' does not exist; known: {', '.join(known)}")
        self.model = model


class BadModelRequest(ValueError):
    """A `model` that looks like a routing request but cannot be served as asked."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a request goes (or that it goes nowhere) and why.

    `name`: the rule that decided, else how the requested name resolved (`default`, `profile`, `direct`,
    `threshold`). `action`: route, block, redact (routed with PII replaced) or divert. `route`: the profile,
    `direct`, or "" when blocked. `signals`: every signal computed for the decision.
    """

    name: str
    route: str
    reason: str
    action: str = "route"
    profile: RouteProfile | None = None
    model: str | None = None  # direct requests
    rule: str | None = None
    objective: Objective | None = None  # overrides the profile's
    fallbacks: tuple[str, ...] = ()  # direct requests
    block: Block | None = None
    redact: RedactPlan | None = None
    strategy: Strategy | None = None  # how the prompt is rewritten before it is sent
    signals: Mapping[str, SignalResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    priority: int = 0
    models: frozenset[str] | None = frozenset({"auto"})  # None: every requested name
    when: Predicate | None = None  # None: always
    profile: str | None = None  # route (or divert) target
    divert: bool = False
    objective: Objective | None = None
    block: Block | None = None
    redact: RedactGuard | None = None
    fail_closed: bool = False
    signals: tuple[str, ...] = ()
    strategy: Strategy | None = (
        None  # what the rule can read: its condition's signals, then the redact signal
    )


class Decider:
    def __init__(
        self,
        profiles: Mapping[str, RouteProfile],
        rules: Sequence[Rule],
        *,
        backends: Sequence[str],
        default_profile: str | None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        runner: SignalRunner | None = None,
        signals: Sequence[str] = (),
    ) -> None:
        self.profiles = dict(profiles)
        self.rules = sorted(rules, key=lambda r: -r.priority)  # stable: equal priorities keep file order
        self.backends = frozenset(backends)
        self.order = tuple(backends)  # config order: what `auto` tries when no profile is configured
        self.default_profile = default_profile
        self.fallbacks = {b: tuple(f) for b, f in (fallbacks or {}).items()}
        self.runner = runner
        self.signals = tuple(signals)  # every signal the rules can read, in rule order
        aliases = {m for r in self.rules for m in r.models or ()} - {"auto", "*"} - set(self.profiles)
        self.known = ["auto", *self.profiles, *sorted(aliases - self.backends), *backends]

    @classmethod
    def from_config(
        cls, config: GatewayConfig, profiles: Mapping[str, RouteProfile], runner: SignalRunner
    ) -> Decider:
        """The rules of `config` checked against `runner`'s signals; ConfigError naming each bad key."""
        rules, problems = [], []
        for i, rc in enumerate(config.rules):
            rule, found = _compile_rule(rc, ("rules", i), runner, profiles)
            problems += found
            if rule is not None:
                rules.append(rule)
        if problems:
            raise config._source.error(problems)
        return cls(
            profiles,
            rules,
            backends=[b.name for b in config.backends],
            default_profile=config.default_profile_name,
            fallbacks=config.fallbacks,
            runner=runner,
            signals=list(dict.fromkeys(name for rule in rules for name in rule.signals)),
        )

    # -- deciding -------------------------------------------------------------------------------------

    async def decide(self, view: RequestView, requested: str) -> Decision:
        """The decision for a request; signals that must wait are awaited off the event loop."""
        facts = RequestFacts(view, self.runner)  # type: ignore[arg-type]
        while True:
            try:
                return self._decide(facts, requested)
            except Pending as need:
                await facts.fetch(need.name)

    def decide_now(
        self, view: RequestView, requested: str = "auto", results: Mapping[str, SignalResult] | None = None
    ) -> Decision:
        """`decide`, blocking (offline: explain, evaluation); `results`: signals computed beforehand."""
        facts = RequestFacts(view, self.runner, results)  # type: ignore[arg-type]
        while True:
            try:
                return self._decide(facts, requested)
            except Pending as need:
                facts.fetch_now(need.name)

    def _decide(self, facts: RequestFacts, requested: str) -> Decision:
        for rule in self.rules:
            if rule.models is not None and requested not in rule.models:
                continue
            truth = True if rule.when is None else rule.when(facts)
            if truth or (truth is None and rule.fail_closed):
                return self._apply(rule, truth, facts, requested)
        decision = self._resolve(requested)
        return replace(decision, signals=dict(facts.results)) if facts.results else decision

    def _apply(self, rule: Rule, truth: bool | None, facts: RequestFacts, requested: str) -> Decision:
        why = "always" if rule.when is None else rule.when.why(facts)
        reason = f"rule {rule.name}: {why}"
        if truth is None:
            reason += " (a signal failed: the rule fails closed)"
        if rule.block is not None:
            block = rule.block if truth else GUARD_UNAVAILABLE
            return self._blocked(rule, reason, block, facts)
        plan = None
        if rule.redact is not None:
            pii = facts.result(rule.redact.signal)
            if pii.error is not None:
                return self._blocked(
                    rule,
                    f"{reason}; {rule.redact.signal} failed, so no redaction was possible",
                    GUARD_UNAVAILABLE,
                    facts,
                )
            plan = rule.redact.plan(pii.value)
        if rule.profile is not None:
            action = "divert" if rule.divert else "route"
            base = Decision(rule.profile, rule.profile, reason, action, self.profiles[rule.profile])
        else:
            base = self._resolve(requested)
        return replace(
            base,
            name=rule.name,
            rule=rule.name,
            reason=reason
            + (f"; {plan.describe()}" if plan else "")
            + (f"; {rule.strategy.describe()}" if rule.strategy else ""),
            action="redact" if plan is not None and base.action == "route" else base.action,
            objective=rule.objective or base.objective,
            redact=plan,
            strategy=rule.strategy,
            signals=dict(facts.results),
        )

    @staticmethod
    def _blocked(rule: Rule, reason: str, block: Block, facts: RequestFacts) -> Decision:
        return Decision(
            rule.name, "", reason, "block", rule=rule.name, block=block, signals=dict(facts.results)
        )

    def _resolve(self, requested: str) -> Decision:
        """The decision for the requested name alone (no rule applied)."""
        if requested in self.backends:
            return Decision(
                "direct",
                "direct",
                "model requested by name",
                model=requested,
                fallbacks=self.fallbacks.get(requested, ()),
            )
        if requested == "auto":
            if self.default_profile is None:
                return Decision(
                    "default",
                    "direct",
                    "no profile configured: the backends in config order",
                    model=self.order[0],
                    fallbacks=self.order[1:],
                )
            return Decision(
                "default",
                self.default_profile,
                "default profile",
                profile=self.profiles[self.default_profile],
            )
        profile = self.profiles.get(requested)
        if profile is not None:
            return Decision("profile", requested, "profile requested by name", profile=profile)
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
        return Decision(
            "threshold", name, f"{requested}: threshold {threshold:g}", profile=profile, objective=objective
        )


# -- compiling rules ------------------------------------------------------------------------------------


def _compile_rule(
    rc: RuleConfig, loc: tuple, runner: SignalRunner, profiles: Mapping[str, RouteProfile]
) -> tuple[Rule | None, list[Problem]]:
    problems: list[Problem] = []
    when, reads = None, []
    if rc.when is not None:
        node, problems = parse_condition(rc.when, (*loc, "when"))
        if node is not None:
            when, problems = compile_condition(node, runner.signals)
            reads = list(signal_names(node))
    redact = RedactGuard.from_config(rc.redact) if rc.redact is not None else None
    if redact is not None:
        problems += _check_redact(redact, (*loc, "redact"), runner)
    strategy = None
    if rc.strategy is not None:
        sc = rc.strategy
        try:
            strategy = Strategy.build(sc.kind, instruction=sc.instruction, examples=sc.examples, k=sc.k)
        except StrategyError as exc:
            problems.append(Problem((*loc, "strategy"), str(exc)))
    target = rc.profile or rc.divert
    if rc.objective is not None and target in profiles and not profiles[target].learned:
        key = "profile" if rc.profile else "divert"
        problems.append(
            Problem(
                (*loc, "objective"),
                f"profile {target!r} ranks by a static order; an objective "
                f"needs a profile with a router (set {key} to one)",
            )
        )
    if problems:
        return None, problems
    models = rc.applies_to
    return Rule(
        rc.name,
        rc.priority,
        None if "*" in models else frozenset(models),
        when,
        target,
        rc.divert is not None,
        rc.objective,
        Block.from_config(rc.block) if rc.block is not None else None,
        redact,
        rc.fail_closed,
        tuple(dict.fromkeys([*reads, *([redact.signal] if redact else [])])),
        strategy,
    ), []


def _check_redact(guard: RedactGuard, loc: tuple, runner: SignalRunner) -> list[Problem]:
    signal = runner.signals.get(guard.signal)
    if signal is None:
        return [
            Problem(
                (*loc, "signal"),
                f"unknown signal {guard.signal!r} (configured: {', '.join(sorted(runner.signals))})",
            )
        ]
    if signal.kind is not ValueKind.SPANS:
        return [
            Problem(
                (*loc, "signal"), f"signal {guard.signal!r} gives {signal.kind.value}, not spans to redact"
            )
        ]
    known = signal_labels(signal)
    unknown = sorted((guard.types or set()) - (known or set())) if known is not None else []
    if unknown:
        return [
            Problem(
                (*loc, "types"),
                f"signal {guard.signal!r} never finds {', '.join(unknown)} "
                f"(it finds: {', '.join(sorted(known))})",
            )
        ]  # type: ignore[arg-type]
    return []

"""A config's whole decision policy, built once: signals (and their runner), route profiles, the rules.

The gateway, `pointsman explain`, `pointsman config check` and `pointsman eval --config` all build it here, so
the same config decides the same way everywhere. Problems (a bad signal spec, a condition that does not fit
its signal) raise ConfigError with the key path and line, like the loader's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pointsman.config.gateway import GatewayConfig
from pointsman.config.problems import Problem
from pointsman.policy.profiles import RouteProfile, build_profile
from pointsman.policy.rules import Decider
from pointsman.signals.base import RequestView
from pointsman.signals.config import SignalConfigError, build_signals
from pointsman.signals.runner import SignalRunner

_SIGNAL_PATH = re.compile(r"^signals\.(\w+)")


@dataclass
class Policy:
    config: GatewayConfig
    runner: SignalRunner
    profiles: dict[str, RouteProfile]
    decider: Decider

    def warm(self) -> None:
        """Load the encoder and run every signal the rules read once (first runs are slow). Blocking."""
        self.runner.warm_up()
        if self.decider.signals:
            self.runner.run(RequestView.from_prompt("Hello, how are you today?"), self.decider.signals)

    def close(self) -> None:
        self.runner.close()


def build_policy(config: GatewayConfig, *, encoder: Any = None) -> Policy:
    """Signals, profiles and rules of `config` (`encoder`: shared by signals and routers; default the
    process-wide MiniLM)."""
    backends = {b.name: b for b in config.backends}
    profiles = {p.name: build_profile(p, backends, encoder=encoder) for p in config.profiles}
    runner = build_runner(config, encoder=encoder)
    return Policy(config, runner, profiles, Decider.from_config(config, profiles, runner))


def build_runner(config: GatewayConfig, *, encoder: Any = None) -> SignalRunner:
    source = config._source
    try:
        signals = build_signals(config.signals or None, encoder=encoder, base_dir=source.base_dir)
    except SignalConfigError as exc:
        m = _SIGNAL_PATH.match(str(exc))
        loc = ("signals", m.group(1)) if m else ("signals",)
        raise source.error([Problem((), str(exc), source.line(loc))]) from None
    return SignalRunner(signals, encoder=encoder)

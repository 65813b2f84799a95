"""Fixtures for the rule tests: configs from dicts, a small real encoder, counting and failing signals."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pytest
import yaml

from pointsman.config.loader import parse_config
from pointsman.policy.build import Policy, build_policy
from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind
from pointsman.signals.config import SpecBase, register_signal_type

BACKENDS = [
    {"name": "m1", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
    {"name": "m2", "kind": "openai", "base_url": "http://127.0.0.1:1/v1", "trusted": False},
]


class WordEncoder:
    """A real, deterministic `Encoder`: hashed lower-cased words, L2-normalised. Counts its calls."""

    id = "test-words-128"
    dim = 128

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


class ProbeSpec(SpecBase):
    type: Literal["test_probe"]
    fail: bool = False
    value: float = 0.5
    spans: bool = False  # a spans signal (for redaction) instead of a number


class ProbeSignal(Signal):
    """A number signal that counts its computations, or fails when configured to (tests only)."""

    kind = ValueKind.NUMBER
    inline = True
    computed = 0

    def __init__(self, name: str, spec: ProbeSpec) -> None:
        super().__init__(name)
        self.spec = spec
        if spec.spans:
            self.kind = ValueKind.SPANS  # type: ignore[misc]

    def cache_key(self, view: RequestView) -> None:
        return None

    def compute(self, view: RequestView) -> SignalResult:
        ProbeSignal.computed += 1
        if self.spec.fail:
            raise RuntimeError("probe failed")
        return SignalResult((), 0.0) if self.spec.spans else SignalResult(self.spec.value, 0.9)


register_signal_type("test_probe", ProbeSpec, lambda name, spec, ctx: ProbeSignal(name, spec))


def config_text(rules: list[dict], signals: dict | None = None, **extra: Any) -> str:
    doc: dict[str, Any] = {
        "backends": BACKENDS,
        "profiles": [{"name": p, "candidates": ["m1", "m2"]} for p in ("general", "strong", "refusal")],
        "rules": rules,
        **extra,
    }
    if signals:
        doc["signals"] = signals
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture()
def make_policy() -> Callable[..., Policy]:
    """`make_policy(rules, signals=None, **top_level)`: a config's built policy (WordEncoder embeddings)."""
    built: list[Policy] = []

    def make(rules: list[dict], signals: dict | None = None, encoder: Any = None, **extra: Any) -> Policy:
        cfg = parse_config(config_text(rules, signals, **extra), source="rules.yaml")
        policy = build_policy(cfg, encoder=encoder or WordEncoder())
        built.append(policy)
        return policy

    yield make
    for policy in built:
        policy.close()

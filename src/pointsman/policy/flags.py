"""Objective flags and the Pareto front, in the spirit of Tryage (Hari and Thomson, "Tryage: Real-time,
intelligent Routing of User Prompts to Large Language Models", 2023).

Tryage lets the user add weighted constraints to the router's predicted quality: prefer a smaller model,
prefer a recent one, and so on. Here a `Flags` value does that to one request's predictions before the
objective ranks them:
- `prefer_smaller=w`: subtract w x log(1 + size in billions of parameters) from the predicted quality;
- `prefer_recent=w`: subtract w x (years since the newest candidate's release);
- `max_latency=s`: models whose known latency exceeds s seconds are excluded;
- `licence=a|b`: only models under one of these licences (case-insensitive).
An excluded model keeps its place at the end of the ranking (cheapest first), never dropped, so a request
is still served when every model is excluded. Facts come from the models' metadata (`size` or
`parameters`, `released`, `latency_s`, `license`/`licence`), e.g. RouteProfile's candidate_models.json.

`pareto_front` marks the models no other model beats on every axis (higher quality, lower cost, and any
further axis to minimise).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pointsman.data.dataset import ModelInfo


class FlagError(ValueError):
    """A flag that is malformed, or that the models' facts cannot answer."""


@dataclass(frozen=True, slots=True)
class Flags:
    prefer_smaller: float = 0.0
    prefer_recent: float = 0.0
    max_latency: float | None = None
    licences: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str | None) -> Flags:
        """'prefer_smaller=0.02,licence=apache-2.0|mit,max_latency=2' -> Flags."""
        if not text or not text.strip():
            return cls()
        values: dict[str, object] = {}
        for item in text.split(","):
            key, sep, value = (s.strip() for s in item.partition("="))
            key = key.replace("-", "_")
            if not sep or not value:
                raise FlagError(f"flag {item.strip()!r}: expected name=value")
            if key in ("licence", "license"):
                values["licences"] = tuple(v.strip().lower() for v in value.split("|") if v.strip())
            elif key in ("prefer_smaller", "prefer_recent", "max_latency"):
                try:
                    number = float(value)
                except ValueError:
                    raise FlagError(f"flag {key}: {value!r} is not a number") from None
                if not math.isfinite(number) or number < 0:
                    raise FlagError(f"flag {key}: must be a finite number >= 0, got {value}")
                values[key] = number
            else:
                raise FlagError(
                    f"unknown flag {key!r}; known: prefer_smaller, prefer_recent, max_latency, licence"
                )
        return cls(**values)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        return bool(
            self.prefer_smaller or self.prefer_recent or self.max_latency is not None or self.licences
        )

    def describe(self) -> str:
        parts = [f"prefer_smaller={self.prefer_smaller:g}"] if self.prefer_smaller else []
        parts += [f"prefer_recent={self.prefer_recent:g}"] if self.prefer_recent else []
        parts += [f"max_latency={self.max_latency:g}"] if self.max_latency is not None else []
        parts += ["licence=" + "|".join(self.licences)] if self.licences else []
        return ",".join(parts)

    def apply(self, quality: np.ndarray, models: Sequence[ModelInfo]) -> tuple[np.ndarray, np.ndarray]:
        """(adjusted quality, allowed mask) for one request's (m,) predictions; an excluded model's adjusted
        quality is NaN (the objective ranks it after every model with a quality, by cost)."""
        q = np.asarray(quality, dtype=np.float64).copy()
        if self.prefer_smaller:
            q -= self.prefer_smaller * np.log1p(_facts(models, "size", lambda m: m.size_billions))
        if self.prefer_recent:
            years = _facts(models, "released", lambda m: release_year(m.metadata))
            q -= self.prefer_recent * (years.max() - years)
        allowed = np.ones(len(models), dtype=bool)
        if self.max_latency is not None:
            allowed &= _facts(models, "latency_s", lambda m: _float(m.metadata)) <= self.max_latency
        if self.licences:
            names = [
                str(m.metadata.get("license") or m.metadata.get("licence") or "").lower() for m in models
            ]
            allowed &= np.array([n in self.licences for n in names])
        return np.where(allowed, q, np.nan), allowed


def _facts(models: Sequence[ModelInfo], what: str, read: Callable[[ModelInfo], float]) -> np.ndarray:
    """(m,) one numeric fact per model, or FlagError naming the models that lack it."""
    values = np.array([read(m) for m in models], dtype=np.float64)
    missing = [m.name for m, v in zip(models, values) if not math.isfinite(v)]
    if missing:
        raise FlagError(f"no {what} known for {', '.join(missing)} (model metadata)")
    return values


_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?")


def release_year(meta: dict) -> float:
    """'2024-09' -> 2024.67 (fractional year of the month's start); NaN when unknown."""
    match = _DATE.match(str(meta.get("released") or ""))
    if not match:
        return math.nan
    return int(match.group(1)) + (int(match.group(2) or 1) - 1) / 12


def _float(meta: dict) -> float:
    value = meta.get("latency_s")
    return float(value) if isinstance(value, (int, float)) else math.nan


def pareto_front(quality: np.ndarray, cost: np.ndarray, *minimise: np.ndarray) -> np.ndarray:
    """(m,) True where no other model is at least as good on every axis and better on one (higher quality,
    lower cost, lower on each `minimise` axis). Models with a NaN on any axis are never on the front."""
    axes = np.stack([-np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64),
                     *(np.asarray(a, dtype=np.float64) for a in minimise)], axis=1)  # fmt: skip
    ok = np.isfinite(axes).all(axis=1)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        others = axes[ok]
        dominated = (others <= axes[i]).all(axis=1) & (others < axes[i]).any(axis=1)
        front[i] = not dominated.any()
    return front

"""Per-tenant preferences for the gateway: fitted from a router and tenants' pairwise judgements
(`pointsman personal fit`), saved as JSON beside the router file, applied to a router profile's predictions
for the caller's tenant (`selector.personal`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pointsman.data.pairwise import Preference
from pointsman.policy.personal import Judgement, PersonalPreferences

FORMAT = "pointsman-personal"


class PersonalFileError(ValueError):
    """A preferences file that cannot be used."""


def fit_preferences(router, prefs: list[Preference], strength: float = 5.0) -> PersonalPreferences:
    """Offsets per tenant over `router`'s predictions for the judged queries (rows need a tenant and models
    the router knows)."""
    from pointsman.routers.base import Queries

    names = list(router.model_names)
    for n, p in enumerate(prefs):
        if p.tenant is None:
            raise PersonalFileError(f"judgement {n}: no tenant (personal preferences are per tenant)")
        unknown = [m for m in (p.better, p.worse) if m not in names]
        if unknown:
            raise PersonalFileError(f"judgement {n}: the router does not know {', '.join(unknown)}")
    queries = sorted({p.query for p in prefs})
    predicted = dict(
        zip(queries, np.asarray(router.predict(Queries(queries)), dtype=np.float64), strict=True)
    )
    judgements = [
        Judgement(p.tenant or "", names.index(p.better), names.index(p.worse), predicted[p.query])
        for p in prefs
    ]
    return PersonalPreferences(len(names), strength).fit(judgements)


def save_preferences(prefs: PersonalPreferences, models: list[str], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"format": FORMAT, "models": models, **prefs.to_state()}, indent=1) + "\n")
    return path


def load_preferences_file(path: str | Path, models: list[str]) -> tuple[PersonalPreferences, np.ndarray]:
    """(preferences, column of each of `models` in the file); PersonalFileError naming what is wrong."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PersonalFileError(f"{path}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PersonalFileError(f"{path}: not a preferences file from `pointsman personal fit`")
    known = state.get("models") or []
    missing = [m for m in models if m not in known]
    if missing:
        raise PersonalFileError(
            f"{path}: no preferences for {', '.join(missing)} (it has {', '.join(known)})"
        )
    try:
        prefs = PersonalPreferences.from_state(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise PersonalFileError(f"{path}: {exc}") from None
    return prefs, np.array([known.index(m) for m in models], dtype=np.int64)


__all__ = ["PersonalFileError", "fit_preferences", "load_preferences_file", "save_preferences"]

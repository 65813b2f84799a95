"""Personalised preferences: per-tenant offsets learned from pairwise judgements over a global router, cold
start = the global router; the RouteProfile pairwise file loads, bad files name the row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pointsman.data.errors import DataFormatError
from pointsman.data.pairwise import load_preferences
from pointsman.policy.personal import Judgement, PersonalPreferences


def judgements(rng: np.random.Generator, n: int = 400) -> list[Judgement]:
    """Global predictions say model 0 > 1 > 2; tenant 'a' agrees, tenant 'b' prefers model 2 to both."""
    out = []
    base = np.array([0.7, 0.6, 0.5])
    for _ in range(n):
        q = base + rng.normal(0, 0.05, 3)
        x, y = rng.choice(3, 2, replace=False)
        a_better = x if q[x] > q[y] else y
        out.append(Judgement("a", int(a_better), int(x + y - a_better), q))
        b_better = 2 if 2 in (x, y) else a_better
        out.append(Judgement("b", int(b_better), int(x + y - b_better), q))
    return out


def test_tenants_get_their_own_preference_and_strangers_the_global_router() -> None:
    model = PersonalPreferences(3).fit(judgements(np.random.default_rng(0)))
    q = np.array([0.7, 0.6, 0.5])
    assert np.argmax(model.adjust("a", q)) == 0
    assert np.argmax(model.adjust("b", q)) == 2 and model.prefers("b", q, 2, 0) > 0.5
    np.testing.assert_array_equal(model.adjust("nobody", q), q)  # cold start: the global ranking
    np.testing.assert_array_equal(model.adjust(None, q), q)
    again = PersonalPreferences.from_state(json.loads(json.dumps(model.to_state())))
    np.testing.assert_allclose(again.adjust("b", q), model.adjust("b", q))


def test_bad_judgements() -> None:
    with pytest.raises(ValueError, match="no judgements"):
        PersonalPreferences(3).fit([])
    with pytest.raises(ValueError, match="outside 0..2"):
        PersonalPreferences(3).fit([Judgement("a", 0, 3, np.zeros(3))])


def test_routeprofile_pairwise_file_loads(shared_data: Path, tmp_path: Path) -> None:
    prefs = load_preferences(shared_data / "routeprofile" / "pairwise_training_data_standard.json")
    assert len(prefs) == 4200 and len({p.query for p in prefs}) > 1000
    assert all(p.better != p.worse and p.task for p in prefs)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"query": "q", "better_model": "a", "worse_model": "b"}\n{"query": "q", "better_model": "a"}\n'
    )
    with pytest.raises(DataFormatError, match="row 1: needs non-empty strings worse_model"):
        load_preferences(bad)
    bad.write_text("{not json\n")
    with pytest.raises(DataFormatError, match="line 1: bad JSON"):
        load_preferences(bad)

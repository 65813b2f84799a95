"""Session budgets: the reserve keeps a session within budget, pacing moves lambda the right way, and the
simulation on real LLMRouter rows plays every policy."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.data import load_dataset
from pointsman.evaluate import sessions
from pointsman.policy.session import SessionBudget

QUALITY = np.array([0.9, 0.6, 0.3])
COST = np.array([1.0, 0.2, 0.05])


def test_reserve_leaves_enough_for_the_remaining_steps() -> None:
    s = SessionBudget(budget=1.2, steps=3, lambda0=0.0)  # lambda 0: the best affordable model
    picks = []
    for _ in range(3):
        picks.append(s.choose(QUALITY, COST))
        s.record(float(COST[picks[-1]]))
    # The best model first (1.0 leaves 0.2 >= 2 x 0.05), then only what still leaves the reserve.
    assert picks == [0, 2, 2] and s.spent == pytest.approx(1.1) and s.overrun == 0.0


def test_every_model_over_budget_goes_to_the_cheapest() -> None:
    s = SessionBudget(budget=0.01, steps=1, lambda0=1.0)
    assert s.choose(QUALITY, COST) == 2
    s.record(0.05)
    assert s.overrun == pytest.approx(0.04)


def test_pacing_raises_lambda_after_overspending_and_lowers_it_after_saving() -> None:
    s = SessionBudget(budget=1.0, steps=4, lambda0=10.0)
    s.record(0.5)  # allowance was 0.25
    assert s.lam > 10.0
    t = SessionBudget(budget=1.0, steps=4, lambda0=10.0)
    t.record(0.01)
    assert t.lam < 10.0
    with pytest.raises(ValueError, match="budget > 0"):
        SessionBudget(budget=0, steps=3, lambda0=1.0)


def test_simulation_on_real_rows(shared_data) -> None:
    full = load_dataset(shared_data / "llmrouter")
    tasks = np.array(full.tasks, dtype=object)
    data = full.subset(np.concatenate([np.flatnonzero(tasks == t)[:15] for t in sorted(set(tasks))]))
    rng = np.random.default_rng(0)
    ref = int(np.nanargmax(np.nanmean(data.quality, axis=0)))
    kw = {"steps": 4, "hard_tasks": ["math", "gpqa"], "budget_share": 0.3, "rng": rng}
    tune = sessions.draw_sessions(data.tasks, data.cost, ref, n=40, **kw)
    test = sessions.draw_sessions(data.tasks, data.cost, ref, n=60, **kw)
    tasks = np.array(data.tasks, dtype=object)
    assert set(tasks[test.rows[:, -1]]) <= {"math", "gpqa"} and (test.budgets > 0).all()
    # Predictions = the truth: every policy can be judged on what it does with perfect knowledge.
    results = sessions.compare(tune, test, data.quality, data.cost, data.quality, data.cost, max_overrun=0.0)
    # The reserve prices the steps left at this step's cheapest model: an estimate, so a session whose later
    # prompts are longer can still go over, but far less often than spending greedily.
    assert results["paced"].overrun_rate < results["greedy"].overrun_rate
    assert results["greedy"].last_step_quality <= results["paced"].last_step_quality
    assert all(0 <= r.quality <= 1 for r in results.values())
    with pytest.raises(ValueError, match="hard tasks"):
        sessions.draw_sessions(data.tasks, data.cost, ref, n=1, steps=3, hard_tasks=["nosuch"],
                               budget_share=0.3, rng=rng)  # fmt: skip

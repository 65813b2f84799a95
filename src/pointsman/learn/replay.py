"""Replay logged traffic through a candidate config, without calling any backend; and off-policy estimates of
the candidate on that traffic.

Needs the logged prompts: a log written with `store.log_content: true` (what a guard removed was never
stored: blocked requests have no content, redacted ones their placeholders only, so a replay sees what the
backends saw). The candidate decides greedily (learning selectors do not explore in a replay).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pointsman.config.gateway import GatewayConfig
from pointsman.learn.ope import OPEError, OPEResult, evaluate
from pointsman.policy.rules import BadModelRequest, UnknownModel
from pointsman.signals.base import Caller, RequestError, RequestView
from pointsman.store.decisions import DecisionRecord
from pointsman.store.feedback import FeedbackRecord

# Which score stands for a request when it has several: what a person said first, implicit signals last.
_PRIORITY = {"explicit": 0, "import": 1, "error": 2, "abort": 3, "reask": 4}


@dataclass(frozen=True)
class Replayed:
    record: DecisionRecord
    decision: str  # the candidate's decision name (or the error that stopped it)
    action: str
    chosen: str | None  # the candidate's first choice (None when blocked or failed)
    quality: dict[str, float]  # predicted quality per candidate model (learned selectors)
    cost: float | None  # predicted cost of the candidate's choice


class NoContent(ValueError):
    pass


def replay(records: Iterable[DecisionRecord], config: GatewayConfig, *, encoder=None) -> list[Replayed]:
    """The candidate's decision for each logged request that kept its content."""
    from pointsman.policy.build import build_policy

    with_content = [r for r in records if r.content and r.content.get("messages")]
    if not with_content:
        raise NoContent("the log kept no prompts: replay needs a log written with store.log_content: true")
    policy = build_policy(config, encoder=encoder)
    try:
        policy.warm()
        return asyncio.run(_replay_all(with_content, policy))
    finally:
        policy.close()


async def _replay_all(records: Sequence[DecisionRecord], policy) -> list[Replayed]:
    return [await _replay_one(r, policy) for r in records]


async def _replay_one(rec: DecisionRecord, policy) -> Replayed:
    body = {"model": rec.requested_model, "messages": rec.content["messages"]}  # type: ignore[index]
    try:
        view = RequestView(body, Caller(rec.tenant, rec.api_key_id, {}))
        d = await policy.decider.decide(view, rec.requested_model)
    except (RequestError, UnknownModel, BadModelRequest) as exc:
        return Replayed(rec, f"error: {exc}", "error", None, {}, None)
    if d.block is not None:
        return Replayed(rec, d.name, "block", None, {}, None)
    if d.profile is None:
        return Replayed(rec, d.name, d.action, d.model, {}, None)
    sel = await d.profile.select(view, d.objective, explore=False)
    quality = {s.model: s.quality for s in sel.candidates if s.quality is not None}
    top = sel.ranking[0]
    cost = next((s.cost for s in sel.candidates if s.model == top), None)
    return Replayed(rec, d.name, d.action, top, quality, cost)


def diff(replayed: Sequence[Replayed]) -> Counter:
    """(logged choice, candidate choice) -> count."""
    return Counter((r.record.chosen_model or "(none)", r.chosen or "(none)") for r in replayed)


@dataclass(frozen=True)
class OPEReport:
    quality: OPEResult
    cost: OPEResult
    value: OPEResult
    lam: float
    skipped: int  # replayed requests without feedback or a logged choice


def off_policy(
    replayed: Sequence[Replayed],
    feedback: Iterable[FeedbackRecord],
    *,
    lam: float = 0.0,
    min_ess: float = 30.0,
) -> OPEReport:
    """IPS / SNIPS / DR estimates of the candidate's quality (the feedback score), cost (USD) and value
    (quality - lam x cost) on the replayed requests that got feedback. DR's reward model: the candidate's
    own predicted quality (its router), where it predicts one for every model; else DR equals IPS."""
    best: dict[str, FeedbackRecord] = {}
    for f in feedback:
        kept = best.get(f.request_id)
        if kept is None or _PRIORITY[f.kind] < _PRIORITY[kept.kind]:
            best[f.request_id] = f
    rows = [r for r in replayed if r.record.request_id in best and r.record.chosen_model]
    if not rows:
        raise OPEError("no replayed request has feedback: nothing to evaluate on")
    models = sorted({r.record.chosen_model for r in rows} | {r.chosen for r in rows if r.chosen})
    index = {m: i for i, m in enumerate(models)}
    n, m = len(rows), len(models)
    actions = np.array([index[r.record.chosen_model] for r in rows])
    propensity = np.array([r.record.probability for r in rows], dtype=np.float64)
    target = np.zeros((n, m))
    for i, r in enumerate(rows):
        if r.chosen is not None:
            target[i, index[r.chosen]] = 1.0
    scores = np.array([best[r.record.request_id].score for r in rows])
    costs = np.array([r.record.cost_usd or 0.0 for r in rows])
    q_model = _reward_model(rows, models)
    # Cost's reward model: each model's mean logged cost (the overall mean for models never chosen).
    per_model = [costs[actions == j].mean() if np.any(actions == j) else costs.mean() for j in range(m)]
    c_model = np.tile(per_model, (n, 1))

    def est(y: np.ndarray, model: np.ndarray | None) -> OPEResult:
        return evaluate(actions, y, propensity, target, model, min_ess=min_ess)

    return OPEReport(
        quality=est(scores, q_model),
        cost=est(costs, c_model),
        value=est(scores - lam * costs, None if q_model is None else q_model - lam * c_model),
        lam=lam,
        skipped=len(replayed) - n,
    )


def _reward_model(rows: Sequence[Replayed], models: list[str]) -> np.ndarray | None:
    if not all(set(models) <= set(r.quality) for r in rows):
        return None
    return np.array([[r.quality[m] for m in models] for r in rows], dtype=np.float64)

"""Cascades in the lab: held-out simulation on recorded answers, on the same folds as the routers.

For each split the answer scorer is fitted on the training rows only; a fixed chain's models and its
per-step thresholds are chosen on the training rows too (thresholds on out-of-fold scores of an inner
grouped split, so they are not tuned to scores the scorer has fitted); the test rows are then run through
the policy at every lambda of the sweep. Every call of the chain is paid for: a prompt's cost is the sum of
the recorded costs of all the models the policy called, not only the one whose answer it returned.

The result is a `Sweep` like a router's (per-prompt true quality and cost per lambda, the returned answer's
model as the choice), so curves, metrics and bootstrap intervals are computed by the same code.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pointsman.cascade.policies import simulate_chain
from pointsman.cascade.scorers import AnswerScorer, make_scorer
from pointsman.cascade.table import AnswerTable
from pointsman.data.dataset import RoutingDataset
from pointsman.data.splits import Split, group_kfold
from pointsman.evaluate.crossval import EvaluationError, Predictions, evaluation_rows
from pointsman.evaluate.curve import Sweep
from pointsman.evaluate.truth import Truth
from pointsman.policy.calibration import lambda_grid

Policy = Literal["chain", "cost_aware"]
THRESHOLDS = np.linspace(0.0, 1.0, 21)  # per-step grid the chain's thresholds are chosen from
LAMBDA_POINTS = 40
INNER_FOLDS = 2  # for choosing thresholds on out-of-fold scores of the training rows


@dataclass(frozen=True)
class CascadeSpec:
    """A cascade to evaluate: the policy, its answer scorer and the policy's parameters.

    chain: the models of a fixed chain, cheapest first; None picks them per fold from the training rows
    (the single models on the quality-cost frontier, `steps` of them from the cheapest to the best).
    router: the prompt-only router whose predictions the cost-aware policy uses (its held-out predictions
    on the same folds).
    """

    policy: Policy = "chain"
    scorer: str = "learned"
    scorer_params: dict[str, Any] = field(default_factory=dict)
    chain: tuple[str, ...] | None = None
    steps: int = 3
    router: str = "mixture"
    discount: float = 0.25  # measured: 0.25 beat 0.5 (max quality +0.006, AIQ +0.01 with knn)
    blend: float = 0.5  # cost-aware: an answer's score = blend x scorer + (1 - blend) x router's prediction

    @property
    def label(self) -> str:
        what = self.scorer + "".join(f",{k}={v}" for k, v in self.scorer_params.items())
        if self.policy == "chain":
            how = "->".join(self.chain) if self.chain else f"frontier{self.steps}"
            return f"cascade:chain({how};{what})"
        return f"cascade:cost_aware({self.router};{what})"

    def make_scorer(self) -> AnswerScorer:
        try:
            return make_scorer(self.scorer, **self.scorer_params)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from None

    def check(self, dataset: RoutingDataset) -> None:
        self.make_scorer()
        if self.policy not in ("chain", "cost_aware"):
            raise EvaluationError(f"unknown cascade policy {self.policy!r}; known: chain, cost_aware")
        if self.chain is not None:
            for name in self.chain:
                dataset.model_index(name)
        if self.steps < 2:
            raise EvaluationError("a cascade needs at least 2 steps")


@dataclass(frozen=True)
class CascadeOutcome:
    sweep: Sweep
    steps: np.ndarray  # (n, L) models called per prompt and lambda
    chains: list[list[str]]  # per fold, the chain used (fixed chains)
    seconds: float

    def mean_calls(self) -> np.ndarray:
        return self.steps.mean(axis=0)


def run_cascade(
    spec: CascadeSpec,
    table: AnswerTable,
    splits: Sequence[Split],
    router_predictions: Predictions | None = None,
    seed: int = 0,
) -> CascadeOutcome:
    """Held-out outcomes of `spec` on every row the splits hold out (in sorted order, as the routers')."""
    ds = table.dataset
    rows = evaluation_rows(splits)
    position = {r: k for k, r in enumerate(rows)}
    truth = Truth(ds.quality, ds.cost)
    allowed = truth.known & table.answered
    if not allowed.any(axis=1).all():
        raise EvaluationError("some prompts have no answered model with a known score; drop them first")
    start = time.perf_counter()
    folds = []
    for k, (train, test) in enumerate(splits):
        if spec.policy == "chain":
            folds.append(_chain_fold(spec, table, train, test, allowed, seed + k))
        else:
            if router_predictions is None:
                raise EvaluationError("the cost-aware cascade needs the router's held-out predictions")
            folds.append(_cost_aware_fold(spec, table, train, test, allowed, router_predictions, position))
    n_l = max(len(f.lambdas) for f in folds)
    lambdas = folds[int(np.argmax([len(f.lambdas) for f in folds]))].lambdas
    choices = np.zeros((len(rows), n_l), dtype=np.int64)
    calls = np.zeros((len(rows), n_l), dtype=np.int64)
    cost = np.zeros((len(rows), n_l))
    for f in folds:
        at = np.array([position[r] for r in f.rows])
        pad = n_l - f.choices.shape[1]  # a fold with a shorter lambda grid repeats its last point
        choices[at] = np.pad(f.choices, ((0, 0), (0, pad)), mode="edge")
        calls[at] = np.pad(f.calls, ((0, 0), (0, pad)), mode="edge")
        cost[at] = np.pad(f.cost, ((0, 0), (0, pad)), mode="edge")
    quality = np.take_along_axis(ds.quality[rows], choices, axis=1)
    sweep = Sweep(lambdas=lambdas, choices=choices, quality=quality, cost=cost)
    return CascadeOutcome(sweep, calls, [f.chain for f in folds], time.perf_counter() - start)


@dataclass(frozen=True)
class _Fold:
    rows: np.ndarray
    lambdas: np.ndarray
    choices: np.ndarray  # (n_test, L) model of the returned answer
    calls: np.ndarray  # (n_test, L) models called
    cost: np.ndarray  # (n_test, L) sum of the called models' costs
    chain: list[str]


# -- fixed chains -------------------------------------------------------------------------------------------


def frontier_chain(quality: np.ndarray, cost: np.ndarray, steps: int) -> list[int]:
    """`steps` single models on the mean quality-cost frontier, from the cheapest to the best (column
    indices, cheapest first)."""
    order = np.lexsort((-quality, cost))
    front: list[int] = []
    for j in order:
        if np.isfinite(quality[j]) and (not front or quality[j] > quality[front[-1]]):
            front.append(int(j))
    if len(front) <= steps:
        extra = [int(j) for j in np.argsort(cost) if j not in front]
        front = sorted(front + extra[: steps - len(front)], key=lambda j: cost[j])
        return front
    picks = np.round(np.linspace(0, len(front) - 1, steps)).astype(int)
    return [front[p] for p in picks]


def chain_scores(
    table: AnswerTable, scorer: AnswerScorer, rows: np.ndarray, chain: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(n, K) each step's score beside the earlier steps, and (n, K) beside all the other steps."""
    k = len(chain)
    n = len(rows)
    prefix, final = np.zeros((n, k)), np.zeros((n, k))
    for s, j in enumerate(chain):
        cols = np.full(n, j)
        prefix[:, s] = table.scores(scorer, rows, cols, [list(chain[:s])] * n)
        others = [c for c in chain if c != j]
        final[:, s] = table.scores(scorer, rows, cols, [others] * n)
    return prefix, final


def _chain_fold(
    spec: CascadeSpec,
    table: AnswerTable,
    train: np.ndarray,
    test: np.ndarray,
    allowed: np.ndarray,
    seed: int,
) -> _Fold:
    ds = table.dataset
    truth_train = Truth(ds.quality[train], ds.cost[train])
    if spec.chain is not None:
        chain = [ds.model_index(n) for n in spec.chain]
    else:
        chain = frontier_chain(truth_train.model_quality, truth_train.model_cost, spec.steps)
    # thresholds are chosen on out-of-fold scores of the training rows
    inner = group_kfold(ds.subset(train), INNER_FOLDS, seed)
    oof_p, oof_f = np.zeros((len(train), len(chain))), np.zeros((len(train), len(chain)))
    for tr, te in inner:
        scorer = table.fit(spec.make_scorer(), train[tr], seed)
        oof_p[te], oof_f[te] = chain_scores(table, scorer, train[te], chain)
    settings = np.array(list(itertools.product(THRESHOLDS, repeat=len(chain) - 1)))
    q_tr, c_tr = _chain_means(settings, oof_p, oof_f, ds.quality[train], ds.cost[train], chain)
    lambdas, picks = _lambda_picks(q_tr, c_tr)
    scorer = table.fit(spec.make_scorer(), train, seed)
    prefix, final = chain_scores(table, scorer, test, chain)
    answer, calls = simulate_chain(prefix, final, settings[picks])  # (L, n)
    cols = np.asarray(chain)
    cum = np.cumsum(ds.cost[np.ix_(test, cols)], axis=1)  # (n, K) cost of calling steps 0..k
    cost = np.take_along_axis(cum, (calls - 1).T, axis=1)
    return _Fold(test, lambdas, cols[answer].T, calls.T, cost, [ds.model_names[j] for j in chain])


def _chain_means(
    settings: np.ndarray,
    prefix: np.ndarray,
    final: np.ndarray,
    quality: np.ndarray,
    cost: np.ndarray,
    chain: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """(T,) mean true quality and cost of each threshold setting on these rows."""
    cols = np.asarray(chain)
    answer, calls = simulate_chain(prefix, final, settings)
    q = np.take_along_axis(np.nan_to_num(quality[:, cols]), answer.T, axis=1)  # (n, T)
    cum = np.cumsum(cost[:, cols], axis=1)
    c = np.take_along_axis(cum, (calls - 1).T, axis=1)
    return q.mean(axis=0), c.mean(axis=0)


def _lambda_picks(quality: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A lambda grid over the settings' trade-offs and, per lambda, the setting maximising
    quality - lambda x cost (the cheaper one on a tie)."""
    dq = quality[:, None] - quality[None, :]
    dc = cost[:, None] - cost[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = dq / dc
    slopes = slopes[(dq > 0) & (dc > 0) & np.isfinite(slopes)]
    if slopes.size:
        lo, hi = np.quantile(slopes, [0.005, 0.995])
        inner = np.geomspace(lo / 2, hi * 2, LAMBDA_POINTS) if hi > lo else np.array([lo])
    else:
        inner = np.zeros(0)
    lambdas = np.concatenate([[0.0], inner, [math.inf]])
    picks = []
    for lam in lambdas:
        value = -cost if math.isinf(lam) else quality - lam * cost
        best = np.flatnonzero(value >= value.max() - 1e-12)
        picks.append(int(best[np.argmin(cost[best])]))
    return lambdas, np.array(picks)


# -- the cost-aware route-or-cascade policy -----------------------------------------------------------------


def _cost_aware_fold(
    spec: CascadeSpec,
    table: AnswerTable,
    train: np.ndarray,
    test: np.ndarray,
    allowed: np.ndarray,
    preds: Predictions,
    position: dict[int, int],
) -> _Fold:
    scorer = table.fit(spec.make_scorer(), train)
    at = np.array([position[r] for r in test])
    q_hat, c_hat = preds.quality[at], preds.cost[at]
    lambdas = lambda_grid(q_hat, c_hat)
    L, n = len(lambdas), len(test)
    choices, calls, cost = np.zeros((n, L), np.int64), np.zeros((n, L), np.int64), np.zeros((n, L))
    for li, lam in enumerate(lambdas):
        choices[:, li], calls[:, li], cost[:, li] = simulate_cost_aware(
            table, scorer, test, q_hat, c_hat, allowed[test], lam, spec.discount, spec.steps, spec.blend
        )
    return _Fold(test, lambdas, choices, calls, cost, [])


def simulate_cost_aware(
    table: AnswerTable,
    scorer: AnswerScorer,
    rows: np.ndarray,
    q_hat: np.ndarray,
    c_hat: np.ndarray,
    allowed: np.ndarray,
    lam: float,
    discount: float,
    max_steps: int,
    blend: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`CostAware` on recorded answers, vectorised over prompts: (n,) returned model, calls, cost."""
    ds = table.dataset
    n, m = q_hat.shape
    called = np.zeros((n, m), dtype=bool)
    best_score = np.zeros(n)
    best_model = np.full(n, -1)
    active = np.ones(n, dtype=bool)
    q = np.nan_to_num(q_hat, nan=0.0)
    c = np.nan_to_num(c_hat, nan=np.inf)
    for step in range(min(max_steps, m)):
        gain = (1.0 - best_score)[:, None] * q * (discount if step else 1.0)
        value = -c if math.isinf(lam) else gain - lam * c
        if math.isinf(lam) and step:
            break
        value = np.where(called | ~allowed, -np.inf, value)
        pick = value.argmax(axis=1)
        go = active & np.isfinite(value[np.arange(n), pick])
        if step:
            go &= value[np.arange(n), pick] > 0
        if not go.any():
            break
        called[np.flatnonzero(go), pick[go]] = True
        active = go
        best_score, best_model = _rescore(
            table, scorer, rows, called, active, best_score, best_model, q, blend
        )
    cost = np.where(called, np.nan_to_num(ds.cost[rows]), 0.0).sum(axis=1)
    return best_model, called.sum(axis=1), cost


def _rescore(
    table: AnswerTable,
    scorer: AnswerScorer,
    rows: np.ndarray,
    called: np.ndarray,
    active: np.ndarray,
    best_score: np.ndarray,
    best_model: np.ndarray,
    q_hat: np.ndarray,
    blend: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Every called answer of the active prompts scored beside the other called answers (blended with the
    router's prediction for its model); the best one."""
    idx = np.flatnonzero(active)
    r, c, o, owner = [], [], [], []
    for i in idx:
        cols = np.flatnonzero(called[i])
        for j in cols:
            r.append(rows[i])
            c.append(j)
            o.append([k for k in cols if k != j])
            owner.append(i)
    scores = table.scores(scorer, np.array(r), np.array(c), o)
    best_score, best_model = best_score.copy(), best_model.copy()
    best_score[idx] = -1.0
    for s, i, j in zip(scores, owner, c):
        s = blend * s + (1.0 - blend) * q_hat[i, j]
        if s >= best_score[i]:
            best_score[i], best_model[i] = s, j
    return best_score, best_model


# -- beside the routers in `pointsman eval` -----------------------------------------------------------------


def parse_cascades(text: str, routers: Sequence[str] = ()) -> list[CascadeSpec]:
    """`--cascades`: 'none', 'auto' (a frontier chain and the cost-aware policy, both with the learned
    scorer), or a comma-separated list of policy[:scorer], e.g. 'chain:agreement,cost_aware'. The cost-aware
    policy reads the default router's predictions when it is among `routers`, else the first one's."""
    text = text.strip()
    if text in ("", "none"):
        return []
    router = CascadeSpec.router
    if routers and router not in routers:
        router = routers[0]
    if text == "auto":
        return [CascadeSpec("chain"), CascadeSpec("cost_aware", router=router, steps=8)]
    out = []
    for item in text.split(","):
        policy, _, scorer = item.strip().partition(":")
        if policy not in ("chain", "cost_aware"):
            raise EvaluationError(f"--cascades {item!r}: the policy is chain or cost_aware, not {policy!r}")
        steps = 3 if policy == "chain" else 8
        spec = CascadeSpec(policy, scorer or "learned", router=router, steps=steps)  # type: ignore[arg-type]
        spec.make_scorer()
        out.append(spec)
    return out


def evaluate_cascades(
    specs: Sequence[CascadeSpec],
    dataset: RoutingDataset,
    splits: Sequence[Split],
    truth: Truth,
    resamples: Any,
    held_out: dict[str, Predictions],
    setup: Any,
) -> dict[str, Any]:
    """label -> RouterResult for each cascade, scored exactly as the routers are."""
    from pointsman.evaluate.bootstrap import intervals
    from pointsman.evaluate.crossval import RouterSpec, predict_held_out
    from pointsman.evaluate.curve import References
    from pointsman.evaluate.report import RouterResult

    table = AnswerTable(dataset)
    refs = References.of(truth)
    out: dict[str, RouterResult] = {}
    for spec in specs:
        spec.check(dataset)
        preds = None
        if spec.policy == "cost_aware":
            preds = held_out.get(spec.router) or predict_held_out(
                RouterSpec(spec.router), dataset, splits, setup.task_labels
            )
            held_out[spec.router] = preds
        outcome = run_cascade(spec, table, splits, preds, setup.seed)
        curve = outcome.sweep.curve(refs.strong)
        out[spec.label] = RouterResult(
            label=spec.label,
            name="cascade",
            params=cascade_params(spec, outcome),
            scores=curve.score(refs),
            ci95=intervals(outcome.sweep, resamples) if resamples is not None else {},
            curve=curve,
            fit_seconds=outcome.seconds,
            predict_seconds=0.0,
            sweep=outcome.sweep,
        )
    return out


def cascade_params(spec: CascadeSpec, outcome: CascadeOutcome) -> dict[str, Any]:
    params: dict[str, Any] = {"policy": spec.policy, "scorer": spec.scorer, **spec.scorer_params}
    if spec.policy == "chain":
        params["chains"] = ["->".join(c) for c in dict.fromkeys(tuple(c) for c in outcome.chains)]
    else:
        params["router"] = spec.router
        params["discount"] = spec.discount
    params["mean_calls_per_lambda"] = [round(float(x), 3) for x in outcome.mean_calls()]
    return params


# -- a chain for the gateway: the scorer and thresholds calibrated to an objective ---------------------------


@dataclass(frozen=True)
class CalibratedChain:
    models: list[str]
    thresholds: list[float]
    scorer: AnswerScorer
    quality: float  # mean true quality of the chosen thresholds on out-of-fold scores of the data
    cost: float  # mean USD per request (every call counted)
    met: bool

    def profile_yaml(self, scorer_path: str) -> dict[str, Any]:
        steps: list[dict[str, Any]] = [
            {"model": m, "threshold": round(t, 4)} for m, t in zip(self.models, self.thresholds)
        ]
        steps.append({"model": self.models[-1]})
        return {"scorer": scorer_path, "steps": steps}


def calibrate_chain(
    dataset: RoutingDataset,
    models: Sequence[str],
    scorer: AnswerScorer,
    objective: Any,
    rows: np.ndarray | None = None,
    seed: int = 0,
    folds: int = 5,
) -> CalibratedChain:
    """Thresholds for a fixed chain meeting `objective` (lambda, quality_target or budget_per_1k) on
    out-of-fold scores of `rows` (default: all), and the scorer fitted on all of them."""
    if len(models) < 2:
        raise EvaluationError("a cascade needs at least 2 steps")
    table = AnswerTable(dataset)
    rows = np.arange(dataset.n_prompts) if rows is None else np.asarray(rows)
    chain = [dataset.model_index(m) for m in models]
    prefix, final = np.zeros((len(rows), len(chain))), np.zeros((len(rows), len(chain)))
    for tr, te in group_kfold(dataset.subset(rows), folds, seed):
        fitted = table.fit(type(scorer)(**scorer._params()), rows[tr], seed)
        prefix[te], final[te] = chain_scores(table, fitted, rows[te], chain)
    settings = np.array(list(itertools.product(THRESHOLDS, repeat=len(chain) - 1)))
    q, c = _chain_means(settings, prefix, final, dataset.quality[rows], dataset.cost[rows], chain)
    pick, met = _objective_pick(objective, q, c, Truth(dataset.quality[rows], dataset.cost[rows]))
    table.fit(scorer, rows, seed)
    return CalibratedChain(list(models), settings[pick].tolist(), scorer, float(q[pick]), float(c[pick]), met)


def _objective_pick(objective: Any, q: np.ndarray, c: np.ndarray, truth: Truth) -> tuple[int, bool]:
    if objective.quality_target is not None:
        ref = {"best_single": truth.model_quality[truth.best_single], "oracle": truth.oracle_quality}
        target = objective.quality_target * ref.get(objective.relative_to, 1.0)
        ok = np.flatnonzero(q >= target - 1e-12)
        if ok.size:
            return int(ok[np.argmin(c[ok])]), True
        return int(np.argmax(q)), False
    if objective.budget_per_1k is not None:
        ok = np.flatnonzero(c * 1000 <= objective.budget_per_1k + 1e-12)
        if ok.size:
            return int(ok[np.lexsort((c[ok], -q[ok]))[0]]), True
        return int(np.argmin(c)), False
    lam = objective.lambda_ or 0.0
    value = -c if math.isinf(lam) else q - lam * c
    best = np.flatnonzero(value >= value.max() - 1e-12)
    return int(best[np.argmin(c[best])]), True

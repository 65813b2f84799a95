"""Run an evaluation: held-out predictions per router, curves, metrics, intervals, calibration -> Report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from rich.progress import Progress

from pointsman.data.dataset import RoutingDataset
from pointsman.data.splits import Split, group_kfold, llmrouter_test_split
from pointsman.evaluate.bootstrap import Resamples, intervals
from pointsman.evaluate.crossval import (
    EvaluationError,
    Predictions,
    RouterSpec,
    evaluation_rows,
)
from pointsman.evaluate.curve import References, Sweep, oracle_sweep
from pointsman.evaluate.parallel import held_out_predictions
from pointsman.evaluate.report import CalibrationResult, DatasetSummary, ModelSummary, Report, RouterResult
from pointsman.evaluate.threshold import routellm_scores, two_model_sweep
from pointsman.evaluate.truth import Truth
from pointsman.policy.calibration import achieved, calibrate
from pointsman.policy.objective import Objective, sweep_lambda

DEFAULT_TARGETS = (Objective(quality_target=0.95), Objective(quality_target=1.0))


@dataclass(frozen=True)
class Protocol:
    """How prompts are held out: grouped k-fold CV over all of them, or LLMRouter's cleaned test split."""

    cv: int | None = 5
    test_split: str | None = None
    seed: int = 0

    def splits(self, dataset: RoutingDataset) -> list[Split]:
        if self.test_split == "llmrouter":
            return [llmrouter_test_split(dataset)]
        if self.test_split is not None:
            raise EvaluationError(f"unknown test split {self.test_split!r}; known: llmrouter")
        if self.cv is None:
            raise EvaluationError("give a number of cross-validation folds or a test split")
        try:
            return group_kfold(dataset, self.cv, self.seed)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from None

    def describe(self) -> str:
        if self.test_split:
            return f"{self.test_split} test split (train on the rest)"
        return f"{self.cv}-fold grouped cross-validation, out-of-fold predictions pooled (seed {self.seed})"


@dataclass(frozen=True)
class Setup:
    protocol: Protocol = field(default_factory=Protocol)
    bootstrap: int = 1000
    seed: int = 0
    task_labels: bool = False
    targets: Sequence[Objective] = DEFAULT_TARGETS
    # answer-aware policies (evaluate/cascades.py), run where the data has responses, on the same folds
    cascades: Sequence[Any] = ()
    # worker processes for the folds (evaluate/parallel.py; 1: all in this process) and BLAS threads each
    jobs: int = 1
    threads: int = 1


def drop_unscored(dataset: RoutingDataset) -> tuple[RoutingDataset, int]:
    """Prompts with no known score teach and measure nothing; drop them and say how many.

    Data with no cost at all (no cost column, no prices) is evaluated on quality alone: every call costs 0
    and the cost metrics say nothing (`cost_model` in the report says so).
    """
    if np.isnan(dataset.cost).all():
        dataset = replace(dataset, cost=np.zeros_like(dataset.quality))
    scored = ~(np.isnan(dataset.quality) | np.isnan(dataset.cost)).all(axis=1)
    if scored.all():
        return dataset, 0
    return dataset.subset(np.flatnonzero(scored)), int((~scored).sum())


def run_evaluation(
    dataset: RoutingDataset,
    specs: Sequence[RouterSpec],
    setup: Setup,
    default_router: str | None = None,
    progress: Progress | None = None,
) -> Report:
    if not specs:
        raise EvaluationError("no routers to evaluate")
    dataset, dropped = drop_unscored(dataset)
    splits = setup.protocol.splits(dataset)
    rows = evaluation_rows(splits)
    truth = Truth(dataset.quality[rows], dataset.cost[rows])
    resamples = Resamples.draw(truth, setup.bootstrap, setup.seed) if setup.bootstrap else None
    steps = _Steps(progress, specs, len(splits), setup.jobs)
    scored: dict[str, RouterResult] = {}
    held_out: dict[str, Predictions] = {}
    for spec, preds in held_out_predictions(
        specs, dataset, splits, setup.task_labels, setup.jobs, setup.threads, steps.fold
    ):
        held_out[spec.label] = preds
        steps.scoring(spec)
        scored[spec.label] = _score(spec, preds, truth, resamples, setup)
        steps.scored(spec, preds)
    results = {spec.label: scored[spec.label] for spec in specs}  # in the order asked
    if setup.cascades and dataset.responses is not None:
        from pointsman.evaluate.cascades import evaluate_cascades

        results.update(evaluate_cascades(setup.cascades, dataset, splits, truth, resamples, held_out, setup))
    return Report(
        dataset=summarize_dataset(dataset, truth, dropped),
        evaluation={
            "protocol": setup.protocol.describe(),
            "folds": len(splits),
            "seed": setup.seed,
            "n_prompts": truth.n_prompts,
            "bootstrap": setup.bootstrap,
            "task_labels_at_prediction": setup.task_labels,
            "cost_unit": "USD per request",
        },
        default_router=default_router,
        routers=results,
        oracle_curve=oracle_sweep(truth).curve(),
    )


def _score(
    spec: RouterSpec, preds: Predictions, truth: Truth, resamples: Resamples | None, setup: Setup
) -> RouterResult:
    refs = References.of(truth)
    sweep = Sweep.run(preds.quality, preds.cost, truth)
    curve = sweep.curve(refs.strong)
    scores, threshold, threshold_curve = curve.score(refs), None, None
    if refs.strong is not None:  # two models: RouteLLM's threshold sweep on the router's own score
        threshold = two_model_sweep(preds.quality, truth.quality, truth.known, refs.strong, preds.folds)
        threshold_curve = threshold[0].curve()
        scores = replace(scores, **routellm_scores(threshold_curve))
    return RouterResult(
        label=spec.label,
        name=spec.name,
        params=dict(spec.params),
        scores=scores,
        ci95=intervals(sweep, resamples, threshold) if resamples is not None else {},
        curve=curve,
        threshold_curve=threshold_curve,
        fit_seconds=preds.fit_seconds,
        predict_seconds=preds.predict_seconds,
        calibration=_calibrations(preds, truth, setup),
        unknown_choices_redirected=_redirected(preds, truth, sweep),
        sweep=sweep,
    )


def _calibrations(preds: Predictions, truth: Truth, setup: Setup) -> list[CalibrationResult]:
    """Each target resolved on a random half of the prompts and measured on the other half."""
    if truth.n_prompts < 4 or not setup.targets:
        return []
    order = np.random.default_rng(setup.seed).permutation(truth.n_prompts)
    cal, held = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2 :])
    out = []
    for target in setup.targets:
        obj = calibrate(target, preds.quality[cal], preds.cost[cal], truth.subset(cal))
        got = achieved(obj, preds.quality[held], preds.cost[held], truth.subset(held))
        out.append(CalibrationResult(obj, got))
    return out


def _redirected(preds: Predictions, truth: Truth, sweep: Sweep) -> float | None:
    """Share of (prompt, lambda) choices that would land on an unknown score without the restriction."""
    if truth.known.all():
        return None
    free = sweep_lambda(preds.quality, preds.cost, sweep.lambdas)
    return float(np.mean(~np.take_along_axis(truth.known, free, axis=1)))


def summarize_dataset(dataset: RoutingDataset, truth: Truth, dropped: int) -> DatasetSummary:
    """The report's dataset section (also used by evaluate/policy_eval.py)."""
    models = [
        ModelSummary(
            name=mi.name,
            input_price=mi.input_price,
            output_price=mi.output_price,
            quality=float(truth.model_quality[j]),
            cost=float(truth.model_cost[j]),
            unknown=int((~truth.known[:, j]).sum()),
        )
        for j, mi in enumerate(dataset.models)
    ]
    return DatasetSummary(
        name=dataset.name,
        format=dataset.info.get("format"),
        sources=[str(s) for s in dataset.info.get("source", [])],
        n_prompts=truth.n_prompts,
        models=models,
        best_single=dataset.models[truth.best_single].name,
        oracle_quality=truth.oracle_quality,
        oracle_cost=truth.oracle_cost,
        cost_model=dataset.info.get("cost_model"),
        prompts_dropped_unscored=dropped,
        prompts_with_unknown=int((~truth.known).any(axis=1).sum()),
        duplicates_dropped=int(dataset.info.get("duplicates_dropped", 0)),
    )


class _Steps:
    """One progress bar over routers x (folds + scoring): a step is one router's fit + predict on one fold,
    or its curves + bootstrap. The description says what was done last; each router's times are printed
    when it is scored, so the bar shows how many steps remain and the log how long each router took
    (routers differ by orders of magnitude, so no time estimate is drawn from the count). No-ops without a
    Progress.
    """

    def __init__(self, progress: Progress | None, specs: Sequence[RouterSpec], folds: int, jobs: int) -> None:
        self.progress, self.specs, self.folds = progress, list(specs), folds
        self.where = f" ({jobs} worker processes)" if jobs > 1 else ""
        self.done = {spec.label: 0 for spec in specs}
        self.started = 0.0
        if progress is not None:
            self.task = progress.add_task(f"evaluating{self.where}", total=len(self.specs) * (folds + 1))

    def _say(self, spec: RouterSpec, what: str) -> None:
        i = self.specs.index(spec) + 1
        self.progress.update(self.task, description=f"router {i}/{len(self.specs)} {spec.label}: {what}")

    def fold(self, spec: RouterSpec, k: int) -> None:
        self.done[spec.label] += 1
        if self.progress is not None:
            self.progress.advance(self.task)
            self._say(spec, f"fold {k + 1} fitted ({self.done[spec.label]}/{self.folds}){self.where}")

    def scoring(self, spec: RouterSpec) -> None:
        self.started = time.perf_counter()
        if self.progress is not None:
            self._say(spec, "curves + bootstrap")

    def scored(self, spec: RouterSpec, preds: Predictions) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
            self.progress.console.print(
                f"  {spec.label}: fit {preds.fit_seconds:.1f} s + predict {preds.predict_seconds:.1f} s over "
                f"{self.folds} folds, curves + bootstrap {time.perf_counter() - self.started:.1f} s"
            )

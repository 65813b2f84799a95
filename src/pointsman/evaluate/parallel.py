"""Held-out predictions of many routers, their folds spread over worker processes.

A job is one fold of a group of routers. Routers of one `fit_group` (the gated ones, which fit the very same
gate on a fold) run each fold in one process, one after the other, so that gate is fitted once. What a job
computes does not depend on what its process ran before (a process's caches only answer identical inputs,
and those stay within one job), so one worker and many give the same predictions.

Workers are spawned rather than forked (the parent may hold onnxruntime's and BLAS's thread pools, which do
not survive a fork); each gets the dataset and the splits once and `threads` BLAS threads. Each router's
predictions are handed back as soon as its last fold is in, so the caller scores it while the workers go on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from pointsman.data.dataset import RoutingDataset
from pointsman.data.splits import Split
from pointsman.evaluate.crossval import EvaluationError, Fold, Predictions, RouterSpec, pooled, predict_fold

# Below this many prompts an evaluation runs in one process: starting workers (~2 s each, importing numpy,
# scipy and scikit-learn) costs more than the folds they would share.
PARALLEL_FROM = 2000

Job = tuple[tuple[int, ...], int]  # (indices of the specs, fold)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def auto_jobs(n_prompts: int) -> int:
    """Worker processes for an evaluation when none is asked for: one per core on data of PARALLEL_FROM
    prompts or more, else none (1: in this process)."""
    return available_cores() if n_prompts >= PARALLEL_FROM else 1


def fit_groups(specs: Sequence[RouterSpec]) -> list[tuple[int, ...]]:
    """Indices of the specs, grouped by their router's `fit_group` (None: a group of its own), in order."""
    from pointsman.routers.registry import router_class

    groups: dict[object, list[int]] = {}
    for i, spec in enumerate(specs):
        key = router_class(spec.name).fit_group or ("own", i)
        groups.setdefault(key, []).append(i)
    return [tuple(g) for g in groups.values()]


def held_out_predictions(
    specs: Sequence[RouterSpec],
    dataset: RoutingDataset,
    splits: Sequence[Split],
    task_labels: bool = False,
    jobs: int = 1,
    threads: int = 1,
    on_fold: Callable[[RouterSpec, int], None] | None = None,
) -> Iterator[tuple[RouterSpec, Predictions]]:
    """(spec, its pooled held-out predictions) for every spec, each as soon as all its folds are done.

    jobs: worker processes (1: all in this process); threads: BLAS threads per worker. `on_fold(spec, k)`
    is called in this process as each fold lands.
    """
    plan = [(group, k) for group in fit_groups(specs) for k in range(len(splits))]
    folds: list[dict[int, Fold]] = [{} for _ in specs]
    for (group, k), results in _run(plan, specs, dataset, splits, task_labels, jobs, threads):
        for i, fold in zip(group, results):
            folds[i][k] = fold
            if on_fold is not None:
                on_fold(specs[i], k)
            if len(folds[i]) == len(splits):
                yield specs[i], pooled(dataset, splits, [folds[i][j] for j in range(len(splits))])


def _run(
    plan: list[Job],
    specs: Sequence[RouterSpec],
    dataset: RoutingDataset,
    splits: Sequence[Split],
    task_labels: bool,
    jobs: int,
    threads: int,
) -> Iterator[tuple[Job, list[Fold]]]:
    """Each job of the plan and its folds, in this process (jobs == 1) or as the workers finish them."""
    if jobs <= 1 or len(plan) <= 1:
        for group, k in plan:
            train, test = splits[k]
            yield (group, k), [predict_fold(specs[i], dataset, train, test, task_labels) for i in group]
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        min(jobs, len(plan)), mp_context=context, initializer=_start_worker,
        initargs=(dataset, list(splits), task_labels, threads),
    )  # fmt: skip
    try:
        futures: dict[Future, Job] = {
            pool.submit(_run_job, [specs[i] for i in group], k): (group, k) for group, k in plan
        }
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except BrokenProcessPool:
                raise EvaluationError(
                    "a cross-validation worker process died (out of memory?); "
                    "run with fewer workers (--jobs 1 runs everything in one process)"
                ) from None
    except BaseException:  # interrupted, an error, or the caller stopped: the running jobs are not wanted
        for process in list(pool._processes.values()):  # no public way to stop a running job
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# A worker's share of the evaluation, set once when it starts.
_worker: dict[str, object] = {}


def _start_worker(dataset: RoutingDataset, splits: list[Split], task_labels: bool, threads: int) -> None:
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the parent stops the workers

    # Thread pools of libraries loaded later (scipy's own OpenBLAS, scikit-learn's OpenMP) read these when
    # they load; threadpoolctl caps the ones already loaded (numpy's). Two workers with a two-thread BLAS
    # each on two cores spent 1.6x the CPU time of one process.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    _worker.update(dataset=dataset, splits=splits, task_labels=task_labels)
    _worker["limits"] = threadpool_limits(threads)  # kept: the limit lasts while the object lives


def _run_job(specs: list[RouterSpec], k: int) -> list[Fold]:
    dataset, splits, task_labels = _worker["dataset"], _worker["splits"], _worker["task_labels"]
    train, test = splits[k]  # type: ignore[index]
    return [predict_fold(spec, dataset, train, test, task_labels) for spec in specs]  # type: ignore[arg-type]

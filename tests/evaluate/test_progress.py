"""The evaluation's progress bar counts routers x (folds + scoring) and says which router each line is."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from pointsman.data import load_dataset
from pointsman.evaluate.crossval import RouterSpec
from pointsman.evaluate.runner import Protocol, Setup, run_evaluation


def test_progress_counts_every_fold_and_scoring_step(shared_data):
    ds = load_dataset(shared_data / "llmrouter").subset(range(300))
    out = io.StringIO()
    progress = Progress(console=Console(file=out, width=200), auto_refresh=False)
    specs = [RouterSpec("best-single"), RouterSpec("random")]
    with progress:
        run_evaluation(ds, specs, Setup(Protocol(cv=3), bootstrap=10), progress=progress)
    (task,) = progress.tasks
    assert task.total == 2 * (3 + 1) and task.completed == task.total
    assert "router 2/2 random" in task.description
    log = out.getvalue()
    assert "best-single: fit" in log and "random: fit" in log and "over 3 folds" in log

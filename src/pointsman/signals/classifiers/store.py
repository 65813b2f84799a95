"""The four classifier kinds by name, and `ensure_trained`: a trained model file without a manual step.

The gateway and `pointsman explain` need the built-in classifiers before anyone has run `pointsman signals
train`: `ensure_trained(kind)` trains one from the shared data on first use (embeddings come from the
on-disk cache after the first time) and keeps the file in the cache directory, named by the kind's recipe
version so that a pointsman with a changed recipe retrains instead of reusing a stale file.
"""

from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pointsman.data.guard_sets import DATA_ENV
from pointsman.signals.classifiers import harm, jailbreak, ood, routing
from pointsman.signals.classifiers.evaluation import Evaluation
from pointsman.signals.classifiers.model import ClassifierFileError, TextClassifier
from pointsman.text.cache_dir import cache_dir


@dataclass(frozen=True)
class Kind:
    """One classifier kind: how to train it on the built-in data and how to measure it on held-out data.

    `train(data, encoder, progress=...)` / `evaluate(model, data, encoder, progress=...)`; `data` is the
    data root for jailbreak/ood and a routing-data path for domain/difficulty (None: the default)."""

    name: str
    summary: str
    recipe: int  # bump when the training data or defaults change: cached files of older recipes retrain
    train: Callable[..., TextClassifier]
    evaluate: Callable[..., Evaluation]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "domain",
            "task of a prompt (LLMRouter's 14 tasks)",
            1,
            routing.train_domain,
            routing.evaluate_domain,
        ),
        Kind(
            "difficulty",
            "P(strong model right where the cheap one is wrong)",
            1,
            routing.train_difficulty,
            routing.evaluate_difficulty,
        ),
        Kind("jailbreak", "benign / harmful / jailbreak / injection", 1, jailbreak.train, jailbreak.evaluate),
        Kind("ood", "banking / health / out_of_domain (configurable domains)", 1, ood.train, ood.evaluate),
        Kind("harm", "benign / one label per harm category (what is asked)", 2, harm.train, harm.evaluate),
        Kind(
            "privacy", "none / intrusion (personal data about a person)", 3, harm.train_privacy, harm.evaluate
        ),
    )
}
_lock = threading.Lock()


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown classifier kind {name!r}; known: {', '.join(KINDS)}") from None


def default_model_path(name: str) -> Path:
    """Where `ensure_trained` keeps the built-in model of kind `name`."""
    return cache_dir() / "classifiers" / f"{name}-r{kind(name).recipe}.npz"


def ensure_trained(
    name: str, *, data: str | Path | None = None, progress: bool = False, **options: Any
) -> Path:
    """The path of a trained model of kind `name`, training it from the shared data first if needed.

    Safe to call from several threads and processes at once (one trains, the others wait for its file).
    A cached file that cannot be read is retrained. Raises FileNotFoundError naming the missing data
    (set $POINTSMAN_DATA to the folder holding guard/ and llmrouter/).
    """
    spec = kind(name)
    path = default_model_path(name)
    with _lock:
        if _readable(path):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be training the same kind
            if _readable(path):
                return path
            try:
                model = spec.train(data, None, progress=progress, **options)
            except FileNotFoundError as exc:
                raise FileNotFoundError(
                    f"cannot train the built-in {name!r} classifier: {exc} "
                    f"(set ${DATA_ENV} to the data folder, "
                    f"or train one with `pointsman signals train {name} --data ...` and give its file)"
                ) from exc
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            model.save(tmp)
            os.replace(tmp, path)
    return path


def _readable(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        TextClassifier.load(path)
    except ClassifierFileError:
        return False
    return True

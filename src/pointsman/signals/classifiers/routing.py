"""The two classifiers learned from routing data: task (domain) and difficulty.

- task: the task label of each prompt (LLMRouter: 14 tasks such as math, mbpp, mmlu, trivia_qa).
- difficulty: how much a strong model beats a cheap one on the prompt. With quality q in [0, 1] the soft
  target is clip(q_strong - q_cheap, 0, 1): for 0/1 scores exactly the event "strong right, cheap wrong",
  so the classifier's P(hard) estimates the chance that paying for the strong model changes the answer.
  By default the cheap model is the lowest-priced one and the strong model the best on average.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pointsman.data.dataset import RoutingDataset
from pointsman.data.guard_sets import TextSet, default_data_root
from pointsman.data.loaders import load_dataset
from pointsman.data.splits import group_kfold
from pointsman.signals.classifiers import training
from pointsman.signals.classifiers.evaluation import Evaluation, evaluate_sets
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.text.encoder import Encoder

HARD, EASY = "hard", "easy"


@dataclass(frozen=True)
class DifficultyTarget:
    """Per prompt: the soft target in [0, 1], for the prompts where both models have a score."""

    rows: np.ndarray  # prompt rows of the dataset used
    gain: np.ndarray  # q_strong - q_cheap, in [-1, 1]
    strong: str
    cheap: str

    @property
    def soft(self) -> np.ndarray:
        return np.clip(self.gain, 0.0, 1.0)


def pick_models(
    dataset: RoutingDataset, strong: str | None = None, cheap: str | None = None
) -> tuple[str, str]:
    """(strong, cheap): given names (checked), else the best on average and the lowest-priced model."""
    means = np.nanmean(dataset.quality, axis=0)
    if cheap is None:
        prices = [m.input_price + m.output_price for m in dataset.models]
        cheap = dataset.models[int(np.argmin(prices))].name  # first of equal prices: the file's order
    if strong is None:
        order = np.argsort(-means)
        strong = next(dataset.model_names[i] for i in order if dataset.model_names[i] != cheap)
    dataset.model_index(strong), dataset.model_index(cheap)  # KeyError naming the known models
    if strong == cheap:
        raise ValueError(f"strong and cheap model are the same ({strong!r})")
    return strong, cheap


def difficulty_target(
    dataset: RoutingDataset, strong: str | None = None, cheap: str | None = None
) -> DifficultyTarget:
    strong, cheap = pick_models(dataset, strong, cheap)
    q_strong = dataset.quality[:, dataset.model_index(strong)]
    q_cheap = dataset.quality[:, dataset.model_index(cheap)]
    rows = np.flatnonzero(~(np.isnan(q_strong) | np.isnan(q_cheap)))
    if not len(rows):
        raise ValueError(f"no prompt has scores for both {strong!r} and {cheap!r}")
    return DifficultyTarget(rows=rows, gain=(q_strong - q_cheap)[rows], strong=strong, cheap=cheap)


def soft_labels(soft: np.ndarray) -> tuple[list[int], list[str], np.ndarray]:
    """A soft binary target as weighted hard rows: (row index, label, weight) with each row in twice,
    once as "hard" with weight p and once as "easy" with weight 1 - p (rows with weight 0 dropped)."""
    idx, labels, weights = [], [], []
    for i, p in enumerate(soft):
        for label, w in ((HARD, p), (EASY, 1.0 - p)):
            if w > 0:
                idx.append(i)
                labels.append(label)
                weights.append(w)
    return idx, labels, np.asarray(weights, dtype=np.float64)


# -- training and evaluation ---------------------------------------------------------------------------------

DOMAIN_PARAMS: dict[str, Any] = {"hidden": 128, "C": 1.0, "features": ("shape",), "max_iter": 200}
DIFFICULTY_PARAMS: dict[str, Any] = {"hidden": 0, "C": 0.05, "features": ("shape",), "balanced": False}
HELDOUT_FOLDS = 5  # held-out = fold 0 of a 5-fold split grouped on the normalised prompt (20%)


def load_routing(data: str | Path | None = None) -> RoutingDataset:
    """Routing data (any format `load_dataset` reads); default: LLMRouter in the data root."""
    path = Path(data) if data is not None else default_data_root() / "llmrouter"
    if not path.exists():
        raise FileNotFoundError(f"routing data not found at {path}")
    return load_dataset(path)


def heldout_split(dataset: RoutingDataset) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): a normalised prompt is never on both sides."""
    return group_kfold(dataset, k=HELDOUT_FOLDS, seed=0)[0]


def _with_tasks(dataset: RoutingDataset, rows: np.ndarray) -> np.ndarray:
    rows = np.asarray([i for i in rows if dataset.tasks[i]], dtype=np.int64)
    if not len(rows):
        raise ValueError(
            f"{dataset.name}: no prompt has a task label, so there is nothing to learn a domain from"
        )
    return rows


def _cap(rows: np.ndarray, max_rows: int | None) -> np.ndarray:
    """At most `max_rows` of `rows` (a seeded sample, in order), for quick runs."""
    if max_rows is None or len(rows) <= max_rows:
        return rows
    return np.sort(np.random.default_rng(0).choice(rows, max_rows, replace=False))


def train_domain(
    data: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    heldout: bool = True,
    max_rows: int | None = None,
    progress: bool = False,
) -> TextClassifier:
    """Task classifier on the prompts' task labels (the held-out fifth is left out unless `heldout=False`)."""
    dataset = load_routing(data)
    rows = _with_tasks(dataset, heldout_split(dataset)[0] if heldout else np.arange(dataset.n_prompts))
    rows = _cap(rows, max_rows)
    texts = TextSet(
        [dataset.prompts[i] for i in rows], [dataset.tasks[i] for i in rows], [dataset.name] * len(rows)
    )
    return training.fit(
        "domain",
        {**DOMAIN_PARAMS, **(params or {})},
        texts,
        training.resolve_encoder(encoder),
        progress=progress,
        info={"data": dataset.name, "heldout": f"fold 0 of {HELDOUT_FOLDS}" if heldout else None},
    )


def evaluate_domain(
    clf: TextClassifier,
    data: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    progress: bool = False,
) -> Evaluation:
    """Accuracy / macro-F1 / confusion on the held-out fifth, per task and pooled."""
    dataset = load_routing(data)
    rows = _with_tasks(dataset, heldout_split(dataset)[1])
    pred = clf.predict(
        training.embed([dataset.prompts[i] for i in rows], training.resolve_encoder(encoder), progress)
    )
    truth = [dataset.tasks[i] for i in rows]
    tasks = sorted(set(truth) | set(clf.classes_))
    by_task = {t: [j for j, x in enumerate(truth) if x == t] for t in sorted(set(truth))}
    return evaluate_sets(
        "domain",
        list(by_task),
        [[truth[j] for j in js] for js in by_task.values()],
        [[pred[j] for j in js] for js in by_task.values()],
        tasks,
    )


def train_difficulty(
    data: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    strong: str | None = None,
    cheap: str | None = None,
    params: Mapping[str, Any] | None = None,
    heldout: bool = True,
    max_rows: int | None = None,
    progress: bool = False,
) -> TextClassifier:
    """P(hard): the chance the strong model is right where the cheap one is wrong (soft target)."""
    dataset = load_routing(data)
    target = difficulty_target(dataset, strong, cheap)
    train_rows = heldout_split(dataset)[0] if heldout else np.arange(dataset.n_prompts)
    keep = set(_cap(train_rows, max_rows).tolist())
    rows = [r for r in target.rows if r in keep]
    soft = target.soft[[i for i, r in enumerate(target.rows) if r in keep]]
    idx, labels, weights = soft_labels(soft)
    texts = TextSet([dataset.prompts[rows[i]] for i in idx], labels, [dataset.name] * len(idx))
    return training.fit(
        "difficulty",
        {**DIFFICULTY_PARAMS, **(params or {})},
        texts,
        training.resolve_encoder(encoder),
        weights=weights,
        progress=progress,
        info={
            "data": dataset.name,
            "strong": target.strong,
            "cheap": target.cheap,
            "heldout": f"fold 0 of {HELDOUT_FOLDS}" if heldout else None,
            "hard_rate": float(np.mean(soft)),
        },
    )


def evaluate_difficulty(
    clf: TextClassifier,
    data: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    progress: bool = False,
) -> Evaluation:
    """On the held-out fifth: AUC of P(hard) for "strong right, cheap wrong", its Spearman correlation with
    the quality gain, the gain captured by sending the hardest 20/50% to the strong model, and accuracy."""
    dataset = load_routing(data)
    strong, cheap = clf.info_.get("strong"), clf.info_.get("cheap")
    target = difficulty_target(dataset, strong, cheap)
    test = set(heldout_split(dataset)[1].tolist())
    pick = [i for i, r in enumerate(target.rows) if r in test]
    rows, gain = target.rows[pick], target.gain[pick]
    queries = training.embed([dataset.prompts[r] for r in rows], training.resolve_encoder(encoder), progress)
    p_hard = clf.predict_proba(queries)[:, clf.classes_.index(HARD)]
    hard = gain > 0.5
    pred = [HARD if p >= 0.5 else EASY for p in p_hard]
    truth = [HARD if h else EASY for h in hard]
    out = evaluate_sets(
        "difficulty", ["heldout"], [truth], [pred], [EASY, HARD], positive=(HARD, frozenset({HARD}))
    )
    out.extra = {
        "auc": auc(hard, p_hard),
        "spearman_gain": spearman(gain, p_hard),
        "hard_rate": float(hard.mean()),
    }
    for share in (0.2, 0.5):
        top = np.argsort(-p_hard)[: int(round(share * len(p_hard)))]
        total = gain.clip(min=0).sum()
        out.extra[f"gain_captured_top{int(share * 100)}"] = (
            float(gain[top].clip(min=0).sum() / total) if total else 0.0
        )
    return out


def auc(positive: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, scores)) if 0 < positive.sum() < len(positive) else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)

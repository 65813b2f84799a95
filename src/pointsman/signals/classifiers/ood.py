"""Out-of-domain detection for a configured set of domains (guarded routing: serve these, refuse the rest).

The classifier has one class per configured domain plus `out_of_domain`. The built-in configuration is the
GQR-style task of the data README: banking (Banking77 + CLINC150 banking and credit-card intents) and
health (MedQuAD questions) against CLINC150's other domains and out-of-scope queries, WebQuestions, harmful
instructions and jailbreak prompts. Users bring their own domains as example files (`load_examples`); the
built-in out-of-domain pool is then used as negatives, minus any row close to one of their examples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pointsman.data import guard_sets as gs
from pointsman.data.guard_sets import TextSet
from pointsman.signals.classifiers import training
from pointsman.signals.classifiers.evaluation import Evaluation, evaluate_sets
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.text.encoder import Encoder

OUT = "out_of_domain"
BANKING_CLINC = ("banking", "credit_cards")
# Out-of-domain sources never used in training: held-out only, to measure generalisation.
UNSEEN = ("llmrouter", "jackhhao_benign")


@dataclass(frozen=True)
class Recipe:
    """How the built-in training set is put together.

    - `per_domain`: in-domain rows per domain (drawn across that domain's sources);
    - `per_negative_pool`: rows from each out-of-domain pool;
    - `exclude`: out-of-domain pools left out of training (cross-source evaluation).
    """

    per_domain: int = 3000
    per_negative_pool: int = 1200
    exclude: tuple[str, ...] = ()
    seed: int = 0


def builtin_domains(root: str | Path | None = None) -> dict[str, tuple[TextSet, TextSet]]:
    """{domain: (train, held-out)} for the built-in banking + health configuration."""
    clinc_bank = lambda split: gs.load_clinc(split, root).where(lambda t, lab, s: lab in BANKING_CLINC)  # noqa: E731
    banking = (
        gs.load_banking77("train", root) + clinc_bank("train") + clinc_bank("val"),
        gs.load_banking77("test", root) + clinc_bank("test"),
    )
    health = (gs.load_medquad("train", root), gs.load_medquad("test", root))
    return {
        name: _labelled(train, test, name)
        for name, (train, test) in {"banking": banking, "health": health}.items()
    }


def negative_pools(root: str | Path | None = None) -> dict[str, tuple[TextSet, TextSet]]:
    """{pool: (train, held-out)} of out-of-domain texts; pools in UNSEEN have an empty train side."""
    other = lambda split: gs.load_clinc(split, root).where(lambda t, lab, s: lab not in BANKING_CLINC)  # noqa: E731
    jack_train, jack_test = gs.jackhhao_splits(root)
    is_jb = lambda t, lab, s: lab == "jailbreak"  # noqa: E731
    pools = {
        "clinc_other": (other("train") + other("val"), other("test")),
        "clinc_oos": (
            gs.load_clinc("oos_train", root) + gs.load_clinc("oos_val", root),
            gs.load_clinc("oos_test", root),
        ),
        "webquestions": (gs.load_webquestions("train", root), gs.load_webquestions("test", root)),
        "harmful": (
            gs.load_harmful("train", root) + gs.load_harmful("val", root),
            gs.load_harmful("test", root),
        ),
        "jailbreak": (jack_train.where(is_jb), jack_test.where(is_jb)),
        "llmrouter": (TextSet(), gs.load_llmrouter_prompts(root).split(0.2, salt="ood")[1]),
        "jackhhao_benign": (TextSet(), jack_test.where(lambda t, lab, s: lab == "benign")),
    }
    return {name: _labelled(train, test, OUT) for name, (train, test) in pools.items()}


def _labelled(train: TextSet, test: TextSet, label: str) -> tuple[TextSet, TextSet]:
    train, test = train.deduplicate(), test.deduplicate()
    return train.without(test).relabel(label), test.relabel(label)


def training_set(recipe: Recipe, domains: Mapping[str, TextSet], negatives: Mapping[str, TextSet]) -> TextSet:
    """In-domain rows (`per_domain` each) + out-of-domain rows (`per_negative_pool` from each pool)."""
    if OUT in domains:
        raise ValueError(f"{OUT!r} is reserved for the out-of-domain class; rename that domain")
    if not domains:
        raise ValueError("no domains configured")
    for item in recipe.exclude:
        if item not in negatives:
            raise ValueError(f"exclude {item!r}: unknown pool; known: {', '.join(negatives)}")
    parts = [
        examples.relabel(name).sample(recipe.per_domain, recipe.seed) for name, examples in domains.items()
    ]
    parts += [
        pool.sample(recipe.per_negative_pool, recipe.seed)
        for name, pool in negatives.items()
        if name not in recipe.exclude and len(pool)
    ]
    return TextSet.concat(parts)


def heldout_sets(
    domains: Mapping[str, tuple[TextSet, TextSet]],
    negatives: Mapping[str, tuple[TextSet, TextSet]],
    per_set: int = 1000,
) -> dict[str, TextSet]:
    """{name: held-out set}, at most `per_set` rows each."""
    sets = {f"{name}/test": test for name, (_, test) in {**domains, **negatives}.items()}
    return {name: s.sample(per_set, seed=1) for name, s in sets.items()}


def drop_near(negatives: TextSet, examples: TextSet, encoder: Encoder, threshold: float = 0.8) -> TextSet:
    """Negatives whose cosine similarity to every in-domain example stays below `threshold`.

    For user-configured domains: the built-in out-of-domain pool may hold texts of the user's domain (a
    "travel" domain vs CLINC's travel intents), which must not be taught as out-of-domain.
    """
    if not len(negatives) or not len(examples):
        return negatives
    neg, ex = encoder.encode(negatives.texts), encoder.encode(examples.texts)
    nearest = np.zeros(len(negatives), dtype=np.float32)
    for start in range(0, len(ex), 2048):  # bounded memory: (n_neg x 2048) similarities at a time
        nearest = np.maximum(nearest, (neg @ ex[start : start + 2048].T).max(axis=1))
    return negatives.subset(np.flatnonzero(nearest < threshold))


# -- training and evaluation ---------------------------------------------------------------------------------

DEFAULT_PARAMS: dict[str, Any] = {"hidden": 128, "C": 1.0, "features": (), "max_iter": 200}
DEFAULT_THRESHOLD = 0.5


def decide(proba: np.ndarray, classes: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """The most likely domain when P(in domain) = 1 - P(out_of_domain) reaches `threshold`, else OUT."""
    proba = np.atleast_2d(proba)
    out = classes.index(OUT)
    inside = np.delete(np.arange(len(classes)), out)
    best = inside[proba[:, inside].argmax(axis=1)]
    return [classes[b] if 1.0 - p >= threshold else OUT for b, p in zip(best, proba[:, out])]


def train(
    data: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    recipe: Recipe = Recipe(),
    domains: Mapping[str, str | Path] | None = None,
    negatives: Sequence[str | Path] = (),
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> TextClassifier:
    """Out-of-domain classifier. `domains`: {name: example file} (default: built-in banking + health);
    `negatives`: extra out-of-domain example files. The built-in out-of-domain pools (from the data root
    `data`) are always used; with custom domains, minus the rows near the user's examples."""
    if domains is not None and OUT in domains:
        raise ValueError(f"{OUT!r} is reserved for the out-of-domain class; rename that domain")
    encoder = training.resolve_encoder(encoder)
    pools = {
        name: side.sample(recipe.per_negative_pool, recipe.seed)
        for name, (side, _) in negative_pools(data).items()
    }
    if domains is None:
        in_domain = {name: train_side for name, (train_side, _) in builtin_domains(data).items()}
    else:
        in_domain = {name: gs.load_examples(path, label=name) for name, path in domains.items()}
        everything = TextSet.concat(in_domain.values())
        pools = {name: drop_near(pool, everything, encoder) for name, pool in pools.items()}
    for path in negatives:
        pools[f"file:{Path(path).name}"] = gs.load_examples(path, label=OUT)
    data_set = training_set(recipe, in_domain, pools)
    info = {"domains": sorted(in_domain), "recipe": asdict(recipe), "threshold": DEFAULT_THRESHOLD}
    return training.fit(
        "ood", {**DEFAULT_PARAMS, **(params or {})}, data_set, encoder, progress=progress, info=info
    )


def evaluate(
    clf: TextClassifier,
    data: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    test_files: Sequence[str | Path] = (),
    sets: Mapping[str, TextSet] | None = None,
    progress: bool = False,
) -> Evaluation:
    """In-vs-out accuracy/F1 (positive: out_of_domain) and the class confusion, per held-out set.

    Held-out sets: `sets`, else labelled `test_files` (label: a domain name or out_of_domain), else the
    built-in held-out sides."""
    if sets is None:
        if test_files:
            sets = {Path(f).name: gs.load_examples(f) for f in test_files}
        else:
            sets = heldout_sets(builtin_domains(data), negative_pools(data))
    encoder = training.resolve_encoder(encoder)
    names, truth, pred = [], [], []
    for name, s in sets.items():
        unknown = sorted(set(s.labels) - set(clf.classes_))
        if unknown:
            raise ValueError(
                f"{name}: labels {unknown} are not classes of this model ({', '.join(clf.classes_)})"
            )
        names.append(name)
        truth.append(s.labels)
        pred.append(
            decide(clf.predict_proba(training.embed(s.texts, encoder, progress)), clf.classes_, threshold)
        )
    return evaluate_sets("ood", names, truth, pred, list(clf.classes_), positive=(OUT, frozenset({OUT})))

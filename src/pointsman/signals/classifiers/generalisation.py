"""How well the detectors generalise beyond their own sources: train without a source, test on it.

The held-out splits of `pointsman signals eval` share their sources with training (other prompts, same
kind of text). A detector judged on sets it has never seen needs a harsher estimate: each check here
trains a model with one source (or one family of generated attacks, or one set of templates) left out and
measures it on exactly what was left out. Embeddings come from the cache, so each check costs one fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from pointsman.data.guard_sets import TextSet
from pointsman.signals.classifiers import attacks, jailbreak, ood, training
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.text.encoder import Encoder


@dataclass(frozen=True)
class CrossCheck:
    """One generalisation figure: the share of `measured_on` decided right (blocked, when every row there
    is an attack; passed, when every row is benign) by a model trained without `left_out`."""

    kind: str
    name: str
    left_out: str
    measured_on: str
    figure: str  # "blocked", "passed", "accuracy"
    value: float
    n: int


def jailbreak_checks(
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    quick: bool = False,
    params: Mapping[str, Any] | None = None,
    on_fit: Callable[[str], None] | None = None,
) -> list[CrossCheck]:
    """Leave-one-source-out checks for the jailbreak detector (`quick`: skip the per-category ones)."""
    encoder = training.resolve_encoder(encoder)
    splits = jailbreak.natural_splits(root)
    held = jailbreak.heldout_sets(splits=splits)
    params = {**jailbreak.DEFAULT_PARAMS, **(params or {})}
    benign_only = lambda s: s.where(lambda t, label, src: label == "benign")  # noqa: E731
    attacks_only = lambda s: s.where(lambda t, label, src: label != "benign")  # noqa: E731

    def run(name: str, recipe: jailbreak.Recipe, sets: Mapping[str, TextSet]) -> Iterator[CrossCheck]:
        if on_fit:
            on_fit(name)
        data, weights = jailbreak.training_set(recipe, splits=splits)
        clf = training.fit("jailbreak", params, data, encoder, weights=weights)
        for set_name, s in sets.items():
            unsafe = _unsafe(clf, s, encoder)
            attack = s.labels[0] != "benign"
            yield CrossCheck(
                "jailbreak",
                name,
                ", ".join(recipe.exclude) or f"template half {1 - recipe.template_half}",
                set_name,
                "blocked" if attack else "passed",
                float(np.mean(unsafe if attack else ~unsafe)),
                len(s),
            )

    base = jailbreak.Recipe()
    out = list(
        run(
            "in-the-wild jailbreaks",
            replace(base, exclude=("jackhhao:jailbreak",)),
            {"jackhhao/test jailbreak": attacks_only(held["jackhhao/test"])},
        )
    )
    out += run(
        "benign role-play and tasks",
        replace(base, exclude=("jackhhao:benign",)),
        {"jackhhao/test benign": benign_only(held["jackhhao/test"])},
    )
    for family in attacks.FAMILIES:
        out += run(
            f"unseen attack family: {family}",
            replace(base, exclude=(family,)),
            {f"{family}/test": held[f"{family}/test"]},
        )
    unseen = jailbreak.heldout_sets(splits=splits, template_half=1)
    out += run(
        "unseen templates (trained on the other half)",
        replace(base, template_half=0),
        {
            f"{name} half 1": unseen[name]
            for name in (*(f"{f}/test" for f in attacks.FAMILIES), "paraphrase_benign/test")
        },
    )
    out += run(
        "no hand-written alarming-but-safe set",
        replace(base, exclude=("alarming_safe",)),
        {"alarming_safe/test": held["alarming_safe/test"]},
    )
    for pool in ("webquestions", "llmrouter", "clinc"):
        out += run(
            f"unseen benign source: {pool}",
            replace(base, exclude=(pool,)),
            {f"{pool}/test": held[f"{pool}/test"]},
        )
    if not quick:
        alarming = jailbreak.hand_written("alarming_safe")
        for category in sorted({s.split("/")[1] for s in alarming.sources}):
            rows = alarming.where(lambda t, label, src, c=category: src == f"alarming_safe/{c}")
            out += run(
                f"alarming-but-safe category left out: {category}",
                replace(base, exclude=(f"alarming_safe/{category}",)),
                {f"alarming_safe/{category}": rows},
            )
    return out


def ood_checks(
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    on_fit: Callable[[str], None] | None = None,
) -> list[CrossCheck]:
    """Leave-one-out-of-domain-pool-out checks for the out-of-domain detector, and the pools it never
    trains on (LLMRouter task prompts, jackhhao's benign prompts) with the full model."""
    encoder = training.resolve_encoder(encoder)
    domains, pools = ood.builtin_domains(root), ood.negative_pools(root)
    held = ood.heldout_sets(domains, pools)
    params = {**ood.DEFAULT_PARAMS, **(params or {})}
    in_domain = {name: side for name, (side, _) in domains.items()}
    negatives = {name: side for name, (side, _) in pools.items()}
    out = []
    for left_out in [None, *(name for name in pools if name not in ood.UNSEEN)]:
        name = f"unseen pool: {left_out}" if left_out else "pools never trained on"
        if on_fit:
            on_fit(name)
        recipe = ood.Recipe(exclude=(left_out,) if left_out else ())
        clf = training.fit("ood", params, ood.training_set(recipe, in_domain, negatives), encoder)
        for pool in [left_out] if left_out else list(ood.UNSEEN):
            s = held[f"{pool}/test"]
            pred = ood.decide(clf.predict_proba(training.embed(s.texts, encoder)), clf.classes_)
            out.append(
                CrossCheck(
                    "ood",
                    name,
                    left_out or "-",
                    f"{pool}/test",
                    "accuracy",
                    float(np.mean([p == ood.OUT for p in pred])),
                    len(s),
                )
            )
    return out


def _unsafe(clf: TextClassifier, data: TextSet, encoder: Encoder) -> np.ndarray:
    labels = jailbreak.decide(clf.predict_proba(training.embed(data.texts, encoder)), clf.classes_)
    return np.array([label != "benign" for label in labels])

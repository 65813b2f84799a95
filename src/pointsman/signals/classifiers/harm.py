"""Harmful-intent and privacy-intrusion classifiers: what a request asks for, whatever its wrapping.

`harm` has one label per harm category (`CATEGORIES`) plus `benign`; its value is the most likely category
when P(harmful) = 1 - P(benign) reaches the threshold, so a rule can block some categories and tag others.
`privacy` has two labels, `none` and `intrusion` (personal data about a specific person: addresses, numbers,
records, tracking), separate from the PII detector, which finds PII *in* the text.

Training data (licences in docs/classifiers.md), all from the train side of the jailbreak splits:
- harmful: AdvBench (harmful_behaviors *train*, MIT/Apache-2.0), labelled by category keywords
  (`weak_category`); the hand-written harmful_requests.tsv (project); project templates per category (harm_templates.py), and
  neutral rewordings of them (attacks.py `rephrase`);
- benign: CLINC150, Banking77, WebQuestions, LLMRouter prompts, jackhhao benign, the hand-written
  alarming_safe.tsv and benign_instructions.txt, generated benign tasks and project templates of safe requests
  on alarming topics (news, history, medicine, fiction, security education, one's own data), weighted up.
HarmBench (harmful_behaviors *val*) is left out, so the held-out test split (HarmBench, StrongREJECT,
JailbreakBench) shares no source with training. The threshold is calibrated on a validation split (20% of the
training rows by hash, and the other half of the templates) for an over-block bound on the safe prompts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pointsman.data.guard_sets import TextSet
from pointsman.signals.classifiers import attacks, harm_templates, jailbreak, training
from pointsman.signals.classifiers.evaluation import Evaluation, evaluate_sets
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.text.encoder import Encoder

CATEGORIES = tuple(harm_templates.HARMFUL)
LABELS = ("benign", *CATEGORIES)
PRIVACY_LABELS = ("none", "intrusion")
# hand-written harmful_requests.tsv categories -> harm categories
HAND_CATEGORIES = {
    "animals": "violence",
    "cyber": "crime",
    "deception": "deception",
    "disinformation": "deception",
    "drugs": "crime",
    "extremism": "extremism",
    "fraud": "crime",
    "graphic": "violence",
    "harassment": "hate",
    "hate": "hate",
    "illegal_goods": "crime",
    "privacy": "privacy",
    "self_harm": "self_harm",
    "sexual": "sexual",
    "violence": "violence",
    "weapons": "weapons",
}
# Keyword cues for the uncategorised AdvBench rows, most specific first (a weak label, documented as such).
_CUES = (
    (
        "sexual_minors",
        (
            r"\b(child|minor|underage|kid)s?\b.*\b(sex|nude|porn|explicit)"
            r"|\b(sex|nude|porn)\w*\b.*\b(child|minor|underage)"
        ),
    ),
    (
        "self_harm",
        r"\b(suicide|self[- ]harm|kill (yourself|themselves|myself)|anorexi|bulimi|eating disorder|cutting)",
    ),
    ("extremism", r"\b(terror|extremis|radicali|jihad|genocide|mass shooting|insurrection)"),
    ("hate", r"\b(racis|hate|discriminat|harass|bully|cyberbully|minority|ethnic|religio|slur|inferior)"),
    (
        "privacy",
        (
            r"\b(personal (information|data)|private information|dox|stalk|spy on"
            r"|track (someone|a person|the location)|privacy|surveil)"
        ),
    ),
    (
        "deception",
        (
            r"\b(fake news|misinformation|disinformation|propaganda|conspiracy"
            r"|defamat|hoax|false information|fake review)"
        ),
    ),
    ("sexual", r"\b(sexual|porn|explicit|nude|revenge porn)"),
    (
        "weapons",
        (
            r"\b(bomb|explosive|weapon|firearm|gun|grenade|poison gas"
            r"|nerve agent|chemical weapon|bioweapon|ammunition)"
        ),
    ),
    (
        "violence",
        (
            r"\b(kill|murder|assault|violence|violent|hurt|harm (someone"
            r"|others|people)|poison|assassinat|torture|attack)"
        ),
    ),
)
_CUE_RE = tuple((cat, re.compile(p, re.IGNORECASE)) for cat, p in _CUES)


def weak_category(text: str) -> str:
    """The harm category of an uncategorised harmful request, by keyword cues; `crime` when none fits."""
    for category, pattern in _CUE_RE:
        if pattern.search(text):
            return category
    return "crime"


@dataclass(frozen=True)
class Recipe:
    """How the harm training set is put together: generated requests per category and safe ones, the sample
    weight of the safe-but-alarming rows, benign rows per large pool, the over-block bound the threshold is
    calibrated for on the validation split, and the share of rows held for validation."""

    per_category: int = 250
    safe_generated: int = 1500
    benign_per_pool: int = 800
    alarming_weight: float = 3.0
    natural_weight: float = 4.0
    overblock_bound: float = 0.03
    privacy_bound: float = 0.01  # privacy's negatives include every other harm: a tighter bound
    floor: float = 0.5  # never under the plain 0.5 decision threshold
    val_fraction: float = 0.2
    max_per_source: int | None = None  # cap on jackhhao benign rows and generated tasks (quick runs)
    seed: int = 0


def _harmful_rows(splits: Mapping[str, tuple[TextSet, TextSet]], root: str | Path | None) -> TextSet:
    from pointsman.data import guard_sets as gs

    adv = splits["harmful"][0].without(gs.load_harmful("val", root))  # AdvBench only: HarmBench is held out
    out = TextSet(list(adv.texts), [weak_category(t) for t in adv.texts], ["advbench"] * len(adv))
    hand = splits["harmful_requests"][0]
    cats = [HAND_CATEGORIES[s.split("/")[1]] for s in hand.sources]
    cats = [
        "sexual_minors" if c == "sexual" and re.search(r"\b(minor|teen|child|kid)", t, re.IGNORECASE) else c
        for c, t in zip(cats, hand.texts)
    ]
    return out + TextSet(list(hand.texts), cats, list(hand.sources))


def _generated(recipe: Recipe, half: int, n_scale: float) -> TextSet:
    parts = []
    for i, category in enumerate(CATEGORIES):
        n = int(recipe.per_category * n_scale)
        texts = harm_templates.harmful(category, n, recipe.seed + i, half)
        reworded = attacks.generate("rephrase", texts, n // 4, recipe.seed + i, half)
        parts.append(TextSet.of(texts + reworded, category, f"harm_templates/{category}"))
    safe = harm_templates.safe(int(recipe.safe_generated * n_scale), recipe.seed, half)
    parts.append(TextSet.of(safe, "benign", "safe_templates"))
    return TextSet.concat(parts)


def _benign_rows(splits: Mapping[str, tuple[TextSet, TextSet]], recipe: Recipe) -> TextSet:
    parts = [splits[p][0].sample(recipe.benign_per_pool, seed=recipe.seed) for p in jailbreak.BENIGN_POOLS]
    jack = splits["jackhhao"][0].where(lambda t, label, s: label == "benign")
    cap = recipe.max_per_source
    if cap is not None:
        jack = jack.sample(cap, seed=recipe.seed)
    parts += [jack, splits["alarming_safe"][0], splits["benign_instructions"][0]]
    bases = splits["benign_instructions"][0] + splits["alarming_safe"][0]
    tasks = attacks.generate("tasks", bases.texts, 400 if cap is None else cap, recipe.seed, None)
    parts.append(TextSet.of(tasks, "benign", "benign_tasks"))
    return TextSet.concat(parts).relabel("benign")


def datasets(
    recipe: Recipe = Recipe(), root: str | Path | None = None, splits: Mapping | None = None
) -> tuple[TextSet, TextSet]:
    """(fit, validation) rows labelled with LABELS. Validation: 20% of the natural rows (by hash) and
    generated rows from the other half of the templates."""
    splits = splits or jailbreak.natural_splits(root)
    natural = _harmful_rows(splits, root) + _benign_rows(splits, recipe)
    fit, val = natural.split(recipe.val_fraction, salt="harm-val")
    fit = fit + _generated(recipe, 0, 1.0)
    val = val + _generated(recipe, 1, recipe.val_fraction * 2)
    return fit.deduplicate(), val.deduplicate().without(fit)


def _weights(data: TextSet, recipe: Recipe) -> list[float]:
    """Safe-but-alarming rows weighted up (over-blocking), natural harmful rows too (they are few)."""
    alarming = ("alarming_safe", "safe_templates")
    natural = ("advbench", "harmful_requests")
    return [
        recipe.alarming_weight
        if s.startswith(alarming)
        else recipe.natural_weight
        if s.startswith(natural)
        else 1.0
        for s in data.sources
    ]


def to_privacy(data: TextSet) -> TextSet:
    """The harm rows relabelled for the privacy classifier: `intrusion` for privacy, else `none`."""
    labels = ["intrusion" if label == "privacy" else "none" for label in data.labels]
    return TextSet(list(data.texts), labels, list(data.sources))


DEFAULT_PARAMS: dict[str, Any] = {
    "hidden": 128,
    "C": 3.0,
    "features": (),
    "lexical": 0.3,
    "lexical_C": 3.0,
    "max_iter": 200,
}


def p_positive(proba: np.ndarray, classes: Sequence[str], negative: str) -> np.ndarray:
    """P(not `negative`) per row."""
    return 1.0 - np.atleast_2d(proba)[:, list(classes).index(negative)]


def decide(
    proba: np.ndarray, classes: Sequence[str], threshold: float, negative: str = "benign"
) -> list[str]:
    """The most likely other class when P(not `negative`) reaches `threshold`, else `negative`."""
    proba = np.atleast_2d(proba)
    cols = [i for i, c in enumerate(classes) if c != negative]
    worst = np.asarray(cols)[proba[:, cols].argmax(axis=1)]
    p = p_positive(proba, classes, negative)
    return [classes[w] if q >= threshold else negative for w, q in zip(worst, p)]


def calibrate(p_safe: np.ndarray, bound: float, floor: float = 0.5) -> float:
    """The lowest threshold (at least `floor`) that flags at most `bound` of the safe validation rows."""
    if len(p_safe) == 0:
        return floor
    return float(max(floor, np.quantile(p_safe, 1.0 - bound) + 1e-4))


def _train(
    kind: str,
    root: str | Path | None,
    encoder: Encoder | None,
    recipe: Recipe,
    params: Mapping[str, Any] | None,
    progress: bool,
) -> TextClassifier:
    encoder = training.resolve_encoder(encoder)
    fit, val = datasets(recipe, root)
    negative = "benign"
    if kind == "privacy":
        fit, val, negative = to_privacy(fit), to_privacy(val), "none"
    recipe_info = {"recipe": asdict(recipe)}
    clf = training.fit(
        kind,
        {**DEFAULT_PARAMS, **(params or {})},
        fit,
        encoder,
        weights=_weights(fit, recipe),
        progress=progress,
        info=recipe_info,
    )
    proba = clf.predict_proba(training.embed(val.texts, encoder, progress))
    p = p_positive(proba, clf.classes_, negative)
    # Over-block is bounded on every safe validation row; privacy also on other harm (not an intrusion).
    safe = np.array([label == negative for label in val.labels])
    bound = recipe.privacy_bound if kind == "privacy" else recipe.overblock_bound
    threshold = calibrate(p[safe], bound, recipe.floor)
    positive = ~safe
    clf.info_.update(
        threshold=round(threshold, 4),
        validation={
            "rows": len(val),
            "flagged_safe": round(float(np.mean(p[safe] >= threshold)), 4),
            "recall": round(float(np.mean(p[positive] >= threshold)), 4) if positive.any() else None,
        },
    )
    return clf


def train(
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    recipe: Recipe = Recipe(),
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> TextClassifier:
    """The harm-category classifier, its threshold calibrated on the validation split."""
    return _train("harm", root, encoder, recipe, params, progress)


def train_privacy(
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    recipe: Recipe = Recipe(),
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> TextClassifier:
    """The privacy-intrusion classifier (none / intrusion), its threshold calibrated likewise."""
    return _train("privacy", root, encoder, recipe, params, progress)


# -- held-out evaluation -------------------------------------------------------------------------------------
# harmful_behaviors test categories (HarmBench, StrongREJECT, JailbreakBench) -> harm categories; None: mixed
TEST_CATEGORIES: dict[str, str | None] = {
    "Non-violent crimes": "crime",
    "Violence": "violence",
    "Disinformation and deception": "deception",
    "Hate, harassment and discrimination": "hate",
    "Illegal goods and services": "crime",
    "Sexual content": "sexual",
    "illegal": "crime",
    "cybercrime_intrusion": "crime",
    "misinformation_disinformation": "deception",
    "chemical_biological": "weapons",
    "harmful": None,
    "harassment_bullying": "hate",
    "Harassment/Discrimination": "hate",
    "Malware/Hacking": "crime",
    "Physical harm": "violence",
    "Economic harm": "crime",
    "Fraud/Deception": "crime",
    "Disinformation": "deception",
    "Sexual/Adult content": "sexual",
    "Privacy": "privacy",
    "Expert advice": None,
    "Government decision-making": None,
}


def test_categories(root: str | Path | None = None) -> list[tuple[str, str]]:
    """(instruction, upstream category) of the harmful_behaviors test split, de-duplicated."""
    from pointsman.data import guard_sets as gs
    from pointsman.data.errors import DataFormatError

    path = gs.guard_root(root) / "jailbreak" / "harmful_behaviors" / "harmful_test.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, str]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("instruction"), str):
            raise DataFormatError(path, f"row {i}", "expected an object with a string 'instruction'")
        key = " ".join(row["instruction"].lower().split())
        out.setdefault(key, (row["instruction"], str(row.get("category") or "")))
    return list(out.values())


def heldout_sets(root: str | Path | None = None) -> dict[str, TextSet]:
    """Held-out sets from sources not used in training: the harmful_behaviors test split by upstream
    category (harmful, whatever category predicted), and benign held-out pools (the jailbreak splits' test
    side: CLINC150, Banking77, WebQuestions, LLMRouter, jackhhao benign, and the alarming-safe third)."""
    out: dict[str, TextSet] = {}
    for text, upstream in test_categories(root):
        cat = TEST_CATEGORIES.get(upstream) or "mixed"
        out[f"harmful/{cat}"] = out.get(f"harmful/{cat}", TextSet()) + TextSet.of([text], "harmful", upstream)
    splits = jailbreak.natural_splits(root)
    for name in (*jailbreak.BENIGN_POOLS, "alarming_safe"):
        out[f"{name}/test"] = splits[name][1].relabel("benign")
    jack = splits["jackhhao"][1].where(lambda t, label, s: label == "benign")
    out["jackhhao_benign/test"] = jack.relabel("benign")
    return out


def evaluate(
    clf: TextClassifier,
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    threshold: float | None = None,
    sets: Mapping[str, TextSet] | None = None,
    progress: bool = False,
) -> Evaluation:
    """Harmful-vs-benign on the held-out sets (any harm category counts as harmful); for the privacy kind
    only `harmful/privacy` counts as positive, the other harmful sets as negatives."""
    negative = "none" if "none" in clf.classes_ else "benign"
    if sets is None:
        sets = heldout_sets(root)
        if negative == "none":
            sets = {n: d if n == "harmful/privacy" else d.relabel("benign") for n, d in sets.items()}
    encoder = training.resolve_encoder(encoder)
    threshold = threshold if threshold is not None else float(clf.info_.get("threshold", 0.5))
    names, truth, pred = [], [], []
    for name, data in sets.items():
        proba = clf.predict_proba(training.embed(data.texts, encoder, progress))
        labels = decide(proba, clf.classes_, threshold, negative)
        names.append(name)
        truth.append(["benign" if lab in ("benign", "none") else "harmful" for lab in data.labels])
        pred.append(["benign" if lab == negative else "harmful" for lab in labels])
    return evaluate_sets(
        clf.info_.get("kind", "harm"),
        names,
        truth,
        pred,
        ["benign", "harmful"],
        positive=("harmful", frozenset({"harmful"})),
    )

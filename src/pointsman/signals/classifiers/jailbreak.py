"""Jailbreak / harmful-request / prompt-injection detection: what it is trained and measured on.

Four classes: `benign`, `harmful` (a plainly harmful request), `jailbreak` (an attempt to get around the
model's rules: persona and "no rules" wrappers, adversarial suffixes, in-the-wild DAN prompts) and
`injection` (instructions planted in content to override the system prompt). A safety rule blocks on
P(unsafe) = 1 - P(benign).

Sources (each with a train side and a held-out side that never shares a normalised text with it):
jackhhao (benign incl. role-play, jailbreak), harmful_behaviors (train+val / test), benign pools (CLINC150,
Banking77, WebQuestions, LLMRouter prompts), two hand-written sets shipped in the package (safe prompts
that sound alarming; plain benign instructions), and attack variants generated from the harmful requests
(see attacks.py), with paraphrase templates also applied to benign requests so a wrapper alone is no signal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pointsman.data import guard_sets as gs
from pointsman.data.errors import DataFormatError
from pointsman.data.guard_sets import TextSet
from pointsman.signals.classifiers import attacks, training
from pointsman.signals.classifiers.evaluation import Evaluation, evaluate_sets
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.text.encoder import Encoder

LABELS = ("benign", "harmful", "jailbreak", "injection")
UNSAFE = frozenset(LABELS[1:])
DATA_DIR = Path(__file__).parent / "data"
# Generated families: (family, label of the variants, what they are built on).
FAMILY_LABELS = {
    "suffix": "jailbreak",
    "roleplay": "jailbreak",
    "paraphrase": "harmful",
    "injection": "injection",
}
BENIGN_POOLS = ("clinc", "banking77", "webquestions", "llmrouter")
# Generated benign sets: name -> generator (see attacks.py).
BENIGN_GENERATED = {"paraphrase_benign": "rephrase", "benign_tasks": "tasks"}
GENERATED = (*attacks.FAMILIES, *BENIGN_GENERATED)
# Natural sources and generated sets, by the name `exclude` and the reports use.
SOURCES = (
    "jackhhao",
    "harmful",
    "clinc",
    "banking77",
    "webquestions",
    "llmrouter",
    "alarming_safe",
    "benign_instructions",
    "harmful_requests",
    *GENERATED,
)


@dataclass(frozen=True)
class Recipe:
    """How the training set is put together.

    - `benign_per_pool`: rows drawn from each large benign pool (CLINC, Banking77, WebQuestions, LLMRouter).
    - `per_family`: generated variants per attack family (and benign paraphrases).
    - `exclude`: sources left out of training, by name ("roleplay"), name and label ("jackhhao:benign") or
      name and category ("alarming_safe/tech").
    - `template_half`: 0 or 1 to train on one half of each family's templates (the other half is unseen).
    - `alarming_weight`: sample weight of the hand-written alarming-but-safe prompts.
    - `max_per_source`: cap on the rows from each other source (None: all; small values for quick runs).
    """

    benign_per_pool: int = 1000
    per_family: int = 400
    exclude: tuple[str, ...] = ()
    template_half: int | None = None
    alarming_weight: float = 5.0
    max_per_source: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for item in self.exclude:
            if item.split(":")[0].split("/")[0] not in SOURCES:
                raise ValueError(f"exclude {item!r}: unknown source; known: {', '.join(SOURCES)}")


HAND_WRITTEN = {  # name: (file, label); .tsv files hold "category<TAB>prompt", .txt one prompt a line
    "alarming_safe": ("alarming_safe.tsv", "benign"),
    "benign_instructions": ("benign_instructions.txt", "benign"),
    "harmful_requests": ("harmful_requests.tsv", "harmful"),
}


def hand_written(name: str) -> TextSet:
    """A hand-written set shipped in the package; source `name/category` (tsv) or `name` (txt)."""
    file_name, label = HAND_WRITTEN[name]
    path = DATA_DIR / file_name
    out = TextSet()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if path.suffix == ".tsv":
            category, sep, text = line.partition("\t")
            if not (sep and category.strip() and text.strip()):
                raise DataFormatError(path, f"line {lineno}", "expected 'category<TAB>prompt'")
            out.sources.append(f"{name}/{category.strip()}")
        else:
            text = line
            out.sources.append(name)
        out.texts.append(text.strip())
        out.labels.append(label)
    return out


def natural_splits(
    root: str | Path | None = None, benign_test: int = 500
) -> dict[str, tuple[TextSet, TextSet]]:
    """{source: (train, held-out)} for every non-generated source, labelled with LABELS."""
    clinc_train = gs.load_clinc("train", root) + gs.load_clinc("oos_train", root)
    clinc_test = gs.load_clinc("test", root) + gs.load_clinc("oos_test", root)
    llm_train, llm_test = gs.load_llmrouter_prompts(root).split(0.2, salt="jailbreak")
    pools = {
        "jackhhao": gs.jackhhao_splits(root),
        "harmful": (
            gs.load_harmful("train", root) + gs.load_harmful("val", root),
            gs.load_harmful("test", root),
        ),
        "clinc": (clinc_train, clinc_test),
        "banking77": (gs.load_banking77("train", root), gs.load_banking77("test", root)),
        "webquestions": (gs.load_webquestions("train", root), gs.load_webquestions("test", root)),
        "llmrouter": (llm_train, llm_test),
        **{name: hand_written(name).split(1 / 3, salt=name) for name in HAND_WRITTEN},
    }
    out = {}
    for name, (train, test) in pools.items():
        train, test = train.deduplicate(), test.deduplicate()
        train = train.without(test)
        if name in BENIGN_POOLS:
            train, test = train.relabel("benign"), test.relabel("benign")
        if name in BENIGN_POOLS:
            test = test.sample(benign_test, seed=1)
        out[name] = (train, test)
    return out


def _generated(name: str, bases: TextSet, carriers: TextSet, n: int, seed: int, half: int | None) -> TextSet:
    if name in BENIGN_GENERATED:
        return TextSet.of(
            attacks.generate(BENIGN_GENERATED[name], bases.texts, n, seed, half), "benign", name
        )
    source = carriers if name == "injection" else bases
    return TextSet.of(attacks.generate(name, source.texts, n, seed, half), FAMILY_LABELS[name], name)


def training_set(
    recipe: Recipe, root: str | Path | None = None, splits: dict[str, tuple[TextSet, TextSet]] | None = None
) -> tuple[TextSet, list[float]]:
    """(texts with labels, sample weights) for `recipe`."""
    splits = splits or natural_splits(root)
    parts = []
    for name, (train, _) in splits.items():
        if name in BENIGN_POOLS:
            train = train.sample(recipe.benign_per_pool, seed=recipe.seed)
        elif recipe.max_per_source is not None:
            train = train.sample(recipe.max_per_source, seed=recipe.seed)
        parts.append(train)
    harmful = splits["harmful"][0] + splits["harmful_requests"][0]
    benign_requests = splits["benign_instructions"][0] + splits["alarming_safe"][0]
    carriers = _carriers(splits, train=True)
    for i, name in enumerate(GENERATED):
        bases = benign_requests if name in BENIGN_GENERATED else harmful
        parts.append(
            _generated(name, bases, carriers, recipe.per_family, recipe.seed + i, recipe.template_half)
        )
    data = _exclude(TextSet.concat(parts), recipe.exclude)
    weights = [recipe.alarming_weight if s.startswith("alarming_safe") else 1.0 for s in data.sources]
    return data, weights


def heldout_sets(
    root: str | Path | None = None,
    splits: dict[str, tuple[TextSet, TextSet]] | None = None,
    per_family: int = 300,
    template_half: int | None = None,
) -> dict[str, TextSet]:
    """{name: labelled held-out set}: each source's held-out side, and attack variants generated from the
    held-out harmful requests (with `template_half`, only from that half of the templates), and rewordings
    of the held-out benign requests. (Generated benign tasks have no held-out side: their topics are few.)"""
    splits = splits or natural_splits(root)
    out = {f"{name}/test": test for name, (_, test) in splits.items()}
    harmful = splits["harmful"][1] + splits["harmful_requests"][1]
    benign_requests = splits["benign_instructions"][1] + splits["alarming_safe"][1]
    carriers = _carriers(splits, train=False)
    for i, name in enumerate(GENERATED):
        if name == "benign_tasks":
            continue
        bases = benign_requests if name in BENIGN_GENERATED else harmful
        out[f"{name}/test"] = _generated(name, bases, carriers, per_family, 1000 + i, template_half)
    return out


def _carriers(splits: dict[str, tuple[TextSet, TextSet]], train: bool) -> TextSet:
    """Ordinary texts an injection is planted in: benign jackhhao prompts, questions, task prompts."""
    side = 0 if train else 1
    jack = splits["jackhhao"][side].where(lambda t, label, s: label == "benign" and len(t) < 1500)
    return jack + splits["webquestions"][side].sample(300) + splits["llmrouter"][side].sample(300)


def _exclude(data: TextSet, exclude: Sequence[str]) -> TextSet:
    if not exclude:
        return data

    def keep(text: str, label: str, source: str) -> bool:
        name = source.split("/")[0]
        return not any(item in (name, source, f"{name}:{label}") for item in exclude)

    return data.where(keep)


# -- training and evaluation ---------------------------------------------------------------------------------

DEFAULT_PARAMS: dict[str, Any] = {
    "hidden": 128,
    "C": 3.0,
    "features": ("shape",),
    "lexical": 0.5,
    "lexical_C": 3.0,
    "max_iter": 200,
}
DEFAULT_THRESHOLD = 0.5


def decide(proba: np.ndarray, classes: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """Labels from class probabilities: the most likely unsafe class when P(unsafe) = 1 - P(benign) reaches
    `threshold`, else "benign"."""
    proba = np.atleast_2d(proba)
    benign = classes.index("benign")
    unsafe_cols = [i for i, c in enumerate(classes) if c != "benign"]
    p_unsafe = 1.0 - proba[:, benign]
    worst = np.asarray(unsafe_cols)[proba[:, unsafe_cols].argmax(axis=1)]
    return [classes[w] if p >= threshold else "benign" for w, p in zip(worst, p_unsafe)]


def train(
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    recipe: Recipe = Recipe(),
    params: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> TextClassifier:
    """The jailbreak / harmful / injection classifier, trained on the train side of every source."""
    data, weights = training_set(recipe, root)
    return training.fit(
        "jailbreak",
        {**DEFAULT_PARAMS, **(params or {})},
        data,
        training.resolve_encoder(encoder),
        weights=weights,
        progress=progress,
        info={"recipe": asdict(recipe), "threshold": DEFAULT_THRESHOLD},
    )


def evaluate(
    clf: TextClassifier,
    root: str | Path | None = None,
    encoder: Encoder | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    sets: Mapping[str, TextSet] | None = None,
    progress: bool = False,
) -> Evaluation:
    """Unsafe-vs-benign accuracy/F1 and the 4-class confusion on the held-out sets."""
    sets = sets if sets is not None else heldout_sets(root)
    encoder = training.resolve_encoder(encoder)
    names, truth, pred = [], [], []
    for name, data in sets.items():
        proba = clf.predict_proba(training.embed(data.texts, encoder, progress))
        names.append(name)
        truth.append(data.labels)
        pred.append(decide(proba, clf.classes_, threshold))
    return evaluate_sets("jailbreak", names, truth, pred, list(LABELS), positive=("unsafe", UNSAFE))

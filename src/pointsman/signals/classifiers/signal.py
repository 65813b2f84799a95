"""The trained classifiers as Signals (configurable as `type: domain | difficulty | jailbreak | ood`).

Each reads the request embedding the runner shares (of the last user message) plus cheap features of the
same text, so one request costs one small matrix product. Values:

- `domain` (label): the most likely task (e.g. `math`, `mbpp`); confidence: its probability.
- `difficulty` (number): P(hard), the strong model right where the cheap one is wrong; confidence
  max(p, 1 - p).
- `jailbreak` (label): `benign`, or the likeliest of `harmful` / `jailbreak` / `injection` when P(unsafe)
  reaches `threshold`; confidence: P(benign) or P(unsafe).
- `ood` (label): the likeliest configured domain, or `out_of_domain` when P(in domain) is under `threshold`;
  confidence: that side's probability.
- `harm` (label): `benign`, or the likeliest harm category (violence, weapons, self_harm, crime, hate,
  privacy, sexual, sexual_minors, extremism, deception) when P(harmful) reaches `threshold`.
- `privacy` (label): `none`, or `intrusion` (a request for personal data about a specific person) when
  P(intrusion) reaches `threshold`.
`threshold` omitted: the one the model file was calibrated with (harm, privacy), else 0.5.

`scores` carry every class probability (and `unsafe` / `in_domain` for the binary decisions).
```yaml
signals:
  safety: {type: jailbreak, threshold: 0.5}                  # model: omitted -> trained on first use
  scope:  {type: ood, model: models/my-domains.npz, threshold: 0.5}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Hashable, Literal

import numpy as np
from pydantic import Field

from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind
from pointsman.signals.classifiers import harm, jailbreak, ood
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.signals.classifiers.routing import HARD
from pointsman.signals.config import BuildContext, SpecBase, register_signal_type


class ClassifierSignal(Signal):
    """Base: holds a TextClassifier trained as `expected_kind`; subclasses turn probabilities into a value."""

    expected_kind: ClassVar[str]
    needs_embedding = True
    budget_ms = 5.0

    def __init__(self, name: str, classifier: TextClassifier, *, threshold: float = 0.5) -> None:
        super().__init__(name)
        trained_as = classifier.info_.get("kind")
        if trained_as not in (None, self.expected_kind):
            raise ValueError(f"the model file holds a {trained_as!r} classifier, not {self.expected_kind!r}")
        self.classifier = classifier
        self.threshold = threshold
        self.classes = list(classifier.classes_)

    def cache_key(self, view: RequestView) -> Hashable | None:
        return view.last_user_key  # the embedding and the features are of the last user message

    def compute(self, view: RequestView) -> SignalResult:
        embedding = view.embedding
        if embedding is None:
            raise RuntimeError("the request embedding was not computed")
        proba = self.classifier.proba_one(embedding, view.embedding_text)
        scores = {c: round(float(p), 4) for c, p in zip(self.classes, proba)}
        return self.result(proba, scores)

    def result(self, proba: np.ndarray, scores: dict[str, float]) -> SignalResult:
        raise NotImplementedError


class DomainSignal(ClassifierSignal):
    kind = ValueKind.LABEL
    expected_kind = "domain"

    def result(self, proba: np.ndarray, scores: dict[str, float]) -> SignalResult:
        best = int(np.argmax(proba))
        return SignalResult(self.classes[best], float(proba[best]), scores)


class DifficultySignal(ClassifierSignal):
    kind = ValueKind.NUMBER
    expected_kind = "difficulty"

    def result(self, proba: np.ndarray, scores: dict[str, float]) -> SignalResult:
        p = float(proba[self.classes.index(HARD)])
        return SignalResult(round(p, 4), max(p, 1.0 - p), scores)


class JailbreakSignal(ClassifierSignal):
    kind = ValueKind.LABEL
    expected_kind = "jailbreak"

    def result(self, proba: np.ndarray, scores: dict[str, float]) -> SignalResult:
        label = jailbreak.decide(proba, self.classes, self.threshold)[0]
        p_unsafe = 1.0 - float(proba[self.classes.index("benign")])
        scores["unsafe"] = round(p_unsafe, 4)
        return SignalResult(label, p_unsafe if label != "benign" else 1.0 - p_unsafe, scores)


class OodSignal(ClassifierSignal):
    kind = ValueKind.LABEL
    expected_kind = "ood"

    def result(self, proba: np.ndarray, scores: dict[str, float]) -> SignalResult:
        p_in = 1.0 - float(proba[self.classes.index(ood.OUT)])
        scores["in_domain"] = round(p_in, 4)
        label = ood.decide(proba, self.classes, self.threshold)[0]
        return SignalResult(label, 1.0 - p_in if label == ood.OUT else p_in, scores)


class HarmSignal(ClassifierSignal):
    kind = ValueKind.LABEL
    expected_kind = "harm"
    negative = "benign"
    score_name = "harmful"

    def result(self, proba: np.ndarray, scores: dict[str, float]) -> SignalResult:
        label = harm.decide(proba, self.classes, self.threshold, self.negative)[0]
        p = float(harm.p_positive(proba, self.classes, self.negative)[0])
        scores[self.score_name] = round(p, 4)
        return SignalResult(label, p if label != self.negative else 1.0 - p, scores)


class PrivacySignal(HarmSignal):
    expected_kind = "privacy"
    negative = "none"
    score_name = "intrusion"


SIGNALS: dict[str, type[ClassifierSignal]] = {
    "domain": DomainSignal,
    "difficulty": DifficultySignal,
    "jailbreak": JailbreakSignal,
    "ood": OodSignal,
    "harm": HarmSignal,
    "privacy": PrivacySignal,
}


class ClassifierSpec(SpecBase):
    """`model`: a trained file (relative paths against the config's folder); omitted: the built-in model,
    trained from the shared data on first use and cached. `threshold`: the decision threshold (jailbreak:
    on P(unsafe); ood: on P(in domain); harm, privacy: on P(harmful), P(intrusion)); omitted: the model's
    calibrated one, else 0.5. `budget_ms`: the runner's time budget."""

    type: Literal["domain", "difficulty", "jailbreak", "ood", "harm", "privacy"]
    model: Path | None = None
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    budget_ms: float = Field(5.0, gt=0.0)


def build_classifier_signal(name: str, spec: ClassifierSpec, ctx: BuildContext) -> ClassifierSignal:
    from pointsman.signals.classifiers.store import ensure_trained

    if spec.model is None:
        path = ensure_trained(spec.type)
    else:
        path = spec.model if spec.model.is_absolute() else ctx.base_dir / spec.model
    classifier = TextClassifier.load(path)
    encoder_id = getattr(ctx.encoder(), "id", None)
    if encoder_id != classifier.encoder_id_:
        raise ValueError(
            f"{path}: trained on {classifier.encoder_id_} embeddings, but requests are embedded "
            f"with {encoder_id}"
        )
    threshold = spec.threshold
    if threshold is None:
        threshold = float(classifier.info_.get("threshold", 0.5))
    signal = SIGNALS[spec.type](name, classifier, threshold=threshold)
    signal.budget_ms = spec.budget_ms
    return signal


def _register() -> None:
    for type_name in SIGNALS:
        register_signal_type(type_name, ClassifierSpec, build_classifier_signal)


_register()

"""TextClassifier: a small classifier over the request embedding plus cheap text features.

scikit-learn's estimator shape, like the routers: hyper-parameters in `__init__` (no work there),
`fit(inputs, labels) -> self`, `predict_proba(inputs) -> (n, k)`, `save`/`load` to a versioned `.npz` with a
JSON header (no pickle). scikit-learn fits the weights; prediction is plain numpy, so one request with its
embedding already computed costs tens of microseconds.

Optionally a second, lexical view (`lexical` > 0): softmax regression over hashed word n-grams of the whole
text, mixed into the probabilities. It reads words the mean-pooled embedding blurs ("Python process" next
to "kill") and the parts of long prompts past the embedding's 256 word pieces.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from pointsman.npzfile import read_npz, write_npz
from pointsman.routers.base import Queries
from pointsman.signals.classifiers import features as feats
from pointsman.text.encoder import Encoder

FILE_FORMAT = "pointsman-classifier"
FILE_VERSION = 1


class ClassifierFileError(ValueError):
    """A classifier file that cannot be read: wrong format, version or content."""


Inputs = Queries | Sequence[str]


class TextClassifier:
    """Softmax regression (`hidden=0`) or a one-hidden-layer ReLU network over [embedding, features].

    - `hidden`: width of the hidden layer; 0 for a linear model.
    - `C`: inverse L2 strength (linear) / `1 / alpha` (network).
    - `features`: names of cheap text feature sets (see `features.FEATURES`) appended to the embedding.
    - `lexical`: weight in [0, 1) of the lexical view in the mixed probabilities (0: none);
      `lexical_C`, `lexical_bits`: its inverse L2 strength and hash width (2**bits buckets).
    - `balanced`: weight classes inversely to their frequency.
    - `max_iter`, `seed`: optimiser budget and seed.
    """

    def __init__(
        self,
        hidden: int = 0,
        C: float = 1.0,
        features: Sequence[str] = (),
        lexical: float = 0.0,
        lexical_C: float = 3.0,
        lexical_bits: int = 18,
        balanced: bool = True,
        max_iter: int = 500,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.C = C
        self.features = tuple(features)
        self.lexical = lexical
        self.lexical_C = lexical_C
        self.lexical_bits = lexical_bits
        self.balanced = balanced
        self.max_iter = max_iter
        self.seed = seed

    # -- parameters ---------------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # -- fit / predict ------------------------------------------------------------------------------

    def fit(
        self,
        inputs: Inputs,
        labels: Sequence[str],
        sample_weight: Sequence[float] | np.ndarray | None = None,
        encoder: Encoder | None = None,
    ) -> TextClassifier:
        """Fit on texts (embedded with `encoder` unless `inputs` carries embeddings) and their labels."""
        if not 0.0 <= self.lexical < 1.0:
            raise ValueError(f"lexical={self.lexical}: the lexical view's weight must be in [0, 1)")
        queries, emb, encoder_id = _embedded(inputs, encoder)
        labels = list(labels)
        if len(labels) != len(queries):
            raise ValueError(f"{len(labels)} labels for {len(queries)} texts")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"need at least two classes to fit, got {classes}")
        y = np.array([classes.index(lab) for lab in labels])
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.balanced:
            counts = np.bincount(y, weights=w, minlength=len(classes))
            w = w * (counts.sum() / (len(classes) * counts))[y]
        x = self._design(queries.texts, emb)
        self.mean_ = x.mean(axis=0).astype(np.float32)
        self.scale_ = np.maximum(x.std(axis=0), 1e-6).astype(np.float32)
        xs = (x - self.mean_) / self.scale_
        # One BLAS thread: on a shared 2-core machine more only contend (jailbreak fit: 32 s vs 62 s).
        with threadpool_limits(1):
            self.layers_ = self._train(xs, y, w / w.mean(), len(classes))
            self.lexicon_ = (
                self._train_lexical(queries.texts, y, w / w.mean(), len(classes)) if self.lexical else None
            )
        self.classes_ = classes
        self.encoder_id_ = encoder_id
        self.info_: dict[str, Any] = {}
        return self

    def _train(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray, k: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W, b), ...] with logits = relu(x W1 + b1) W2 + b2 (or x W + b)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.hidden == 0:
                est = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
                est.fit(x, y, sample_weight=w)
                layers = [(est.coef_.T, est.intercept_)]
            else:
                est = MLPClassifier(
                    hidden_layer_sizes=(self.hidden,),
                    alpha=1.0 / self.C,
                    max_iter=self.max_iter,
                    random_state=self.seed,
                    early_stopping=False,
                )
                est.fit(x, y, sample_weight=w)
                layers = list(zip(est.coefs_, est.intercepts_))
        layers[-1] = _k_logits(*layers[-1], k)
        return [(np.asarray(wt, np.float32), np.asarray(b, np.float32)) for wt, b in layers]

    def _train_lexical(self, texts: Sequence[str], y: np.ndarray, w: np.ndarray, k: int) -> Lexicon:
        from sklearn.linear_model import LogisticRegression

        x = feats.ngram_matrix(texts, self.lexical_bits)
        est = LogisticRegression(C=self.lexical_C, max_iter=2000, random_state=self.seed).fit(
            x, y, sample_weight=w
        )
        coef, bias = _k_logits(est.coef_.T, est.intercept_, k)
        used = np.unique(x.indices)  # buckets no training text hit have zero weight: not stored
        return Lexicon(used.astype(np.int64), coef[used].astype(np.float32), bias.astype(np.float32))

    def predict_proba(self, inputs: Inputs, encoder: Encoder | None = None) -> np.ndarray:
        """(n, len(classes_)) class probabilities."""
        self._check_fitted()
        queries, emb, encoder_id = _embedded(inputs, encoder, self.encoder_id_)
        return self._mix(self._proba(self._design(queries.texts, emb)), queries.texts)

    def predict(self, inputs: Inputs, encoder: Encoder | None = None) -> list[str]:
        return [self.classes_[i] for i in self.predict_proba(inputs, encoder).argmax(axis=1)]

    def proba_one(self, embedding: np.ndarray, text: str) -> np.ndarray:
        """Class probabilities of one text whose embedding is already computed (the serving path)."""
        x = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        if self.features:
            x = np.hstack([x, feats.extract(self.features, [text])])
        return self._mix(self._proba(x), [text])[0]

    def _mix(self, proba: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        if self.lexicon_ is None:
            return proba
        lexical = np.stack([self.lexicon_.logits(t, self.lexical_bits) for t in texts])
        return (1.0 - self.lexical) * proba + self.lexical * _softmax(lexical)

    def _design(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        return np.hstack([emb, feats.extract(feats.feature_names(self.features), texts)]).astype(np.float32)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean_) / self.scale_
        for i, (w, b) in enumerate(self.layers_):
            h = h @ w + b
            if i < len(self.layers_) - 1:
                np.maximum(h, 0.0, out=h)
        return _softmax(h)

    def _check_fitted(self) -> None:
        if not hasattr(self, "layers_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(...) first")

    # -- files ---------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        header = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "params": self.get_params(),
            "classes": self.classes_,
            "encoder_id": self.encoder_id_,
            "info": self.info_,
        }
        arrays = {"mean": self.mean_, "scale": self.scale_}
        for i, (w, b) in enumerate(self.layers_):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        if self.lexicon_ is not None:
            arrays["lex_buckets"], arrays["lex_w"], arrays["lex_b"] = self.lexicon_
        return write_npz(path, header, arrays)

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        header, arrays = read_npz(path, FILE_FORMAT, FILE_VERSION, ClassifierFileError, "classifier")
        try:
            params = dict(header["params"])
            params["features"] = tuple(params.get("features", ()))
            clf = cls(**params)
            feats.feature_names(clf.features)
            clf.classes_ = [str(c) for c in header["classes"]]
            clf.encoder_id_ = header["encoder_id"]
            clf.info_ = dict(header.get("info") or {})
            clf.mean_, clf.scale_ = arrays["mean"], arrays["scale"]
            n_layers = sum(1 for k in arrays if k.startswith("w"))
            clf.layers_ = [(arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(n_layers)]
            clf.lexicon_ = (
                Lexicon(arrays["lex_buckets"], arrays["lex_w"], arrays["lex_b"]) if clf.lexical else None
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ClassifierFileError(f"{path}: bad classifier state: {exc}") from exc
        k, lex = len(clf.classes_), clf.lexicon_
        if (
            not clf.layers_
            or clf.layers_[0][0].shape[0] != clf.mean_.shape[0]
            or clf.layers_[-1][0].shape[1] != k
            or (lex is not None and (lex.weights.shape != (len(lex.buckets), k) or lex.bias.shape != (k,)))
        ):
            raise ClassifierFileError(f"{path}: bad classifier state: weight shapes do not match the header")
        return clf


class Lexicon(NamedTuple):
    """The lexical view's weights for the hash buckets seen in training (sorted), and its biases."""

    buckets: np.ndarray  # (u,) int64, sorted
    weights: np.ndarray  # (u, k)
    bias: np.ndarray  # (k,)

    def logits(self, text: str, bits: int) -> np.ndarray:
        idx, values = feats.ngram_counts(text, bits)
        pos = np.searchsorted(self.buckets, idx)
        pos = np.minimum(pos, len(self.buckets) - 1)
        hit = self.buckets[pos] == idx
        return values[hit] @ self.weights[pos[hit]] + self.bias


def _k_logits(w: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn fits one logit z for two classes: make it two, (0, z), whose softmax is sigmoid(z)."""
    if k == 2 and w.shape[1] == 1:
        return np.hstack([np.zeros_like(w), w]), np.concatenate([[0.0], b])
    return w, b


def _softmax(h: np.ndarray) -> np.ndarray:
    h = h - h.max(axis=1, keepdims=True)
    np.exp(h, out=h)
    return h / h.sum(axis=1, keepdims=True)


def _embedded(
    inputs: Inputs, encoder: Encoder | None, want_id: str | None = None
) -> tuple[Queries, np.ndarray, str]:
    """(queries, embeddings, encoder id): embeddings carried by `inputs`, else computed with `encoder`."""
    queries = Queries.of(inputs)
    if queries.embeddings is not None:
        emb = np.asarray(queries.embeddings, dtype=np.float32)
        if emb.shape[0] != len(queries):
            raise ValueError(f"{emb.shape[0]} embeddings for {len(queries)} texts")
        encoder_id = queries.encoder_id or want_id or "unknown"
    else:
        if encoder is None:
            from pointsman.signals.classifiers.embed import default_encoder

            encoder = default_encoder(want_id)
        emb, encoder_id = encoder.encode(queries.texts), encoder.id
    if want_id is not None and encoder_id not in (want_id, "unknown"):
        raise ValueError(f"embeddings from {encoder_id!r}, but the classifier was trained on {want_id!r}")
    return queries, emb, encoder_id

"""Answer scorers: `score(prompt, answer, context) -> P(the answer is good)`.

One contract for every kind, scikit-learn shaped like the routers: hyper-parameters in `__init__`,
`fit(examples) -> self` on scored answers (`ScoringExamples`, built from routing data with responses),
`score` / `score_many`, and `save` / `load` to a versioned `.npz` file (no pickle). A "good" answer is one
whose quality score is high: continuous scores (F1, coverage) are fitted as soft labels, so P(good) is
the expected quality of the answer.

- `agreement`: how many other models' answers to the same prompt have the same final answer
  (`answers.final_answer`), per model, through a logistic link;
- `learned`: a logistic model on hashed bag-of-words embeddings of the prompt and of the answer, the answer's
  surface facts (length, hedging, refusal, cut-off, format), the model, and optionally the agreement
  features and the mean token log-probability (when the data or backend has it);
- `logprob`: the answer's mean token log-probability through a per-model logistic link.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import sparse

from pointsman.cascade.answers import N_FACTS, agreement, answer_facts
from pointsman.data.dataset import RoutingDataset
from pointsman.npzfile import read_npz, write_npz

FILE_FORMAT = "pointsman-scorer"
FILE_VERSION = 1


class ScorerFileError(ValueError):
    """A scorer file that cannot be read."""


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """What a scorer may know besides the prompt and the answer."""

    model: str
    others: tuple[str, ...] = ()  # other models' answers to the same prompt (earlier cascade steps)
    completion_tokens: int | None = None
    logprob: float | None = None  # mean token log-probability of the answer, when the backend gave it


@dataclass
class ScoringExamples:
    """Scored answers to learn from: prompt, answer, context and the answer's true quality in [0, 1]."""

    prompts: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    contexts: list[AnswerContext] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.answers)

    @classmethod
    def from_dataset(
        cls, dataset: RoutingDataset, *, context_sizes: Sequence[int] = (0, 1, 2), seed: int = 0
    ) -> ScoringExamples:
        """One example per recorded (prompt, model) answer and context size: the context holds that many
        other models' answers drawn at random (the scorer meets 0, 1, 2 ... earlier steps in a cascade)."""
        if dataset.responses is None:
            raise ValueError(f"{dataset.name!r} has no recorded responses: answers cannot be scored")
        rng = np.random.default_rng(seed)
        out = cls()
        names = dataset.model_names
        for i in range(dataset.n_prompts):
            have = [j for j in range(dataset.n_models) if _usable(dataset, i, j)]
            for j in have:
                rest = [k for k in have if k != j]
                for size in context_sizes:
                    if size > len(rest):
                        continue
                    picked = rng.choice(rest, size=size, replace=False) if size else []
                    out.add(dataset, i, j, [dataset.responses[i, k] for k in picked], names[j])
        if not len(out):
            raise ValueError(f"{dataset.name!r}: no recorded answer with a known score")
        return out

    def add(self, dataset: RoutingDataset, i: int, j: int, others: list[str], model: str) -> None:
        self.prompts.append(dataset.prompts[i])
        self.answers.append(dataset.responses[i, j])  # type: ignore[index]
        self.contexts.append(context_of(dataset, i, j, others, model))
        self.quality.append(float(np.clip(dataset.quality[i, j], 0.0, 1.0)))


def _usable(dataset: RoutingDataset, i: int, j: int) -> bool:
    return dataset.responses[i, j] is not None and math.isfinite(dataset.quality[i, j])  # type: ignore[index]


def context_of(dataset: RoutingDataset, i: int, j: int, others: Sequence[str], model: str) -> AnswerContext:
    """The context a cascade step has for answer (i, j): recorded tokens and logprob, earlier answers."""
    tokens = dataset.output_tokens[i, j] if dataset.output_tokens is not None else math.nan
    lp = dataset.logprobs[i, j] if dataset.logprobs is not None else math.nan
    return AnswerContext(
        model=model,
        others=tuple(others),
        completion_tokens=int(tokens) if math.isfinite(tokens) else None,
        logprob=float(lp) if math.isfinite(lp) else None,
    )


class AnswerScorer(ABC):
    name: ClassVar[str]
    models_: list[str]

    @abstractmethod
    def static_features(
        self, prompts: Sequence[str], answers: Sequence[str], contexts: Sequence[AnswerContext]
    ):
        """(n, d) features that do not depend on the other answers (sparse CSR)."""

    def agreement_features(self, agree: np.ndarray, contexts: Sequence[AnswerContext]) -> np.ndarray | None:
        """(n, k) features from the (n, 3) agreement block, or None when this scorer reads no agreement."""
        return None

    def _features(self, prompts: Sequence[str], answers: Sequence[str], contexts: Sequence[AnswerContext]):
        static = self.static_features(prompts, answers, contexts)
        return self.join(static, _agreement_block(answers, contexts), contexts)

    def join(self, static, agree: np.ndarray, contexts: Sequence[AnswerContext]):
        """The design matrix from static features and the agreement block (the lab precomputes both)."""
        extra = self.agreement_features(agree, contexts)
        if extra is None:
            return static
        return sparse.hstack([static, sparse.csr_matrix(extra)], format="csr")

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...

    # -- the contract ----------------------------------------------------------------------------------

    def fit(self, examples: ScoringExamples) -> AnswerScorer:
        if not len(examples):
            raise ValueError(f"cannot fit the {self.name!r} scorer on no examples")
        self.models_ = sorted({c.model for c in examples.contexts})
        x = self._features(examples.prompts, examples.answers, examples.contexts)
        return self.fit_matrix(x, np.asarray(examples.quality))

    def fit_matrix(self, x, quality: np.ndarray) -> AnswerScorer:
        """Fit on a design matrix built with `join` (models_ set beforehand)."""
        self.coef_, self.intercept_ = _soft_logistic(x, quality, self._c())
        return self

    def predict_matrix(self, x) -> np.ndarray:
        z = np.asarray(x @ self.coef_).ravel() + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, prompt: str, answer: str, context: AnswerContext) -> float:
        """P(the answer is good), in (0, 1)."""
        return float(self.score_many([prompt], [answer], [context])[0])

    def score_many(
        self, prompts: Sequence[str], answers: Sequence[str], contexts: Sequence[AnswerContext]
    ) -> np.ndarray:
        self._check_fitted()
        if not (len(prompts) == len(answers) == len(contexts)):
            raise ValueError(f"{len(prompts)} prompts, {len(answers)} answers, {len(contexts)} contexts")
        if not len(answers):
            return np.zeros(0)
        return self.predict_matrix(self._features(prompts, answers, contexts))

    def _c(self) -> float:
        return float(getattr(self, "c", 1.0))

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError(f"the {self.name!r} scorer is not fitted: call fit(examples) first")

    def _model_onehot(self, contexts: Sequence[AnswerContext]) -> np.ndarray:
        index = {m: k for k, m in enumerate(self.models_)}
        out = np.zeros((len(contexts), len(self.models_)))
        for r, c in enumerate(contexts):
            k = index.get(c.model)
            if k is not None:  # a model the scorer never saw gets the shared intercept only
                out[r, k] = 1.0
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._params().items())})"

    # -- files -----------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        header = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "scorer": self.name,
            "params": self._params(),
            "models": self.models_,
            "intercept": float(self.intercept_),
        }
        return write_npz(path, header, {"coef": np.asarray(self.coef_, dtype=np.float64)})

    @staticmethod
    def load(path: str | Path) -> AnswerScorer:
        header, arrays = read_npz(path, FILE_FORMAT, FILE_VERSION, ScorerFileError, "answer scorer")
        try:
            scorer = make_scorer(header["scorer"], **header["params"])
            scorer.models_ = [str(m) for m in header["models"]]
            scorer.intercept_ = float(header["intercept"])
            scorer.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
            expected = scorer._n_features()
            if scorer.coef_.shape != (expected,):
                raise ValueError(f"coef has shape {scorer.coef_.shape}, expected ({expected},)")
        except (KeyError, TypeError, ValueError) as exc:
            raise ScorerFileError(f"{path}: bad answer scorer: {exc}") from None
        return scorer

    def _n_features(self) -> int:
        return int(np.shape(self._features(["x"], ["x"], [AnswerContext(self.models_[0])]))[1])


def _agreement_block(answers: Sequence[str], contexts: Sequence[AnswerContext]) -> np.ndarray:
    """(n, 3): has others, share of them agreeing, all agree."""
    return agreement_block(
        [agreement(a, list(c.others)) if c.others else None for a, c in zip(answers, contexts)]
    )


def agreement_block(shares: Sequence[float | None]) -> np.ndarray:
    """(n, 3) from each answer's share of agreeing others (None: no others)."""
    out = np.zeros((len(shares), 3))
    for r, share in enumerate(shares):
        if share is not None:
            out[r] = (1.0, share, float(share == 1.0))
    return out


def _logprob_features(contexts: Sequence[AnswerContext]) -> np.ndarray:
    out = np.zeros((len(contexts), 2))
    for r, c in enumerate(contexts):
        if c.logprob is not None and math.isfinite(c.logprob):
            out[r] = (1.0, max(c.logprob, -10.0))
    return out


class AgreementScorer(AnswerScorer):
    """P(good) from agreement with the other models' final answers, per model."""

    name = "agreement"

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def _params(self) -> dict[str, Any]:
        return {"c": self.c}

    def static_features(self, prompts, answers, contexts):
        return sparse.csr_matrix(self._model_onehot(contexts))

    def agreement_features(self, agree: np.ndarray, contexts: Sequence[AnswerContext]) -> np.ndarray:
        # the per-model intercept (static), and agreement's weight per model (a strong model agreeing
        # means more than a weak one)
        return np.hstack([agree, self._model_onehot(contexts) * agree[:, 1:2]])


class LogprobScorer(AnswerScorer):
    """P(good) from the answer's mean token log-probability, per model (the prior alone without one)."""

    name = "logprob"

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def _params(self) -> dict[str, Any]:
        return {"c": self.c}

    def fit(self, examples: ScoringExamples) -> AnswerScorer:
        # Each example also without its logprob: an answer that comes without one gets the model's prior.
        bare = [replace(c, logprob=None) for c in examples.contexts]
        both = ScoringExamples(
            examples.prompts * 2, examples.answers * 2, examples.contexts + bare, examples.quality * 2
        )
        return super().fit(both)

    def static_features(self, prompts, answers, contexts):
        onehot = self._model_onehot(contexts)
        lp = _logprob_features(contexts)
        return sparse.csr_matrix(np.hstack([onehot, lp, onehot * lp[:, 1:2]]))


class LearnedScorer(AnswerScorer):
    """A logistic model on hashed prompt and answer embeddings, answer facts and the model; with
    `agreement=True` also the agreement features, and the logprob when a context has one.

    The embeddings are feature-hashed bags of words and word pairs (stateless, ~0.1 ms per answer): a
    sentence encoder costs tens of ms per answer on a CPU, more than a gateway step may spend deciding."""

    name = "learned"

    def __init__(
        self, agreement: bool = True, dims: int = 1024, per_model: int = 256, c: float = 0.1
    ) -> None:
        self.agreement = agreement
        self.dims = dims
        self.per_model = per_model  # dims of a per-model copy of the prompt embedding (0: none)
        self.c = c

    def _params(self) -> dict[str, Any]:
        return {"agreement": self.agreement, "dims": self.dims, "per_model": self.per_model, "c": self.c}

    def static_features(self, prompts, answers, contexts):
        hasher = _hasher(self.dims)
        facts = np.array(
            [answer_facts(p, a, c.completion_tokens).vector() for p, a, c in zip(prompts, answers, contexts)]
        ).reshape(len(answers), N_FACTS)
        onehot = self._model_onehot(contexts)
        dense = np.hstack([onehot, facts, _logprob_features(contexts)])
        blocks = [sparse.csr_matrix(dense), hasher.transform(prompts), hasher.transform(answers)]
        if self.per_model:
            # which prompts this model answers well: the prompt embedding in the model's own columns
            small = _hasher(self.per_model).transform(prompts)
            blocks += [small.multiply(onehot[:, [k]]) for k in range(onehot.shape[1])]
        return sparse.hstack(blocks, format="csr")

    def agreement_features(self, agree: np.ndarray, contexts: Sequence[AnswerContext]) -> np.ndarray | None:
        if not self.agreement:
            return None
        return np.hstack([agree, self._model_onehot(contexts) * agree[:, 1:2]])

    def score_many(
        self, prompts: Sequence[str], answers: Sequence[str], contexts: Sequence[AnswerContext]
    ) -> np.ndarray:
        """The same numbers as the design matrix gives, block by block without building it: each distinct
        prompt is hashed once, and no sparse matrix is stacked (the gateway scores 1-3 answers a step)."""
        self._check_fitted()
        if not (len(prompts) == len(answers) == len(contexts)):
            raise ValueError(f"{len(prompts)} prompts, {len(answers)} answers, {len(contexts)} contexts")
        n = len(answers)
        if not n:
            return np.zeros(0)
        m, coef = len(self.models_), self.coef_
        distinct = list(dict.fromkeys(prompts))
        which = np.array([distinct.index(p) for p in prompts])
        onehot = self._model_onehot(contexts)
        facts = np.array(
            [answer_facts(p, a, c.completion_tokens).vector() for p, a, c in zip(prompts, answers, contexts)]
        ).reshape(n, N_FACTS)
        dense = np.hstack([onehot, facts, _logprob_features(contexts)])
        at = dense.shape[1]
        z = dense @ coef[:at] + self.intercept_
        z += (_prompt_rows(distinct, self.dims) @ coef[at : at + self.dims])[which]
        z += hashed(answers, self.dims) @ coef[at + self.dims : at + 2 * self.dims]
        at += 2 * self.dims
        if self.per_model:
            block = coef[at : at + m * self.per_model].reshape(m, self.per_model)
            per = _prompt_rows(distinct, self.per_model) @ block.T  # (distinct prompts, m)
            z += (per[which] * onehot).sum(axis=1)
            at += m * self.per_model
        extra = self.agreement_features(_agreement_block(answers, contexts), contexts)
        if extra is not None:
            z += extra @ coef[at:]
        return 1.0 / (1.0 + np.exp(-z))


_HASHERS: dict[int, Any] = {}


def _hasher(dims: int):
    if dims not in _HASHERS:
        from sklearn.feature_extraction.text import HashingVectorizer

        _HASHERS[dims] = HashingVectorizer(
            n_features=dims, alternate_sign=False, norm="l2", ngram_range=(1, 2), dtype=np.float64
        )
    return _HASHERS[dims]


def hashed(texts: Sequence[str], dims: int) -> np.ndarray:
    """(n, dims) dense rows equal to `_hasher(dims).transform(texts)`, without its sparse-matrix overhead
    (which costs more than the hashing for the few texts of one request)."""
    try:
        from sklearn.feature_extraction._hashing_fast import transform as hash_tokens
    except ImportError:  # a private module: fall back to the public (slower) path
        return _hasher(dims).transform(texts).toarray()
    analyze = _analyzer(dims)
    indices, indptr, values = hash_tokens(
        (((t, 1) for t in analyze(text)) for text in texts), dims, np.float64, False, seed=0
    )
    out = np.zeros((len(texts), dims))
    for r in range(len(texts)):
        a, b = indptr[r], indptr[r + 1]
        if b > a:
            row = np.bincount(indices[a:b], weights=np.abs(values[a:b]), minlength=dims)
            out[r] = row / np.sqrt(row @ row)
    return out


def _prompt_rows(prompts: Sequence[str], dims: int) -> np.ndarray:
    """Hashed prompts, remembered: every step of a cascade scores its answer beside the same prompt."""
    return np.vstack([_hashed_prompt(p, dims) for p in prompts])


@lru_cache(maxsize=512)
def _hashed_prompt(prompt: str, dims: int) -> np.ndarray:
    row = hashed([prompt], dims)[0]
    row.flags.writeable = False
    return row


_ANALYZERS: dict[int, Any] = {}


def _analyzer(dims: int):
    if dims not in _ANALYZERS:
        _ANALYZERS[dims] = _hasher(dims).build_analyzer()
    return _ANALYZERS[dims]


def _soft_logistic(x, quality: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Logistic regression on soft labels: a 0/1 score is one example; a score q strictly between is two,
    good with weight q and bad with weight 1 - q (so P(good) estimates the expected score)."""
    from sklearn.linear_model import LogisticRegression

    q = np.clip(np.asarray(quality, dtype=np.float64), 0.0, 1.0)
    soft = (q > 0) & (q < 1)
    y = np.concatenate([(q > 0).astype(float), np.zeros(int(soft.sum()))])
    w = np.concatenate([np.where(soft, q, 1.0), 1.0 - q[soft]])
    if len(np.unique(y)) < 2:  # every answer good (or bad): a constant
        p = float(np.clip(q.mean(), 1e-3, 1 - 1e-3))
        return np.zeros(x.shape[1]), math.log(p / (1 - p))
    xx = sparse.vstack([x, x[soft]], format="csr") if sparse.issparse(x) else np.vstack([x, x[soft]])
    model = LogisticRegression(C=c, solver="liblinear", tol=1e-3, max_iter=1000)
    model.fit(xx, y, sample_weight=w)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


SCORERS: dict[str, type[AnswerScorer]] = {s.name: s for s in (AgreementScorer, LearnedScorer, LogprobScorer)}


def make_scorer(name: str, **params: Any) -> AnswerScorer:
    try:
        klass = SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown answer scorer {name!r}; known: {', '.join(sorted(SCORERS))}") from None
    try:
        return klass(**params)
    except TypeError as exc:
        raise ValueError(f"answer scorer {name!r}: bad parameters {params}: {exc}") from None

"""A dataset's recorded answers, featurised once, for scoring them in many contexts (the lab's cascades).

Scoring one answer needs its static features (prompt, answer, model: the costly part) and its agreement
with whichever other answers a cascade has seen (cheap once every answer's final answer is known). The
table computes both parts once per dataset, so fitting scorers per fold and simulating policies over many
thresholds and lambdas only stacks rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from pointsman.cascade.answers import final_answer
from pointsman.cascade.scorers import AnswerContext, AnswerScorer, agreement_block, context_of
from pointsman.data.dataset import RoutingDataset


class AnswerTable:
    def __init__(self, dataset: RoutingDataset) -> None:
        if dataset.responses is None:
            raise ValueError(f"{dataset.name!r} has no recorded responses: cascades need them")
        self.dataset = dataset
        self.n, self.m = dataset.quality.shape
        self.final = np.array(
            [[final_answer(a) if a is not None else None for a in row] for row in dataset.responses],
            dtype=object,
        )
        self.answered = np.array([[a is not None for a in row] for row in dataset.responses])
        self._static: dict[str, sparse.csr_matrix] = {}

    def prepare(self, scorer: AnswerScorer) -> None:
        """Fix the scorer's model list to the dataset's (its one-hot columns) and featurise every cell."""
        fitted = getattr(scorer, "models_", None)
        if fitted is not None and list(fitted) != self.dataset.model_names:
            raise ValueError(f"the scorer was fitted on models {fitted}, not this data's")
        scorer.models_ = list(self.dataset.model_names)
        key = _key(scorer)
        if key in self._static:
            return
        ds = self.dataset
        rows = [(i, j) for i in range(self.n) for j in range(self.m)]
        prompts = [ds.prompts[i] for i, _ in rows]
        answers = [ds.responses[i, j] or "" for i, j in rows]  # type: ignore[index]
        contexts = [context_of(ds, i, j, (), ds.model_names[j]) for i, j in rows]
        self._static[key] = scorer.static_features(prompts, answers, contexts).tocsr()

    def design(
        self, scorer: AnswerScorer, rows: np.ndarray, cols: np.ndarray, others: Sequence[Sequence[int]]
    ):
        """The design matrix of answers (rows[k], cols[k]) each seen beside the answers of models
        `others[k]` to the same prompt."""
        if _key(scorer) not in self._static:
            self.prepare(scorer)
        static = self._static[_key(scorer)][np.asarray(rows) * self.m + np.asarray(cols)]
        shares: list[float | None] = []
        for i, j, rest in zip(rows, cols, others):
            seen = [k for k in rest if self.answered[i, k]]
            mine = self.final[i, j]
            shares.append(sum(self.final[i, k] == mine for k in seen) / len(seen) if seen else None)
        contexts = [AnswerContext(self.dataset.model_names[j]) for j in cols]
        return scorer.join(static, agreement_block(shares), contexts)

    def scores(
        self, scorer: AnswerScorer, rows: np.ndarray, cols: np.ndarray, others: Sequence[Sequence[int]]
    ) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        return scorer.predict_matrix(self.design(scorer, rows, cols, others))

    def training_cells(
        self, rows: np.ndarray, context_sizes: Sequence[int] = (0, 1, 2), seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
        """Examples to fit a scorer on `rows`: every answered cell with a known score, once per context
        size, beside that many other answers drawn at random (a cascade shows a scorer 0, 1, 2 ...)."""
        rng = np.random.default_rng(seed)
        known = self.answered & np.isfinite(self.dataset.quality)
        out_r, out_c, out_o = [], [], []
        for i in rows:
            have = np.flatnonzero(known[i])
            for j in have:
                rest = have[have != j]
                for size in context_sizes:
                    if size <= len(rest):
                        out_r.append(i)
                        out_c.append(j)
                        out_o.append(sorted(rng.choice(rest, size=size, replace=False).tolist()))
        return np.array(out_r, dtype=np.int64), np.array(out_c, dtype=np.int64), out_o

    def fit(self, scorer: AnswerScorer, rows: np.ndarray, seed: int = 0) -> AnswerScorer:
        """Fit `scorer` on the answers of `rows` only."""
        self.prepare(scorer)
        r, c, o = self.training_cells(rows, seed=seed)
        if len(r) == 0:
            raise ValueError("no answered cell with a known score to fit the scorer on")
        quality = np.clip(self.dataset.quality[r, c], 0.0, 1.0)
        return scorer.fit_matrix(self.design(scorer, r, c, o), quality)


def _key(scorer: AnswerScorer) -> str:
    params = {k: v for k, v in scorer._params().items() if k != "c"}  # c changes the fit, not the features
    return f"{scorer.name}:{sorted(params.items())}"

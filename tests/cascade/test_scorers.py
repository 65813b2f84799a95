"""Answer scorers on the real RouteProfile answers: they rank good answers above bad ones on prompts they
never saw, keep their contract, and survive a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pointsman.cascade.scorers import (
    AnswerContext,
    ScorerFileError,
    ScoringExamples,
    make_scorer,
)
from pointsman.data.splits import group_kfold


@pytest.fixture(scope="module")
def split(routeprofile):
    train, test = group_kfold(routeprofile, 5, 0)[0]
    return routeprofile.subset(train), routeprofile.subset(test)


@pytest.fixture(scope="module")
def held_out(split):
    return ScoringExamples.from_dataset(split[1], context_sizes=(0, 2))


@pytest.mark.parametrize(
    ("name", "params", "floor"),
    [("agreement", {}, 0.6), ("learned", {"agreement": False}, 0.75), ("learned", {}, 0.75)],
)
def test_scorers_rank_held_out_answers(split, held_out, name, params, floor):
    scorer = make_scorer(name, **params).fit(ScoringExamples.from_dataset(split[0]))
    scores = scorer.score_many(held_out.prompts, held_out.answers, held_out.contexts)
    assert ((scores > 0) & (scores < 1)).all()
    good = np.asarray(held_out.quality) >= 0.5
    assert roc_auc_score(good, scores) > floor


def test_agreement_raises_the_score(split):
    scorer = make_scorer("agreement").fit(ScoringExamples.from_dataset(split[0]))
    alone = scorer.score("q", "B", AnswerContext("gemma-2-9b-it", others=("C", "D")))
    agreed = scorer.score("q", "B", AnswerContext("gemma-2-9b-it", others=("B", "(B)")))
    assert agreed > alone + 0.1


def test_logprob_scorer_reads_logprobs():
    ex = ScoringExamples()
    rng = np.random.default_rng(0)
    for k in range(400):
        good = k % 2 == 0
        lp = -rng.uniform(0.0, 0.3) if good else -rng.uniform(0.8, 2.0)
        ex.prompts.append("q")
        ex.answers.append("a")
        ex.contexts.append(AnswerContext("m", logprob=lp))
        ex.quality.append(1.0 if good else 0.0)
    scorer = make_scorer("logprob").fit(ex)
    sure = scorer.score("q", "a", AnswerContext("m", logprob=-0.1))
    unsure = scorer.score("q", "a", AnswerContext("m", logprob=-1.5))
    prior = scorer.score("q", "a", AnswerContext("m"))
    assert sure > 0.8 and unsure < 0.2 and unsure < prior < sure


def test_save_load_round_trip(split, held_out, tmp_path: Path):
    scorer = make_scorer("learned", dims=256).fit(ScoringExamples.from_dataset(split[0]))
    path = scorer.save(tmp_path / "scorer.npz")
    again = type(scorer).load(path)
    a = scorer.score_many(held_out.prompts[:50], held_out.answers[:50], held_out.contexts[:50])
    b = again.score_many(held_out.prompts[:50], held_out.answers[:50], held_out.contexts[:50])
    np.testing.assert_allclose(a, b)


def test_bad_input_is_refused(tmp_path: Path, routeprofile):
    with pytest.raises(ValueError, match="unknown answer scorer 'magic'; known: agreement, learned"):
        make_scorer("magic")
    with pytest.raises(ValueError, match="bad parameters"):
        make_scorer("learned", depth=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_scorer("agreement").score("q", "a", AnswerContext("m"))
    with pytest.raises(ValueError, match="no examples"):
        make_scorer("agreement").fit(ScoringExamples())
    with pytest.raises(ScorerFileError, match="no such answer scorer file"):
        make_scorer("agreement").load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ScorerFileError):
        make_scorer("agreement").load(tmp_path / "junk.npz")
    from dataclasses import replace

    with pytest.raises(ValueError, match="has no recorded responses"):
        ScoringExamples.from_dataset(replace(routeprofile, responses=None))


def test_the_fast_path_scores_as_the_design_matrix(split, held_out):
    """The gateway's per-request path gives the lab's numbers (hash rows, no sparse stacking)."""
    scorer = make_scorer("learned").fit(ScoringExamples.from_dataset(split[0], context_sizes=(0, 1)))
    p, a, c = held_out.prompts[:60], held_out.answers[:60], held_out.contexts[:60]
    np.testing.assert_allclose(scorer.score_many(p, a, c), scorer.predict_matrix(scorer._features(p, a, c)))

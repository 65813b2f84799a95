"""Off-policy estimators on a synthetic log whose true value is known in closed form, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.learn.ope import OPEError, evaluate, greedy

# Two kinds of request (probabilities 0.3, 0.7) x three models; Bernoulli rewards with these means.
P_X = np.array([0.3, 0.7])
MEANS = np.array([[0.9, 0.5, 0.1], [0.2, 0.6, 0.4]])
LOGGING = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])  # a stochastic logging policy per kind
TARGET = np.array([[0.0, 0.0, 1.0], [0.1, 0.8, 0.1]])
TRUE_VALUE = float(P_X @ (TARGET * MEANS).sum(axis=1))  # 0.3 * 0.1 + 0.7 * (0.02 + 0.48 + 0.04) = 0.408


def log(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.choice(2, size=n, p=P_X)
    a = np.array([rng.choice(3, p=LOGGING[k]) for k in x])
    r = rng.binomial(1, MEANS[x, a]).astype(float)
    return x, a, r, LOGGING[x, a]


def test_estimates_recover_the_closed_form_value() -> None:
    assert TRUE_VALUE == pytest.approx(0.408)
    x, a, r, p = log(20_000, 0)
    wrong_model = np.full((len(x), 3), 0.5)  # DR stays unbiased with a wrong reward model
    for model in (MEANS[x], wrong_model):
        res = evaluate(a, r, p, TARGET[x], model, rng=np.random.default_rng(1))
        for e in (res.ips, res.snips, res.dr):
            assert abs(e.value - TRUE_VALUE) < 0.02
            assert e.low <= TRUE_VALUE <= e.high and e.high - e.low < 0.06
    exact = evaluate(a, r, p, TARGET[x], MEANS[x], rng=np.random.default_rng(1))
    assert exact.dr.high - exact.dr.low < exact.ips.high - exact.ips.low  # a right model lowers variance
    assert 0 < exact.ess < len(x)
    assert exact.matched == pytest.approx(0.3 * 0.2 + 0.7, abs=0.02)  # the target never takes 0, 1 on kind 0


def test_refusals() -> None:
    x, a, r, p = log(2_000, 2)
    with pytest.raises(OPEError, match="no valid propensity"):
        evaluate(a, r, np.where(np.arange(len(p)) == 5, np.nan, p), TARGET[x])
    with pytest.raises(OPEError, match="deterministic"):
        evaluate(a, r, np.ones(len(p)), TARGET[x])
    # The candidate always takes model 1, which the logger took twice in 1,000 (p = 0.001): ESS 2.
    acts = np.where(np.arange(1000) < 2, 1, 0)
    props = np.where(acts == 1, 0.001, 0.999)
    with pytest.raises(OPEError, match="support too thin: effective sample size 2.0"):
        evaluate(acts, np.ones(1000), props, greedy(np.tile([0.0, 1.0, 0.0], (1000, 1))))
    with pytest.raises(OPEError, match="no logged decisions"):
        evaluate(a[:0], r[:0], p[:0], TARGET[x][:0])

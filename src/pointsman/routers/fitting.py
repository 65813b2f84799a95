"""Numerics shared by the routers: score scaling, shrunk means, masked logistic and softmax regression.

Unknown scores (NaN) are masked out of every loss and mean: they teach nothing, and are never read as 0.
Everything is fitted with L-BFGS on a full batch, so fits are deterministic and need no learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

# Probabilities are kept inside [EPS, 1 - EPS] before taking logits.
EPS = 1e-4


@dataclass(frozen=True)
class ScoreScale:
    """Maps the data's quality scores to [0, 1] for the likelihoods (identity when they already are)."""

    lo: float = 0.0
    hi: float = 1.0

    @classmethod
    def of(cls, quality: np.ndarray) -> ScoreScale:
        known = quality[np.isfinite(quality)]
        lo, hi = float(known.min()), float(known.max())
        if lo >= 0.0 and hi <= 1.0:
            return cls()
        return cls(lo, hi if hi > lo else lo + 1.0)

    def to_unit(self, quality: np.ndarray) -> np.ndarray:
        return (quality - self.lo) / (self.hi - self.lo)

    def from_unit(self, p: np.ndarray) -> np.ndarray:
        return self.lo + p * (self.hi - self.lo)


def shrunk_means(y: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Column means over known entries, pulled toward `prior` by `strength` pseudo-observations."""
    known = np.isfinite(y)
    total = np.where(known, y, 0.0).sum(axis=0)
    count = known.sum(axis=0) + strength
    return np.where(count > 0, (total + strength * prior) / np.maximum(count, 1e-12), prior)


def model_priors(quality: np.ndarray, strength: float = 5.0) -> np.ndarray:
    """Each model's mean known score, shrunk toward the mean of all known scores (a model with no
    known score gets that grand mean)."""
    grand = float(np.nanmean(quality))
    return shrunk_means(quality, np.full(quality.shape[1], grand), strength)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _lbfgs(
    loss: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, max_iter: int
) -> np.ndarray:
    res = minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return res.x


def lbfgs(
    loss: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    max_iter: int,
    history: int = 10,
    gtol: float = 1e-5,
    ftol: float = 2.2e-9,
) -> np.ndarray:
    """L-BFGS (two-loop recursion, Armijo backtracking) in numpy, stopping like scipy's L-BFGS-B
    (largest gradient entry <= gtol, or a relative decrease <= ftol).

    For smooth convex losses with hundreds of thousands of parameters (the gate: 32k n-gram columns x
    groups), where scipy's L-BFGS-B spends about 0.5 us per parameter per iteration in its own bookkeeping,
    more than the loss itself. The vector algebra avoids BLAS level-1 calls (on a busy machine a threaded
    ddot waits on its threads for longer than it computes) and large temporaries.
    """
    x = np.asarray(x0, dtype=np.float64).copy()
    f, g = loss(x)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if np.max(np.abs(g)) <= gtol:
            break
        d = _two_loop(g, steps)
        np.negative(d, out=d)
        slope = _dot(g, d)
        if slope >= 0:  # not a descent direction: restart from the gradient
            steps.clear()
            d = -_two_loop(g, steps)
            slope = _dot(g, d)
        t = 1.0
        while True:
            x_new = x + t * d
            f_new, g_new = loss(x_new)
            if f_new <= f + 1e-4 * t * slope or t < 1e-12:
                break
            t *= 0.5
        s, y = np.subtract(x_new, x, out=d), g_new - g
        sy = _dot(s, y)
        if sy > 1e-12:
            steps.append((s, y, 1.0 / sy))
            del steps[:-history]
        done = f - f_new <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("i,i->", a, b))


def _two_loop(g: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """The L-BFGS inverse-Hessian approximation applied to g (a new array)."""
    q = g.copy()
    buf = np.empty_like(q)
    alphas = []
    for s, y, rho in reversed(steps):
        a = rho * _dot(s, q)
        alphas.append(a)
        q -= np.multiply(y, a, out=buf)
    if steps:
        s, y, _ = steps[-1]
        q *= _dot(s, y) / _dot(y, y)
    else:  # first step: a unit step along the normalised gradient (as scipy)
        q /= max(float(np.abs(g).sum()), 1.0)
    for (s, y, rho), a in zip(steps, reversed(alphas)):
        q += np.multiply(s, a - rho * _dot(y, q), out=buf)
    return q


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float,
    prior: np.ndarray | None = None,
    prior_strength: float = 0.0,
    max_iter: int = 300,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Independent logistic regressions, one per column of y (n, m) in [0, 1] (fractional targets are
    cross-entropy targets; NaN entries are masked). Returns W (d, m), b (m).

    Per column: mean cross-entropy over its known rows + l2/2 |w|^2 + the intercept's pull toward the logit
    of `prior` (default: the column's known mean): `prior_strength` pseudo-rows' worth, so a column with
    few known rows stays near its prior. A column with no known entry keeps its prior. `init`: (W, b) to
    start from (a warm start).
    """
    d = x.shape[1]
    m = y.shape[1]
    known = np.isfinite(y)
    counts = np.maximum(known.sum(axis=0), 1)
    target = np.where(known, y, 0.0)
    base = np.where(known.any(axis=0), target.sum(axis=0) / counts, 0.5) if prior is None else prior
    b0 = logit(np.asarray(base, dtype=np.float64))
    pull = prior_strength / counts

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * m].reshape(d, m), theta[d * m :]
        z = x @ w + b
        nll = np.where(known, -(target * log_expit(z) + (1 - target) * log_expit(-z)), 0.0)
        g = np.where(known, expit(z) - target, 0.0) / counts
        value = float((nll.sum(axis=0) / counts).sum() + 0.5 * l2 * (w * w).sum())
        value += float(0.5 * (pull * (b - b0) ** 2).sum())
        grad = np.concatenate([(x.T @ g + l2 * w).ravel(), g.sum(axis=0) + pull * (b - b0)])
        return value, grad

    start = np.concatenate([np.zeros(d * m), b0] if init is None else [init[0].ravel(), init[1]])
    theta = _lbfgs(loss, start, max_iter)
    return theta[: d * m].reshape(d, m), theta[d * m :]


def fit_softmax(
    x: np.ndarray, labels: np.ndarray, k: int, l2: float, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression: labels (n,) in 0..k-1; W (d, k), b (k)."""
    n, d = x.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1.0
    freq = (onehot.sum(axis=0) + 1.0) / (n + k)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * k].reshape(d, k), theta[d * k :]
        z = x @ w + b
        lse = logsumexp(z, axis=1, keepdims=True)
        g = (np.exp(z - lse) - onehot) / n
        value = float((lse[:, 0] - (z * onehot).sum(axis=1)).mean() + 0.5 * l2 * (w * w).sum())
        return value, np.concatenate([(x.T @ g + l2 * w).ravel(), g.sum(axis=0)])

    theta = _lbfgs(loss, np.concatenate([np.zeros(d * k), np.log(freq)]), max_iter)
    return theta[: d * k].reshape(d, k), theta[d * k :]


def fit_softmax_blocks(
    dense: np.ndarray,
    ngrams: sparse.csr_matrix,
    labels: np.ndarray,
    k: int,
    l2: float,
    max_iter: int = 300,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`fit_softmax` on the columns [dense, ngrams] without stacking them into one sparse matrix: the dense
    block goes through BLAS, the sparse one through CSR products, in single precision. Only the sparse
    columns some row uses are fitted: the others' weights are exactly 0 at the optimum (only the L2 term
    touches them). W (d_dense + d_sparse, k), b (k). `init`: a (W, b) to start from (a warm start)."""
    n, d = dense.shape
    xd = np.ascontiguousarray(dense, dtype=np.float32)
    xs_all = sparse.csr_matrix(ngrams, dtype=np.float32)
    used = np.unique(xs_all.indices)
    xs = xs_all[:, used]
    xst = xs.T.tocsr()
    rows = d + len(used)
    onehot = np.zeros((n, k), np.float32)
    onehot[np.arange(n), labels] = 1.0
    freq = (onehot.sum(axis=0) + 1.0) / (n + k)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: rows * k].reshape(rows, k)
        w32 = w.astype(np.float32)
        z = xd @ w32[:d] + xs @ w32[d:] + theta[rows * k :].astype(np.float32)
        lse = logsumexp(z, axis=1, keepdims=True)
        g = (np.exp(z - lse) - onehot) / n
        value = float(
            (lse[:, 0] - (z * onehot).sum(axis=1)).mean()
            + 0.5 * l2 * float(theta[: rows * k] @ theta[: rows * k])
        )
        grad_w = np.vstack([xd.T @ g, xst @ g]) + l2 * w
        return value, np.concatenate([grad_w.ravel(), g.sum(axis=0, dtype=np.float64)])

    if init is None:
        start = np.concatenate([np.zeros(rows * k), np.log(freq)])
    else:
        start = np.concatenate([init[0][:d].ravel(), init[0][d + used].ravel(), init[1]])
    theta = lbfgs(loss, start.astype(np.float64), max_iter)
    w = np.zeros((d + xs_all.shape[1], k))
    w[:d] = theta[: d * k].reshape(d, k)
    w[d + used] = theta[d * k : rows * k].reshape(len(used), k)
    return w, theta[rows * k :]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def array(arrays: dict[str, np.ndarray], name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A named array of a router file, checked against `shape` (None: any length on that axis)."""
    arr = arrays[name]
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise ValueError(f"array {name!r} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"array {name!r} holds non-finite values")
    return arr


def masked_bce(z: np.ndarray, y: np.ndarray, known: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits z against targets y over the known entries, and its gradient."""
    count = max(int(known.sum()), 1)
    target = np.where(known, y, 0.0)
    nll = np.where(known, -(target * log_expit(z) + (1 - target) * log_expit(-z)), 0.0)
    return float(nll.sum() / count), np.where(known, expit(z) - target, 0.0) / count


Params = dict[str, np.ndarray]


def fit_params(params: Params, loss_grad: Callable[[Params], tuple[float, Params]], max_iter: int) -> Params:
    """Minimise loss_grad over named parameter arrays with L-BFGS (max_iter doubles as early stopping)."""
    names = list(params)
    shapes = [params[k].shape for k in names]
    sizes = [int(np.prod(s)) for s in shapes]

    def unflatten(theta: np.ndarray) -> Params:
        out, start = {}, 0
        for name, shape, size in zip(names, shapes, sizes):
            out[name] = theta[start : start + size].reshape(shape)
            start += size
        return out

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grads = loss_grad(unflatten(theta))
        return value, np.concatenate([grads[k].ravel() for k in names])

    theta0 = np.concatenate([params[k].ravel() for k in names]).astype(np.float64)
    return unflatten(_lbfgs(loss, theta0, max_iter))

"""The field's quality-cost metrics, as pure functions of a curve of (cost, quality) points.

Sources:
- AIQ, "average improvement in quality" (RouterBench, Hu et al. 2024, arXiv:2403.12031): the area under the
  non-decreasing convex hull of a router's (cost, quality) points, normalised by the cost range. Points on
  the hull between two vertices are reachable by mixing the two settings at random, hence the hull.
- APGR and CPT (RouteLLM, Ong et al. 2024, arXiv:2406.18665), for a strong and a weak model: performance gap
  recovered PGR = (q - q_weak) / (q_strong - q_weak) as a function of the share of calls sent to the strong
  model; APGR is its area over shares 0..1, CPT(x%) the smallest share that recovers x% of the gap.
"""

from __future__ import annotations

import numpy as np

# Means summed in another order differ in the last bits; a curve point equal to a target reaches it.
_EPS = 1e-12


def nondecreasing_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (cost asc) of the upper convex hull of the points, from the cheapest point to the best one.

    A concave chain that ends at its maximum never decreases, so cutting the upper hull at the
    highest-quality vertex gives RouterBench's non-decreasing convex hull.
    """
    c, q = np.asarray(cost, float), np.asarray(quality, float)
    ok = np.isfinite(c) & np.isfinite(q)
    c, q = c[ok], q[ok]
    if c.size == 0:
        raise ValueError("no finite (cost, quality) points")
    order = np.lexsort((-q, c))
    c, q = c[order], q[order]
    first = np.concatenate([[True], c[1:] != c[:-1]])  # per cost, keep the best quality
    hull: list[tuple[float, float]] = []
    for x, y in zip(c[first].tolist(), q[first].tolist()):
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], (x, y)) >= 0:
            hull.pop()
        hull.append((x, y))
    hc, hq = (np.array(v) for v in zip(*hull))
    top = int(np.argmax(hq))
    return hc[: top + 1], hq[: top + 1]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def aiq(hull_cost: np.ndarray, hull_quality: np.ndarray, c_min: float, c_max: float) -> float:
    """Mean of the hull over [c_min, c_max] (the cheapest to the dearest single model's cost).

    The hull stays flat after its last vertex (spending more is never needed) and counts 0 below its
    first one (the router cannot operate that cheaply), as in RouterBench's reference code.
    """
    if c_max <= c_min:
        return float(np.interp(c_max, hull_cost, hull_quality, left=0.0))
    start = max(c_min, float(hull_cost[0]))
    if start >= c_max:
        return 0.0
    inner = hull_cost[(hull_cost > start) & (hull_cost < c_max)]
    xs = np.concatenate([[start], inner, [c_max]])
    ys = np.interp(xs, hull_cost, hull_quality)
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (c_max - c_min))


def cost_at_quality(hull_cost: np.ndarray, hull_quality: np.ndarray, target: float) -> float | None:
    """Least cost at which the hull reaches `target` (linear between vertices); None if it never does."""
    reached = np.nonzero(hull_quality >= target - _EPS)[0]
    if reached.size == 0:
        return None
    i = int(reached[0])
    if i == 0:
        return float(hull_cost[0])
    c0, c1, q0, q1 = hull_cost[i - 1], hull_cost[i], hull_quality[i - 1], hull_quality[i]
    return float(c0 + (target - q0) / (q1 - q0) * (c1 - c0))


def oracle_gap_closed(max_quality: float, best_single: float, oracle: float) -> float | None:
    """(max quality - best single) / (oracle - best single); None when the oracle is no better."""
    gap = oracle - best_single
    return None if gap <= 0 else (max_quality - best_single) / gap


def pgr_curve(
    strong_share: np.ndarray, quality: np.ndarray, weak: float, strong: float
) -> tuple[np.ndarray, np.ndarray]:
    """(share, PGR) sorted by share, anchored at all-weak (0, 0) and all-strong (1, 1).

    Routing everything to one model is always possible, so the two anchors belong to every router's curve;
    at a repeated share the best quality counts.
    """
    s = np.concatenate([[0.0], np.asarray(strong_share, float), [1.0]])
    q = np.concatenate([[weak], np.asarray(quality, float), [strong]])
    order = np.lexsort((-q, s))
    s, q = s[order], q[order]
    first = np.concatenate([[True], s[1:] != s[:-1]])
    return s[first], (q[first] - weak) / (strong - weak)


def apgr(strong_share: np.ndarray, quality: np.ndarray, weak: float, strong: float) -> float | None:
    """Average performance gap recovered: area under PGR over the share of strong calls (0..1)."""
    if strong == weak:
        return None
    s, pgr = pgr_curve(strong_share, quality, weak, strong)
    return float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(s)))


def cpt(
    strong_share: np.ndarray, quality: np.ndarray, weak: float, strong: float, fraction: float
) -> float | None:
    """Call-performance threshold: least share of strong calls whose curve recovers `fraction` of the gap."""
    if strong == weak:
        return None
    s, pgr = pgr_curve(strong_share, quality, weak, strong)
    reached = np.nonzero(pgr >= fraction - _EPS)[0]
    i = int(reached[0])  # the all-strong anchor has PGR 1, so some point reaches any fraction <= 1
    if i == 0:
        return 0.0
    return float(s[i - 1] + (fraction - pgr[i - 1]) / (pgr[i] - pgr[i - 1]) * (s[i] - s[i - 1]))

"""curves.png: every router's quality-cost hull on one plot, with the single models and the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pointsman.evaluate.report import Report


def plot_curves(report: Report, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    ds = report.dataset
    per_1k = 1000.0
    fig, ax = plt.subplots(figsize=(11, 6.5), dpi=120)
    colors = plt.get_cmap("tab10" if len(report.routers) <= 10 else "tab20")

    for i, (label, r) in enumerate(report.routers.items()):
        hc, hq = r.curve.hull()
        color = colors(i % colors.N)
        width = 2.6 if r.name == report.default_router else 1.6
        name = f"{label} (default)" if r.name == report.default_router else label
        ax.plot(r.curve.cost * per_1k, r.curve.quality, ".", color=color, alpha=0.25, markersize=3)
        ax.plot(
            *_dense(hc * per_1k, hq), "-", color=color, linewidth=width, label=f"{name}: max {hq[-1]:.3f}"
        )

    oc, oq = report.oracle_curve.hull()
    ax.plot(
        *_dense(oc * per_1k, oq), "--", color="0.45", linewidth=1.2,
        label=f"oracle frontier: {ds.oracle_quality:.3f}",
    )  # fmt: skip
    ax.plot(ds.oracle_cost * per_1k, ds.oracle_quality, "*", color="0.2", markersize=14)

    costs = np.array([m.cost for m in ds.models]) * per_1k
    quality = np.array([m.quality for m in ds.models])
    ax.scatter(costs, quality, marker="s", s=28, color="black", zorder=5, label="single models")
    for m, c, q in zip(ds.models, costs, quality):
        ax.annotate(m.name, (c, q), textcoords="offset points", xytext=(5, -10), fontsize=7, color="0.25")
    best = ds.model(ds.best_single)
    ax.axhline(best.quality, color="crimson", linestyle=":", linewidth=1)
    ax.plot(best.cost * per_1k, best.quality, "*", color="crimson", markersize=16, zorder=6,
            label=f"best single: {best.name} {best.quality:.3f}")  # fmt: skip

    if (costs > 0).all():
        from matplotlib.ticker import FuncFormatter, LogLocator

        ax.set_xscale("log")
        dollars = FuncFormatter(lambda x, _: f"${x:.4g}")
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
        ax.xaxis.set_major_formatter(dollars)
        ax.xaxis.set_minor_formatter(dollars)
        ax.tick_params(axis="x", which="both", labelsize=8)
    ax.set_xlabel("mean cost, USD per 1k requests (log scale)")
    ax.set_ylabel("mean quality")
    ax.set_title(
        f"{ds.name}: quality vs cost, {ds.n_prompts} prompts x {len(ds.models)} models, "
        f"{report.evaluation['protocol'].split(',')[0]}\n"
        "lines: each router's non-decreasing convex hull; dots: its points, one per lambda",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _dense(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hull is linear in cost between vertices; sample it densely so a log axis shows its true shape."""
    if len(cost) < 2 or cost[0] <= 0:
        return cost, quality
    xs = np.union1d(np.geomspace(cost[0], cost[-1], 300), cost)
    return xs, np.interp(xs, cost, quality)

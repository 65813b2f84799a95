"""A whole config (rules, guards, route profiles and their routers) scored offline on routing data:
`pointsman eval --config FILE --data PATH`.

Each prompt of the data is decided as `pointsman explain --select` decides it (every signal computed, the
rules applied, the profile's selector ranking its candidates; no backend is called). A blocked prompt counts
as blocked; a routed one realises the measured quality and cost of the model ranked first (backends are
matched to the data's models by name, else by their upstream `model` id). The routed prompts are compared
with the best single model and the oracle on the same prompts. The report has the lab report's `dataset`
and `evaluation` sections, then `policy`: per decision, the blocked share, the realised quality and cost.

A router trained on the evaluated data itself (a `selector.train` on the same data) is scored in sample;
the report says so.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pointsman.config.gateway import GatewayConfig
from pointsman.data.dataset import RoutingDataset
from pointsman.evaluate.report import DatasetSummary, _clean
from pointsman.evaluate.runner import drop_unscored, summarize_dataset
from pointsman.evaluate.truth import Truth
from pointsman.policy.build import Policy
from pointsman.policy.explain import Explainer
from pointsman.signals.base import RequestView


@dataclass(frozen=True)
class Outcome:
    """What one prompt got: its decision, and the data's quality and cost of the model that would answer."""

    decision: str
    action: str
    model: str | None = None  # the data's model name (None: blocked, or not in the data)
    quality: float = math.nan
    cost: float = math.nan


@dataclass(frozen=True)
class DecisionStats:
    name: str
    action: str
    prompts: int
    share: float
    quality: float | None  # mean realised quality of its scored, routed prompts
    cost: float | None
    models: dict[str, int]


@dataclass(frozen=True)
class PolicyReport:
    dataset: DatasetSummary
    evaluation: dict[str, Any]
    decisions: list[DecisionStats]
    blocked_share: float
    routed: dict[str, Any]  # prompts, scored, quality, cost of the routed prompts
    best_single: dict[str, Any]  # on the routed, scored prompts
    oracle: dict[str, Any]
    by_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "dataset": self.dataset.to_dict(),
                "evaluation": self.evaluation,
                "policy": {
                    "blocked_share": self.blocked_share,
                    "routed": self.routed,
                    "best_single": self.best_single,
                    "oracle": self.oracle,
                    "decisions": [asdict(d) for d in self.decisions],
                    "by_task": self.by_task,
                    "notes": self.notes,
                },
            }
        )

    def to_markdown(self) -> str:
        r, b, o = self.routed, self.best_single, self.oracle
        lines = [
            f"# Rule set evaluation: {self.evaluation['config']} on {self.dataset.name}",
            "",
            f"{self.evaluation['n_prompts']} prompts x {len(self.dataset.models)} models; requested model "
            f"`{self.evaluation['requested_model']}`; every decision made offline, no backend called.",
            "",
            f"- blocked: **{self.blocked_share:.1%}** of prompts",
            f"- routed: {r['prompts']} prompts ({r['scored']} with a measured score for the chosen model): "
            f"quality **{_f(r['quality'])}** at ${_f(_k(r['cost']), 4)} per 1k requests",
            f"- best single model on the same prompts: {b['model']}, quality {_f(b['quality'])} at "
            f"${_f(_k(b['cost']), 4)} per 1k (the rule set: {_ratio(r['cost'], b['cost'])} its cost)",
            f"- oracle on the same prompts: quality {_f(o['quality'])} at ${_f(_k(o['cost']), 4)} per 1k",
            "",
            "| decision | action | prompts | share | quality | $ per 1k | models |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in self.decisions:
            models = ", ".join(f"{m} {n}" for m, n in sorted(d.models.items(), key=lambda kv: -kv[1])[:4])
            lines.append(f"| {d.name} | {d.action} | {d.prompts} | {d.share:.1%} | {_f(d.quality)} | "
                         f"{_f(_k(d.cost), 4)} | {models} |")  # fmt: skip
        if self.by_task:
            lines += ["", "| task | prompts | blocked | routed quality |", "|---|---|---|---|"]
            for task, t in sorted(self.by_task.items()):
                lines.append(f"| {task} | {t['prompts']} | {t['blocked_share']:.1%} | {_f(t['quality'])} |")
        lines += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _k(x: float | None) -> float | None:
    return None if x is None else x * 1000


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}x"


def model_map(config: GatewayConfig, dataset: RoutingDataset) -> dict[str, str]:
    """Backend name -> the data's model name, for the backends the data has scores for."""
    known = set(dataset.model_names)
    out = {}
    for b in config.backends:
        for name in (b.name, b.model):
            if name in known:
                out[b.name] = name
                break
    return out


def evaluate_policy(
    policy: Policy,
    dataset: RoutingDataset,
    *,
    requested: str = "auto",
    config_name: str = "",
    progress: Callable[[int], Any] | None = None,
) -> PolicyReport:
    dataset, dropped = drop_unscored(dataset)
    truth = Truth.of(dataset)
    names = model_map(policy.config, dataset)
    explainer = Explainer(policy, select=True)
    outcomes: list[Outcome] = []
    for start in range(0, dataset.n_prompts, 64):
        views = explainer.embed([RequestView.from_prompt(p) for p in dataset.prompts[start : start + 64]])
        for i, view in enumerate(views, start):
            outcomes.append(_outcome(explainer.explain(view, requested), i, names, dataset, truth))
            if progress is not None:
                progress(1)
    return _report(policy, dataset, truth, outcomes, dropped, requested, config_name, names)


def _outcome(explained: Any, i: int, names: dict[str, str], ds: RoutingDataset, truth: Truth) -> Outcome:
    d = explained.decision
    if d is None:  # e.g. an unknown requested model: nothing would be served
        return Outcome("error", "error")
    if d.action == "block" or not explained.ranking:
        return Outcome(d.name, d.action)
    model = names.get(explained.ranking[0])
    if model is None:
        return Outcome(d.name, d.action)
    j = ds.model_index(model)
    return Outcome(d.name, d.action, model, float(truth.quality[i, j]), float(truth.cost[i, j]))


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else None


def _report(policy: Policy, ds: RoutingDataset, truth: Truth, outcomes: list[Outcome], dropped: int,
            requested: str, config_name: str, names: dict[str, str]) -> PolicyReport:  # fmt: skip
    n = len(outcomes)
    routed = [i for i, o in enumerate(outcomes) if o.action not in ("block", "error")]
    scored = [i for i in routed if not (math.isnan(outcomes[i].quality) or math.isnan(outcomes[i].cost))]
    decisions = []
    for (name, action), count in Counter((o.decision, o.action) for o in outcomes).most_common():
        mine = [o for o in outcomes if (o.decision, o.action) == (name, action)]
        models = dict(Counter(o.model for o in mine if o.model))
        quality, cost = _mean([o.quality for o in mine]), _mean([o.cost for o in mine])
        decisions.append(DecisionStats(name, action, count, count / n, quality, cost, models))
    sub = truth.subset(np.array(scored, dtype=int)) if scored else None
    best, oracle = _references(ds, sub)
    notes = _notes(policy, ds, names)
    if len(scored) < len(routed):
        notes.append(f"{len(routed) - len(scored)} routed prompts went to a model the data has no score for "
                     "(or no model the data knows); they are left out of quality and cost")  # fmt: skip
    by_task: dict[str, dict[str, Any]] = {}
    if any(t is not None for t in ds.tasks):
        for task in sorted({t for t in ds.tasks if t is not None}):
            rows = [i for i, t in enumerate(ds.tasks) if t == task]
            blocked = sum(outcomes[i].action == "block" for i in rows)
            by_task[task] = {"prompts": len(rows), "blocked_share": blocked / len(rows),
                             "quality": _mean([outcomes[i].quality for i in rows])}  # fmt: skip
    return PolicyReport(
        dataset=summarize_dataset(ds, truth, dropped),
        evaluation={
            "config": config_name,
            "requested_model": requested,
            "n_prompts": n,
            "cost_unit": "USD per request",
            "backends_in_data": names,
        },  # fmt: skip
        decisions=decisions,
        blocked_share=sum(o.action == "block" for o in outcomes) / max(n, 1),
        routed={
            "prompts": len(routed),
            "scored": len(scored),
            "quality": _mean([outcomes[i].quality for i in scored]),
            "cost": _mean([outcomes[i].cost for i in scored]),
        },  # fmt: skip
        best_single=best,
        oracle=oracle,
        by_task=by_task,
        notes=notes,
    )


def _references(ds: RoutingDataset, truth: Truth | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if truth is None:
        return {"model": None, "quality": None, "cost": None}, {"quality": None, "cost": None}
    with np.errstate(invalid="ignore"):
        q = np.nanmean(np.where(truth.known, truth.quality, np.nan), axis=0)
        c = np.nanmean(np.where(truth.known, truth.cost, np.nan), axis=0)
    j = int(np.nanargmax(q))
    best = {"model": ds.model_names[j], "quality": float(q[j]), "cost": float(c[j])}
    # oracle: per prompt the best known quality, the cheapest model reaching it
    quality = np.where(truth.known, truth.quality, -np.inf)
    top = quality.max(axis=1, keepdims=True)
    cost = np.where(quality == top, truth.cost, np.inf).min(axis=1)
    return best, {"quality": float(top.mean()), "cost": float(cost.mean())}


def _notes(policy: Policy, ds: RoutingDataset, names: dict[str, str]) -> list[str]:
    notes = []
    sources = {str(Path(s).resolve()) for s in ds.info.get("source", [])}
    for p in policy.config.profiles:
        train = p.selector.train
        if train is not None and (str(Path(train.data).resolve()) in sources or Path(train.data).resolve() in
                                  {Path(s).parent for s in sources}):  # fmt: skip
            notes.append(f"profile {p.name!r}: its router is trained on this data, so it is scored in sample")
        missing = [c for c in p.candidates if c not in names]
        if missing:
            notes.append(f"profile {p.name!r}: the data has no scores for {', '.join(missing)}")
    return notes


def plot_policy(report: PolicyReport, path: str | Path) -> Path:
    """policy.png: the rule set's realised quality and cost on its routed prompts, next to every single model
    and the oracle on all prompts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = report.dataset
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    for m in ds.models:
        ax.scatter(m.cost * 1000, m.quality, marker="s", s=28, color="black", zorder=4)
        ax.annotate(
            m.name, (m.cost * 1000, m.quality), textcoords="offset points", xytext=(5, -10), fontsize=7
        )
    ax.scatter(ds.oracle_cost * 1000, ds.oracle_quality, marker="*", s=160, color="0.4", label="oracle")
    r = report.routed
    if r["quality"] is not None:
        ax.scatter(r["cost"] * 1000, r["quality"], marker="o", s=110, color="crimson", zorder=5,
                   label=f"rule set (routed prompts; {report.blocked_share:.1%} blocked)")  # fmt: skip
    if all(m.cost > 0 for m in ds.models):
        ax.set_xscale("log")
    ax.set_xlabel("mean cost, USD per 1k requests")
    ax.set_ylabel("mean quality")
    ax.set_title(f"{report.evaluation['config']} on {ds.name}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)

"""The evaluation report: what `pointsman eval` writes (report.json, report.md) and plots (curves.png).

All costs are USD per request unless a name says `per_1k`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pointsman.evaluate.bootstrap import Interval
from pointsman.evaluate.curve import Curve, Scores, Sweep
from pointsman.evaluate.threshold import ThresholdCurve
from pointsman.policy.calibration import Achieved
from pointsman.policy.objective import Objective

MISSING_POLICY = (
    "choices are restricted to models with a known score for the prompt; single-model figures are means "
    "over known entries; prompts with no known score are dropped"
)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    input_price: float
    output_price: float
    quality: float
    cost: float
    unknown: int  # prompts with no score for this model


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    format: str | None
    sources: list[str]
    n_prompts: int
    models: list[ModelSummary]
    best_single: str
    oracle_quality: float
    oracle_cost: float
    cost_model: str | None
    prompts_dropped_unscored: int
    prompts_with_unknown: int
    duplicates_dropped: int

    def model(self, name: str) -> ModelSummary:
        return next(m for m in self.models if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        best = self.model(self.best_single)
        return {
            "name": self.name,
            "format": self.format,
            "sources": self.sources,
            "n_prompts": self.n_prompts,
            "duplicates_dropped": self.duplicates_dropped,
            "n_models": len(self.models),
            "models": [dataclasses.asdict(m) for m in self.models],
            "best_single": {"model": best.name, "quality": best.quality, "cost": best.cost},
            "oracle": {"quality": self.oracle_quality, "cost": self.oracle_cost},
            "cost_model": self.cost_model,
            "missing": {
                "unknown_entries": sum(m.unknown for m in self.models),
                "prompts_with_unknown": self.prompts_with_unknown,
                "prompts_dropped_unscored": self.prompts_dropped_unscored,
                "policy": MISSING_POLICY,
            },
        }


@dataclass(frozen=True)
class CalibrationResult:
    """A target resolved on one half of the evaluated prompts and measured on the other half."""

    objective: Objective  # resolved: lambda set, calibration record attached
    held_out: Achieved

    def to_dict(self) -> dict[str, Any]:
        target = self.objective.model_copy(update={"calibration": None, "lambda_": None}).dump()
        target.pop("lambda", None)
        return {
            "target": target,
            "lambda": _json_float(self.objective.lambda_),
            "calibration": self.objective.calibration.model_dump() if self.objective.calibration else None,
            "held_out": dataclasses.asdict(self.held_out),
        }


@dataclass(frozen=True)
class RouterResult:
    label: str
    name: str
    params: dict[str, Any]
    scores: Scores
    ci95: dict[str, Interval]
    curve: Curve
    fit_seconds: float
    predict_seconds: float
    calibration: list[CalibrationResult] = field(default_factory=list)
    unknown_choices_redirected: float | None = None  # share of choices moved off unknown scores
    threshold_curve: ThresholdCurve | None = None  # two-model data: RouteLLM's threshold sweep
    # per-prompt outcomes behind the curve (for paired comparisons in benchmarks); not written out
    sweep: Sweep | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        scores = {k: v for k, v in dataclasses.asdict(self.scores).items() if v is not None or k in _ALWAYS}
        hc, hq = self.curve.hull()
        out: dict[str, Any] = {
            "router": self.name,
            "params": self.params,
            **scores,
            "ci95": {k: list(v) for k, v in self.ci95.items()},
            "fit_seconds": round(self.fit_seconds, 3),
            "predict_seconds": round(self.predict_seconds, 3),
            "calibration": [c.to_dict() for c in self.calibration],
            "unknown_choices_redirected": self.unknown_choices_redirected,
            "curve": {
                "lambda": [_json_float(x) for x in self.curve.lambdas],
                "cost": self.curve.cost.tolist(),
                "quality": self.curve.quality.tolist(),
            },
            "hull": {"cost": hc.tolist(), "quality": hq.tolist()},
        }
        if self.curve.strong_share is not None:
            out["curve"]["strong_share"] = self.curve.strong_share.tolist()
        if self.threshold_curve is not None:
            thin = self.threshold_curve.thinned()
            out["threshold_curve"] = {
                "strong_share": thin.strong_share.tolist(),
                "quality": thin.quality.tolist(),
            }
        return out


# Present for every router (null when never reached), as the report shape requires.
_ALWAYS = {"max_quality", "oracle_gap_closed", "cost_ratio_at_best_single_quality", "aiq"}


@dataclass(frozen=True)
class Report:
    dataset: DatasetSummary
    evaluation: dict[str, Any]
    default_router: str | None
    routers: dict[str, RouterResult]
    oracle_curve: Curve

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "dataset": self.dataset.to_dict(),
                "evaluation": self.evaluation,
                "default_router": self.default_router,
                "routers": {label: r.to_dict() for label, r in self.routers.items()},
            }
        )

    def to_markdown(self) -> str:
        ds = self.dataset
        best = ds.model(ds.best_single)
        two = any(r.scores.apgr is not None for r in self.routers.values())
        lines = [
            f"# Router evaluation: {ds.name}",
            "",
            f"{ds.n_prompts} prompts x {len(ds.models)} models; {self.evaluation['protocol']}; "
            f"95% bootstrap intervals over prompts ({self.evaluation['bootstrap']} resamples).",
            "",
            f"- best single model: **{best.name}**, quality {best.quality:.3f} "
            f"at ${best.cost * 1000:.4f} per 1k "
            "requests",
            f"- oracle: quality {ds.oracle_quality:.3f} at ${ds.oracle_cost * 1000:.4f} per 1k requests",
            f"- default router: {self.default_router or 'none'}",
            "",
            "| router | max quality | oracle gap closed | cost ratio at best-single quality | AIQ |"
            + (" APGR | CPT(50%) | CPT(80%) | cost-aware APGR |" if two else "")
            + " fit+predict s |",
            "|---|---|---|---|---|" + ("---|---|---|---|" if two else "") + "---|",
        ]
        for label, r in self.routers.items():
            mark = " (default)" if r.name == self.default_router else ""
            cells = [
                f"{label}{mark}",
                _cell(r, "max_quality"),
                _cell(r, "oracle_gap_closed"),
                _cell(r, "cost_ratio_at_best_single_quality", suffix="x"),
                _cell(r, "aiq"),
            ]
            if two:
                cells += [_cell(r, n) for n in ("apgr", "cpt50", "cpt80", "cost_aware_apgr")]
            cells.append(f"{r.fit_seconds + r.predict_seconds:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Cost ratio: the least cost per request at which the router's quality-cost hull reaches the best "
            "single model's quality, over that model's cost; `never` when it does not. See docs/lab.md.",
        ]
        if two:
            lines += [
                "",
                "APGR, CPT: RouteLLM's, from a threshold on the router's own predicted strong-minus-weak "
                "gain (share of strong calls on the x-axis, cost ignored). Cost-aware APGR: the same area "
                "along the quality - lambda x cost sweep, which orders prompts by gain per extra cost.",
            ]
        lines += _calibration_markdown(self)
        return "\n".join(lines) + "\n"


def _calibration_markdown(report: Report) -> list[str]:
    rows = []
    for label, r in report.routers.items():
        for c in r.calibration:
            rec, got = c.objective.calibration, c.held_out
            if rec is None:
                continue
            rel = lambda x: "" if x is None else f" ({x:.3f} rel.)"  # noqa: E731
            rows.append(
                f"| {label} | {rec.target} | {_fmt(c.objective.lambda_)} | "
                f"{rec.quality:.3f}{rel(rec.relative_quality)}, ${rec.cost_per_1k:.4f} | "
                f"{got.quality:.3f}{rel(got.relative_quality)}, ${got.cost_per_1k:.4f} | "
                f"{'yes' if got.met else 'no'} |"
            )
    if not rows:
        return []
    return [
        "",
        "## Calibration (targets resolved on one half of the prompts, measured on the other)",
        "",
        "| router | target | lambda | calibration half: quality, $/1k | held-out half: quality, $/1k | met |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def _cell(r: RouterResult, name: str, suffix: str = "") -> str:
    value = getattr(r.scores, name)
    if value is None:
        return "never" if name == "cost_ratio_at_best_single_quality" else "n/a"
    text = f"{value:.3f}{suffix}"
    lo, hi = r.ci95.get(name, (None, None))
    if lo is not None or hi is not None:
        text += f" [{_fmt(lo)}, {_fmt(hi)}]"
    return text


def _fmt(x: float | None) -> str:
    if x is None:
        return "inf"
    return f"{x:.3g}" if abs(x) >= 1000 else f"{x:.3f}"


def _json_float(x: float | None) -> float | str | None:
    if x is None:
        return None
    return "inf" if math.isinf(x) else float(x)


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj

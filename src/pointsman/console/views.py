"""What the dashboard shows, computed from decision records: traffic over time, share per model, spend and its
saving against two fixed policies, latency per backend, guard counts, and the explorer's rows.

Savings compare like with like: the predicted cost (the selector's, logged with each candidate) of the model
the policy chose against the predicted cost of the strongest candidate (highest predicted quality) and of the
profile's first candidate, over the requests whose candidates carry all three. Requests routed by a static
order log no predictions and are left out of that comparison; their actual cost still counts in the spend.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pointsman.store.decisions import DecisionRecord

# Bucket widths the traffic chart may use (seconds); the smallest giving at most MAX_BUCKETS buckets wins.
BUCKETS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 60
GUARD_ACTIONS = ("block", "redact", "divert")


@dataclass(slots=True)
class Totals:
    requests: int = 0
    served: int = 0
    errors: int = 0  # status >= 400, blocks included
    blocked: int = 0
    redacted: int = 0
    fallbacks: int = 0  # requests answered by another model than the policy's first choice
    spend_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class Series:
    """Requests per bucket, split three ways. `starts[i]` is bucket i's start (unix seconds)."""

    bucket_s: int
    starts: list[float]
    by_route: dict[str, list[int]]
    by_decision: dict[str, list[int]]
    by_model: dict[str, list[int]]


@dataclass(slots=True)
class Share:
    model: str
    requests: int
    share: float
    spend_usd: float


@dataclass(slots=True)
class Spend:
    actual_usd: float  # what the served requests cost (token counts x prices)
    compared: int  # requests whose logged candidates give all three predicted costs
    chosen_usd: float  # predicted cost of the policy's choices on those requests
    strongest_usd: float  # ... had it always taken the candidate of highest predicted quality
    first_usd: float  # ... had it always taken the profile's first candidate
    saving_vs_strongest_usd: float
    saving_vs_first_usd: float
    saving_vs_strongest: float | None  # share of the baseline's cost saved
    saving_vs_first: float | None


@dataclass(slots=True)
class Latency:
    backend: str
    requests: int  # answered by this backend
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    first_byte_p50_s: float | None
    failures: int  # attempts on this backend that did not answer (the request fell back)


@dataclass(slots=True)
class GuardCount:
    rule: str
    action: str
    count: int


@dataclass(slots=True)
class Overview:
    since: float | None
    until: float
    truncated: bool  # the window held more records than one view reads (reader.MAX_RECORDS)
    totals: Totals
    series: Series
    share: list[Share]
    spend: Spend
    latency: list[Latency]
    guards: list[GuardCount]
    routes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)


def overview(
    records: list[DecisionRecord],
    *,
    since: float | None,
    until: float,
    first_models: Mapping[str, str],
    truncated: bool = False,
) -> Overview:
    """Every view of the dashboard over `records` (newest first, as reader.read returns them)."""
    return Overview(
        since=since,
        until=until,
        truncated=truncated,
        totals=totals(records),
        series=series(records, since, until),
        share=share(records),
        spend=spend(records, first_models),
        latency=latency(records),
        guards=guards(records),
        routes=sorted({r.route for r in records if r.route}),
        models=sorted({m for r in records if (m := r.served_model or r.chosen_model)}),
        tenants=sorted({r.tenant for r in records if r.tenant}),
    )


def totals(records: Iterable[DecisionRecord]) -> Totals:
    t = Totals()
    for r in records:
        t.requests += 1
        t.served += r.served_model is not None and r.status < 400
        t.errors += r.status >= 400
        t.blocked += r.action == "block"
        t.redacted += r.action == "redact"
        t.fallbacks += bool(r.served_model and r.chosen_model and r.served_model != r.chosen_model)
        t.spend_usd += r.cost_usd or 0.0
        t.prompt_tokens += r.prompt_tokens or 0
        t.completion_tokens += r.completion_tokens or 0
    return t


def bucket_width(span: float) -> int:
    return next((b for b in BUCKETS if span / b <= MAX_BUCKETS), BUCKETS[-1])


def series(records: list[DecisionRecord], since: float | None, until: float) -> Series:
    # From the first record on (within the window): a quiet window's traffic does not shrink to one bar.
    start = min((r.time for r in records), default=until)
    if since is not None and since > start:
        start = since
    width = bucket_width(max(until - start, 1.0))
    first = math.floor(start / width) * width
    n = max(1, math.ceil((until - first) / width))
    split: dict[str, dict[str, list[int]]] = {"route": {}, "decision": {}, "model": {}}
    for r in records:
        i = min(n - 1, max(0, int((r.time - first) // width)))
        keys = {
            "route": r.route or "(none)",
            "decision": r.decision or "(none)",
            "model": r.served_model or "(not served)",
        }
        for kind, key in keys.items():
            split[kind].setdefault(key, [0] * n)[i] += 1
    return Series(
        width, [first + i * width for i in range(n)], split["route"], split["decision"], split["model"]
    )


def share(records: Iterable[DecisionRecord]) -> list[Share]:
    counts: Counter[str] = Counter()
    spent: defaultdict[str, float] = defaultdict(float)
    for r in records:
        if r.served_model is not None:
            counts[r.served_model] += 1
            spent[r.served_model] += r.cost_usd or 0.0
    total = sum(counts.values())
    return [Share(m, n, n / total, spent[m]) for m, n in counts.most_common()]


def spend(records: Iterable[DecisionRecord], first_models: Mapping[str, str]) -> Spend:
    actual = chosen = strongest = first = 0.0
    compared = 0
    for r in records:
        actual += r.cost_usd or 0.0
        costs = _predicted(r, first_models.get(r.route))
        if costs is not None:
            compared += 1
            chosen += costs[0]
            strongest += costs[1]
            first += costs[2]
    return Spend(
        actual_usd=actual,
        compared=compared,
        chosen_usd=chosen,
        strongest_usd=strongest,
        first_usd=first,
        saving_vs_strongest_usd=strongest - chosen,
        saving_vs_first_usd=first - chosen,
        saving_vs_strongest=(strongest - chosen) / strongest if strongest > 0 else None,
        saving_vs_first=(first - chosen) / first if first > 0 else None,
    )


def _predicted(r: DecisionRecord, first_model: str | None) -> tuple[float, float, float] | None:
    """Predicted cost of (the chosen, the strongest, the profile's first) candidate, if all are logged."""
    cost = {c.get("model"): c.get("cost") for c in r.candidates}
    rated = [c for c in r.candidates if c.get("quality") is not None]
    if not rated or first_model is None:
        return None
    strongest = max(rated, key=lambda c: c["quality"])[
        "model"
    ]  # max keeps the first of equals: the ranking's
    picked = (cost.get(r.chosen_model), cost.get(strongest), cost.get(first_model))
    if any(not isinstance(c, (int, float)) for c in picked):
        return None
    return picked  # type: ignore[return-value]


def latency(records: Iterable[DecisionRecord]) -> list[Latency]:
    totals_s: defaultdict[str, list[float]] = defaultdict(list)
    first_s: defaultdict[str, list[float]] = defaultdict(list)
    failures: Counter[str] = Counter()
    for r in records:
        for attempt in r.fallbacks:
            failures[attempt.get("model") or "?"] += 1
        if r.served_model is None or r.status >= 400 or r.total_s is None:
            continue
        totals_s[r.served_model].append(r.total_s)
        if r.first_byte_s is not None:
            first_s[r.served_model].append(r.first_byte_s)
    out = []
    for backend in sorted(set(totals_s) | set(failures)):
        p50, p90, p99 = _percentiles(totals_s.get(backend, []), (50, 90, 99))
        (fb50,) = _percentiles(first_s.get(backend, []), (50,))
        out.append(Latency(backend, len(totals_s.get(backend, [])), p50, p90, p99, fb50, failures[backend]))
    return out


def _percentiles(values: list[float], qs: tuple[int, ...]) -> list[float | None]:
    if not values:
        return [None] * len(qs)
    return [float(v) for v in np.percentile(np.asarray(values), qs)]


def guards(records: Iterable[DecisionRecord]) -> list[GuardCount]:
    counts: Counter[tuple[str, str]] = Counter(
        (r.rule or r.decision or "?", r.action) for r in records if r.action in GUARD_ACTIONS
    )
    return [GuardCount(rule, action, n) for (rule, action), n in sorted(counts.items())]


def explorer_row(r: DecisionRecord) -> dict[str, Any]:
    """One line of the request explorer (the whole record is one click away)."""
    return {
        "request_id": r.request_id,
        "time": r.time,
        "tenant": r.tenant,
        "requested_model": r.requested_model,
        "route": r.route,
        "decision": r.decision,
        "action": r.action,
        "chosen_model": r.chosen_model,
        "served_model": r.served_model,
        "status": r.status,
        "error_code": r.error_code,
        "total_s": r.total_s,
        "cost_usd": r.cost_usd,
        "stream": r.stream,
    }

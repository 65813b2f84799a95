"""Signals benchmark: latency per signal on one core, PII precision/recall per type, route accuracy.

    python benchmarks/signals.py [--data ../shared/data] [--quick] [--json out.json]

Latency: each signal computes once per request on a fresh RequestView (so it pays for the derived facts
it reads, as the first signal of a request would), over realistic requests built from LLMRouter prompts
(math, code, QA, long multi-part) and CLINC150/Banking77 queries: single prompts, prompts under a system
prompt, 3-turn conversations, some with tools. Pinned to one core (os.sched_setaffinity), GC paused
while timing. Targets (exit 1 when one is missed):
  - every heuristic signal p50 <= 50 us;
  - PII p50 <= 2 ms and every learned / embedding signal p50 <= 2 ms with the request embedding computed;
  - PII precision and recall >= 0.95 per structured type, on presidio-research's synthetic set and on
    faker-generated text (with hard negatives).
Learned signals (trained classifiers) add their rows in the LEARNED section below. The guards section
(signals_guards.py, issue 15): harm / privacy p50 <= 300 us with the embedding computed, their held-out and
cross-source figures, names/addresses precision/recall, answer-side check p50 <= 3 ms for a 300-token answer.

    python benchmarks/signals.py --only guards     # just that section
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from pointsman.signals import RequestView, Signal, SignalRunner, build_signals
from pointsman.signals.base import estimate_tokens
from pointsman.signals.pii import PiiDetector
from pointsman.signals.pii.evaluate import generate_faker, load_presidio, score
from pointsman.signals.routes import Route, RouteSignal

ROOT = Path(__file__).resolve().parents[1]
HEURISTIC_P50_US = 50.0
LEARNED_P50_US = 2000.0
PII_TARGET = 0.95
STRUCTURED_PII = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS")
NATIONAL_IDS = ("BR_CPF", "ES_NIF", "CA_SIN", "NL_BSN")
console = Console(width=150)


@dataclass
class Row:
    """One line of the report. `target`/`ok` are None for figures reported without a target."""

    section: str
    name: str
    figure: str
    value: float
    target: str | None = None
    ok: bool | None = None
    note: str = ""


# -- inputs --------------------------------------------------------------------------------------------
def load_prompts(data: Path, n: int, rng: random.Random) -> list[str]:
    llm = [r["question"] for r in json.loads((data / "llmrouter" / "dcrouter_test.json").read_text())]
    clinc = [t for t, _ in json.loads((data / "guard/ood/clinc150/data_full.json").read_text())["test"]]
    with open(data / "guard/ood/banking77/test.csv", newline="") as f:
        banking = [row["text"] for row in csv.DictReader(f)]
    k = n // 3
    return rng.sample(llm, min(k, len(llm))) + rng.sample(clinc, k) + rng.sample(banking, k)


TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_balance", "parameters": {"type": "object", "properties": {}}},
    }
]
SYSTEM = "You are a helpful assistant for Acme Bank. Answer briefly and never reveal internal policies."


def make_bodies(prompts: Sequence[str], rng: random.Random) -> list[dict[str, Any]]:
    """Realistic request shapes around the prompts."""
    bodies = []
    for i, prompt in enumerate(prompts):
        shape = i % 4
        if shape == 0:
            messages = [{"role": "user", "content": prompt}]
        elif shape == 1:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        elif shape == 2:
            a, b = rng.sample(prompts, 2)
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": a},
                {"role": "assistant", "content": "Sure. " + b[:200]},
                {"role": "user", "content": b},
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": [{"type": "text", "text": prompt}]},
            ]
        else:
            messages = [{"role": "user", "content": prompt}]
        body: dict[str, Any] = {"model": "auto", "messages": messages}
        if shape == 3:
            body["tools"] = TOOLS
        bodies.append(body)
    return bodies


# -- timing --------------------------------------------------------------------------------------------
def time_signal(
    signal: Signal, bodies: Sequence[dict[str, Any]], rounds: int, embeddings: np.ndarray | None = None
) -> list[float]:
    """Microseconds of `signal.compute` per request, each on a fresh view."""
    out = []
    gc.disable()
    try:
        for _ in range(rounds):
            for i, body in enumerate(bodies):
                view = RequestView(body, embedding=None if embeddings is None else embeddings[i])
                t0 = time.perf_counter_ns()
                signal.compute(view)
                out.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        gc.enable()
    return out


def pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def latency_rows(
    section: str, name: str, us: Sequence[float], target_us: float | None, note: str = ""
) -> list[Row]:
    p50 = statistics.median(us)
    ok = None if target_us is None else p50 <= target_us
    return [
        Row(section, name, "p50 us", p50, None if target_us is None else f"<= {target_us:g}", ok, note),
        Row(section, name, "p99 us", pct(us, 99)),
    ]


# -- sections ------------------------------------------------------------------------------------------
def heuristic_section(bodies: Sequence[dict[str, Any]], rounds: int) -> list[Row]:
    config = {
        "topics": {"type": "keywords", "sets": KEYWORD_SETS},
        "patterns": {"type": "regex", "sets": REGEX_SETS},
        "team": {"type": "header", "header": "x-team"},
    }
    signals = build_signals(config)
    rows = [
        Row(
            "heuristic",
            "RequestView",
            "p50 us",
            statistics.median(_time_views(bodies, rounds)),
            note="parse body",
        )
    ]
    for name, signal in signals.items():
        if not signal.inline or name == "pii":
            continue
        rows += latency_rows("heuristic", name, time_signal(signal, bodies, rounds), HEURISTIC_P50_US)
    return rows


def _time_views(bodies: Sequence[dict[str, Any]], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for body in bodies:
            t0 = time.perf_counter_ns()
            RequestView(body)
            out.append((time.perf_counter_ns() - t0) / 1000)
    return out


KEYWORD_SETS = {
    "code": [
        "python",
        "javascript",
        "typescript",
        "rust",
        "golang",
        "function",
        "compile",
        "stack trace",
        "segfault",
        "regex",
        "sql",
        "dataframe",
        "bug",
        "exception",
        "unit test",
        "refactor",
    ],
    "math": ["integral", "derivative", "equation", "prove", "theorem", "probability", "matrix", "solve for"],
    "legal": ["contract", "lawsuit", "liability", "gdpr", "copyright", "attorney", "court", "clause"],
    "medical": ["symptom", "diagnosis", "dosage", "prescription", "disease", "treatment", "side effects"],
    "urgent": ["asap", "urgent", "immediately", "right now", "emergency"],
}
REGEX_SETS = {
    "url": [r"https?://\S+"],
    "question": [r"^\s*(what|why|how|when|where|who|which)\b"],
    "money": [r"[$€£]\s?\d[\d,]*(\.\d\d)?", r"\b\d+(\.\d+)?\s?(usd|eur|dollars|euros)\b"],
}


def pii_section(data: Path, bodies: Sequence[dict[str, Any]], rounds: int, quick: bool) -> list[Row]:
    signals = build_signals(None)
    rows = latency_rows("pii", "pii", time_signal(signals["pii"], bodies, rounds), LEARNED_P50_US)
    detector = PiiDetector()
    sets = [
        (
            "presidio_synth_v2",
            load_presidio(data / "guard/pii/presidio_synth_v2/synth_dataset_v2.json"),
            STRUCTURED_PII,
        ),
        (
            "faker",
            generate_faker(100 if quick else 300, seed=7, n_negatives=500 if quick else 1500),
            STRUCTURED_PII + NATIONAL_IDS,
        ),
    ]
    for set_name, items, types in sets:
        for type_, sc in score(detector, items, types).items():
            if sc.support == 0:
                continue
            note = f"{set_name}, n={sc.support}"
            rows.append(
                Row(
                    "pii",
                    type_,
                    "precision",
                    sc.precision,
                    f">= {PII_TARGET}",
                    sc.precision >= PII_TARGET,
                    note,
                )
            )
            rows.append(
                Row("pii", type_, "recall", sc.recall, f">= {PII_TARGET}", sc.recall >= PII_TARGET, note)
            )
    return rows


def routes_section(
    data: Path, bodies: Sequence[dict[str, Any]], rounds: int, quick: bool, rng: random.Random
) -> list[Row]:
    """CLINC150 intents as routes of 5 utterances each; thresholds tuned on val (+ out-of-scope), accuracy
    on test (+ out-of-scope). Latency with the request embedding already computed."""
    from pointsman.text.embedding_cache import CachedEncoder
    from pointsman.text.encoder import get_encoder

    encoder = CachedEncoder(get_encoder())
    clinc = json.loads((data / "guard/ood/clinc150/data_full.json").read_text())
    by_intent: dict[str, list[str]] = {}
    for text, intent in clinc["train"]:
        by_intent.setdefault(intent, []).append(text)
    routes = [Route(intent, tuple(rng.sample(texts, 5))) for intent, texts in sorted(by_intent.items())]
    signal = RouteSignal("intent", routes, encoder)

    def split(name: str, n: int, n_oos: int) -> tuple[list[str], list[str | None]]:
        rows = rng.sample(clinc[name], n) + [(t, None) for t, _ in rng.sample(clinc["oos_" + name], n_oos)]
        return [t for t, _ in rows], [lab for _, lab in rows]

    (val_x, val_y), (test_x, test_y) = (
        split("val", 600 if quick else 1500, 100),
        split("test", 600 if quick else 1500, 300),
    )
    val_e, test_e = encoder.encode(val_x, progress=True), encoder.encode(test_x, progress=True)
    base = _accuracy(signal.predict(test_e), test_y)
    signal.tune(val_e, val_y, objective="accuracy")
    tuned = _accuracy(signal.predict(test_e), test_y)
    embeddings = encoder.encode([RequestView(b).embedding_text for b in bodies])
    rows = latency_rows(
        "learned",
        "routes (150 x 5 utterances)",
        time_signal(signal, bodies, rounds, embeddings),
        LEARNED_P50_US,
    )
    rows.append(
        Row(
            "learned",
            "routes (150 x 5 utterances)",
            "accuracy, threshold 0.5",
            base,
            note="CLINC150 test + oos",
        )
    )
    rows.append(
        Row(
            "learned",
            "routes (150 x 5 utterances)",
            "accuracy, tuned on val",
            tuned,
            note="CLINC150 test + oos",
        )
    )
    single = [RequestView(b).embedding_text for b in bodies[:40]]
    raw = get_encoder()
    raw.encode(["warm up"])
    embed_us = []
    for text in single:
        t0 = time.perf_counter_ns()
        raw.encode([text])
        embed_us.append((time.perf_counter_ns() - t0) / 1000)
    rows += latency_rows(
        "learned", f"request embedding ({raw.id})", embed_us, None, "computed once per request, shared"
    )
    rows += runner_rows(bodies, rounds, signal, embeddings)
    return rows


def _accuracy(pred: Sequence[str | None], gold: Sequence[str | None]) -> float:
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def runner_rows(
    bodies: Sequence[dict[str, Any]], rounds: int, routes: RouteSignal, embeddings: np.ndarray
) -> list[Row]:
    """A realistic decision's signal set through the runner (embedding given, as the gateway shares it)."""
    signals = build_signals({"topics": {"type": "keywords", "sets": KEYWORD_SETS}})
    signals["intent"] = routes
    names = ["topics", "language", "prompt_tokens", "has_code", "pii", "intent"]
    runner = SignalRunner(signals, cache_size=0)
    us = []
    for _ in range(rounds):
        for i, body in enumerate(bodies):
            view = RequestView(body, embedding=embeddings[i])
            t0 = time.perf_counter_ns()
            runner.run(view, names)
            us.append((time.perf_counter_ns() - t0) / 1000)
    runner.close()
    return latency_rows("runner", "6 signals incl. routes (no cache)", us, None, ", ".join(names))


def token_estimate_rows(data: Path) -> list[Row]:
    """The O(1) token estimate against real prompt-token counts (RouteProfile's recorded calls), on the one
    task whose prompts were sent as they are and are long enough for template tokens not to matter."""
    rows = json.loads((data / "routeprofile" / "routing_test_data.json").read_text())
    rows = [r for r in rows if r["task_name"] == "agentverse-logicgrid"]
    out = []
    for model in ("gemma-2-9b-it", "llama-3.1-8b-instruct"):
        ratios = [
            (estimate_tokens(r["query"]) + 4) / r["model_performance"][model]["prompt_tokens"]
            for r in rows
            if r["model_performance"].get(model, {}).get("prompt_tokens")
        ]
        out.append(
            Row(
                "heuristic",
                "prompt_tokens",
                f"estimate / {model} count",
                statistics.median(ratios),
                note=f"median of n={len(ratios)} long prompts; p10 {pct(ratios, 10):.2f}, p90 {pct(ratios, 90):.2f}",
            )
        )
    return out


def code_detection_rows(data: Path) -> list[Row]:
    """`has_code` against LLMRouter's task labels: HumanEval prompts are code; prose tasks are not."""
    from pointsman.signals.heuristics import CodeSignal

    signal, rates = CodeSignal(), {}
    with open(data / "llmrouter" / "default_query_train.jsonl") as f:
        rows = [json.loads(line) for line in f]
    for task in ("human_eval", "mbpp", "math", "gsm8k", "mmlu", "natural_qa"):
        hits = [
            signal.compute(RequestView.from_prompt(r["query"])).value for r in rows if r["task_name"] == task
        ]
        rates[task] = (sum(hits) / len(hits), len(hits))
    notes = {"mbpp": "; asks for code in prose", "math": "; some problems carry Asymptote drawing code"}
    return [
        Row("heuristic", "has_code", f"share True on {t}", v, note=f"n={n}{notes.get(t, '')}")
        for t, (v, n) in rates.items()
    ]


# -- LEARNED: the learned-signal engineer registers sections here -----------------------------------------
# Each entry: (name, function(data_dir, bodies, rounds, quick) -> list[Row]). Report latency rows with
# `latency_rows("learned", name, us, LEARNED_P50_US)` (request embedding already computed) and accuracy/F1
# rows on held-out splits with their targets (`Row(..., target=">= 0.9", ok=value >= 0.9)`).
LEARNED: list[tuple[str, Callable[[Path, Sequence[dict[str, Any]], int, bool], list[Row]]]] = []
ACCURACY_TARGETS = {"jailbreak": 0.9, "ood": 0.9}  # held-out accuracy (issue 4); domain/difficulty: reported


def classifiers_section(data: Path, bodies: Sequence[dict[str, Any]], rounds: int, quick: bool) -> list[Row]:
    """The four trained classifiers (pointsman.signals.classifiers), each trained here from the shared data
    with its built-in recipe (embeddings from the on-disk cache after the first run): training time,
    latency with the request embedding computed, held-out figures (per set for jailbreak/ood), then the
    cross-source checks (train without a source, test on it)."""
    from pointsman.signals.classifiers import generalisation, store
    from pointsman.signals.classifiers.embed import default_encoder
    from pointsman.signals.classifiers.signal import SIGNALS

    encoder = default_encoder()
    embeddings = encoder.encode([RequestView(b).embedding_text for b in bodies], progress=True)
    rows: list[Row] = []
    for name, spec in store.KINDS.items():
        if name in ("harm", "privacy"):
            continue  # the guards section (signals_guards.py)
        source = data / "llmrouter" if name in ("domain", "difficulty") else data
        console.print(f"  training {name}")
        t0 = time.perf_counter()
        model = spec.train(source, encoder, progress=True)
        rows.append(Row("learned", name, "train s", time.perf_counter() - t0,
                        note=f"{model.info_['rows']:,} rows, fit {model.info_['fit_seconds']:.1f} s; embeddings cached"))
        us = time_signal(SIGNALS[name](name, model), bodies, rounds, embeddings)
        rows += latency_rows("learned", name, us, LEARNED_P50_US, "request embedding computed")
        result = spec.evaluate(model, source, encoder, progress=True)
        target = ACCURACY_TARGETS.get(name)
        what = f"{result.positive} vs rest" if result.positive else "macro"
        rows.append(Row("learned", name, "held-out accuracy", result.accuracy, target and f">= {target}",
                        None if target is None else result.accuracy >= target, f"pooled over {sum(s.n for s in result.sets):,} rows"))
        rows.append(Row("learned", name, f"held-out F1 ({what})", result.f1))
        rows += [Row("learned", name, key, value) for key, value in result.extra.items()]
        if result.positive and name != "difficulty":
            rows += [Row("learned", name, f"accuracy on {s.name}", s.accuracy, note=f"n={s.n}") for s in result.sets]
    console.print("  cross-source checks (one fit each)")
    checks = generalisation.jailbreak_checks(data, encoder, quick=quick, on_fit=lambda n: console.print(f"    {n}"))
    checks += generalisation.ood_checks(data, encoder, on_fit=lambda n: console.print(f"    {n}"))
    rows += [Row("cross-source", f"{c.kind}: {c.name}", f"{c.figure} on {c.measured_on}", c.value, note=f"n={c.n}")
             for c in checks]  # fmt: skip
    return rows


LEARNED.append(("classifiers", classifiers_section))


def guards_section(data: Path, bodies: Sequence[dict[str, Any]], rounds: int, quick: bool) -> list[Row]:
    """Harm, privacy, names/addresses and the answer-side checks (benchmarks/signals_guards.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import signals_guards

    return signals_guards.guards_section(data, bodies, rounds, quick, Row, latency_rows, time_signal)


LEARNED.append(("guards", guards_section))


# -- main ----------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    parser.add_argument(
        "--no-embeddings", action="store_true", help="skip the sections that need the encoder"
    )
    parser.add_argument("--only", choices=[name for name, _ in LEARNED], help="run one learned section only")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        console.print(f"[red]data folder not found: {args.data}[/red]")
        return 2
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    rng = random.Random(0)
    n, rounds = (300, 1) if args.quick else (1200, 3)
    bodies = make_bodies(load_prompts(args.data, n, rng), rng)
    # Warm up lazily loaded models before timing.
    for s in build_signals(None).values():
        s.compute(RequestView(bodies[0]))

    rows: list[Row] = []
    if args.only is None:
        rows += heuristic_section(bodies, rounds) + token_estimate_rows(args.data) + code_detection_rows(args.data)
        rows += pii_section(args.data, bodies, rounds, args.quick)
    if not args.no_embeddings and args.only is None:
        rows += routes_section(args.data, bodies, rounds, args.quick, rng)
    for name, section in LEARNED:
        if args.only is not None and name != args.only:
            continue
        console.print(f"learned section: {name}")
        rows += section(args.data, bodies, rounds, args.quick)

    show(rows, f"signals on core {core}: {len(bodies)} requests x {rounds} rounds")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    missed = [r for r in rows if r.ok is False]
    for r in missed:
        console.print(
            f"[red]MISSED[/red] {r.section} {r.name} {r.figure} = {r.value:.3f} (target {r.target}) {r.note}"
        )
    return 1 if missed else 0


def show(rows: Sequence[Row], title: str) -> None:
    table = Table(title=title)
    for col in ("section", "signal", "figure", "value", "target", "", "note"):
        table.add_column(col)
    for r in rows:
        mark = "" if r.ok is None else ("[green]ok[/green]" if r.ok else "[red]MISS[/red]")
        value = f"{r.value:.1f}" if r.figure.endswith("us") else f"{r.value:.3f}"
        table.add_row(r.section, r.name, r.figure, value, r.target or "", mark, r.note)
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())

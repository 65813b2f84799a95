"""`pointsman cache tune`: per-category semantic-cache thresholds for a precision target, from labelled pairs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

cache_app = typer.Typer(help="The response cache: tune semantic thresholds.", no_args_is_help=True)


OUT_OPTION = typer.Option(None, "--out", help="write the thresholds file (cache.thresholds)")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("tune")
def tune_command(
    data: str = typer.Option(
        "qqp",
        "--data",
        help="qqp, sts (the shared data), or a JSONL/CSV file: text_a, text_b, label[, category]",
    ),
    precision: float = typer.Option(0.99, "--precision", min=0.5, max=0.9999, help="the precision to hold"),
    confidence: float = typer.Option(
        0.95, "--confidence", min=0.5, max=0.9999, help="of the one-sided bound"
    ),
    held_out: float = typer.Option(
        0.5, "--held-out", min=0.0, max=0.9, help="share of questions measured on"
    ),
    topics: int = typer.Option(
        0, "--topics", min=0, max=256, help="no category column: k-means topics of the questions (evaluation)"
    ),
    out: Path | None = OUT_OPTION,
) -> None:
    """Tune each category's threshold (cosine and word overlap) so that the one-sided Clopper-Pearson bound
    of its precision meets --precision; print achieved precision, hit rate, recall and threshold per category,
    on the tuning pairs and on held-out ones."""
    from pointsman.cache.overlap import overlap
    from pointsman.cache.pairs import PairsError, load_pairs, load_qqp, load_sts
    from pointsman.cache.tuning import evaluate, tune_categories
    from pointsman.text import CachedEncoder, get_encoder

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        pairs = load_qqp() if data == "qqp" else load_sts() if data == "sts" else load_pairs(data)
    except (PairsError, FileNotFoundError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    encoder = CachedEncoder(get_encoder())
    a, b = encoder.encode(pairs.a), encoder.encode(pairs.b)
    sim = np.sum(a * b, axis=1)
    ovl = np.array([overlap(x, y) for x, y in zip(pairs.a, pairs.b, strict=True)])
    lab = pairs.label
    test = _held_out(pairs.a, held_out)
    tr = ~test
    cats = _categories(pairs, a, tr, topics)
    table = Table(title=f"{pairs.source}: target precision {precision:.1%} (bound at {confidence:.0%})")
    for col in (
        "category",
        "pairs",
        "threshold",
        "overlap",
        "precision (bound)",
        "held-out precision",
        "hit rate",
        "recall",
    ):
        table.add_column(col, justify="left" if col == "category" else "right")
    cats_arr = np.array(cats)
    tuned = tune_categories(
        sim[tr], lab[tr], ovl[tr], cats_arr[tr], precision=precision, confidence=confidence
    )
    for cat in ["*", *sorted(set(cats) - {"*"})]:
        rows = np.ones(len(lab), bool) if cat == "*" else cats_arr == cat
        t = tuned.get(cat, tuned["*"])
        hp, hr, hits = evaluate(t, sim[rows & test], lab[rows & test], ovl[rows & test])
        n_test = int((rows & test).sum())
        table.add_row(
            cat,
            f"{int((rows & tr).sum())}/{n_test}",
            _f(t.threshold),
            f"{t.min_overlap:.1f}",
            f"{_p(t.precision)} ({t.lower_bound:.1%})",
            _p(hp),
            f"{hits / max(n_test, 1):.1%}",
            f"{hr:.1%}",
        )
    Console(highlight=False).print(table)
    if not any(t.threshold is not None for t in tuned.values()):
        err.print(
            f"[yellow]no category reaches {precision:.1%} with {confidence:.0%} confidence on these pairs: "
            "the cache serves exact matches only[/]"
        )
    if out is not None:
        body = {
            "version": 1,
            "encoder": getattr(get_encoder(), "id", "minilm"),
            "precision": precision,
            "confidence": confidence,
            "source": pairs.source,
            "categories": {c: t.to_dict() for c, t in tuned.items()},
        }
        out.write_text(json.dumps(body, indent=2, allow_nan=True))
        err.print(f"wrote {out} (set cache.thresholds to it)")


def _held_out(questions: list[str], share: float) -> np.ndarray:
    """A split by question (a question and its paraphrases stay on one side)."""
    h = np.array([int(hashlib.blake2b(q.encode(), digest_size=4).hexdigest(), 16) for q in questions])
    return (h % 10_000) < share * 10_000


def _categories(pairs, vectors: np.ndarray, tune_rows: np.ndarray, topics: int) -> list[str]:
    if pairs.category is not None:
        return [c or "*" for c in pairs.category]
    if topics:
        from sklearn.cluster import KMeans

        km = KMeans(topics, n_init=3, random_state=0).fit(vectors[tune_rows][:20_000])
        return [f"topic-{c}" for c in km.predict(vectors)]
    return ["*"] * len(pairs)


def _f(x: float | None) -> str:
    return "none" if x is None else f"{x:.4f}"


def _p(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.1%}"

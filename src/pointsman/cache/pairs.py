"""Labelled question pairs (same answer or not) to tune the semantic cache's thresholds on.

Formats: the QQP archive GPTCache ships (a gzip tar holding one JSON list of {text_a, text_b, label}), the
STS benchmark CSV (score 0-5; pairs scoring >= `sts_min` count as the same question), and a plain JSONL or
CSV file with `text_a`, `text_b`, `label` (0/1) and optionally `category`.
"""

from __future__ import annotations

import csv
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointsman.data.guard_sets import guard_root


class PairsError(ValueError):
    """A pairs file that cannot be read; the message names the file and the row."""


@dataclass(frozen=True)
class Pairs:
    a: list[str]
    b: list[str]
    label: np.ndarray  # bool: the two texts ask the same thing
    category: list[str] | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, rows: np.ndarray) -> Pairs:
        cat = [self.category[i] for i in rows] if self.category is not None else None
        return Pairs([self.a[i] for i in rows], [self.b[i] for i in rows], self.label[rows], cat, self.source)


def semantic_cache_root(root: str | Path | None = None) -> Path:
    return guard_root(root) / "semantic_cache"


def load_qqp(root: str | Path | None = None) -> Pairs:
    path = semantic_cache_root(root) / "qqp_pairs" / "similiar_qqp_full.json.gz"
    try:
        with tarfile.open(path) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(".json"))
            rows = json.load(tar.extractfile(member))  # type: ignore[arg-type]
    except (OSError, tarfile.TarError, StopIteration, json.JSONDecodeError) as exc:
        raise PairsError(f"{path}: not the QQP pairs archive ({exc})") from None
    return _from_rows(rows, str(path))


def load_sts(split: str = "all", root: str | Path | None = None, sts_min: float = 4.0) -> Pairs:
    """The STS benchmark; `split` train, dev, test or all."""
    folder = semantic_cache_root(root) / "sts_benchmark"
    splits = ["train", "dev", "test"] if split == "all" else [split]
    a, b, label = [], [], []
    for s in splits:
        path = folder / f"sts-{s}.csv"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise PairsError(f"{path}: {exc.strerror}") from None
        for n, line in enumerate(lines, 1):
            cols = line.split("\t")
            if len(cols) < 7:
                raise PairsError(f"{path}:{n}: expected 7 tab-separated columns, got {len(cols)}")
            try:
                score = float(cols[4])
            except ValueError:
                raise PairsError(f"{path}:{n}: score {cols[4]!r} is not a number") from None
            a.append(cols[5])
            b.append(cols[6])
            label.append(score >= sts_min)
    return Pairs(a, b, np.array(label, dtype=bool), None, str(folder))


def load_pairs(path: str | Path) -> Pairs:
    """A JSONL or CSV file of `text_a, text_b, label[, category]` (or a QQP-style JSON list)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PairsError(f"{path}: {exc.strerror}") from None
    if path.suffix == ".csv":
        rows: list = list(csv.DictReader(text.splitlines()))
    elif text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise PairsError(f"{path}:{n}: not JSON ({exc.msg})") from None
    return _from_rows(rows, str(path))


def _from_rows(rows: list, source: str) -> Pairs:
    a, b, label, cat = [], [], [], []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise PairsError(f"{source}: row {n}: expected an object with text_a, text_b, label")
        ta, tb, lab = row.get("text_a"), row.get("text_b"), row.get("label")
        if not isinstance(ta, str) or not isinstance(tb, str):
            raise PairsError(f"{source}: row {n}: text_a and text_b must be strings")
        if str(lab) not in ("0", "1", "True", "False", "true", "false"):
            raise PairsError(f"{source}: row {n}: label must be 0 or 1, got {lab!r}")
        a.append(ta)
        b.append(tb)
        label.append(str(lab) in ("1", "True", "true"))
        cat.append(str(row.get("category") or ""))
    if not rows:
        raise PairsError(f"{source}: no pairs")
    category = cat if any(cat) else None
    return Pairs(a, b, np.array(label, dtype=bool), category, source)

"""Offline labels for logged requests (`pointsman feedback import FILE`): JSONL or CSV rows by request id.

JSONL: one object per line with the fields of `POST /v1/feedback` (`request_id`, `score` or `thumbs`,
`labels`, `comment`, `replace`). CSV: a header row naming the same columns; `labels` separated by `;`.
Every row is checked on its own: a bad one is reported with its line number and the rest are imported.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pointsman.gateway.errors import APIError
from pointsman.gateway.feedback import parse_feedback
from pointsman.store.decisions import DecisionLog
from pointsman.store.feedback import DuplicateFeedback, FeedbackRecord


@dataclass
class ImportReport:
    imported: int = 0
    replaced: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


def read_rows(path: Path) -> Iterator[tuple[int, bytes | str]]:
    """(line number, the row as JSON bytes, or an error message) for each non-empty row of the file."""
    raw = path.read_bytes()
    if path.suffix.lower() == ".csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            yield 1, f"the file is not UTF-8 ({exc})"
            return
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            yield reader.line_num, _csv_row(row)
        return
    for n, line in enumerate(raw.splitlines(), 1):
        if line.strip():
            yield n, line


def _csv_row(row: dict[str | None, str | None]) -> bytes | str:
    if None in row:
        return "more values than header columns"
    out: dict = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
    if "score" in out:
        try:
            out["score"] = float(out["score"])
        except ValueError:
            return f"'score' must be a number in [0, 1], got {out['score']!r}"
    if "labels" in out:
        out["labels"] = [s.strip() for s in out["labels"].split(";") if s.strip()]
    if "replace" in out:
        out["replace"] = out["replace"].strip().lower() in ("1", "true", "yes")
    return orjson.dumps(out)


def import_feedback(log: DecisionLog, path: Path, *, replace: bool = False) -> ImportReport:
    """Store each good row of `path` as `import` feedback on its logged request (the log must be open)."""
    report = ImportReport()
    for line, row in read_rows(path):
        if isinstance(row, str):
            report.errors.append((line, row))
            continue
        try:
            body = parse_feedback(row)
        except APIError as exc:
            report.errors.append((line, exc.message))
            continue
        decision = log.decision(body.request_id)
        if decision is None:
            report.errors.append((line, f"no logged request with id {body.request_id!r}"))
            continue
        record = FeedbackRecord(
            body.request_id, time.time(), body.score, "import", body.labels, body.comment, decision.tenant
        )
        try:
            report.replaced += log.add_feedback(record, replace=replace or body.replace)
            report.imported += 1
        except DuplicateFeedback:
            report.errors.append((line, f"{body.request_id} already has imported feedback (use --replace)"))
    return report

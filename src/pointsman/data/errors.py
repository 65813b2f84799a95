"""DataFormatError and the small readers that raise it with the file, the place and the reason."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator


class DataFormatError(ValueError):
    """A data file that cannot be read: says which file, where in it (row/line/field) and why."""

    def __init__(self, path: str | Path, where: str | None, why: str) -> None:
        self.path = str(path)
        self.where = where
        self.why = why
        loc = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{loc}: {why}")


def read_json(path: Path) -> Any:
    """Parse a whole JSON file; bad JSON names the line and column."""
    text = _read_text(path)
    if not text.strip():
        raise DataFormatError(path, None, "empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            path, f"line {exc.lineno}, column {exc.colno}", f"bad JSON ({exc.msg})"
        ) from None


def iter_json_records(path: Path, shape: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """("record i", object) for each object of a file holding a non-empty JSON list of `shape` objects."""
    records = read_json(path)
    if not isinstance(records, list):
        raise DataFormatError(
            path, "top level", f"expected a JSON list of {shape}, got {type(records).__name__}"
        )
    if not records:
        raise DataFormatError(path, None, "no records")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataFormatError(path, f"record {i}", f"expected an object, got {type(rec).__name__}")
        yield f"record {i}", rec


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; each line must be a JSON object."""
    text = _read_text(path)
    if not text.strip():
        raise DataFormatError(path, None, "empty file")
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                path, f"line {lineno}", f"bad JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, f"line {lineno}", f"expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such file") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {exc.start}", "not UTF-8 text") from None
    except IsADirectoryError:
        raise DataFormatError(path, None, "is a directory, expected a file") from None


def parse_number(value: Any, path: str | Path, where: str, what: str) -> float:
    """A cell as float: blank/None is NaN (unknown), anything non-numeric is an error naming the cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        raise DataFormatError(path, where, f"non-numeric {what} {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataFormatError(path, where, f"non-numeric {what} {value!r}") from None

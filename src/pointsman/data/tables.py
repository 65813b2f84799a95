"""Tabular files as (place, row) pairs: CSV, JSONL, Parquet and pandas pickles, with the row's place
("line 7", "row 5") kept for error messages."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pointsman.data.errors import DataFormatError, iter_jsonl

PICKLE_SUFFIXES = (".pkl", ".pickle")


@dataclass
class Table:
    path: Path
    columns: list[str]
    rows: list[tuple[str, dict[str, Any]]]  # (where, {column: value})

    def require(self, *names: str) -> None:
        for name in names:
            if name not in self.columns:
                raise DataFormatError(
                    self.path, None, f"missing column `{name}` (columns: {', '.join(self.columns)})"
                )


def optional_text(value: Any) -> str | None:
    """A cell as text, None when blank or missing (NaN from pandas/pyarrow included)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
        return None
    return str(value)


def read_table(path: Path, *, allow_pickle: bool = False) -> Table:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _csv(path)
    elif suffix == ".jsonl":
        table = _jsonl(path)
    elif suffix == ".parquet":
        table = _parquet(path)
    elif suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise DataFormatError(path, None, "a pickle runs code when read: only read as RouterBench data")
        table = _pickle(path)
    else:
        raise DataFormatError(
            path, None, f"not a table file ({suffix or 'no extension'}): use .csv, .jsonl or .parquet"
        )
    if not table.rows:
        raise DataFormatError(path, None, "empty file" if not table.columns else "no data rows")
    return table


def _csv(path: Path) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            reader.fieldnames = columns
            rows = []
            start = reader.line_num + 1
            for row in reader:
                if None in row:  # more cells than header columns
                    raise DataFormatError(
                        path,
                        f"line {start}",
                        f"{len(columns) + len(row[None])} cells, header has {len(columns)}",
                    )
                rows.append((f"line {start}", row))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {exc.start}", "not UTF-8 text") from None
    except csv.Error as exc:
        raise DataFormatError(path, f"line {reader.line_num}", f"bad CSV ({exc})") from None
    return Table(path, columns, rows)


def _jsonl(path: Path) -> Table:
    rows = [(f"line {n}", obj) for n, obj in iter_jsonl(path)]
    columns = list(dict.fromkeys(k for _, obj in rows for k in obj))
    return Table(path, columns, rows)


def import_pyarrow_parquet():  # -> module pyarrow.parquet
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading Parquet needs pyarrow: pip install 'pointsman[parquet]'") from None
    return pq


def _parquet(path: Path) -> Table:
    pq = import_pyarrow_parquet()
    try:
        data = pq.read_table(path)
    except Exception as exc:  # ArrowInvalid, OSError...: all mean "not a readable parquet file"
        raise DataFormatError(path, None, f"not a readable Parquet file ({exc})") from None
    return Table(path, list(data.column_names), [(f"row {i + 1}", r) for i, r in enumerate(data.to_pylist())])


def _pickle(path: Path) -> Table:
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "reading RouterBench pickles needs pandas: pip install 'pointsman[routerbench]'"
        ) from None
    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # unpickling can fail in many ways
        raise DataFormatError(
            path, None, f"not a readable pandas pickle ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(frame, pd.DataFrame):
        raise DataFormatError(path, "top level", f"expected a pandas DataFrame, got {type(frame).__name__}")
    columns = [str(c) for c in frame.columns]
    records = frame.to_dict("records")
    return Table(
        path, columns, [(f"row {i + 1}", {str(k): v for k, v in r.items()}) for i, r in enumerate(records)]
    )

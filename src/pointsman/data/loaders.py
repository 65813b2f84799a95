"""`load_dataset`: one entry point, the loader chosen by the file's shape or by `format`.

Shapes recognised:
  directory with dcrouter_train.json / dcrouter_test.json      -> llmrouter
  directory with routing_test_data.json                         -> routeprofile
  .json list of {question, scores}                              -> llmrouter (one file)
  .json list of {query, model_performance}                      -> routeprofile
  .pkl / .pickle                                                -> routerbench (pickle: runs code when read)
  .csv / .parquet with prompt_id, model, score columns          -> long
  .csv / .parquet with `<model>|total_cost` columns             -> routerbench
  .jsonl                                                        -> long
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path
from typing import Any, Mapping

from pointsman.data.dataset import RoutingDataset
from pointsman.data.errors import DataFormatError
from pointsman.data.tables import PICKLE_SUFFIXES

FORMATS = ("llmrouter", "routeprofile", "routerbench", "long")


def load_dataset(
    path: str | Path, format: str | None = None, *, prices: str | Path | Mapping[str, Any] | None = None
) -> RoutingDataset:
    """Load routing data from a file or directory into a RoutingDataset.

    format: one of FORMATS, or None to detect it from the file's shape.
    prices: for long tables, a JSON/YAML file (or mapping) {model: {input_price, output_price}} in USD per
        1M tokens; other formats carry their own prices.
    Raises DataFormatError (a ValueError) naming the file, the place in it and the reason.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, None, "no such file or directory")
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise DataFormatError(path, None, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if prices is not None and fmt != "long":
        raise DataFormatError(path, None, f"prices are only taken for long tables, this is {fmt!r} data")
    module, function = _LOADERS[fmt]
    loader = getattr(importlib.import_module(f"pointsman.data.{module}"), function)
    return loader(path, prices=prices) if fmt == "long" else loader(path)


# Imported on use: a long table should not pay for the tokenizer, nor llmrouter for pyarrow.
_LOADERS = {
    "llmrouter": ("llmrouter", "load_llmrouter"),
    "routeprofile": ("routeprofile", "load_routeprofile"),
    "routerbench": ("routerbench", "load_routerbench"),
    "long": ("longtable", "load_long_table"),
}


def detect_format(path: Path) -> str:
    """The format of `path` from its shape; DataFormatError when it is none of the known ones."""
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if names & {"dcrouter_train.json", "dcrouter_test.json"}:
            return "llmrouter"
        if "routing_test_data.json" in names:
            return "routeprofile"
        raise DataFormatError(
            path, None, "not a known data directory (expected dcrouter_*.json or routing_test_data.json)"
        )
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return "routerbench"
    if suffix == ".json":
        return _json_kind(path)
    if suffix == ".jsonl":
        return "long"
    if suffix in (".csv", ".parquet"):
        columns = _csv_columns(path) if suffix == ".csv" else _parquet_columns(path)
        if any(c.endswith("|total_cost") for c in columns):
            return "routerbench"
        return "long"
    raise DataFormatError(
        path, None, f"cannot tell the format from the extension {suffix!r}; pass format=..."
    )


def _json_kind(path: Path) -> str:
    """Sniff the first 256 KB for the fields that tell the two JSON formats apart."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.read(1 << 18)
    if '"model_performance"' in head:
        return "routeprofile"
    if '"question"' in head and '"scores"' in head:
        return "llmrouter"
    raise DataFormatError(
        path, None, "a JSON file that is neither LLMRouter ({question, scores}) nor RouteProfile "
        "({query, model_performance}) data; pass format=..."
    )  # fmt: skip


def _csv_columns(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def _parquet_columns(path: Path) -> list[str]:
    from pointsman.data.tables import import_pyarrow_parquet

    try:
        return list(import_pyarrow_parquet().read_schema(path).names)
    except Exception as exc:  # pyarrow raises several types for a non-parquet file
        raise DataFormatError(path, None, f"not a readable Parquet file ({exc})") from None

"""Price tables: {model: {input_price, output_price, ...metadata}} in USD per 1M tokens (JSON or YAML)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pointsman.data.dataset import ModelInfo
from pointsman.data.errors import DataFormatError, parse_number, read_json

PRICE_FIELDS = ("input_price", "output_price")


def load_price_table(source: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """(table, where it came from) from a JSON/YAML file or an in-memory mapping."""
    if isinstance(source, Mapping):
        return source, "prices"
    path = Path(source)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            table = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataFormatError(path, None, "no such file") from None
        except yaml.YAMLError as exc:
            raise DataFormatError(path, None, f"bad YAML ({exc})") from None
    else:
        table = read_json(path)
    if not isinstance(table, Mapping):
        raise DataFormatError(path, "top level", "expected an object {model: {input_price, output_price}}")
    return table, str(path)


def model_infos(
    names: list[str], table: Mapping[str, Any], source: str, *, require: bool = False
) -> list[ModelInfo]:
    """ModelInfo per name; a model the table does not list has NaN prices (unknown), or is an error
    when `require`."""
    out = []
    for name in names:
        entry = table.get(name)
        if entry is None and not require:
            out.append(ModelInfo(name, math.nan, math.nan))
            continue
        if not isinstance(entry, Mapping):
            raise DataFormatError(
                source, f"model {name!r}", "no {input_price, output_price} entry for this model"
            )
        pin, pout = (parse_number(entry.get(f), source, f"{name}.{f}", "price") for f in PRICE_FIELDS)
        if require and not (pin >= 0 and pout >= 0):
            raise DataFormatError(
                source, f"model {name!r}", f"needs input_price and output_price >= 0, got {pin, pout}"
            )
        meta = {k: v for k, v in entry.items() if k not in PRICE_FIELDS}
        out.append(ModelInfo(name, pin, pout, meta))
    return out

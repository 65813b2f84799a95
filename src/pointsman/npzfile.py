"""Portable model files: one `.npz` holding a JSON header and named numpy arrays (no pickle).

Shared by trained routers and trained signal classifiers: the header's `format` names what the file holds,
`version` its layout; readers check both and fail with a message naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

HEADER = "__header__"


def write_npz(path: str | Path, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path:
    """Write `header` (JSON-able) and `arrays` to `path` (exactly that name; parents created)."""
    if HEADER in arrays:
        raise ValueError(f"reserved array name {HEADER!r}")
    payload = {HEADER: np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    payload.update({k: np.asarray(v) for k, v in arrays.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # file handle: np.savez would append ".npz" to a bare name
        np.savez_compressed(fh, **payload)
    return path


def read_npz(
    path: str | Path, file_format: str, version: int, error: type[Exception], what: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a file written by `write_npz` with this `file_format` and `version`.

    Anything else raises `error` with a message naming the file; `what` names the kind of file in it
    (e.g. "router").
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what} file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile/ValueError/OSError: all mean "not our file"
        raise error(f"{path}: not a pointsman {what} file ({exc})") from exc
    if HEADER not in arrays:
        raise error(f"{path}: not a pointsman {what} file (no header)")
    odd = sorted(k for k, v in arrays.items() if not isinstance(v, np.ndarray))  # np.load gives raw bytes
    if odd:
        raise error(f"{path}: not a pointsman {what} file (member {odd[0]!r} is not a numpy array)")
    try:
        header = json.loads(arrays.pop(HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: corrupt header ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != file_format:
        got = header.get("format") if isinstance(header, dict) else None
        raise error(f"{path}: not a pointsman {what} file (format {got!r})")
    if header.get("version") != version:
        raise error(f"{path}: {what} file version {header.get('version')}, this pointsman reads {version}")
    return header, arrays

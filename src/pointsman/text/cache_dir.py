"""Where pointsman keeps rebuildable files (built ONNX models, the embedding cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$POINTSMAN_CACHE_DIR`, else `$XDG_CACHE_HOME/pointsman`, else `~/.cache/pointsman` (not created)."""
    if explicit := os.environ.get("POINTSMAN_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "pointsman"

"""`pointsman demo`: clear advice without the data; the whole run, offline, when the lab's router is here."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from pointsman.gateway.demo import run_demo


def test_missing_data_says_what_to_do(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_demo(data=tmp_path / "nowhere", console=Console(file=out, width=120)) == 2
    text = out.getvalue()
    assert "routing data not found" in text and "routeprofile" in text
    assert "../shared/data" in text and "pointsman demo --data" in text


@pytest.mark.slow
def test_demo_runs_offline(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    from pointsman.gateway.demo import default_router

    try:
        default_router()
    except RuntimeError as exc:
        pytest.skip(f"the lab's default router is not available: {exc}")
    pytest.importorskip(
        "llama_cpp", reason="the local SmolLM2 backend needs llama-cpp-python (extra 'local')"
    )
    monkeypatch.setenv("POINTSMAN_CACHE_DIR", str(tmp_path / "cache"))
    out = io.StringIO()
    code = run_demo(data=shared_data, console=Console(file=out, width=200))
    text = out.getvalue()
    assert code == 0, text
    assert "route   local -> smollm2-local" in text  # the small-talk rule, answered by the local model
    assert "auto-router -> " in text and "router-auto-router-0.2: threshold 0.2" in text
    assert "direct -> llama-3.3-70b-instruct" in text and "cheap -> llama-3.2-3b-instruct" in text
    assert "decision log: 9 requests recorded" in text
    assert list((tmp_path / "cache" / "routers").glob("*.npz"))  # trained once, cached

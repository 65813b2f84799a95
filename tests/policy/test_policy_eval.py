"""`pointsman eval --config FILE --data PATH`: a rule set scored offline on real routing data (RouteProfile's
600 prompts x 8 models), its figures checked against the data itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.data.loaders import load_dataset


def test_eval_config_on_routing_data(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "routeprofile"
    config = {
        "backends": [
            {
                "name": "small",
                "kind": "openai",
                "base_url": "http://127.0.0.1:1/v1",
                "model": "llama-3.2-3b-instruct",
            },
            {"name": "gemma-2-9b-it", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
            {"name": "not-in-data", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
        ],
        "profiles": [
            {"name": "cheap", "candidates": ["small", "gemma-2-9b-it"]},
            {"name": "code", "candidates": ["gemma-2-9b-it"]},
            {"name": "elsewhere", "candidates": ["not-in-data"]},
        ],
        "signals": {
            "topics": {"type": "keywords", "sets": {"code": ["python", "function"], "capital": ["capital"]}}
        },
        "rules": [
            {
                "name": "no-capitals",
                "priority": 2,
                "when": "topics contains capital",
                "block": "content_blocked",
            },
            {"name": "code", "priority": 1, "when": "topics contains code", "profile": "code"},
        ],
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--config", str(path), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.md").read_text().startswith("# Rule set evaluation: rules.yaml on")
    assert (out / "policy.png").stat().st_size > 10_000

    # the same decisions and figures, worked out from the data directly
    ds = load_dataset(data)
    text = [p.lower() for p in ds.prompts]
    blocked = np.array([any(w.strip(".,?!:;()'\"") == "capital" for w in t.split()) for t in text])
    code = ~blocked & np.array(
        [any(w.strip(".,?!:;()'\"") in ("python", "function") for w in t.split()) for t in text]
    )
    policy = report["policy"]
    counts = {d["name"]: d["prompts"] for d in policy["decisions"]}
    assert counts == {k: v for k, v in {"default": int((~blocked & ~code).sum()), "code": int(code.sum()),
                                        "no-capitals": int(blocked.sum())}.items() if v}  # fmt: skip
    assert policy["blocked_share"] == blocked.mean()
    chosen = np.where(code, ds.model_index("gemma-2-9b-it"), ds.model_index("llama-3.2-3b-instruct"))
    routed = np.flatnonzero(~blocked)
    quality = ds.quality[routed, chosen[routed]]
    assert policy["routed"]["prompts"] == len(routed)
    assert abs(policy["routed"]["quality"] - np.nanmean(quality)) < 1e-9
    best = np.nanmean(ds.quality[routed], axis=0)
    assert policy["best_single"]["model"] == ds.model_names[int(np.nanargmax(best))]
    assert report["evaluation"]["backends_in_data"] == {
        "small": "llama-3.2-3b-instruct",
        "gemma-2-9b-it": "gemma-2-9b-it",
    }
    assert any("'elsewhere': the data has no scores for not-in-data" in n for n in policy["notes"])
    assert report["dataset"]["n_prompts"] == ds.n_prompts and set(policy["by_task"]) == set(ds.tasks)

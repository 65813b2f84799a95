"""`pointsman cache tune` on a labelled pairs file (real MiniLM embeddings), and its file in the gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.config.cache import CacheConfig
from pointsman.gateway.caching import load_thresholds

TASKS = [
    "reset my password",
    "change my email address",
    "delete my account",
    "update my billing card",
    "export my data",
    "invite a teammate",
    "enable two-factor login",
    "cancel my subscription",
    "download an invoice",
    "rename a project",
    "restore a deleted file",
    "change the language",
    "turn off notifications",
    "connect my calendar",
    "upgrade my plan",
    "share a folder",
    "merge two accounts",
    "verify my phone number",
    "set a profile photo",
    "report a bug",
    "leave a workspace",
    "change my username",
    "see my login history",
    "add a payment method",
    "transfer ownership",
    "archive a channel",
    "print a receipt",
    "set up single sign-on",
    "change the time zone",
    "block a user",
    "mute a conversation",
    "pin a message",
    "recover a hacked account",
    "change my password hint",
    "find my order",
    "track a parcel",
    "return an item",
    "apply a coupon",
    "edit my address",
    "close a ticket",
]


def pairs_file(tmp_path: Path) -> Path:
    rows = []
    for i, task in enumerate(TASKS):
        rows.append(
            {"text_a": f"How do I {task}?", "text_b": f"How can I {task}?", "label": 1, "category": "help"}
        )
        other = TASKS[(i + 7) % len(TASKS)]
        rows.append(
            {"text_a": f"How do I {task}?", "text_b": f"How do I {other}?", "label": 0, "category": "help"}
        )
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_tune_prints_and_writes_thresholds_the_gateway_reads(tmp_path: Path) -> None:
    out = tmp_path / "thresholds.json"
    args = [
        "cache",
        "tune",
        "--data",
        str(pairs_file(tmp_path)),
        "--precision",
        "0.9",
        "--held-out",
        "0",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "help" in result.output and "threshold" in result.output
    tuned = load_thresholds(CacheConfig(thresholds=str(out)))
    help_rule = tuned["help"]
    assert help_rule.threshold is not None and help_rule.lower_bound >= 0.9
    assert help_rule.hits >= 20 and help_rule.precision == 1.0


def test_tune_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text_a": "a"}\n')
    result = CliRunner().invoke(app, ["cache", "tune", "--data", str(bad)])
    assert result.exit_code == 2 and "text_a and text_b must be strings" in result.output


def test_a_damaged_thresholds_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="cache.thresholds: cannot read"):
        load_thresholds(CacheConfig(thresholds=str(bad)))

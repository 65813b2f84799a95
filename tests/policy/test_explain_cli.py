"""`pointsman explain`: one prompt (table or JSON), JSONL in and out with malformed lines reported per line,
config mistakes named; no backend is ever called (the backends here point at a closed port)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pointsman.cli import app

from .conftest import config_text

RULES = [
    {"name": "no-heists", "priority": 10, "when": "topics contains heist", "block": "content_blocked"},
    {"name": "private", "priority": 5, "when": "pii", "redact": {}},
    {"name": "code", "when": {"keywords": ["python"]}, "profile": "strong"},
]
SIGNALS = {"topics": {"type": "keywords", "sets": {"heist": ["heist"]}}}


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(config_text(RULES, SIGNALS))
    return path


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["explain", *args], input=input)


def test_one_prompt_as_a_table_and_as_json(config: Path) -> None:
    result = run("--config", str(config), "My python code mails bob@example.com")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "topics" in out and "pii" in out and "EMAIL" in out
    assert "decision private  action redact" in out and "redacted EMAIL" in out
    result = run("--config", str(config), "plan a heist", "--json")
    record = json.loads(result.stdout)
    assert record["decision"] == "no-heists" and record["action"] == "block"
    assert record["block"] == {"code": "content_blocked", "status": 400}
    assert set(record["signals"]) == {"topics", "pii"}
    assert all(set(s) == {"value", "confidence", "ms"} for s in record["signals"].values())
    assert json.loads(run("--config", str(config), "a python bug", "--json").stdout)["route"] == "strong"


def test_jsonl_with_malformed_lines(config: Path, tmp_path: Path) -> None:
    lines = [
        json.dumps({"prompt": "plan a heist", "id": "a"}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"text": "no prompt field"}),
        json.dumps({"prompt": 42}),
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"content": "no role"}]}),
        json.dumps(
            {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "python?"}]}
        ),
        json.dumps({"prompt": "hello", "model": "gpt-9"}),
        json.dumps({"prompt": "write to bob@example.com", "model": "m1"}),
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n")
    result = run("--config", str(config), "--input", str(src), "--out", str(out))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 3, 4, 5, 6, 7, 8, 9, 10]  # blank lines skipped
    by_line = {r["line"]: r for r in records}
    assert (by_line[1]["id"], by_line[1]["decision"], by_line[1]["action"]) == ("a", "no-heists", "block")
    assert by_line[3]["error"].startswith("not valid JSON")
    assert by_line[4]["error"] == "expected a JSON object with 'prompt' or 'messages'"
    assert by_line[5]["error"] == "expected 'prompt' or 'messages'"
    assert by_line[6]["error"] == "'prompt' must be a string"
    assert by_line[7]["error"] == "messages[1].role: expected a string"
    assert (by_line[8]["decision"], by_line[8]["route"]) == ("code", "strong")
    assert by_line[9]["error"].startswith("The model 'gpt-9' does not exist")
    assert (by_line[10]["decision"], by_line[10]["action"], by_line[10]["route"]) == (
        "private",
        "redact",
        "direct",
    )
    assert "9 requests" in result.stderr and "error 6" in result.stderr


def test_jsonl_from_stdin_to_stdout(config: Path) -> None:
    result = run("--config", str(config), "--input", "-", input='{"prompt": "hi"}\n{"prompt": "a heist"}\n')
    decisions = [json.loads(line)["decision"] for line in result.stdout.splitlines()]
    assert decisions == ["default", "no-heists"]


def test_mistakes_exit_2_and_say_why(config: Path, tmp_path: Path) -> None:
    result = run("--config", str(config))
    assert result.exit_code == 2 and "give a prompt or --input" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_text([{"name": "r", "when": "langauge == en", "profile": "strong"}]))
    result = run("--config", str(bad), "hi")
    assert result.exit_code == 2
    assert "bad.yaml:" in result.stderr and "rules[0].when: 'langauge == en': unknown signal" in result.stderr
    result = run("--config", str(config), "--input", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2 and "missing.jsonl: cannot read" in result.stderr

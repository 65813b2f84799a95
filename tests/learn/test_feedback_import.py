"""`pointsman feedback import` on a real SQLite decision log: JSONL and CSV, good rows stored, each bad row
reported with its line, duplicates refused unless --replace."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.config.gateway import StoreConfig
from pointsman.store.decisions import DecisionRecord, open_log


def make_log(path: Path, n: int = 3) -> None:
    log = open_log(StoreConfig(kind="sqlite", path=str(path)))
    log.start()
    for i in range(n):
        log.put(DecisionRecord(f"req_{i}", 1.0 + i, "auto", "p", 200, tenant="acme", chosen_model="a"))
    log.close()


def stored(path: Path) -> list[tuple]:
    log = open_log(StoreConfig(kind="sqlite", path=str(path)))
    return [(f.request_id, f.kind, f.score, f.labels, f.tenant) for f in log.feedback()]


def test_jsonl_import_reports_bad_rows(tmp_path) -> None:
    db = tmp_path / "d.db"
    make_log(db)
    rows = tmp_path / "labels.jsonl"
    rows.write_text(
        '{"request_id": "req_0", "score": 0.9, "labels": ["right"]}\n'
        "\n"
        '{"request_id": "req_1", "thumbs": "down"}\n'
        '{"request_id": "req_9", "score": 1}\n'
        '{"request_id": "req_2", "score": 7}\n'
        "not json\n"
    )
    result = CliRunner().invoke(app, ["feedback", "import", str(rows), "--log", str(db)])
    assert result.exit_code == 1, result.output
    assert "imported 2 score(s)" in result.output
    assert "line 4: no logged request with id 'req_9'" in result.output
    assert "line 5: 'score' must be a number in [0, 1]" in result.output
    assert "line 6: The body is not valid JSON" in result.output
    assert stored(db) == [("req_0", "import", 0.9, ["right"], "acme"), ("req_1", "import", 0.0, [], "acme")]
    again = CliRunner().invoke(app, ["feedback", "import", str(rows), "--log", str(db)])
    assert "already has imported feedback (use --replace)" in again.output
    replaced = CliRunner().invoke(app, ["feedback", "import", str(rows), "--log", str(db), "--replace"])
    assert "imported 2 score(s) (2 replaced)" in replaced.output


def test_csv_import(tmp_path) -> None:
    db = tmp_path / "d.db"
    make_log(db)
    rows = tmp_path / "labels.csv"
    rows.write_text("request_id,score,labels,comment\nreq_0,1,a;b,fine\nreq_1,high,,\nreq_2,0.5,,,extra\n")
    result = CliRunner().invoke(app, ["feedback", "import", str(rows), "--log", str(db)])
    assert result.exit_code == 1, result.output
    assert "line 3: 'score' must be a number in [0, 1], got 'high'" in result.output
    assert "line 4: more values than header columns" in result.output
    assert stored(db) == [("req_0", "import", 1.0, ["a", "b"], "acme")]


def test_missing_log_and_file(tmp_path) -> None:
    rows = tmp_path / "x.jsonl"
    rows.write_text("")
    result = CliRunner().invoke(app, ["feedback", "import", str(rows), "--log", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no such decision log" in result.output
    result = CliRunner().invoke(app, ["feedback", "import", str(tmp_path / "nope.jsonl"), "--log", "x"])
    assert result.exit_code == 2 and "no such file" in result.output

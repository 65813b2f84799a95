"""Feedback beside the decision log, on real SQLite and PostgreSQL: duplicates, replace, the pending queue,
implicit signals written by the writer thread, and the schema migration from version 2."""

from __future__ import annotations

import sqlite3
import time

import pytest

from pointsman.config.gateway import StoreConfig
from pointsman.store.decisions import ADDED_COLUMNS, COLUMNS, SCHEMA_VERSION, DecisionRecord, open_log
from pointsman.store.feedback import DuplicateFeedback, FeedbackRecord


def decision(i: int) -> DecisionRecord:
    return DecisionRecord(f"req_{i}", 1_700_000_000.0 + i, "auto", "p", 200, tenant="acme", chosen_model="a")


def test_duplicates_replace_and_query(store) -> None:
    log = open_log(store)
    log.start()
    try:
        first = FeedbackRecord("req_1", 10.0, 0.25, labels=["wrong"], comment="no", tenant="acme")
        assert log.add_feedback(first) is False
        with pytest.raises(DuplicateFeedback, match="replace: true"):
            log.add_feedback(FeedbackRecord("req_1", 11.0, 1.0))
        assert log.add_feedback(FeedbackRecord("req_1", 12.0, 0.75, labels=["ok"]), replace=True) is True
        log.add_feedback(FeedbackRecord("req_1", 13.0, 0.0, kind="abort"))  # another kind coexists
        log.add_feedback(FeedbackRecord("req_2", 14.0, 1.0, kind="import"))
        got = log.feedback()
        assert [(f.request_id, f.kind, f.score, f.labels) for f in got] == [
            ("req_1", "explicit", 0.75, ["ok"]),
            ("req_1", "abort", 0.0, []),
            ("req_2", "import", 1.0, []),
        ]
        assert [f.time for f in log.feedback(since=13.0)] == [13.0, 14.0]
        assert [f.time for f in log.feedback(until=13.0)] == [12.0]
        assert len(log.feedback(limit=1)) == 1
    finally:
        log.close()


def test_decision_found_while_pending_and_after_write(store) -> None:
    log = open_log(store)
    log.start()
    try:
        log.put(decision(1))
        assert log.decision("req_1") == decision(1)  # straight after put: still queued
        deadline = time.monotonic() + 10
        while log.written < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.pending == 0 and log.find("req_1") == decision(1)
        assert log.decision("req_nope") is None
    finally:
        log.close()


def test_implicit_feedback_is_queued_and_never_overwrites(store) -> None:
    log = open_log(store)
    log.start()
    log.add_feedback(FeedbackRecord("req_1", 1.0, 0.5, kind="error"))
    log.put_feedback(FeedbackRecord("req_1", 2.0, 0.0, kind="error"))  # already there: kept as it was
    log.put_feedback(FeedbackRecord("req_2", 3.0, 0.0, kind="abort"))
    log.close()
    assert [(f.request_id, f.score) for f in log.feedback()] == [("req_1", 0.5), ("req_2", 0.0)]


def test_bad_records_are_refused() -> None:
    for score in (-0.1, 1.5, float("nan"), "1", True):
        with pytest.raises(ValueError, match="score"):
            FeedbackRecord("r", 0.0, score)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        FeedbackRecord("r", 0.0, 1.0, kind="thumbs")  # type: ignore[arg-type]


def test_version_2_log_is_migrated(tmp_path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    v2 = [c for c in COLUMNS if c not in (*ADDED_COLUMNS[3], *ADDED_COLUMNS[4], *ADDED_COLUMNS[5])]
    db.executescript(
        f"CREATE TABLE decisions ({', '.join(v2)});"
        "CREATE TABLE pointsman_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO pointsman_meta VALUES ('schema_version', '2');"
    )
    db.close()
    log = open_log(StoreConfig(kind="sqlite", path=str(path)))
    log.start()
    log.add_feedback(FeedbackRecord("req_1", 1.0, 1.0))
    log.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM pointsman_meta").fetchone()[0] == str(SCHEMA_VERSION) == "5"
    assert len(log.feedback()) == 1
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(decisions)")}
        assert {"context", "client_request_id", "traceparent", "error_detail"} <= columns

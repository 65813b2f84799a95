"""The decision log on real stores: SQLite (WAL) and a real PostgreSQL server."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from pointsman.config.gateway import StoreConfig
from pointsman.store.decisions import (
    ADDED_COLUMNS,
    COLUMNS,
    SCHEMA_VERSION,
    DecisionRecord,
    open_log,
    prompt_hash,
)

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg 3 is not installed (pip install 'pointsman[postgres]')"
)


def record(i: int, **kw) -> DecisionRecord:
    base = dict(
        request_id=f"req_{i}",
        time=1_700_000_000.0 + i,
        requested_model="auto",
        route="balanced",
        status=200,
        tenant="acme",
        api_key_id="alice",
        rule="code",
        reason="rule code: keyword 'python'",
        candidates=[
            {"model": "a", "quality": 0.8, "cost": 0.001},
            {"model": "b", "quality": None, "cost": None},
        ],
        chosen_model="a",
        served_model="b",
        probability=0.95,
        fallbacks=[{"model": "a", "outcome": "error", "code": "upstream_500", "seconds": 0.01}],
        stream=True,
        first_byte_s=0.1,
        total_s=0.5,
        prompt_tokens=12,
        completion_tokens=30,
        cost_usd=0.0004,
    )
    base.update(kw)
    return DecisionRecord(**base)


def test_round_trip_in_batches(store) -> None:
    log = open_log(store)
    log.start()
    records = [record(i) for i in range(600)]  # more than one batch (256)
    for r in records:
        log.put(r)
    log.close()
    assert log.written == 600 and log.dropped == 0
    back = log.recent(1000)
    assert len(back) == 600
    assert back[0] == records[-1]  # newest first, every field as written (JSON columns included)


def test_writes_happen_off_the_request_path(store) -> None:
    log = open_log(store)
    log.start()
    for i in range(2000):
        log.put(record(i))  # only queues; the writer thread flushes on its own, without close()
    deadline = time.monotonic() + 10
    while log.written < 2000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.written == 2000
    log.close()


def test_full_queue_drops_and_counts(tmp_path) -> None:
    log = open_log(StoreConfig(kind="sqlite", path=str(tmp_path / "d.db"), max_queue=10))
    for i in range(15):  # not started: nothing drains the queue
        log.put(record(i))
    assert log.dropped == 5


def test_sqlite_is_wal_and_has_schema_version(tmp_path) -> None:
    log = open_log(StoreConfig(kind="sqlite", path=str(tmp_path / "d.db")))
    log.start()
    log.close()
    with sqlite3.connect(tmp_path / "d.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT value FROM pointsman_meta").fetchone()[0] == str(SCHEMA_VERSION)
        db.execute("UPDATE pointsman_meta SET value = '99'")
    with pytest.raises(RuntimeError, match="schema version 99"):
        open_log(StoreConfig(kind="sqlite", path=str(tmp_path / "d.db"))).start()


V1_COLUMNS = [c for c in COLUMNS if not any(c in added for added in ADDED_COLUMNS.values())]


def test_an_older_log_gains_the_decision_columns(store) -> None:
    """A version-1 log (before decisions and signals were logged) is migrated in place, rows kept."""
    if store.kind == "sqlite":
        db = sqlite3.connect(store.path)
        db.execute(f"CREATE TABLE decisions ({', '.join(V1_COLUMNS)})")
        db.execute("CREATE TABLE pointsman_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO pointsman_meta VALUES ('schema_version', '1')")
        db.execute(
            "INSERT INTO decisions (request_id, time, requested_model, route, status, probability, stream) "
            "VALUES ('old', 1.0, 'auto', 'p', 200, 1.0, 0)"
        )
        db.commit()
        db.close()
    else:
        from pointsman.store.postgres import _TYPES

        columns = [
            f"{c} {_TYPES.get(c, 'TEXT')}" + (" PRIMARY KEY" if c == "request_id" else "") for c in V1_COLUMNS
        ]
        with psycopg.connect(os.environ[store.dsn_env], autocommit=True) as db:
            db.execute(f"CREATE TABLE decisions ({', '.join(columns)})")
            db.execute("DROP TABLE IF EXISTS pointsman_meta")
            db.execute("CREATE TABLE pointsman_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT INTO pointsman_meta VALUES ('schema_version', '1')")
            db.execute(
                "INSERT INTO decisions (request_id, time, requested_model, route, status, probability, "
                "stream) VALUES ('old', 1.0, 'auto', 'p', 200, 1.0, false)"
            )
    log = open_log(store)
    log.start()
    log.put(record(1, decision="block-attacks", action="block", signals={"safety": {"value": "jailbreak"}}))
    log.close()
    rows = {r.request_id: r for r in log.recent(10)}
    assert rows["req_1"].decision == "block-attacks" and rows["req_1"].action == "block"
    assert rows["req_1"].signals == {"safety": {"value": "jailbreak"}}
    assert "old" in rows and rows["old"].decision is None


def test_postgres_uses_jsonb(postgres_dsn, monkeypatch) -> None:
    monkeypatch.setenv("TEST_PG_DSN", postgres_dsn)
    log = open_log(StoreConfig(kind="postgres", dsn_env="TEST_PG_DSN"))
    log.start()
    log.put(record(1))
    log.close()
    with psycopg.connect(postgres_dsn) as db:
        model = db.execute(
            "SELECT candidates->0->>'model' FROM decisions WHERE request_id = 'req_1'"
        ).fetchone()
    assert model == ("a",)


def test_postgres_without_dsn_says_what_to_set(monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_DSN", raising=False)
    with pytest.raises(RuntimeError, match="NO_SUCH_DSN .* is not set"):
        open_log(StoreConfig(kind="postgres", dsn_env="NO_SUCH_DSN")).start()


def test_prompt_hash_is_canonical() -> None:
    a = [{"role": "user", "content": "hi"}]
    b = [{"content": "hi", "role": "user"}]
    assert prompt_hash(a) == prompt_hash(b) != prompt_hash([{"role": "user", "content": "hi!"}])
